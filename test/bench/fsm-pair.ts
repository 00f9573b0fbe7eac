/**
 * The compute a transfer cannot do without in this design: the two participants' FSMs (xstate) and
 * their transaction work (building, hashing, checking both signatures), in one process with no
 * sockets, no Redis and no waiting. The clients' two signatures are made in the same loop and their
 * time is left out. What the service adds on top of this is its I/O.
 */
import { AccountMemory } from '../../lib/sdk.js';
import { createActor, type Actor } from 'xstate';
import { channelMachine, peerEvent, type ChannelEvent } from '../../fsm/channel-machine.js';
import type { ChannelEffect, ChannelParams, Role, TxKit } from '../../fsm/types.js';
import { createTxKit } from '../../lib/tx/channel-kit.js';
import { Signer } from './signer.js';

export const NETWORK_ID = 'ae_dev';

/**
 * Transfers per second of one FSM pair, and the µs of FSM work in each (signing left out), by the wall
 * clock and in CPU time. `kit` lets
 * test/bench/tx-kit.ts watch the tx work the pair asks for.
 */
export async function fsmPairTransfers(ms = 1000, kit: TxKit = createTxKit(NETWORK_ID)): Promise<{ perSecond: number; fsmUs: number; cpuUs: number }> {
  const [initiator, responder] = [AccountMemory.generate(), AccountMemory.generate()];
  const params: ChannelParams = {
    initiatorId: initiator.address, responderId: responder.address, initiatorAmount: 10n ** 21n, responderAmount: 10n ** 21n,
    pushAmount: 0n, channelReserve: 10n ** 18n, lockPeriod: 10n, minimumDepth: 0, minimumDepthStrategy: 'plain',
    initiatorDelegateIds: [], responderDelegateIds: [],
  };
  const signers = { initiator: new Signer(initiator.secretKey, NETWORK_ID), responder: new Signer(responder.secretKey, NETWORK_ID) };
  let signingNs = 0n;
  /** what the clients signed in the timed loop, signed again after it to know their CPU time */
  let signed: Array<[Role, string]> | null = null;
  let updates = 0;
  let onUpdate = () => undefined as void;
  const actors = {} as Record<Role, Actor<typeof channelMachine>>;
  for (const role of ['initiator', 'responder'] as const) {
    actors[role] = createActor(channelMachine, {
      input: { kit, role, fsmId: role, params, keepRunning: true, ...(role === 'initiator' && { terms: { nonce: 1, ttl: 0 } }) },
    });
  }
  // the effects performed as the service performs them, with the store and the chain answering at once
  for (const role of ['initiator', 'responder'] as const) {
    const peer = actors[role === 'initiator' ? 'responder' : 'initiator'];
    const later = (event: ChannelEvent) => setImmediate(() => actors[role].send(event));
    actors[role].on('*', (effect: ChannelEffect) => {
      if (effect.type === 'toClient' && effect.output.kind === 'sign') {
        const started = process.hrtime.bigint();
        const signedTx = signers[role].cosign(effect.output.signedTx);
        signingNs += process.hrtime.bigint() - started;
        signed?.push([role, effect.output.signedTx]);
        later({ type: 'CLIENT.SIGNED', tag: effect.output.tag, signedTx });
      } else if (effect.type === 'toClient' && effect.output.kind === 'update') {
        updates += 1;
        onUpdate();
      } else if (effect.type === 'toPeer') {
        const message = effect.message;
        setImmediate(() => peer.send(peerEvent(message)));
      } else if (effect.type === 'persist') {
        later({ type: 'STORE.SAVED', round: effect.state.round });
      } else if (effect.type === 'watchTx') {
        later({ type: 'CHAIN.MINED', txHash: 'th_bench' });
        later({ type: 'CHAIN.LOCKED', txHash: 'th_bench' });
      }
    });
  }
  const bothUpdated = () => new Promise<void>((resolve) => {
    const target = updates + 2;
    onUpdate = () => { if (updates >= target) resolve(); };
  });
  const opened = bothUpdated();
  actors.initiator.start();
  actors.responder.start();
  actors.initiator.send({ type: 'PEER.CONNECTED' });
  actors.responder.send({ type: 'PEER.CONNECTED' });
  await opened;

  const transfer = () => {
    const done = bothUpdated();
    actors.initiator.send({ type: 'CLIENT.UPDATE_NEW', from: initiator.address, to: responder.address, amount: 1n, meta: [] });
    return done;
  };
  for (let i = 0; i < 200; i++) await transfer(); // warm-up
  signingNs = 0n;
  signed = [];
  let count = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  while (performance.now() - started < ms) {
    await transfer();
    count += 1;
  }
  const elapsedUs = (performance.now() - started) * 1000;
  const cpu = process.cpuUsage(cpuStarted);
  // the clients' signing in CPU time: its wall time counts the waits for a core on a loaded machine
  const signing = signed;
  signed = null;
  const signingStarted = process.cpuUsage();
  for (const [role, tx] of signing) signers[role].cosign(tx);
  const signingCpu = process.cpuUsage(signingStarted);
  for (const actor of Object.values(actors)) actor.stop();
  return { perSecond: (count * 1e6) / elapsedUs, fsmUs: (elapsedUs - Number(signingNs) / 1000) / count,
    // CPU time, not wall time: on a shared machine the wall clock also counts the waits for a core
    cpuUs: (cpu.user + cpu.system - signingCpu.user - signingCpu.system) / count };
}
