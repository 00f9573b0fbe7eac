/**
 * Phase 4, disputes: a participant alone puts the channel's state on chain (close_solo,
 * snapshot_solo), and while the channel solo-closes, slashes with a newer co-signed round or settles
 * once the lock has passed. Whatever the FSM was doing, a channel closing on chain is a dispute now.
 */
import { DISPUTES, txTypeOf, type ChannelContext, type ChannelEvent } from '../channel-context.js';
import type { Decision } from '../decision.js';
import { conflict, info, reject, toClient, watchSnapshot, watchTx } from '../effects.js';
import { isRefusal } from '../protocol.js';
import { CODE } from '../reasons.js';
import { buildDispute, newerThanChain } from '../rules/disputes.js';
import { checkOwnSignature } from '../rules/proposals.js';
import type { ChannelEffect, EncodedTx } from '../types.js';
import { base, byDecision, guard } from './base.js';
import { signTag } from './sign-request.js';

type Event<T extends ChannelEvent['type']> = Extract<ChannelEvent, { type: T }>;


/** Our client asks for a dispute tx: refused if the chain does not allow it now, else built for it to sign. */
export function proposeDispute(c: ChannelContext, e: Event<'CLIENT.DISPUTE'>): Decision<'refused' | 'proposed'> {
  const solo = buildDispute(c, e);
  if (isRefusal(solo)) return { outcome: 'refused', effects: [reject(solo.reason, e.request, solo.detail)] };
  return { outcome: 'proposed', assign: { solo }, effects: [toClient({ kind: 'sign', tag: DISPUTES[solo.kind].tag, signedTx: solo.signedTx, updates: [] })] };
}

/** Our client signed the dispute tx: it goes on chain; the chain watcher reports what it does. */
export function signedDispute(c: ChannelContext, e: Event<'CLIENT.SIGNED'>): Decision<'other request' | 'bad signature' | 'posted'> {
  if (e.tag !== signTag(c, 'solo')) return { outcome: 'other request', effects: [reject('not_allowed_now', e.request)] };
  const check = checkOwnSignature(c, e.signedTx, c.solo?.signedTx);
  if (!check.ok) return { outcome: 'bad signature', effects: [reject(check.reason, e.request, check.detail)] };
  const posted: ChannelEffect[] = [{ type: 'postTx', signedTx: check.signedTx }];
  // the node follows its own client's snapshot to minimum depth and tells that client (min_depth_achieved)
  if (c.solo?.kind === 'snapshot_solo') posted.push(watchSnapshot(c, check.signedTx));
  return { outcome: 'posted', assign: { solo: null }, effects: posted };
}

/**
 * can_slash when our latest co-signed round is newer than the one the chain closes on, else
 * solo_closing, with the type of the tx that closes (a slash is `channel_slash_tx`, as at the node).
 */
function closingReport(c: ChannelContext, onchainRound: number, tx: EncodedTx | null): ChannelEffect {
  if (newerThanChain(c, onchainRound)) {
    return toClient({ kind: 'on_chain_tx', info: 'can_slash', tx: c.state!.signedTx, txType: 'channel_offchain_tx' });
  }
  const closing = tx ?? c.state!.signedTx;
  return toClient({ kind: 'on_chain_tx', info: 'solo_closing', tx: closing, txType: tx ? txTypeOf(c.kit, tx, 'channel_close_solo_tx') : 'channel_close_solo_tx' });
}

export const implementations = {
  guards: {
    'we were restored in a dispute': guard(({ context }) => (context.restored?.onchain?.lockedUntil ?? 0) !== 0),
    /**
     * The chain watcher may see our own deposit or withdraw after the tx watcher did and the operation
     * is over (it reads a node's blocks a little later): that was reported when the tx was mined, and
     * the node reports each tx once. Whatever else changes an active channel on chain (a snapshot)
     * moves its round past any it had.
     */
    'the chain moved past the round our client knows': guard(({ context, event }) =>
      event.type === 'CHAIN.CHANNEL_CHANGED' && event.round > context.reportedChainRound),
  },
  actions: {
    'abort the dispute': base.enqueueActions(({ enqueue }) => {
      enqueue.emit(info('aborted_update'));
      enqueue.assign({ solo: null });
    }),
    'report the dispute tx rejected': base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CHAIN.REJECTED') return;
      enqueue.emit(conflict(context, CODE.rejectedOnChain));
      enqueue.emit(reject('not_allowed_now', null, `rejected on-chain: ${event.detail}`));
    }),
    'report the channel changed on chain': base.enqueueActions(({ context, event, enqueue }) => {
      const { tx, round } = event as Event<'CHAIN.CHANNEL_CHANGED'>;
      enqueue.assign({ reportedChainRound: round });
      enqueue.emit(toClient({
        kind: 'on_chain_tx', info: 'channel_changed', tx: tx ?? context.state!.signedTx,
        txType: tx ? txTypeOf(context.kit, tx, 'channel_snapshot_solo_tx') : 'channel_snapshot_solo_tx',
      }));
    }),
    /** Our snapshot is deep enough: the node tells its sender so (`type`, not `tx_type`, as the node names it). */
    'report the snapshot at minimum depth': base.emit(({ event }) =>
      info('min_depth_achieved', { type: 'channel_snapshot_solo_tx', tx_hash: (event as Event<'CHAIN.SNAPSHOT_LOCKED'>).txHash })),
    /**
     * The chain says a channel we saw closed has changed: a fork undid the close. The node cannot go on
     * from there either: it reports a zombie channel and its FSM stops.
     */
    'report a zombie channel': base.enqueueActions(({ enqueue }) => {
      enqueue.emit(info('zombie_channel'));
      enqueue.emit(info('died'));
    }),
    /**
     * The channel is solo-closing on chain. If our latest co-signed round is newer than the one it closes
     * on, the client can slash with it (the node never slashes by itself; the watchtower may).
     */
    'report the channel closing on chain': base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CHAIN.CHANNEL_CLOSING') return;
      enqueue.assign({ closingRound: event.round });
      enqueue.emit(closingReport(context, event.round, event.tx));
    }),
    /** A client that comes back to a closing channel hears where the dispute stands. */
    'report where the dispute stands': base.enqueueActions(({ context, enqueue }) => {
      enqueue.emit(closingReport(context, context.closingRound ?? 0, null));
      enqueue.emit(info('closing'));
    }),
    'report closing': base.emit(() => info('closing')),
    'drop every operation': base.assign({ pending: null, solo: null, ownLocked: false, peerLocked: false }),
    'report the channel closed on chain': base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CHAIN.CHANNEL_CLOSED') return;
      const tx = event.tx ?? context.state!.signedTx;
      enqueue.emit(toClient({ kind: 'on_chain_tx', info: 'channel_closed', tx, txType: event.tx ? txTypeOf(context.kit, event.tx, 'channel_settle_tx') : 'channel_settle_tx' }));
      if (event.tx) enqueue.emit(watchTx(context, event.tx));
      else enqueue.raise({ type: 'CHAIN.LOCKED', txHash: '' });
    }),
  },
};

