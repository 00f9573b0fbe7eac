/**
 * The embedded store against a real LMDB environment in a temp directory: the store conformance
 * suite, and the data directory held by one service at a time, released when its process dies.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT, packagePath } from '../../lib/package-root.js';
import { DataDirLockedError, openEmbedded, type EmbeddedDb } from '../../lib/store/embedded.js';
import { LmdbStore } from '../../lib/store/lmdb-store.js';
import type { ChannelStore } from '../../lib/store/store.js';
import { newChannelId, params, state, storeConformance } from '../helpers/store-conformance.js';
import { untapped } from '../helpers/untapped.js';

const root = mkdtempSync(join(tmpdir(), 'aesc-lmdb-store-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

t.test('the store conformance suite', async (t) => {
  const dataDir = join(root, 'conformance');
  const opened = new Map<ChannelStore, EmbeddedDb>();
  let current: EmbeddedDb | undefined;
  storeConformance(t, {
    async open() {
      current = await openEmbedded(dataDir);
      const store = new LmdbStore(current);
      opened.set(store, current);
      return store;
    },
    async close(store) {
      await store.close();
      await opened.get(store)?.close();
    },
    async damage(channelId, role) {
      // the layout is the store's own: [channel, role, field] in the `channels` database
      const channels = current!.root.openDB<string, string[]>({ name: 'channels', encoding: 'string' });
      await channels.put([channelId, role, 'state'], '{"round": "lots"}');
    },
  });
});

t.test('closing the store leaves the environment to its owner', async (t) => {
  const db = await openEmbedded(join(root, 'owned'));
  const store = new LmdbStore(db);
  const channelId = newChannelId();
  await store.saveRound(channelId, 'initiator', state(1), { params, fsmIdHash: 'aa' });
  await store.close();
  await t.rejects(store.load(channelId, 'initiator'), { name: 'StoreUnavailableError' }, 'a closed store refuses');
  const again = new LmdbStore(db);
  t.equal((await again.load(channelId, 'initiator'))?.state.round, 1, 'the environment is still open');
  await again.close();
  await db.close();
});

t.test('a second service on the same data directory is refused while the first runs', async (t) => {
  const dataDir = join(root, 'locked');
  const db = await openEmbedded(dataDir);
  await t.rejects(openEmbedded(dataDir), DataDirLockedError, 'in the same process');
  t.equal((await holdDataDir(dataDir, newChannelId())).said, 'locked', 'from another process');
  await db.close();
  const reopened = await openEmbedded(dataDir);
  t.pass('free again once closed');
  await reopened.close();
});

t.test('a service killed with SIGKILL leaves no lock behind, and its last round on disk', async (t) => {
  const dataDir = join(root, 'killed');
  const channelId = newChannelId();
  const child = await holdDataDir(dataDir, channelId);
  t.teardown(() => { child.process.kill('SIGKILL'); });
  t.equal(child.said, 'held');
  await t.rejects(openEmbedded(dataDir), DataDirLockedError, 'held while the process lives');
  child.process.kill('SIGKILL');
  await new Promise((resolve) => child.process.once('exit', resolve));
  const db = await openEmbedded(dataDir);
  const store = new LmdbStore(db);
  const loaded = await store.load(channelId, 'initiator');
  t.same(loaded?.state, state(7), 'the round the killed service saved before it was killed');
  t.same((await store.history(channelId, 'initiator')).map((s) => s.round), [1, 7]);
  await store.close();
  await db.close();
});

/**
 * A real second process opening `dataDir` as the service does. Unless it is refused, it saves two
 * rounds of `channelId`, says `held` and waits to be killed; refused, it says `locked` and exits.
 */
async function holdDataDir(dataDir: string, channelId: string): Promise<{ process: ChildProcess; said: string }> {
  // the sources, through tsx
  const source = (...path: string[]) => JSON.stringify(pathToFileURL(packagePath(...path)).href);
  const lib = (file: string) => source('lib', 'store', file);
  const helpers = source('test', 'helpers', 'store-conformance.ts');
  const script = `
    const { openEmbedded, DataDirLockedError } = await import(${lib('embedded.ts')});
    const { LmdbStore } = await import(${lib('lmdb-store.ts')});
    const { params, state } = await import(${helpers});
    let db;
    try { db = await openEmbedded(${JSON.stringify(dataDir)}); }
    catch (err) { if (err instanceof DataDirLockedError) { console.log('locked'); process.exit(0); } throw err; }
    const store = new LmdbStore(db);
    await store.saveRound(${JSON.stringify(channelId)}, 'initiator', state(1), { params, fsmIdHash: 'aa' });
    await store.saveRound(${JSON.stringify(channelId)}, 'initiator', state(7));
    console.log('held');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(...untapped(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]), { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    // 'close', not 'exit': it comes after the output has all been read
    child.once('close', (code) => reject(new Error(`the holder exited (${code}) before saying anything: ${out}`)));
  });
  return { process: child, said };
}
