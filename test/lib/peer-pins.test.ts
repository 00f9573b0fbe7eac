/**
 * lib/channel/peer-pins.ts on a real dev chain: a remote peer's pin (a block hash alone) becomes a
 * height on our chain and our top, which the FSM's window then judges; a block we do not know is
 * refused; and the link's messages keep their order around a lookup.
 */
import t from 'tap';
import { Encoding } from '../../lib/sdk.js';
import { randomBytes } from 'node:crypto';
import { DevChain } from '../../lib/chain/dev/dev-chain.js';
import { PeerPins, resolvePin } from '../../lib/channel/peer-pins.js';
import { decode, encode } from '../../lib/tx/encoding.js';
import { pinRefusal } from '../../fsm/rules/chain-terms.js';
import type { EncodedTx, PeerMessage } from '../../fsm/types.js';
import { NETWORK_ID } from '../helpers/accounts.js';

const chain = new DevChain({ networkId: NETWORK_ID, blockIntervalMs: 60_000, genesisBalance: 10n ** 30n });
t.teardown(() => chain.close());
for (let i = 0; i < 30; i++) await chain.mineBlock();
const top = await chain.height();
/** a hash as the node's wire carries it, 32 bytes read as a key block hash */
const asWire = (hash: string) => encode(decode(hash as `kh_${string}`), Encoding.KeyBlockHash);

t.test('a key block: its height and our top', async (t) => {
  const hash = (await chain.keyBlockHash(top - 5))!;
  const pin = await resolvePin(chain, hash);
  t.same(pin, { blockHash: hash, height: top - 5, top });
  t.equal(pinRefusal({}, pin), null, '5 below the top is inside the node\'s default window');
  t.equal(pinRefusal({ blockHashDelta: { notNewerThan: 6, notOlderThan: 20, pick: 0 } }, pin)?.reason, 'block_hash_too_new', 'and too new for a window from 6 below');
  const old = await resolvePin(chain, (await chain.keyBlockHash(top - 25))!);
  t.equal(pinRefusal({}, old)?.reason, 'block_hash_too_old', '25 below is too old for the default window');
});

t.test('a micro block, whose 32 bytes come as a key block hash on the wire: found as the micro block', async (t) => {
  const micro = chain.blockHash(top - 3, 'mh');
  const pin = await resolvePin(chain, asWire(micro));
  t.same(pin, { blockHash: micro, height: top - 3, top });
});

t.test('a block our chain does not have is refused as unknown_block_hash', async (t) => {
  const made = encode(randomBytes(32), Encoding.KeyBlockHash);
  const pin = await resolvePin(chain, made);
  t.equal(pin.height, null);
  t.match(pinRefusal({}, pin), { reason: 'unknown_block_hash', detail: /not a block of our main chain/ });
  // a block above our top (the peer's chain is ahead, or made up) is not one of ours either
  const ahead = Buffer.from(decode((await chain.keyBlockHash(top))! as `kh_${string}`));
  ahead.writeBigUInt64BE(BigInt(top + 5), 0);
  t.equal((await resolvePin(chain, encode(ahead, Encoding.KeyBlockHash))).height, null);
});

t.test('our top read a poll behind is no lower than a main-chain block we can see', async (t) => {
  const stale = { height: async () => top - 3, blockHeight: (hash: string) => chain.blockHeight(hash) };
  const pin = await resolvePin(stale, (await chain.keyBlockHash(top))!);
  t.same([pin.height, pin.top], [top, top]);
  t.equal(pinRefusal({}, pin), null, 'the peer\'s top is not too new for the default window');
});

t.test('a chain that cannot answer leaves the block unknown: refused, not taken unchecked', async (t) => {
  const failing = { height: () => Promise.reject(new Error('node down')), blockHeight: () => Promise.reject(new Error('node down')) };
  const pin = await resolvePin(failing, (await chain.keyBlockHash(top))!);
  t.equal(pinRefusal({}, pin)?.reason, 'unknown_block_hash');
});

t.test('messages keep their order: what arrives during a lookup waits behind it; unpinned ones go on at once otherwise', async (t) => {
  const delivered: string[] = [];
  const pins = new PeerPins(chain, (m) => delivered.push(m.type === 'update' ? `update${m.pin ? `@${m.pin.height}` : ''}${'blockHash' in m ? ' unresolved' : ''}` : m.type));
  const update = (blockHash?: string): PeerMessage => ({
    type: 'update', kind: 'update', signedTx: 'tx_x' as EncodedTx, updates: [], ...(blockHash !== undefined && { blockHash }),
  });
  pins.push({ type: 'leave' });
  t.same(delivered, ['leave'], 'nothing pinned under way: handed on at once');
  pins.push(update((await chain.keyBlockHash(top - 2))!));
  pins.push({ type: 'message', from: 'ak_a', to: 'ak_b', info: 'after' } as PeerMessage);
  pins.push(update());
  t.same(delivered, ['leave'], 'the rest waits behind the lookup');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(delivered, ['leave', `update@${top - 2}`, 'message', 'update'], 'then all of it, in order, the pin resolved and the hash alone gone');
  pins.push({ type: 'leave_ack' });
  t.same(delivered.at(-1), 'leave_ack', 'and at once again');
});