const phase = base.extend(implementations);
const dispute = (target: string) => byDecision(proposeDispute, { refused: {}, proposed: { target } });
const soloSigned = (back: string) => byDecision(signedDispute, { 'other request': {}, 'bad signature': {}, posted: { target: back } });
const soloAborted = { type: 'the client aborts this sign request' as const, params: { request: 'solo' as const } };

/** What the open, idle channel does with disputes. */
export const idle = phase.createStateConfig({
  on: {
    'CLIENT.DISPUTE': dispute('awaiting_solo_signature'),
    'CHAIN.CHANNEL_CHANGED': { guard: 'the chain moved past the round our client knows', actions: 'report the channel changed on chain' },
    'CHAIN.REJECTED': { actions: 'report the dispute tx rejected' },
  },
});

/** Inside `open`: a close_solo or snapshot_solo tx our client signs. */
export const openStates = {
  awaiting_solo_signature: phase.createStateConfig({
    description: 'Our client signs a close_solo or snapshot_solo tx, which goes on chain alone.',
    after: { sign: { target: 'idle', actions: 'roll back on timeout' } },
    on: {
      'CLIENT.SIGNED': soloSigned('idle'),
      'CLIENT.ABORT': { guard: soloAborted, target: 'idle', actions: 'abort the dispute' },
      'CLIENT.DISCONNECTED': { target: 'idle', actions: 'abandon our own operation' },
    },
  }),
};

/** Anywhere once the channel exists: the chain watcher's news of a closing or closed channel. */
export const rootTransitions = phase.createStateConfig({
  on: {
    'CHAIN.CHANNEL_CLOSING': {
      guard: 'the channel is established', target: '.channel_closing',
      actions: ['drop every operation', 'report the channel closing on chain', 'report closing'],
    },
    'CHAIN.CHANNEL_CLOSED': { guard: 'the channel is established', target: '.channel_closed', actions: ['drop every operation', 'report the channel closed on chain'] },
    'CHAIN.SNAPSHOT_LOCKED': { actions: 'report the snapshot at minimum depth' },
  },
});

export const states = {
  channel_closing: phase.createStateConfig({
    description: 'The channel is solo-closing on chain: the client may slash with a newer round, then settle after the lock.',
    initial: 'watching',
    on: {
      'CHAIN.CHANNEL_CLOSING': { actions: 'report the channel closing on chain' },
      'CHAIN.REJECTED': { actions: 'report the dispute tx rejected' },
      'CLIENT.RECONNECTED': { actions: ['mark the client back', 'report where the dispute stands'] },
      // the peer may be long gone; the dispute goes on without it
      'PEER.DISCONNECTED': {},
    },
    states: {
      watching: {
        on: { 'CLIENT.DISPUTE': dispute('awaiting_solo_signature') },
      },
      awaiting_solo_signature: {
        description: 'Our client signs a slash or settle tx.',
        on: {
          'CLIENT.SIGNED': soloSigned('watching'),
          'CLIENT.ABORT': { guard: soloAborted, target: 'watching', actions: 'abort the dispute' },
          'CLIENT.DISCONNECTED': { target: 'watching', actions: 'abandon our own operation' },
        },
      },
    },
  }),
  channel_closed: phase.createStateConfig({
    description: 'The channel is gone from the chain (settled); waiting for the settling tx to be deep enough.',
    on: {
      'CHAIN.LOCKED': { target: 'closed', actions: ['confirm the channel closed', { type: 'stop', params: { why: 'closed' } }] },
      'CHAIN.CHANNEL_CHANGED': { target: 'closed', actions: ['report a zombie channel', { type: 'stop', params: { why: 'error' } }] },
      'PEER.DISCONNECTED': {},
    },
  }),
};
