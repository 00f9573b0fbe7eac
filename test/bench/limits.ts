/**
 * What this machine allows, measured in the same run as the service: the costs a co-signed transfer
 * cannot avoid, each at its fastest with nothing else in the way.
 */
import { fork } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { Redis } from 'ioredis';
import sodium from 'sodium-native';
import WebSocket from 'ws';

const now = () => performance.now();

/** Runs `op`, each awaited, until `ms` have passed; operations per second. */
async function rate(ms: number, op: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const started = now();
  while (now() - started < ms) {
    await op();
    count += 1;
  }
  return (count * 1000) / (now() - started);
}

/** The same for a synchronous `op`, in batches so the clock is read seldom. */
function syncRate(ms: number, op: () => unknown, batch = 200): number {
  let count = 0;
  const started = now();
  while (now() - started < ms) {
    for (let i = 0; i < batch; i++) op();
    count += batch;
  }
  return (count * 1000) / (now() - started);
}

/** What an account signs: network id ‖ a 32-byte tx hash. */
function signingMessage(): Buffer {
  return Buffer.concat([Buffer.from('ae_dev'), randomBytes(32)]);
}

const SPKI_ED25519_HEADER_BYTES = 12;

/** ed25519 verifies per second, one thread, with libsodium as the service verifies (lib/tx/crypto). */
export function ed25519Verifies(ms = 1000): number {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const rawKey = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_HEADER_BYTES);
  const message = signingMessage();
  const signature = sign(null, message, privateKey);
  return syncRate(ms, () => { if (!sodium.crypto_sign_verify_detached(signature, message, rawKey)) throw new Error('a good signature failed'); });
}

/** ed25519 signatures per second, node:crypto, one thread: what each client pays per sign request. */
export function ed25519Signs(ms = 1000): number {
  const { privateKey } = generateKeyPairSync('ed25519');
  const message = signingMessage();
  return syncRate(ms, () => sign(null, message, privateKey));
}

/** Redis writes per second, each awaited before the next (a round trip each), of a round's size. */
export async function redisWrites(url: string, prefix: string, ms = 1000): Promise<number> {
  const redis = new Redis(url);
  const key = `${prefix}bench-limit`;
  const value = randomBytes(400).toString('base64');
  try {
    return await rate(ms, () => redis.set(key, value));
  } finally {
    await redis.del(key);
    await redis.quit();
  }
}

/** WebSocket round trips per second on one socket to an echo server in another process. */
export async function wsEchoRoundTrips(ms = 1000): Promise<number> {
  const server = fork(new URL('./echo-server.ts', import.meta.url).pathname, { execArgv: ['--import', 'tsx'] });
  try {
    const { port } = await new Promise<{ port: number }>((resolve) => server.once('message', resolve as never));
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const frame = JSON.stringify({ jsonrpc: '2.0', method: 'channels.sign.update', params: { data: { signed_tx: `tx_${randomBytes(150).toString('base64')}` } } });
    const echo = () => new Promise<void>((resolve) => { ws.once('message', () => resolve()); ws.send(frame); });
    const result = await rate(ms, echo);
    ws.close();
    return result;
  } finally {
    server.kill();
  }
}
