/**
 * Idle FSMs sleep without their actors (lib/channel/hibernation.ts) and wake on their next event: a
 * sleeping channel answers queries, takes transfers from either side, reestablishes, and still times
 * out when its idle time runs out, exactly as an awake one does.
 */
import t, { type Test } from 'tap';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';

let service: TestService;
t.before(async () => { service = await startTestService({ limits: { hibernateAfterMs: 100 } }); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

function sessionsOf(ch: OpenedChannel) {
  return service.registry.all().filter((s) => s.channelId === ch.channelId);
}

/** Waits for the once-a-second sweep to put both FSMs of the channel to sleep. */
async function bothAsleep(ch: OpenedChannel): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const sessions = sessionsOf(ch);
    if (sessions.length === 2 && sessions.every((s) => s.asleep)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

async function transfer(t: Test, ch: OpenedChannel, from: 'initiator' | 'responder', amount: bigint): Promise<string> {
  const [sender, to] = from === 'initiator' ? [ch.initiatorAccount, ch.responderAccount] : [ch.responderAccount, ch.initiatorAccount];
  ch[from].send('channels.update.new', { from: sender.address, to: to.address, amount });
  const [i, r] = await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
  t.equal(i.data.state, r.data.state, 'both sides hold the same co-signed round');
  return i.data.state as string;
}

t.test('a sleeping channel answers, transfers both ways and sleeps again', async (t) => {
  const ch = await openChannel(service, 'json-rpc');
  t.ok(await bothAsleep(ch), 'both FSMs fall asleep when idle');

  ch.initiator.send('channels.get.balances', { accounts: [ch.initiatorAccount.address, ch.responderAccount.address] }, 1);
  const balances = await ch.initiator.next((m) => m.method === 'result');
  t.same(balances.data.map((b: { balance: unknown }) => BigInt(b.balance as bigint)), [10n ** 21n, 10n ** 21n], 'balances from a sleeping FSM');

  await transfer(t, ch, 'initiator', 7n);
  t.ok(sessionsOf(ch).some((s) => !s.asleep), 'the transfer woke them');
  t.ok(await bothAsleep(ch), 'asleep again');
  await transfer(t, ch, 'responder', 3n); // the sleeping responder proposes, the sleeping initiator co-signs
  t.equal((await service.store.load(ch.channelId as never, 'initiator'))?.state.round, 3, 'round 3 persisted');
  t.equal((await service.store.load(ch.channelId as never, 'responder'))?.state.balances.responder, 10n ** 21n + 4n);

  t.ok(await bothAsleep(ch));
  ch.initiator.send('channels.leave', {});
  await ch.initiator.nextMethod('channels.leave');
  await ch.initiator.closedAndDone();
  t.pass('a sleeping channel leaves');
  ch.responder.close();
});

t.test('a sleeping initiator still times out when idle too long; the keep_running responder stays', async (t) => {
  const ch = await openChannel(service, 'json-rpc', { extra: { timeout_idle: 2500 } });
  t.ok(await bothAsleep(ch), 'asleep well before the idle timeout');
  const started = Date.now();
  await ch.initiator.nextMethod('channels.info', 'timeout', 10_000);
  await ch.initiator.nextMethod('channels.info', 'died');
  await ch.initiator.closedAndDone();
  const waited = Date.now() - started;
  t.ok(waited < 4_000, `timed out on time (${waited} ms after falling asleep)`);
  await ch.responder.nextMethod('channels.info', 'peer_disconnected');
  t.notOk(ch.responder.closed, 'the responder waits for its initiator');
  ch.responder.close();
});

t.test('activity puts off the idle timeout of a sleeping FSM', async (t) => {
  const ch = await openChannel(service, 'json-rpc', { extra: { timeout_idle: 3000 } });
  for (let i = 0; i < 3; i++) {
    t.ok(await bothAsleep(ch), `asleep (${i})`);
    await transfer(t, ch, 'initiator', 1n);
    await new Promise((resolve) => setTimeout(resolve, 1200));
  }
  t.notOk(ch.initiator.closed, 'still open after more than its idle timeout in all, with activity in between');
  ch.initiator.close(); ch.responder.close();
});
