/**
 * The dev chain keeps its state in the service's storage backend, so a restart continues the same
 * chain: height, balances, nonces, channel objects, every tx lookup and the pending pool. For both
 * backends: the embedded LMDB environment (a temporary DATA_DIR) and Redis (a key prefix of its own).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { AccountMemory, AeSdk, buildTx, encode, Encoding, Node, Tag } from '../../lib/sdk.js';
import { Redis } from 'ioredis';
import type { AccountId } from '../../fsm/types.js';
import { GENESIS_ACCOUNT, type DevChain, type DevChainOptions } from '../../lib/chain/dev/dev-chain.js';
import { LedgerConflictError } from '../../lib/chain/dev/ledger.js';
import { openDevChain } from '../../lib/chain/dev/open-dev-chain.js';
import type { StoreBackend } from '../../lib/store/backend.js';
import { createNodeHttpApi } from '../../lib/chain/dev/node-http-api.js';
import { packagePath } from '../../lib/package-root.js';
import { silentLogger } from '../../lib/log.js';
import { openEmbedded } from '../../lib/store/embedded.js';
import { channelId } from '../../lib/tx/channel-kit.js';
import { cosign, NETWORK_ID } from '../helpers/accounts.js';
import { untapped } from '../helpers/untapped.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const GENESIS = new AccountMemory('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf');
const AE = 10n ** 18n;

/** Where a service keeps its data, opened again on each (re)start as the service would. */
interface Place {
  name: string;
  /** how the child process opens the same place */
  spec: Record<string, string>;
  open(): Promise<StoreBackend>;
  /** what the service does with the backend once the chain is closed */
  release(backend: StoreBackend): Promise<void>;
}

