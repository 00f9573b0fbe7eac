/**
 * `npx tsx test/bench/peer-link.ts`: sequential transfers per second on one channel, its two
 * participants on two services (separate processes, the peer link over Noise on loopback) next to
 * both on one service (in-process pairing). One client proposes, both sign, each transfer waits for
 * both `channels.update` before the next. PEER_BENCH_TRANSFERS (default 300) sets the count.
 */
import { channelQuery } from '../helpers/channel.js';
import { TestClient } from '../helpers/client.js';
import { externalChain } from '../helpers/external-chain.js';
import { startServiceProcess } from '../helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from '../helpers/service.js';
import { testStorage } from '../helpers/storage.js';

const TRANSFERS = Number(process.env.PEER_BENCH_TRANSFERS ?? 300);
const AMOUNTS = { initiatorAmount: 10n ** 18n, responderAmount: 10n ** 18n, channelReserve: 10n ** 15n };
const teardowns: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => teardowns.push(fn) } as unknown as Parameters<typeof externalChain>[0];

const { url } = await externalChain(t);
const env = (host: string) => ({ CHAIN_NODE_URL: url, PEER_HOST: host, LOG_LEVEL: 'warn' });
const a = await startServiceProcess({ direct: true, built: false, storage: testStorage('embedded'), env: env('127.0.0.2') });
const b = await startServiceProcess({ direct: true, built: false, storage: testStorage('embedded'), env: env('127.0.0.3') });
const sdk = genesisSdk(url);
let port = 52_000 + Math.floor(Math.random() * 5_000);

async function run(label: string, initiatorUrl: string, host: string): Promise<void> {
  const [x, y] = await fundFromGenesis(sdk, 2);
  const query = channelQuery(x!, y!, port++, AMOUNTS);
  const responder = await TestClient.connect(a.channelUrl, { ...query, role: 'responder' }, 'json-rpc', y!);
  await responder.nextMethod('channels.info', 'fsm_up');
  const initiator = await TestClient.connect(initiatorUrl, { ...query, role: 'initiator', host }, 'json-rpc', x!);
  await Promise.all([initiator.nextMethod('channels.update', undefined, 30_000), responder.nextMethod('channels.update', undefined, 30_000)]);
  const started = performance.now();
  for (let i = 0; i < TRANSFERS; i++) {
    initiator.send('channels.update.new', { from: x!.address, to: y!.address, amount: 1 });
    await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${label}: ${TRANSFERS} transfers in ${seconds.toFixed(2)} s = ${(TRANSFERS / seconds).toFixed(0)} /s`);
  initiator.close();
  responder.close();
}

try {
  await run('in-process (both on one service)', a.channelUrl, 'localhost');
  await run('across two services (peer link)', b.channelUrl, '127.0.0.2');
} finally {
  await a.stop();
  await b.stop();
  for (const fn of teardowns.reverse()) await fn();
}
