/**
 * A process that runs a dev chain on a storage backend and posts spends from genesis as fast as it
 * can, printing `posted <hash>` the moment postTx has returned and `block <height>` after each block,
 * until it is killed. For the test that kills it with SIGKILL and reopens its chain.
 *
 * env: DEV_CHAIN_BACKEND = {"kind":"embedded","dataDir":…} | {"kind":"redis","url":…,"keyPrefix":…};
 * RECIPIENT = the account the spends go to.
 */
import { AccountMemory, buildTx, Tag } from '../../lib/sdk.js';
import { openDevChain } from '../../lib/chain/dev/open-dev-chain.js';
import { openEmbedded } from '../../lib/store/embedded.js';
import type { StoreBackend } from '../../lib/store/backend.js';
import { cosign, NETWORK_ID } from './accounts.js';

type Spec = { kind: 'embedded'; dataDir: string } | { kind: 'redis'; url: string; keyPrefix: string };

const spec = JSON.parse(process.env.DEV_CHAIN_BACKEND!) as Spec;
const recipient = process.env.RECIPIENT as `ak_${string}`;
const backend: StoreBackend = spec.kind === 'embedded' ? { kind: 'embedded', db: await openEmbedded(spec.dataDir) } : spec;
const chain = await openDevChain({ networkId: NETWORK_ID, blockIntervalMs: 600_000, genesisBalance: 10n ** 30n }, backend);
// the dev-mode genesis key: public test data
const genesis = new AccountMemory('sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf');

for (let i = 1; ; i++) {
  const nonce = await chain.nextNonce(genesis.address);
  const tx = await cosign(genesis, buildTx({ tag: Tag.SpendTx, senderId: genesis.address, recipientId: recipient, amount: 10n ** 18n, nonce }));
  const hash = await chain.postTx(tx as `tx_${string}`);
  process.stdout.write(`posted ${hash}\n`); // a pipe's writes are synchronous on Linux: out before the next line runs
  if (i % 4 === 0) process.stdout.write(`block ${await chain.mineBlock()}\n`);
}