function lmdbPlace(t: Test): Place {
  const dataDir = mkdtempSync(join(tmpdir(), 'aesc-devchain-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return {
    name: 'embedded LMDB',
    spec: { kind: 'embedded', dataDir },
    open: async () => ({ kind: 'embedded', db: await openEmbedded(dataDir) }),
    release: async (backend) => { if (backend.kind === 'embedded') await backend.db.close(); },
  };
}

function redisPlace(t: Test): Place {
  const keyPrefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
  t.teardown(async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  return {
    name: 'Redis',
    spec: { kind: 'redis', url: REDIS_URL, keyPrefix },
    open: async () => ({ kind: 'redis', url: REDIS_URL, keyPrefix }),
    release: async () => {},
  };
}

const PLACES: Array<[string, (t: Test) => Place]> = [['LMDB', lmdbPlace], ['Redis', redisPlace]];

const OPTIONS: DevChainOptions = { networkId: NETWORK_ID, blockIntervalMs: 600_000, genesisBalance: 10n ** 30n };

/** One run of "the service": the chain opened on the place, used, closed, the backend released. */
async function run<T>(place: Place, options: DevChainOptions, use: (chain: DevChain) => Promise<T>): Promise<T> {
  const backend = await place.open();
  const chain = await openDevChain(options, backend);
  try {
    return await use(chain);
  } finally {
    await chain.close();
    await place.release(backend);
  }
}

async function spend(chain: DevChain, from: AccountMemory, to: AccountId, amount: bigint, nonce: number): Promise<string> {
  const tx = buildTx({ tag: Tag.SpendTx, senderId: from.address, recipientId: to, amount, nonce });
  return chain.postTx(await cosign(from, tx) as `tx_${string}`);
}

async function accountsOf(chain: DevChain, ids: AccountId[]) {
  return Promise.all(ids.map(async (id) => ({ id, account: await chain.account(id), nextNonce: await chain.nextNonce(id) })));
}

for (const [label, makePlace] of PLACES) {
  t.test(`${label}: a restart continues the same chain`, async (t) => {
    const place = makePlace(t);
    const [a, b, c] = [AccountMemory.generate(), AccountMemory.generate(), AccountMemory.generate()];
    const tower = AccountMemory.generate();
    const everyone = [GENESIS_ACCOUNT, tower.address, a.address, b.address, c.address];
    const id = channelId(a.address, 1, b.address);

    const before = await run(place, { ...OPTIONS, genesisAccounts: [[tower.address, 10n ** 24n]] }, async (chain) => {
      t.equal(await chain.height(), 0, 'a new chain starts at genesis');
      const funding = [await spend(chain, GENESIS, a.address, 1000n * AE, 1), await spend(chain, GENESIS, b.address, 1000n * AE, 2)];
      t.equal(await chain.mineBlock(), 1);

      const create = buildTx({
        tag: Tag.ChannelCreateTx, initiator: a.address, initiatorAmount: 100n * AE, responder: b.address, responderAmount: 10n * AE,
        channelReserve: 0, lockPeriod: 10, ttl: 0, initiatorDelegateIds: [tower.address], responderDelegateIds: [],
        stateHash: encode(Buffer.alloc(32), Encoding.State), nonce: 1,
      });
      const createTx = await cosign(b, await cosign(a, create)) as `tx_${string}`;
      const createHash = await chain.postTx(createTx);
      // b can pay one of these, not both: the second is dropped when its block is made
      const paid = await spend(chain, b, c.address, 900n * AE, 1);
      const dropped = await spend(chain, b, c.address, 900n * AE, 2);
      t.equal(await chain.mineBlock(), 2);
      t.match(await chain.txStatus(dropped), { state: 'failed', reason: /insufficient balance/ });

      // accepted, not mined: must be in the pool after the restart
      const pending = await spend(chain, a, c.address, 5n * AE, 2);
      return {
        funding, createTx, createHash, paid, dropped, pending,
        accounts: await accountsOf(chain, everyone),
        channel: chain.channelNow(id),
        lookups: [...funding, createHash, paid, pending].map((hash) => chain.transaction(hash)),
      };
    });
    t.ok(before.channel, 'the channel was created');
    t.equal(before.channel?.channelAmount, 110n * AE, 'a channel amount beyond 2^53');

    // different genesis options: a continued chain takes its accounts from the ledger, not from these
    await run(place, { ...OPTIONS, genesisBalance: 1n, genesisAccounts: [] }, async (chain) => {
      t.equal(await chain.height(), 2, 'same height');
      t.same(await accountsOf(chain, everyone), before.accounts, 'same balances and nonces (the pool counted in next nonces)');
      t.equal((await chain.account(tower.address))?.balance, 10n ** 24n, 'the genesis account funded by options is kept');
      t.same(chain.channelNow(id), before.channel, 'the channel object');
      t.same(await chain.channel(id), before.channel);
      t.equal(await chain.channelTx(id), before.createTx, "the channel's last tx");
      t.same([...before.funding, before.createHash, before.paid, before.pending].map((hash) => chain.transaction(hash)), before.lookups, 'tx lookups');
      t.same(await chain.txStatus(before.funding[0]!), { state: 'mined', height: 1 });
      t.same(await chain.txStatus(before.createHash), { state: 'mined', height: 2 });
      t.match(await chain.txStatus(before.dropped), { state: 'failed', reason: /insufficient balance/ }, 'a dropped tx stays dropped');
      t.same(await chain.txStatus(before.pending), { state: 'pending' }, 'the pending tx is still pending');
      t.equal(chain.pendingCount(), 1);
      await t.rejects(spend(chain, a, c.address, 1n, 1), /nonce too low/, 'used nonces stay used');

      t.equal(await chain.mineBlock(), 3, 'the next block continues the chain');
      t.same(await chain.txStatus(before.pending), { state: 'mined', height: 3 }, 'the pending tx posted before the restart is mined');
      t.equal((await chain.account(c.address))?.balance, 905n * AE);
    });

    await run(place, OPTIONS, async (chain) => {
      t.equal(await chain.height(), 3, 'the block mined after the first restart survived the second');
      t.same(await chain.txStatus(before.pending), { state: 'mined', height: 3 });
      t.equal(chain.pendingCount(), 0, 'the pool emptied with it');
      t.equal((await chain.account(a.address))?.nonce, 2);
    });
  });

  t.test(`${label}: a closing channel and a settled one survive`, async (t) => {
    const place = makePlace(t);
    const [a, b] = [AccountMemory.generate(), AccountMemory.generate()];
    const id = channelId(a.address, 3, b.address);
    const before = await run(place, OPTIONS, async (chain) => {
      await spend(chain, GENESIS, a.address, 100n * AE, 1);
      await spend(chain, GENESIS, b.address, 100n * AE, 2);
      await chain.mineBlock();
      // nonces 1 and 2 of a are spent first, so the channel id comes from nonce 3
      await spend(chain, a, b.address, 1n, 1);
      await spend(chain, a, b.address, 1n, 2);
      const create = buildTx({
        tag: Tag.ChannelCreateTx, initiator: a.address, initiatorAmount: 10n * AE, responder: b.address, responderAmount: 10n * AE,
        channelReserve: 0, lockPeriod: 0, ttl: 0, initiatorDelegateIds: [], responderDelegateIds: [],
        stateHash: encode(Buffer.alloc(32), Encoding.State), nonce: 3,
      });
      const hash = await chain.postTx(await cosign(b, await cosign(a, create)) as `tx_${string}`);
      await chain.mineBlock();
      const close = buildTx({
        tag: Tag.ChannelCloseMutualTx, channelId: id, fromId: a.address, initiatorAmountFinal: 12n * AE, responderAmountFinal: 7n * AE,
        ttl: 0, nonce: 4,
      });
      await chain.postTx(await cosign(b, await cosign(a, close)) as `tx_${string}`);
      await chain.mineBlock();
      t.equal(chain.channelNow(id), null, 'closed by mutual consent');
      return { createHash: hash, closeTx: await chain.channelTx(id), accounts: await accountsOf(chain, [a.address, b.address]) };
    });
    t.ok(before.closeTx);
    await run(place, OPTIONS, async (chain) => {
      t.equal(chain.channelNow(id), null, 'a deleted channel stays deleted');
      t.match(chain.transaction(before.createHash), { blockHeight: 2 });
      t.equal(await chain.channelTx(id), before.closeTx, 'its last tx (the close) is kept');
      t.same(await accountsOf(chain, [a.address, b.address]), before.accounts, 'balances after the close');
    });
  });

  t.test(`${label}: SIGKILL right after postTx returned loses no accepted tx`, async (t) => {
    const place = makePlace(t);
    const recipient = AccountMemory.generate();
    const child = spawn(...untapped(process.execPath, ['--import', 'tsx', packagePath('test', 'helpers', 'dev-chain-child.ts')]), {
      env: { ...process.env, DEV_CHAIN_BACKEND: JSON.stringify(place.spec), RECIPIENT: recipient.address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let errors = '';
    child.stderr.on('data', (d: Buffer) => { errors += d.toString(); });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    // killed the moment the 25th hash is read: its postTx has just returned, and the next one is under way
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        if ((output.match(/^posted /gm) ?? []).length >= 25) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`the child ended by itself:\n${errors}`)));
    });
    t.equal(await exited, 'SIGKILL', 'killed, not stopped');
    const posted = [...output.matchAll(/^posted (th_\w+)$/gm)].map((m) => m[1]!);
    const blocks = [...output.matchAll(/^block (\d+)$/gm)].map((m) => Number(m[1]));
    t.ok(posted.length >= 25);

    await run(place, OPTIONS, async (chain) => {
      t.ok(await chain.height() >= Math.max(0, ...blocks), 'every block it announced is there');
      const statuses = await Promise.all(posted.map((hash) => chain.txStatus(hash)));
      t.ok(statuses.every((s) => s.state === 'mined' || s.state === 'pending'), 'every tx it was told about is mined or pending');
      while (chain.pendingCount() > 0) await chain.mineBlock();
      const after = await Promise.all(posted.map((hash) => chain.txStatus(hash)));
      t.ok(after.every((s) => s.state === 'mined'), 'and all of them are mined in the end');
      const balance = (await chain.account(recipient.address))?.balance ?? 0n;
      t.ok(balance >= BigInt(posted.length) * AE, 'the recipient got every one of them');
    });
  });

  t.test(`${label}: a wallet on the node HTTP API sees the same chain after a restart`, async (t) => {
    const place = makePlace(t);
    const wallet = AccountMemory.generate();
    // blocks from the chain's own timer, as in the service
    const fast = { ...OPTIONS, blockIntervalMs: 50 };
    const { hash, height } = await run(place, fast, (chain) => withNodeApi(chain, async (aeSdk) => {
      const { hash } = await aeSdk.spend((7n * AE).toString(), wallet.address);
      return { hash, height: await chain.height() };
    }));
    await run(place, fast, (chain) => withNodeApi(chain, async (aeSdk) => {
      t.ok(await chain.height() >= height, 'no block went back');
      t.equal(await aeSdk.getBalance(wallet.address), (7n * AE).toString(), 'the balance, through GET /v3/accounts');
      const found = await aeSdk.api.getTransactionByHash(hash);
      t.ok(found.blockHeight > 0, 'the tx, through GET /v3/transactions');
      // the genesis nonce went on: a second spend after the restart is accepted and mined
      await aeSdk.spend((1n * AE).toString(), wallet.address);
      t.equal(await aeSdk.getBalance(wallet.address), (8n * AE).toString());
    }));
  });

  t.test(`${label}: two chains writing one ledger: the second one's block is refused`, async (t) => {
    const place = makePlace(t);
    const backend = await place.open();
    const first = await openDevChain(OPTIONS, backend);
    const second = await openDevChain(OPTIONS, backend);
    t.equal(await first.mineBlock(), 1);
    await t.rejects(second.mineBlock(), LedgerConflictError, 'a block on a height it did not make');
    t.equal(await second.height(), 0, 'and the refused block changed nothing');
    await first.close();
    await second.close();
    await place.release(backend);
  });
}


/** The chain served on its node HTTP API for the duration of `use`, with an AeSdk spending from genesis. */
async function withNodeApi<T>(chain: DevChain, use: (aeSdk: AeSdk) => Promise<T>): Promise<T> {
  const api = createNodeHttpApi(chain, silentLogger());
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  try {
    const aeSdk = new AeSdk({
      nodes: [{ name: 'dev', instance: new Node(`http://127.0.0.1:${(api.address() as AddressInfo).port}`) }],
      accounts: [GENESIS],
      _expectedMineRate: 1000,
      _microBlockCycle: 100,
    } as ConstructorParameters<typeof AeSdk>[0]);
    return await use(aeSdk);
  } finally {
    const closed = new Promise((resolve) => api.close(resolve));
    api.closeAllConnections();
    await closed;
  }
}
