/**
 * The chain terms of a proposal, as pure rules: a fee asked for below a tx's least fee is refused
 * (the kit builds nothing below it), a gas price sets the fee as the node computes it, and a pinned
 * block is judged by the checking side's bh_delta window, picked by the node's formula.
 */
import t from 'tap';
import { buildTx, encode, Encoding, unpackTx } from '../../lib/sdk.js';
import { feeRefusal, pinRefusal } from '../../fsm/rules/chain-terms.js';
import { DEFAULT_BLOCK_HASH_DELTA, type ChannelId, type EncodedTx } from '../../fsm/types.js';
import { pickedHeight } from '../../lib/channel/pinning.js';
import { unpackSigned } from '../../lib/tx/channel-kit.js';
import { MIN_GAS_PRICE, minimumFee } from '../../lib/tx/gas-price.js';
import { kit } from './pair.js';

const FROM = encode(Buffer.alloc(32, 9), Encoding.AccountAddress);
const CHANNEL = encode(Buffer.alloc(32, 7), Encoding.Channel) as ChannelId;
const finals = { initiator: 10n ** 21n, responder: 10n ** 21n };
const inner = (signedTx: EncodedTx) => unpackSigned(signedTx)!.encodedTx;
const feeOf = (signedTx: EncodedTx) => BigInt((unpackTx(inner(signedTx)) as unknown as { fee: string }).fee);
const close = (terms: { fee?: bigint; gasPrice?: bigint }) => kit.closeMutualTx(CHANNEL, FROM, finals, { nonce: 3, ttl: 0, ...terms });

t.test('the fee: as given, the least one, or at a gas price (the bigger with a fee too)', async (t) => {
  const least = feeOf(close({}));
  t.equal(least, minimumFee(inner(close({}))), 'the least fee is the fee gas at the minimum gas price');
  t.equal(feeOf(close({ fee: 10n ** 15n })), 10n ** 15n);
  t.equal(feeOf(close({ gasPrice: 5n * MIN_GAS_PRICE })), 5n * least, 'five times the least at five times the gas price');
  t.equal(feeOf(close({ gasPrice: 5n * MIN_GAS_PRICE, fee: 10n ** 16n })), 10n ** 16n, 'the fee when it is bigger');
  t.equal(feeOf(close({ gasPrice: 5n * MIN_GAS_PRICE, fee: 1n })), 5n * least, 'the gas price\'s when that is');
  t.equal(feeOf(close({ fee: 1n })), least, 'never below the least fee');
  t.same(feeRefusal({ kit }, { nonce: 3, ttl: 0, fee: 1n }, close({ fee: 1n })),
    { reason: 'value_too_low', detail: `fee 1 is below the least fee ${least} this tx needs` });
  t.equal(feeRefusal({ kit }, { nonce: 3, ttl: 0, fee: least }, close({ fee: least })), null, 'the least fee itself is taken');
  t.equal(feeRefusal({ kit }, { nonce: 3, ttl: 0, fee: 1n, gasPrice: MIN_GAS_PRICE }, close({ fee: 1n, gasPrice: MIN_GAS_PRICE })), null, 'with a gas price the fee is worked out');
  t.equal(buildTx(unpackTx(inner(close({ gasPrice: 7n * MIN_GAS_PRICE })))), inner(close({ gasPrice: 7n * MIN_GAS_PRICE })), 'a real tx');
});

t.test('a pin: inside [top - not_older_than, top - not_newer_than], else too new or too old', async (t) => {
  const pin = (height: number) => ({ blockHash: 'kh_x', height, top: 100 });
  const window = { blockHashDelta: { notNewerThan: 3, notOlderThan: 20, pick: 0 } };
  t.equal(pinRefusal(window, pin(97)), null, 'exactly not_newer_than below the top');
  t.equal(pinRefusal(window, pin(80)), null, 'exactly not_older_than below');
  t.match(pinRefusal(window, pin(98)), { reason: 'block_hash_too_new', detail: /height 98 .* 3 blocks below the top 100/ });
  t.match(pinRefusal(window, pin(79)), { reason: 'block_hash_too_old', detail: /height 79 .* 20 blocks below the top 100/ });
  t.equal(pinRefusal({}, pin(100)), null, 'the node\'s default window takes the top');
  t.equal(pinRefusal({}, pin(90)), null);
  t.equal(pinRefusal({}, pin(89))?.reason, 'block_hash_too_old', 'and nothing older than 10 blocks');
});

t.test('the picked block: not_newer_than plus min(not_older_than, not_newer_than + pick) below the top, as the node picks', async (t) => {
  t.equal(pickedHeight(100, DEFAULT_BLOCK_HASH_DELTA), 100, 'the top by default');
  t.equal(pickedHeight(100, { notNewerThan: 3, notOlderThan: 20, pick: 0 }), 94);
  t.equal(pickedHeight(100, { notNewerThan: 2, notOlderThan: 20, pick: 1 }), 95);
  t.equal(pickedHeight(100, { notNewerThan: 2, notOlderThan: 3, pick: 1 }), 95, 'the offset is at most not_older_than');
  t.equal(pickedHeight(4, { notNewerThan: 3, notOlderThan: 20, pick: 0 }), 0, 'never below genesis');
});
