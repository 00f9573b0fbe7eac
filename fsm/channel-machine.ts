/**
 * The channel FSM of one participant, as an xstate v5 machine. It follows the node's states
 * (apps/aechannel aesc_fsm). This file only assembles the state tree; each protocol phase lives in
 * its own module under phases/, with its states, its steps, guards and actions:
 *
 * - phases/open.ts: the handshake and funding, up to `open`
 * - phases/offchain-update.ts: the co-signed round every operation goes through
 * - phases/onchain-operation.ts: deposit and withdraw on chain, and the mutual close
 * - phases/dispute.ts: solo close, snapshot, slash, settle
 * - phases/reestablish.ts: leave and reestablish
 *
 * The rules they apply are pure, under rules/ (and protocol.ts): no xstate there.
 *
 * Pure: it decides and emits effects as data (ChannelEffect); lib/channel performs them and feeds
 * the results back as events. Transactions are built and checked by the injected TxKit.
 *
 * Money rules kept here: a co-signed tx is only reported, acknowledged or posted after the store
 * confirmed it (the `persisting…` states); every signature is checked against the expected signer and
 * the exact tx we built; a refused request leaves the context as it was.
 */
import { not } from 'xstate';
import { base } from './phases/base.js';
import * as dispute from './phases/dispute.js';
import * as offchainUpdate from './phases/offchain-update.js';
import * as onchainOperation from './phases/onchain-operation.js';
import * as opening from './phases/open.js';
import * as reestablish from './phases/reestablish.js';

export { peerEvent, OPERATIONS, DISPUTES } from './channel-context.js';
export type { ChannelContext, ChannelEvent, ChannelInput, Pending } from './channel-context.js';

const machineSetup = base
  .extend(opening.implementations)
  .extend(offchainUpdate.implementations)
  .extend(onchainOperation.implementations)
  .extend(dispute.implementations)
  .extend(reestablish.implementations);

/** A request that no state below accepts is refused and changes nothing. */
const notAllowedNow = { actions: 'refuse: not allowed now' } as const;

/**
 * The participant's channel FSM. Start it with `createActor(channelMachine, { input })` and feed it
 * ChannelEvents; listen to its emitted ChannelEffects.
 */
export const channelMachine = machineSetup.createMachine({
  id: 'channel',
  context: ({ input }) => ({
    ...input, channelId: null, state: null, pending: null, ownLocked: false, peerLocked: false, solo: null, clientConnected: true,
    closingRound: input.restored?.onchain?.lockedUntil ? input.restored.onchain.round : null,
    reportedChainRound: input.restored?.onchain?.round ?? 0,
    abandoned: null, deferredPeerUpdate: null, unsettled: null, deferredReestablish: null,
  }),
  entry: ['announce the FSM is up', 'restore the stored channel'],
  initial: 'starting',
  on: {
    'CLIENT.UPDATE_NEW': notAllowedNow,
    'CLIENT.DEPOSIT': notAllowedNow,
    'CLIENT.WITHDRAW': notAllowedNow,
    'CLIENT.SHUTDOWN': notAllowedNow,
    'CLIENT.DISPUTE': notAllowedNow,
    'CLIENT.SIGNED': notAllowedNow,
    'CLIENT.ABORT': notAllowedNow,
    'CLIENT.LEAVE': notAllowedNow,
    'CLIENT.MESSAGE': notAllowedNow,
    // anything else the peer sends as a message is dropped, as the node drops it
    'PEER.message': { guard: 'the peer\'s message is ours to take', actions: 'deliver the peer\'s message' },
    'PEER.error': { actions: 'report the peer\'s error' },
    'CHAIN.ASSUMED_TX_DEEP': { actions: 'report the assumed tx at minimum depth' },
    // before the channel exists there is nothing to come back to; after, the FSM waits for its client
    'CLIENT.DISCONNECTED': [
      { guard: 'the channel is established', actions: 'mark the client gone' },
      { target: '.closed', actions: { type: 'stop', params: { why: 'error' } } },
    ],
    'CLIENT.RECONNECTED': { actions: 'mark the client back' },
    ...reestablish.rootTransitions.on,
    // whatever the FSM was doing, a channel closing on chain is a dispute now
    ...dispute.rootTransitions.on,
  },
  states: {
    starting: {
      always: [
        { guard: 'we were restored from the store', target: 'reestablishing' },
        { guard: 'we are the initiator', target: 'connecting' },
        { target: 'awaiting_open' },
      ],
    },

    ...opening.states,

    open: {
      description: 'The channel is open: co-signed operations, messages and leave are possible.',
      initial: 'idle',
      on: {
        'CLIENT.MESSAGE': [
          { guard: 'the message may be sent', actions: 'relay the message to the peer' },
          { actions: 'refuse the message' },
        ],
        // busy with another operation (persisting, on chain, co-signing): the peer hears so at once
        'PEER.update': { actions: 'refuse the peer as busy' },
      },
      states: {
        idle: {
          entry: 'take up the deferred proposal',
          // a keep_running responder stays for its initiator, however long (the node ignores its idle timeout)
          after: { idle: { guard: not('we keep running for our peer'), target: '#channel.closed', actions: 'report the timeout and die' } },
          on: {
            'CLOCK.RESUMED': { target: 'idle', reenter: true },
            'CLOCK.IDLE_EXPIRED': { guard: not('we keep running for our peer'), target: '#channel.closed', actions: 'report the timeout and die' },
            ...offchainUpdate.idle.on,
            ...dispute.idle.on,
            ...reestablish.idle.on,
          },
        },
        ...offchainUpdate.states,
        ...dispute.openStates,
        ...onchainOperation.openStates,
      },
    },

    ...onchainOperation.states,
    ...dispute.states,
    ...reestablish.states,

    closed: {
      description: 'The FSM is done (left, closed, refused or failed); lib/channel disposes of it.',
      type: 'final',
    },
  },
});
