/**
 * Leave and reestablish over real WebSockets, in both envelopes, including across a restart of the
 * service between leave and reestablish: the FSM comes back from Redis.
 */
import t from 'tap';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import { TestClient, type Protocol } from './helpers/client.js';
import { startTestService, testConfig, type TestService } from './helpers/service.js';

async function reestablish(service: TestService, ch: OpenedChannel, role: 'initiator' | 'responder', fsmId: string, protocol: Protocol, extra: Record<string, string> = {}) {
  const account = role === 'initiator' ? ch.initiatorAccount : ch.responderAccount;
  return TestClient.connect(service.channelUrl, {
    role, port: ch.port, ...(role === 'initiator' && { host: 'localhost' }),
    existing_channel_id: ch.channelId, existing_fsm_id: fsmId, ...extra,
  }, protocol, account);
}

async function transfer(ch: { initiator: TestClient; responder: TestClient }, from: string, to: string, amount: number) {
  ch.initiator.send('channels.update.new', { from, to, amount });
  const [a, b] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  return [a.data.state, b.data.state];
}

/** A service of the test's own, and a channel on it with one transfer done (round 2). */
async function channelWithATransfer(t: { teardown(fn: () => Promise<void>): void }, protocol: Protocol) {
  const service = await startTestService();
  t.teardown(async () => { await service.stop(); await service.cleanup(); });
  const ch = await openChannel(service, protocol);
  const from = ch.initiatorAccount.address;
  const to = ch.responderAccount.address;
  await transfer(ch, from, to, 100);
  return { service, ch, from, to };
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: leave, then the initiator reestablishes with a live keep_running responder`, async (t) => {
    const { service, ch, from, to } = await channelWithATransfer(t, protocol);

    ch.initiator.mark(); ch.responder.mark();
    ch.initiator.send('channels.leave');
    const left = await ch.initiator.nextMethod('channels.leave');
    const peerLeft = await ch.responder.nextMethod('channels.leave');
    t.equal(left.data.state, peerLeft.data.state, 'both get the latest co-signed state');
    await ch.initiator.nextMethod('channels.info', 'died');
    await ch.initiator.closedAndDone();
    t.ok(ch.initiator.closed, 'the leaver\'s socket is closed');
    t.notOk(ch.responder.closed, 'the keep_running responder stays');

    const back = await reestablish(service, ch, 'initiator', ch.fsmIds.initiator, protocol);
    const up = await back.nextMethod('channels.info', 'fsm_up');
    t.not(up.data.fsm_id, ch.fsmIds.initiator, 'a new fsm_id');
    t.same(back.sequence(), ['info:fsm_up']);
    await back.nextMethod('channels.update');
    t.same(back.sequence(), ['info:fsm_up', 'info:channel_reestablished', 'info:open', 'channels.update']);
    t.equal(back.received.at(-1)!.data.state, left.data.state, 'the reestablished state is the one left with');
    await ch.responder.nextMethod('channels.update');
    t.same(ch.responder.sequence(ch.responder.received.length - 3), ['info:channel_reestablished', 'info:open', 'channels.update']);

    const [state] = await transfer({ initiator: back, responder: ch.responder }, from, to, 5);
    t.ok(state);
    t.equal((await service.store.load(ch.channelId as any, 'initiator'))?.state.round, 3, 'the next round after reestablish');

    // the old fsm_id no longer works
    back.send('channels.leave');
    await back.nextMethod('channels.info', 'died');
    const stale = await reestablish(service, ch, 'initiator', ch.fsmIds.initiator, protocol);
    const refused = await stale.nextMethod('error');
    t.equal(protocol === 'json-rpc' ? refused.data.data[0].code : refused.data.reason, protocol === 'json-rpc' ? 1016 : 'invalid_fsm_id');
    await stale.closedAndDone();
    ch.responder.close();
  });

  t.test(`${protocol}: a reestablish without port pairs by the channel, as the node takes the stored port`, async (t) => {
    const service = await startTestService();
    t.teardown(async () => { await service.stop(); await service.cleanup(); });
    const ch = await openChannel(service, protocol);
    ch.initiator.send('channels.leave');
    await ch.initiator.nextMethod('channels.info', 'died');
    await ch.initiator.closedAndDone();
    const back = await TestClient.connect(service.channelUrl, {
      role: 'initiator', host: 'localhost', existing_channel_id: ch.channelId, existing_fsm_id: ch.fsmIds.initiator,
    }, protocol, ch.initiatorAccount);
    await back.nextMethod('channels.info', 'channel_reestablished');
    await Promise.all([back.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    const [mine, theirs] = await transfer({ initiator: back, responder: ch.responder }, ch.initiatorAccount.address, ch.responderAccount.address, 3);
    t.equal(mine, theirs, 'paired with the responder, and the channel goes on');
    back.close(); ch.responder.close();
  });

  t.test(`${protocol}: both leave, the service restarts, both reestablish from Redis and carry on`, async (t) => {
    const config = testConfig();
    let service = await startTestService({}, config);
    const ch = await openChannel(service, protocol, { extra: { keep_running: 'false' } });
    const from = ch.initiatorAccount.address;
    const to = ch.responderAccount.address;
    await transfer(ch, from, to, 1000);
    ch.responder.send('channels.leave');
    await Promise.all([ch.initiator.nextMethod('channels.info', 'died'), ch.responder.nextMethod('channels.info', 'died')]);
    await Promise.all([ch.initiator.closedAndDone(), ch.responder.closedAndDone()]);
    await service.stop();

    service = await startTestService({}, config);
    t.teardown(async () => { await service.stop(); await service.cleanup(); });
    const responder = await reestablish(service, ch, 'responder', ch.fsmIds.responder, protocol);
    const initiator = await reestablish(service, ch, 'initiator', ch.fsmIds.initiator, protocol);
    await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
    t.same(responder.sequence(), ['info:fsm_up', 'info:channel_reestablished', 'info:open', 'channels.update']);
    const [i, r] = await transfer({ initiator, responder }, from, to, 1);
    t.equal(i, r);
    const stored = await service.store.load(ch.channelId as any, 'responder');
    t.equal(stored?.state.round, 3);
    t.equal(stored?.state.balances.responder, 10n ** 21n + 1001n);
    const history = await service.store.history(ch.channelId as any, 'initiator');
    t.same(history.map((s) => s.round), [1, 2, 3], 'every co-signed round is in the history');
    initiator.close(); responder.close();
  });

  t.test(`${protocol}: a reconnect with the right fsm_id takes over from a socket still attached`, async (t) => {
    const { service, ch, from, to } = await channelWithATransfer(t, protocol);

    // the old socket is still open: to the service it looks like a client that has not gone away
    const stranger = await reestablish(service, ch, 'initiator', 'ba_wrong', protocol);
    await stranger.nextMethod('error');
    await stranger.closedAndDone();
    t.notOk(ch.initiator.closed, 'a wrong fsm_id takes nothing over');

    const back = await reestablish(service, ch, 'initiator', ch.fsmIds.initiator, protocol);
    const up = await back.nextMethod('channels.info', 'fsm_up');
    t.equal(up.data.fsm_id, ch.fsmIds.initiator, 'the live FSM goes on under its fsm_id');
    await ch.initiator.closedAndDone();
    t.equal(ch.initiator.closed!.code, 1000, 'the old socket is closed normally');
    t.equal(ch.initiator.closed!.reason, 'replaced by a new connection');

    const [mine, theirs] = await transfer({ initiator: back, responder: ch.responder }, from, to, 7);
    t.equal(mine, theirs, 'the new socket gets the updates, and the channel goes on');
    t.equal((await service.store.load(ch.channelId as any, 'initiator'))?.state.round, 3);
    t.notOk(ch.responder.closed, 'the peer never noticed');
    back.close(); ch.responder.close();
  });

  t.test(`${protocol}: system stop ends the FSM at once, as the node's; the same fsm_id brings it back`, async (t) => {
    const { service, ch, from, to } = await channelWithATransfer(t, protocol);

    ch.initiator.mark();
    ch.initiator.send('channels.system', { action: 'stop' }, 1);
    if (protocol === 'json-rpc') t.equal((await ch.initiator.nextMethod('result')).data, 'ok', 'answered like any request the FSM takes');
    await ch.initiator.nextMethod('channels.info', 'died');
    await ch.initiator.closedAndDone();
    t.equal(ch.initiator.closed!.code, 1000, 'its socket is closed');
    await ch.responder.nextMethod('channels.info', 'peer_disconnected');
    t.notOk(ch.responder.closed, 'the keep_running responder waits for a reestablish');
    t.equal((await service.store.load(ch.channelId as any, 'initiator'))?.state.round, 2, 'what was co-signed is kept');

    const back = await reestablish(service, ch, 'initiator', ch.fsmIds.initiator, protocol);
    await back.nextMethod('channels.info', 'fsm_up');
    await Promise.all([back.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    const [mine, theirs] = await transfer({ initiator: back, responder: ch.responder }, from, to, 7);
    t.equal(mine, theirs, 'the channel goes on');
    back.close(); ch.responder.close();
  });

  t.test(`${protocol}: reestablish refusals`, async (t) => {
    const service = await startTestService();
    t.teardown(async () => { await service.stop(); await service.cleanup(); });
    const ch = await openChannel(service, protocol);
    const code = async (client: TestClient) => {
      const e = await client.nextMethod('error');
      await client.closedAndDone();
      return protocol === 'json-rpc' ? e.data.data[0].code : e.data.reason;
    };
    t.equal(await code(await reestablish(service, ch, 'initiator', 'ba_wrong', protocol)), protocol === 'json-rpc' ? 1016 : 'invalid_fsm_id', 'wrong fsm id');
    const missing = await TestClient.connect(service.channelUrl, { role: 'initiator', existing_channel_id: ch.channelId }, protocol, null);
    t.equal(await code(missing), protocol === 'json-rpc' ? 2000 : 'missing_fsm_id');
    ch.initiator.close(); ch.responder.close();
  });
}
