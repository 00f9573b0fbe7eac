/**
 * Property-based fuzzing of everything a client can send, in both envelopes: random JSON, wrong types,
 * huge and negative numbers, numeric strings, very long strings, unknown methods, valid methods in the
 * wrong state, broken tx encodings, txs of other channels, replays of old signed txs and signatures by
 * the wrong key. The service stays up, answers every frame with a documented error (or a valid reply),
 * and the channel's persisted state does not move.
 */
import t from 'tap';
import fc from 'fast-check';
import { AccountMemory } from '../lib/sdk.js';
import { ERRORS } from '../lib/errors.js';
import { stringifyJson } from '../lib/json.js';
import { openChannel, type OpenedChannel } from './helpers/channel.js';
import { startTestService, type TestService } from './helpers/service.js';
import { cosign } from './helpers/accounts.js';
import { recordSummary } from './helpers/summary.js';
import type { Protocol } from './helpers/client.js';

const FRAMES_PER_ENVELOPE = 5_000;
const BATCH = 250;
const DOCUMENTED = new Set(Object.values(ERRORS).map((e) => e.code));

let service: TestService;
t.before(async () => { service = await startTestService(); });
t.teardown(async () => { await service.stop(); await service.cleanup(); });

/**
 * Methods a client may send; `leave` is left out because it is valid with any frame and ends the
 * channel, and so is `system` `stop` (below), which ends the FSM at once.
 */
const METHODS = [
  'channels.update.new', 'channels.update', 'channels.update_ack', 'channels.deposit', 'channels.withdraw', 'channels.shutdown',
  'channels.deposit_tx', 'channels.deposit_ack', 'channels.withdraw_tx', 'channels.withdraw_ack', 'channels.shutdown_sign',
  'channels.shutdown_sign_ack', 'channels.initiator_sign', 'channels.responder_sign', 'channels.message', 'channels.get.balances',
  'channels.get.poi', 'channels.get.offchain_state', 'channels.system', 'channels.close_solo', 'channels.slash', 'channels.settle',
  'channels.snapshot_solo', 'channels.slash_sign', 'channels.settle_sign', 'channels.assume_minimum_depth', 'channels.no_such',
];

function frames(ch: OpenedChannel, protocol: Protocol, known: { replays: string[]; otherChannelTx: string; wrongKeyTx: string; pending: string }) {
  const account = fc.constantFrom(ch.initiatorAccount.address, ch.responderAccount.address, AccountMemory.generate().address, 'ak_123', '');
  const amount = fc.oneof(
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), fc.integer(), fc.double(), fc.constantFrom('1e+21', '12', '-0', 'NaN', '1.5', ''),
    fc.string({ maxLength: 20 }), fc.constant(null), fc.boolean(),
  );
  const tx = fc.oneof(
    fc.constantFrom(...known.replays, known.otherChannelTx, known.wrongKeyTx, 'tx_', 'tx_garbage', 'ba_AAAA', ''),
    fc.string({ maxLength: 300 }).map((s) => `tx_${s}`),
    fc.constant(known.pending),
  );
  // a message's info past the size the node allows: what counts is its length, so a random piece is
  // repeated to it (fast-check drawing 70,000 characters one by one cost most of this file's CPU)
  const longString = fc.tuple(fc.string({ minLength: 1, maxLength: 16 }), fc.integer({ min: 70_000, max: 70_001 }))
    .map(([piece, length]) => piece.repeat(Math.ceil(length / piece.length)).slice(0, length));
  const params = fc.oneof(
    fc.record({ from: account, to: account, amount }, { requiredKeys: [] }),
    fc.record({ signed_tx: tx }),
    fc.record({ error: fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.string()) }),
    fc.record({ to: account, info: fc.oneof(fc.string(), longString) }),
    fc.record({ accounts: fc.array(account, { maxLength: 20 }) }),
    fc.record({ action: fc.constantFrom('ping', 'halt', 'pong', 1) }),
    fc.record({ amount }),
    fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 })),
    fc.jsonValue({ maxDepth: 4 }),
  );
  const method = fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 40 }));
  const request = fc.record({ method, params, id: fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), { nil: undefined }) });
  const envelope = request.map(({ method, params, id }) => {
    if (protocol === 'json-rpc') return stringifyJson({ jsonrpc: '2.0', method, params, ...(id !== undefined && { id }) });
    const [action, ...tag] = method.replace(/^channels\./, '').split('.');
    return stringifyJson({ action, ...(tag.length && { tag: tag.join('.') }), payload: params });
  });
  return fc.oneof(
    { weight: 6, arbitrary: envelope },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => stringifyJson(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) }, // mostly not JSON at all
    { weight: 1, arbitrary: fc.constantFrom('{', '[1,', '"', '{"jsonrpc":"2.0"}', 'null', '[]', '{}', '{"action":5}', '{"action":"leave","payload":[]}') },
  );
}

