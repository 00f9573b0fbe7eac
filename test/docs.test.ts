/**
 * docs/api.md is the API reference a client is written from, so it must not drift from the service:
 * its transcripts and error table are regenerated from a real run and from lib/errors.ts and must
 * equal what is committed, and every method, reason, URL parameter, sign tag and event the code
 * knows must be in it (and every method it documents must be one the service knows).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { REASONS } from '../fsm/reasons.js';
import { ERRORS } from '../lib/errors.js';
import { interpret } from '../lib/channel/requests.js';
import { packagePath } from '../lib/package-root.js';
import { DOCS_PATH, generatedSections, splice } from '../scripts/transcripts.js';

const read = (path: string) => readFileSync(packagePath(path), 'utf8');
const doc = readFileSync(DOCS_PATH, 'utf8');
/** What the docs name in code spans: `channels.update.new`, `insufficient_balance`, … */
const named = new Set([...doc.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!));

function section(from: string, to: string): string {
  const start = doc.indexOf(from);
  const end = doc.indexOf(to, start);
  if (start < 0 || end < 0) throw new Error(`docs/api.md has no section ${from}`);
  return doc.slice(start, end);
}

t.test('the transcripts and the error table are current (npm run docs:transcripts rewrites them)', async (t) => {
  const sections = await generatedSections();
  const fresh = splice(doc, sections);
  t.equal(fresh, doc, 'docs/api.md as a fresh run writes it');
  for (const [name, text] of Object.entries(sections)) {
    t.notMatch(text, /\b(ak|ch|ba|th|pi|sg|tx|st)_[1-9A-HJ-NP-Za-km-z+/=]{20,}/, `${name}: nothing left that changes run to run`);
  }
});

t.test('every method of the request table is documented, and every documented method is known', async (t) => {
  const source = read('lib/channel/requests.ts');
  const methods = new Set([...source.matchAll(/'(channels\.[a-z_.]+[a-z_])'/g)].map((m) => m[1]!));
  t.ok(methods.size > 20, `the request table names ${methods.size} methods`);
  for (const method of methods) t.ok(named.has(method), `${method} is documented`);

  const offered = section('## Methods: client to service', '### Not offered');
  const notOffered = section('### Not offered', '## Signing');
  // the methods a table row is about: those in its first cell
  const firstCells = [...offered.matchAll(/^\| ([^|\n]+) \|/gm)].map((m) => m[1]!).join(' ');
  const documented = [...firstCells.matchAll(/`(channels\.[a-z_.]+[a-z_])`/g)].map((m) => m[1]!);
  t.ok(documented.length > 20, `the tables document ${documented.length} methods`);
  for (const method of documented) {
    const answer = interpret({ method: method!, params: {}, raw: {} });
    t.not(answer.kind === 'refused' && answer.reason === 'method_not_found', true, `${method} is a method the service takes`);
  }
  for (const [, method] of notOffered.matchAll(/`(channels\.[a-z_.]+[a-z_])`/g)) {
    const answer = interpret({ method: method!, params: {}, raw: {} });
    t.match(answer, { kind: 'refused', reason: 'method_not_found', detail: /FATE VM/ }, `${method} is refused as needing a VM`);
  }
});

t.test('every reason and code of lib/errors.ts is documented', async (t) => {
  t.same(Object.keys(ERRORS).sort(), [...REASONS].sort(), 'ERRORS covers every reason');
  for (const [reason, { code }] of Object.entries(ERRORS)) {
    t.ok(named.has(reason), `${reason} is documented`);
    t.match(doc, new RegExp(`\\| \`${reason}\` \\| [^\\n]*\`${code}\``), `${reason} with its code ${code}`);
  }
});

t.test('every URL parameter of the schema is documented', async (t) => {
  const schema = JSON.parse(read('schemas/open-params.schema.json')) as { properties: Record<string, unknown> };
  const urlSection = section('## URL parameters', '## Methods: client to service');
  for (const name of Object.keys(schema.properties)) t.match(urlSection, `| \`${name}\` |`, `${name} has a row`);
});

t.test('every sign tag, info event and on-chain event the service sends is documented', async (t) => {
  const types = read('fsm/types.ts');
  const signTags = types.slice(types.indexOf('export type SignTag'), types.indexOf(';', types.indexOf('export type SignTag')));
  const tags = [...signTags.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
  t.equal(tags.length, 14);
  const signSection = section('### The tags', '### What to sign');
  for (const tag of tags) t.match(signSection, `| \`${tag}\` |`, `sign tag ${tag}`);

  const machine = read('fsm/channel-machine.ts');
  const operations = ['deposit', 'withdraw'];
  const events = new Set([
    'fsm_up',
    ...[...machine.matchAll(/info\('([a-z_]+)'/g)].map((m) => m[1]!),
    ...[...read('fsm/channel-context.ts').matchAll(/created: '([a-z_]+)'/g)].map((m) => m[1]!),
    ...operations.flatMap((op) => [`own_${op}_locked`, `${op}_locked`]),
  ]);
  const infoSection = section('### `channels.info`: events', '### `channels.on_chain_tx`');
  for (const event of events) t.match(infoSection, new RegExp(`\`${event}\``), `info ${event}`);

  const onChain = new Set([
    ...[...`${machine}\n${read('lib/ws/server.ts')}`.matchAll(/info: '([a-z_]+)'/g)].map((m) => m[1]!),
    ...operations.flatMap((op) => [`${op}_created`, `${op}_signed`]),
    'close_mutual',
  ]);
  const onChainSection = section('### `channels.on_chain_tx`', '### Other notifications');
  for (const info of onChain) t.match(onChainSection, new RegExp(`\`${info}\``), `on_chain_tx ${info}`);
});
