/**
 * The service as an npm package, as a backend would take it: `npm pack` the project (the dist/ that
 * `npm test` built, or one built here when a source is newer, as `prepare` would), install the
 * tarball into a scratch project in a temp directory, import it from plain JavaScript and from
 * TypeScript (type-checked by tsc against the declarations in the tarball), and run a channel between
 * two in-process participants in each.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { GENESIS_SECRET } from './helpers/genesis.js';
import { ensureBuilt } from './helpers/build.js';
import { untapped } from './helpers/untapped.js';

const execFileAsync = promisify(execFile);
const run = (command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) => execFileAsync(...untapped(command, args), options);
const TSC = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const scratch = mkdtempSync(join(tmpdir(), 'aesc-package-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

/** One channel between two in-process participants, the same program in JS and in TS. */
/** The consumer's own aepp-sdk: what a project using the package imports (not this repository's lib/sdk.ts). */
const CONSUMER_SDK = '@aeternity/aepp-sdk';

function program(typed: boolean): string {
  const ann = (type: string) => (typed ? `: ${type}` : '');
  return `
import { AccountMemory, AeSdk, Node } from '${CONSUMER_SDK}';
import { startEmbedded${typed ? ', type EmbeddedChannel, type EmbeddedService' : ''} } from 'aesc-service';

const service${ann('EmbeddedService')} = await startEmbedded({
  env: {},
  config: { ws: { port: 0 }, http: { port: 0 }, ops: { port: 0 }, dataDir: process.env.DATA_DIR${typed ? '!' : ''}, logLevel: 'error', chain: { blockIntervalMs: 50 } },
});
const aeSdk = new AeSdk({
  nodes: [{ name: 'dev', instance: new Node(service.nodeUrl) }],
  accounts: [new AccountMemory(process.env.GENESIS_SECRET${typed ? ' as `sk_${string}`' : ''})],
  _expectedMineRate: 1000, _microBlockCycle: 100,
}${typed ? ' as ConstructorParameters<typeof AeSdk>[0]' : ''});
const [alice, bob] = [AccountMemory.generate(), AccountMemory.generate()];
await aeSdk.spend('1000000000000000000000', alice.address);
await aeSdk.spend('1000000000000000000000', bob.address);
const sign = (account${ann('AccountMemory')}) => (_tag${ann('string')}, tx${ann('`tx_${string}`')}) => account.signTransaction(tx, { networkId: service.networkId });
const common = {
  initiatorId: alice.address, responderId: bob.address, initiatorAmount: 10n ** 20n, responderAmount: 10n ** 20n,
  channelReserve: 0, lockPeriod: 10, port: 3999, minimumDepth: 0, minimumDepthStrategy: 'plain'${typed ? ' as const' : ''},
};
const open = (ch${ann('EmbeddedChannel')}) => new Promise${typed ? '<void>' : ''}((resolve) => ch.on('statusChanged', (s) => { if (s === 'open') resolve(); }));
const a = await service.channel({ ...common, role: 'initiator', host: 'localhost', sign: sign(alice) });
const b = await service.channel({ ...common, role: 'responder', sign: sign(bob) });
await Promise.all([open(a), open(b)]);
const { accepted } = await a.update(alice.address, bob.address, 1000, (tx) => alice.signTransaction(tx, { networkId: service.networkId }));
const round${ann('number | null')} = b.round();
const balances = await b.balances([alice.address, bob.address]);
await service.stop();
console.log(JSON.stringify({ accepted, round, bob: String(balances[bob.address]) }));
`;
}

t.test('npm pack, install the tarball in a scratch project, import it from JS and TS, run a channel', async (t) => {
  const packed = join(scratch, 'packed');
  mkdirSync(packed);
  // without its scripts: `prepare` would run tsc over the whole project again, and rewrite dist/
  // under the test files that run services from it meanwhile
  await ensureBuilt();
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', packed], { cwd: PACKAGE_ROOT });
  const tarball = readdirSync(packed).find((name) => name.endsWith('.tgz'));
  t.ok(tarball, 'npm pack made a tarball');

  const project = join(scratch, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch-backend', private: true, type: 'module' }));
  // from npm's cache alone (the project's own install filled it); its install scripts are not ours to run
  const install = (network: string) => run('npm', ['install', join(packed, tarball!), '--no-audit', '--no-fund', '--ignore-scripts', network], { cwd: project });
  await install('--offline').catch(() => install('--prefer-offline'));

  writeFileSync(join(project, 'run.mjs'), program(false));
  writeFileSync(join(project, 'run.ts'), program(true));
  // the types are real: a role the API does not have is a type error
  writeFileSync(join(project, 'bad.ts'), `import { startEmbedded } from 'aesc-service';
const service = await startEmbedded({ env: {} });
await service.channel({ role: 'observer', initiatorId: 'any', responderId: 'ak_x', port: 1, initiatorAmount: 1, responderAmount: 1, lockPeriod: 1, sign: async () => null });
`);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: true,
      typeRoots: [join(PACKAGE_ROOT, 'node_modules', '@types')], types: ['node'],
    },
    files: ['run.ts', 'bad.ts'],
  }));
  // one tsc for both files (it loads the aepp-sdk's declarations once): run.ts must check and be
  // emitted, bad.ts must not check. skipLibCheck as most projects have it: the aepp-sdk's own
  // declarations do not check without it
  const tsc = await run('node', [TSC, '-p', '.'], { cwd: project }).then(() => ({ stdout: '' }), (err: { stdout: string }) => err);
  const errors = tsc.stdout.split('\n').filter((line) => /^\S+\(\d+,\d+\): error/.test(line));
  t.same(errors.filter((line) => !line.startsWith('bad.ts(')), [], 'tsc finds nothing wrong with run.ts');
  t.match(tsc.stdout, /bad\.ts\(\d+,\d+\): error .*'"observer"' is not assignable/, 'and the role bad.ts gives is a type error');

  // both programs in one node process, one after the other (each starts and stops its own service on
  // its own DATA_DIR): plain JavaScript as written, and what tsc made of the TypeScript one
  writeFileSync(join(project, 'both.mjs'), `process.env.DATA_DIR = process.env.DATA_JS;
await import('./run.mjs');
process.env.DATA_DIR = process.env.DATA_TS;
await import('./out/run.js');
`);
  const both = await run('node', ['both.mjs'], { cwd: project, env: { ...process.env, GENESIS_SECRET, DATA_JS: join(scratch, 'data-js'), DATA_TS: join(scratch, 'data-ts') } });
  const [js, ts] = both.stdout.trim().split('\n').filter((line) => line.startsWith('{"accepted"')).map((line) => JSON.parse(line));
  t.same(js, { accepted: true, round: 2, bob: String(10n ** 20n + 1000n) }, 'plain JavaScript');
  t.same(ts, { accepted: true, round: 2, bob: String(10n ** 20n + 1000n) }, 'TypeScript');
});
