/**
 * Two participants' machines stepped against each other on virtual time: no sockets, no store, no
 * chain, no waiting. Effects are performed in order by this harness: a peer message is delivered, a
 * sign request is signed by the participant's real ed25519 key (or aborted), a write is answered,
 * a posted tx is kept, and a watched tx reaches its depth when the test says so. Timers run on
 * xstate's SimulatedClock: `advance(ms)` is the only way time passes.
 */
import { createActor, SimulatedClock, type Actor } from 'xstate';
import { channelMachine, peerEvent, type ChannelEvent, type ChannelInput } from '../../fsm/channel-machine.js';
import type { ChannelEffect, ChannelParams, ClientOutput, EncodedTx, PeerMessage, Role, Timeouts, TxKit } from '../../fsm/types.js';
import { createTxKit } from '../../lib/tx/channel-kit.js';
import { cosign, newParticipant, NETWORK_ID, type Participant } from '../helpers/accounts.js';

export const kit = createTxKit(NETWORK_ID);

export interface Side {
  role: Role;
  actor: Actor<typeof channelMachine>;
  account: Participant;
  effects: ChannelEffect[];
  outputs: ClientOutput[];
  /** how this side's client answers a sign request: sign, abort with a code, or stay silent */
  answer: (tag: string) => 'sign' | 'silent' | number;
  /** how its store answers a write */
  store: 'saves' | 'fails' | 'silent';
  /** the txs it posted, and those it follows to minimum depth */
  posted: EncodedTx[];
  watched: EncodedTx[];
  /** the protocol's names of what its client heard: `info:open`, `sign:update`, `chain:deposit_locked`, `update`… */
  heard(): string[];
  round(): number | undefined;
  value(): unknown;
  send(event: ChannelEvent): void;
}

export function channelParams(initiator: Participant, responder: Participant): ChannelParams {
  return {
    initiatorId: initiator.address, responderId: responder.address,
    initiatorAmount: 10n ** 21n, responderAmount: 5n * 10n ** 20n, pushAmount: 0n,
    channelReserve: 10n ** 18n, lockPeriod: 10n, minimumDepth: 0, minimumDepthStrategy: 'plain',
    initiatorDelegateIds: [], responderDelegateIds: [],
  };
}

const named = (o: ClientOutput): string =>
  o.kind === 'info' ? `info:${o.event}` : o.kind === 'sign' ? `sign:${o.tag}` : o.kind === 'on_chain_tx' ? `chain:${o.info}` : o.kind;

export interface PairOptions {
  timeouts?: Partial<Timeouts>;
  keepRunning?: boolean;
  kit?: TxKit;
  /**
   * what carries a peer message from one side to the other (default: as it is, in-process); null
   * drops it, as a link that refuses it does
   */
  link?: (from: Role, message: PeerMessage) => PeerMessage | null;
  /** the accounts and parameters of an earlier pair, and each side's stored channel: a restored pair */
  accounts?: Record<Role, Participant>;
  params?: ChannelParams;
  restored?: Record<Role, ChannelInput['restored']>;
}

export function pair(opts: PairOptions = {}) {
  const clock = new SimulatedClock();
  const accounts = opts.accounts ?? { initiator: newParticipant(), responder: newParticipant() };
  const params = opts.params ?? channelParams(accounts.initiator, accounts.responder);
  const queue: (() => Promise<void> | void)[] = [];
  const sides = {} as Record<Role, Side>;
  for (const role of ['initiator', 'responder'] as const) {
    const actor = createActor(channelMachine, {
      clock,
      input: {
        kit: opts.kit ?? kit, role, fsmId: `ba_${role}`, params, keepRunning: opts.keepRunning ?? role === 'responder', timeouts: opts.timeouts,
        ...(role === 'initiator' && { terms: { nonce: 1, ttl: 0 } }),
        ...(opts.restored && { restored: opts.restored[role] }),
      },
    } as Parameters<typeof createActor<typeof channelMachine>>[1]);
    const side: Side = {
      role, actor, account: accounts[role], effects: [], outputs: [], answer: () => 'sign', store: 'saves', posted: [], watched: [],
      heard: () => side.outputs.map(named),
      round: () => actor.getSnapshot().context.state?.round,
      value: () => actor.getSnapshot().value,
      send: (event) => actor.send(event),
    };
    sides[role] = side;
  }
  for (const side of Object.values(sides)) {
    const other = sides[side.role === 'initiator' ? 'responder' : 'initiator'];
    side.actor.on('*', (effect: ChannelEffect) => {
      side.effects.push(effect);
      switch (effect.type) {
        case 'toClient': {
          side.outputs.push(effect.output);
          const out = effect.output;
          if (out.kind !== 'sign') break;
          const answer = side.answer(out.tag);
          if (answer === 'sign') queue.push(async () => side.send({ type: 'CLIENT.SIGNED', tag: out.tag, signedTx: await cosign(side.account, out.signedTx) }));
          else if (answer !== 'silent') queue.push(() => side.send({ type: 'CLIENT.ABORT', tag: out.tag, code: answer }));
          break;
        }
        case 'toPeer': {
          const message = opts.link ? opts.link(side.role, effect.message) : effect.message;
          if (message) queue.push(() => other.send(peerEvent(message)));
          break;
        }
        case 'persist': case 'persistOnchain': {
          const { round } = effect.state;
          if (side.store === 'saves') queue.push(() => side.send({ type: 'STORE.SAVED', round }));
          if (side.store === 'fails') queue.push(() => side.send({ type: 'STORE.FAILED', round, detail: 'disk full' }));
          break;
        }
        case 'postTx': side.posted.push(effect.signedTx); break;
        case 'watchTx': side.watched.push(effect.signedTx); break;
        default: break;
      }
    });
  }
  /** Performs every queued effect, and those they cause, until nothing is left to do. */
  const run = async () => {
    for (let work = queue.shift(); work; work = queue.shift()) await work();
  };
  /** The tx this side watches reaches minimum depth (CHAIN.MINED, then CHAIN.LOCKED). */
  const confirm = async (...roles: Role[]) => {
    for (const role of roles) {
      sides[role].send({ type: 'CHAIN.MINED', txHash: 'th_test' });
      sides[role].send({ type: 'CHAIN.LOCKED', txHash: 'th_test' });
      await run();
    }
  };
  /** Virtual time passes: every timer due by then fires. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await run();
  };
  /** Opens the channel the node's way, with both funding copies confirmed. */
  const open = async () => {
    for (const side of Object.values(sides)) side.actor.start();
    sides.initiator.send({ type: 'PEER.CONNECTED' });
    sides.responder.send({ type: 'PEER.CONNECTED' });
    await run();
    await confirm('initiator', 'responder');
  };
  /** Starts both machines and connects them (a restored pair reestablishes). */
  const connect = async () => {
    for (const side of Object.values(sides)) side.actor.start();
    sides.initiator.send({ type: 'PEER.CONNECTED' });
    sides.responder.send({ type: 'PEER.CONNECTED' });
    await run();
  };
  const stop = () => { for (const side of Object.values(sides)) side.actor.stop(); };
  return { sides, initiator: sides.initiator, responder: sides.responder, accounts, params, clock, run, confirm, advance, open, connect, stop };
}

export type Pair = ReturnType<typeof pair>;
