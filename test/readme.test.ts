/**
 * The README's front door, as a new user meets it: `npm start` with no Redis anywhere in its
 * environment (the embedded store in a fresh DATA_DIR), then the quickstart script copied out of the
 * README and run as written, which funds two accounts, opens a channel with the aepp-sdk and makes a
 * transfer. And the README stands on its own: nothing it links to lies outside the repository.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT as ROOT } from '../lib/package-root.js';
import { npmStart } from './helpers/npm-start.js';
import { untapped } from './helpers/untapped.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

t.test('the quickstart script makes a transfer against npm start on the embedded store', async (t) => {
  const script = /save it as `try\.mjs`[\s\S]*?```js\n([\s\S]*?)```/.exec(README)?.[1];
  t.ok(script, 'the README has the quickstart script');
  const service = await npmStart({ REDIS_URL: '', LOG_LEVEL: 'info' });
  t.teardown(() => service.kill());
  await service.answering();
  // in the repository, as the README says, so that it finds the aepp-sdk the install brought
  const file = join(ROOT, `.try-${process.pid}.mjs`);
  writeFileSync(file, script!);
  t.teardown(() => rmSync(file, { force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, WS_PORT: String(service.wsPort), HTTP_PORT: String(service.httpPort) };
  delete env.REDIS_URL;
  const { stdout } = await promisify(execFile)(...untapped(process.execPath, [file]), { cwd: ROOT, env, timeout: 60_000 });
  t.match(stdout, /^true 2 /m, 'accepted, on round 2');
  t.match(stdout, /4000000000000000000/, 'alice has 5 AE less 1 in the channel');
  t.match(service.stdout(), /store: embedded \(LMDB\)/, 'the start-up log says which store');
  t.ok(existsSync(join(service.dataDir, 'aesc.lmdb')), 'the data directory holds the store');
});

t.test('the README links only to files the repository ships', async (t) => {
  const links = [...README.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
  for (const link of links) t.ok(existsSync(join(ROOT, link)), `${link} exists`);
  t.notMatch(README, /\]\(\.\.\/|`\.\.\//, 'nothing outside the repository');
});
