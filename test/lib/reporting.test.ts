/**
 * The report flags and the log as the node keeps them (aesc_fsm report/3, aesc_window): which outputs
 * are reports, what the flags let through, how many entries the window keeps, how the history filters.
 */
import t from 'tap';
import type { ClientOutput } from '../../fsm/types.js';
import { DEFAULT_REPORTS, Reporting, reportTag } from '../../lib/channel/reporting.js';

const info = (event: string): ClientOutput => ({ kind: 'info', event });
const ch = 'ch_x' as `ch_${string}`;

t.test('what is a report: everything the FSM says on its own; not a sign request, not the answer to a request', async (t) => {
  t.equal(reportTag(info('open')), 'info');
  t.equal(reportTag({ kind: 'on_chain_tx', info: 'channel_changed', tx: 'tx_a', txType: 'channel_create_tx' }), 'on_chain_tx');
  t.equal(reportTag({ kind: 'error', reason: 'bad_signature' }), 'error', 'an error nobody asked for');
  t.equal(reportTag({ kind: 'error', reason: 'bad_signature', request: null }), 'error');
  t.equal(reportTag({ kind: 'error', reason: 'bad_signature', request: { method: 'x' } }), null, 'the refusal of a request is its answer');
  t.equal(reportTag({ kind: 'sign', tag: 'update', signedTx: 'tx_a', updates: [] }), null);
  t.equal(reportTag({ kind: 'debug', data: {} }), 'debug');
});

t.test('a flag that is off keeps its reports from the client and from the log', async (t) => {
  const r = new Reporting({ reports: { ...DEFAULT_REPORTS, info: false, error: false }, logKeep: 10 });
  t.notOk(r.admit(ch, info('open')));
  t.notOk(r.admit(ch, { kind: 'error', reason: 'conflict' }));
  t.ok(r.admit(ch, { kind: 'error', reason: 'conflict', request: {} }), 'answers always go');
  t.ok(r.admit(ch, { kind: 'update', state: 'tx_a' }));
  t.same(r.history().map((e) => e.tag), ['update'], 'only what the client was told is logged, and no answers');
  t.notOk(new Reporting().reports('debug'), 'debug is off by default, as the node');
});

t.test('the window keeps the newest log_keep to twice as many entries, as the node\'s', async (t) => {
  for (const [keep, added, kept] of [[10, 5, 5], [10, 10, 10], [10, 11, 11], [10, 20, 20], [10, 21, 11], [2, 9, 3], [0, 5, 2]] as const) {
    const r = new Reporting({ reports: DEFAULT_REPORTS, logKeep: keep });
    for (let i = 0; i < added; i++) r.admit(ch, info(`e${i}`));
    const all = r.history({ n: Infinity });
    t.equal(all.length, kept, `log_keep ${keep}, ${added} added: ${kept} kept`);
    t.equal((all[0]!.info as { event: string }).event, `e${added - 1}`, 'the newest first');
  }
});

t.test('history: n, type and tag filters, the node\'s shape', async (t) => {
  const r = new Reporting();
  r.admit(ch, info('open'));
  r.peerMessage('snd', { type: 'leave' });
  r.peerMessage('rcv', { type: 'leave_ack' });
  r.admit(ch, { kind: 'leave', state: 'tx_a' });
  t.same(r.history().map((e) => [e.type, e.tag]), [['report', 'leave'], ['receive', 'leave_ack'], ['send', 'leave'], ['report', 'info']]);
  t.same(r.history({ n: 1 }).map((e) => e.tag), ['leave']);
  t.same(r.history({ type: ['snd', 'rcv'] }).map((e) => e.tag), ['leave_ack', 'leave']);
  t.same(r.history({ tag: ['info'] }).map((e) => e.info), [{ event: 'open' }]);
  t.same(r.history({ type: ['rpt'], tag: ['leave'] })[0]!.info, { state: 'tx_a' }, 'a report as the client had it');
  t.match(r.history()[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});
