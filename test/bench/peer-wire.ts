/**
 * What the node's wire costs a transfer: a proposal and its ack, each encoded by one side's PeerWire
 * and decoded by the other's (bytes, checks, tx strings, the node's update serialization), with
 * distinct rounds so no memo answers twice. The FSMs, signatures and Noise are not in it.
 *
 *   tsx test/bench/peer-wire.ts        (BENCH_TRANSFERS, default 20000)
 */
import { randomBytes } from 'node:crypto';
import type { ChannelParams, EncodedTx } from '../../fsm/types.js';
import { PeerWire } from '../../lib/peer/wire.js';
import { createTxKit, unpackSigned, wrapSigned } from '../../lib/tx/channel-kit.js';
import { channelParams } from '../fsm/pair.js';
import { newParticipant } from '../helpers/accounts.js';

const N = Number(process.env.BENCH_TRANSFERS ?? 20_000);
const kit = createTxKit('ae_dev');
const params: ChannelParams = channelParams(newParticipant(), newParticipant());
const created = kit.createTx(params, { nonce: 1, ttl: 0 });
const chainHash = randomBytes(32);
const a = new PeerWire({ chainHash });
const b = new PeerWire({ chainHash });
// the link is established by a reestablish on round 1
b.decode(a.encode({ type: 'channel_reestablish', channelId: created.channelId, round: 1, stateHash: created.stateHash, signedTx: created.signedTx }));

const BATCH = 1_000;
const roundsFrom = (from: number) => Array.from({ length: BATCH }, (_, j) => {
  const i = from + j;
  const balances = { initiator: created.balances.initiator - BigInt(i + 1), responder: created.balances.responder + BigInt(i + 1) };
  const unsigned = kit.roundTx(created.channelId, i + 2, params, balances).signedTx;
  const inner = unpackSigned(unsigned)!.encodedTx;
  return { half: wrapSigned(inner, [randomBytes(64)]), both: wrapSigned(inner, [randomBytes(64), randomBytes(64)]) as EncodedTx };
});
const updates = [{ op: 'OffChainTransfer' as const, from: params.initiatorId, to: params.responderId, amount: 1n }];

// rounds are made a batch at a time, outside the timed part, so the heap stays the size of a live link's
let ns = 0n;
for (let from = 0; from < N; from += BATCH) {
  const rounds = roundsFrom(from);
  const start = process.hrtime.bigint();
  for (const { half, both } of rounds) {
    const proposal = b.decode(a.encode({ type: 'update', kind: 'update', signedTx: half, updates }));
    const ack = a.decode(b.encode({ type: 'update_ack', kind: 'update', signedTx: both }));
    if (!('message' in proposal) || !('message' in ack)) throw new Error('refused');
  }
  ns += process.hrtime.bigint() - start;
}
const us = Number(ns) / 1000 / N;
console.log(`PeerWire: ${N} transfers, ${us.toFixed(1)} µs of wire work each (proposal + ack, both directions), ${Math.round(1e6 / us)} /s on one core`);
