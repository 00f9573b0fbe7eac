/**
 * The node's serialized off-chain updates (aesc_offchain_update), as the peer's update messages carry
 * them, checked byte for byte against the aepp-sdk's own encoder (an independent implementation of
 * the same aeserialization templates), and read back strictly.
 */
import t from 'tap';
import { decode, EntryTag, packEntry } from '../../lib/sdk.js';
import { encode as rlpEncode } from 'rlp';
import type { OffchainUpdate } from '../../fsm/types.js';
import { deserializeUpdate, serializeUpdate, UpdateDecodeError } from '../../lib/peer/offchain-updates.js';
import { newParticipant } from '../helpers/accounts.js';

const a = newParticipant().address;
const b = newParticipant().address;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const sdk = (entry: Record<string, unknown>) => hex(decode(packEntry(entry as never)));

t.test('transfer, deposit and withdraw are the bytes the aepp-sdk writes; meta is [576, 2, data]', async (t) => {
  for (const amount of [0n, 1n, 255n, 256n, 2n ** 53n + 1n, 2n ** 64n + 7n]) {
    t.equal(hex(serializeUpdate({ op: 'OffChainTransfer', from: a, to: b, amount })),
      sdk({ tag: EntryTag.ChannelOffChainUpdateTransfer, from: a, to: b, amount }), `transfer of ${amount}`);
    t.equal(hex(serializeUpdate({ op: 'OffChainDeposit', from: a, amount })),
      sdk({ tag: EntryTag.ChannelOffChainUpdateDeposit, from: a, amount }), `deposit of ${amount}`);
    // the sdk names the withdrawing account `from`; the node `to`: the same bytes
    t.equal(hex(serializeUpdate({ op: 'OffChainWithdrawal', to: a, amount })),
      sdk({ tag: EntryTag.ChannelOffChainUpdateWithdraw, from: a, amount }), `withdraw of ${amount}`);
  }
  t.equal(hex(serializeUpdate({ op: 'OffChainMeta', data: 'héllo' })), hex(rlpEncode([Buffer.of(2, 0x40), Buffer.of(2), Buffer.from('héllo')])));
});

t.test('every update reads back as it was', async (t) => {
  const updates: OffchainUpdate[] = [
    { op: 'OffChainTransfer', from: a, to: b, amount: 0n },
    { op: 'OffChainTransfer', from: b, to: a, amount: 10n ** 30n },
    { op: 'OffChainDeposit', from: a, amount: 5n },
    { op: 'OffChainWithdrawal', to: b, amount: 2n ** 48n },
    { op: 'OffChainMeta', data: '' },
    { op: 'OffChainMeta', data: 'ünïcode ✓' },
  ];
  for (const u of updates) t.same(deserializeUpdate(serializeUpdate(u)), u, u.op);
});

t.test('what the node would not have written is refused', async (t) => {
  const id = Buffer.concat([Buffer.of(1), decode(a)]);
  const cases: Array<[string, unknown[]]> = [
    ['an amount with a leading zero', [Buffer.of(2, 0x3b), Buffer.of(1), id, Buffer.of(0, 5)]],
    ['an empty amount', [Buffer.of(2, 0x3b), Buffer.of(1), id, Buffer.alloc(0)]],
    ['a deposit of version 2', [Buffer.of(2, 0x3b), Buffer.of(2), id, Buffer.of(5)]],
    ['a deposit with a field too many', [Buffer.of(2, 0x3b), Buffer.of(1), id, Buffer.of(5), Buffer.of(5)]],
    ['a contract id where an account goes', [Buffer.of(2, 0x3b), Buffer.of(1), Buffer.concat([Buffer.of(5), decode(a)]), Buffer.of(5)]],
    ['a contract call update', [Buffer.of(2, 0x3e), Buffer.of(1)]],
    ['meta that is not utf-8', [Buffer.of(2, 0x40), Buffer.of(2), Buffer.of(0xff, 0xfe)]],
  ];
  for (const [what, items] of cases) t.throws(() => deserializeUpdate(rlpEncode(items as never)), UpdateDecodeError, what);
  t.throws(() => deserializeUpdate(Buffer.of(0xc5, 1)), UpdateDecodeError, 'truncated RLP');
  t.throws(() => deserializeUpdate(Buffer.concat([serializeUpdate({ op: 'OffChainMeta', data: 'x' }), Buffer.of(0)])), UpdateDecodeError, 'trailing bytes');
});