for (const protocol of ['json-rpc', 'legacy'] as const) {
  t.test(`${protocol}: ${FRAMES_PER_ENVELOPE} generated frames are each refused with a documented error, and nothing moves`, async (t) => {
    const ch = await openChannel(service, protocol);
    const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
    // a few real rounds give us old co-signed txs to replay
    const replays: string[] = [];
    for (const amount of [1, 2]) {
      ch.initiator.send('channels.update.new', { from: i, to: r, amount });
      const [got] = await Promise.all([ch.responder.nextMethod('channels.update'), ch.initiator.nextMethod('channels.update')]);
      replays.push(got.data.state);
    }
    const other = await openChannel(service, protocol);
    const otherChannelTx = other.initiator.received.filter((m) => m.method === 'channels.update').at(-1)!.data.state;
    other.initiator.close(); other.responder.close();

    // park a proposal waiting for our client's signature: signed replies then reach the real checks
    ch.initiator.policy = () => 'ignore';
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 3 });
    const pending = (await ch.initiator.nextMethod('channels.sign.update')).data.signed_tx;
    const wrongKeyTx = await cosign(AccountMemory.generate(), pending);
    const roundBefore = (await service.store.load(ch.channelId as any, 'initiator'))!.state.round;

    const samples = fc.sample(frames(ch, protocol, { replays, otherChannelTx, wrongKeyTx, pending }), { numRuns: FRAMES_PER_ENVELOPE, seed: 20261121 });
    const start = ch.initiator.received.length;
    let sent = 0;
    for (let k = 0; k < samples.length; k += BATCH) {
      for (const frame of samples.slice(k, k + BATCH)) {
        // a frame that happens to be a valid, signed reply would be legitimate; it cannot be generated here
        ch.initiator.sendRaw(frame);
        sent++;
      }
      await ch.initiator.quiet(30);
    }
    // every frame gets an answer: wait for as many as were sent (a loaded machine can fall silent for
    // longer than any fixed pause, which made this count come up short), then for stragglers
    for (const deadline = Date.now() + 60_000; ch.initiator.received.length - start < sent && Date.now() < deadline;) await ch.initiator.quiet(50);
    await ch.initiator.quiet(200);
    const replies = ch.initiator.received.slice(start);
    const errors = replies.filter((m) => m.method === 'error' || m.method === 'channels.error');
    const undocumented = errors.filter((m) => {
      const code = protocol === 'json-rpc' ? (m.data.data?.[0]?.code ?? m.data.code) : m.data.code;
      return !DOCUMENTED.has(code);
    });
    t.equal(undocumented.length, 0, 'every error is one of the documented ones');
    t.ok(replies.length >= sent, `every frame was answered (${replies.length} replies to ${sent} frames)`);
    t.notOk(ch.initiator.closed, 'the socket is still open');
    t.equal((await service.store.load(ch.channelId as any, 'initiator'))!.state.round, roundBefore, 'the persisted round did not move');
    t.equal((await service.store.load(ch.channelId as any, 'responder'))!.state.round, roundBefore);

    // and the channel still works. Generated frames may have started valid operations (a shutdown, a
    // solo close: no params needed) that wait for a signature this client never gives: abort them.
    ch.initiator.policy = () => 'sign';
    for (const tag of ['update', 'deposit_tx', 'withdraw_tx', 'shutdown_sign', 'close_solo_sign', 'snapshot_solo_tx']) ch.initiator.reply(tag, { error: 1 });
    await ch.initiator.quiet(100);
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 4 });
    await ch.responder.nextMethod('channels.update');
    t.equal((await service.store.load(ch.channelId as any, 'responder'))!.state.round, roundBefore + 1, 'usable after the storm');
    recordSummary('fuzz frames tried', sent);
    ch.initiator.close(); ch.responder.close();
  });
}
