/**
 * Imports run one way: ws → channel → {chain, store, tx} → fsm, with the embedding entry point, the
 * service and the ops side above and a few shared helpers below. Every source file of lib/ and fsm/
 * belongs to one module of the table below; a file may import its own module or a module ranked below
 * it, and no files may import each other round in a circle. A new folder has to be placed here first.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';
import ts from 'typescript';
import { PACKAGE_ROOT } from '../../lib/package-root.js';

/** Modules from the top down: [rank, name, the files it holds]. The first match places a file. */
const MODULES: Array<[number, string, RegExp]> = [
  [0, 'package', /^lib\/index\.ts$/],
  // in-process participants: clients of channel that speak the JSON-RPC envelope through ws's codec
  [1, 'embed', /^lib\/embed\//],
  [2, 'service', /^lib\/(service|main)\.ts$|^lib\/cluster\//],
  // what every layer reports into: below everything but fsm
  [7, 'shared', /^lib\/(json|log|amounts|errors|config|schemas|redact|package-root|sdk)\.ts$|^lib\/ops\/(events|metrics)\.ts$/],
  // the clients of channel: the WebSocket server and its envelopes, the operators' side
  [3, 'ws', /^lib\/ws\//],
  [3, 'ops', /^lib\/ops\//],
  [3, 'watchtower', /^lib\/watchtower(\.ts$|\/)/],
  [3, 'chain-audit', /^lib\/chain-audit\.ts$/],
  [4, 'channel', /^lib\/channel\//],
  [5, 'chain', /^lib\/chain\//],
  [6, 'store', /^lib\/store\//],
  [6, 'tx', /^lib\/tx\//],
  // the node's peer protocol (codec, Noise session, the FSM message translation in wire.ts): beside
  // channel's dependencies, it may use tx and fsm, never channel or ws
  [5, 'peer', /^lib\/peer\//],
  // pure: imports nothing of lib/
  [8, 'fsm', /^fsm\//],
];

interface Findings {
  unplaced: string[];
  against: string[];
  cycles: string[][];
}

function moduleOf(file: string): [number, string] | null {
  const found = MODULES.find(([, , pattern]) => pattern.test(file));
  return found ? [found[0], found[1]] : null;
}

/** The files of lib/ and fsm/ that `file` imports (types included: a type is a dependency too). */
function importsOf(file: string, source: string, files: Set<string>): string[] {
  const found: string[] = [];
  for (const { fileName } of ts.preProcessFile(source, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = normalize(join(dirname(file), fileName)).replace(/\.js$/, '.ts');
    if (files.has(target)) found.push(target);
  }
  return found;
}

/** What is wrong with a set of sources (path relative to the package → text). */
function check(sources: Map<string, string>): Findings {
  const files = new Set(sources.keys());
  const graph = new Map<string, string[]>();
  const findings: Findings = { unplaced: [], against: [], cycles: [] };
  for (const [file, source] of sources) {
    const imports = importsOf(file, source, files);
    graph.set(file, imports);
    const from = moduleOf(file);
    if (!from) {
      findings.unplaced.push(file);
      continue;
    }
    for (const target of imports) {
      const to = moduleOf(target);
      if (!to || to[1] === from[1]) continue;
      if (to[0] <= from[0]) findings.against.push(`${file} (${from[1]}) imports ${target} (${to[1]})`);
    }
  }
  findings.cycles = cyclesOf(graph);
  return findings;
}

/** The strongly connected groups of more than one file, or a file that imports itself (Tarjan). */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next);
    next++;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== file);
    if (group.length > 1 || graph.get(file)?.includes(file)) cycles.push(group.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

function sourcesUnder(...roots: string[]): Map<string, string> {
  const sources = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(PACKAGE_ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) sources.set(relative('.', path), readFileSync(join(PACKAGE_ROOT, path), 'utf8'));
    }
  };
  for (const root of roots) walk(root);
  return sources;
}

t.test('every import of lib/ and fsm/ runs down the layers, and none goes round in a circle', async (t) => {
  const sources = sourcesUnder('lib', 'fsm');
  t.ok(sources.size > 60, `${sources.size} source files read`);
  const findings = check(sources);
  t.same(findings.unplaced, [], 'every file belongs to a module of the table');
  t.same(findings.against, [], 'no import against the direction');
  t.same(findings.cycles, [], 'no import cycle');
});

t.test('the check catches what it is there for', async (t) => {
  const fixture = new Map([
    ['lib/ws/server.ts', "import { Session } from '../channel/session.js';"],
    // channel climbing into ws: the two-way import this check was written against
    ['lib/channel/session.ts', "import type { Codec } from '../ws/codec.js';\nimport { x } from './inbox.js';"],
    ['lib/channel/inbox.ts', "export { y } from './session.js';"],
    ['fsm/machine.ts', "const json = await import('../lib/json.js');"],
    ['lib/json.ts', 'export const json = 1;'],
    ['lib/ws/codec.ts', "import { ERRORS } from '../errors.js';"],
    ['lib/brand-new/thing.ts', "import { Session } from '../channel/session.js';"],
  ]);
  const findings = check(fixture);
  t.same(findings.against.sort(), [
    'fsm/machine.ts (fsm) imports lib/json.ts (shared)',
    'lib/channel/session.ts (channel) imports lib/ws/codec.ts (ws)',
  ], 'channel → ws and fsm → lib are against the direction; ws → channel is not');
  t.same(findings.cycles, [['lib/channel/inbox.ts', 'lib/channel/session.ts']], 'two files that import each other are a cycle, within a module too');
  t.same(findings.unplaced, ['lib/brand-new/thing.ts'], 'a folder the table does not know is named');

  const clean = check(new Map([
    ['lib/ws/server.ts', "import { Session } from '../channel/session.js';"],
    ['lib/channel/session.ts', "import type { Chain } from '../chain/types.js';\nimport { machine } from '../../fsm/machine.js';"],
    ['lib/chain/types.ts', "import type { ChannelId } from '../../fsm/types.js';"],
    ['fsm/machine.ts', "import { assign } from 'xstate';\nimport type { ChannelId } from './types.js';"],
    ['fsm/types.ts', 'export type ChannelId = string;'],
  ]));
  t.same(clean, { unplaced: [], against: [], cycles: [] }, 'the layers as they should be pass');
});

/** Files that load the aepp-sdk's code themselves instead of through lib/sdk.ts (type-only imports leave no code). */
function sdkLoadedDirectly(sources: Map<string, string>): string[] {
  const direct = /import\s+(?!type\s)[^'"]*from\s*['"]@aeternity\/aepp-sdk['"]|import\(\s*['"]@aeternity\/aepp-sdk['"]\s*\)/;
  return [...sources].filter(([file, source]) => file !== 'lib/sdk.ts' && direct.test(source)).map(([file]) => file);
}

t.test('the aepp-sdk is loaded through lib/sdk.ts only, in the service and its tests: one copy, the bundled build', async (t) => {
  const sources = sourcesUnder('lib', 'fsm', 'test', 'scripts');
  sources.delete('test/lib/import-direction.test.ts'); // its fixtures below
  t.same(sdkLoadedDirectly(sources), [], 'no other file imports its code');
  t.same(sdkLoadedDirectly(new Map([
    ['lib/a.ts', "import { Tag } from '@aeternity/aepp-sdk';"],
    ['lib/b.ts', "const { decode } = await import('@aeternity/aepp-sdk');"],
    ['lib/c.ts', "import type { Encoded } from '@aeternity/aepp-sdk';"],
    ['lib/sdk.ts', "import type * as Sdk from '@aeternity/aepp-sdk';"],
  ])), ['lib/a.ts', 'lib/b.ts'], 'the check finds a value import and a dynamic one, and lets types through');
});
