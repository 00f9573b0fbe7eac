/**
 * The embedded database: one LMDB environment in DATA_DIR, shared by the channel store and the dev
 * chain (each in a named database of its own), held by one service at a time.
 *
 * LMDB itself lets many processes open an environment; two services writing the same channels would
 * still corrupt each other's rounds, so a second one is refused. The lock is a listening Unix socket:
 * the kernel releases it when the holder dies, even by SIGKILL, so no stale lock survives a crash.
 */
import { mkdirSync, realpathSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

export interface EmbeddedDb {
  dataDir: string;
  root: RootDatabase;
  close(): Promise<void>;
}

export async function openEmbedded(dataDir: string): Promise<EmbeddedDb> {
  mkdirSync(dataDir, { recursive: true });
  const dir = realpathSync(dataDir);
  const lock = await takeLock(dir);
  const root = open({ path: join(dir, 'aesc.lmdb'), compression: false });
  return {
    dataDir: dir,
    root,
    async close() {
      await root.close();
      await new Promise<void>((resolve) => lock.close(() => resolve()));
    },
  };
}

async function takeLock(dir: string): Promise<Server> {
  // Linux has abstract sockets (no file, gone with the process); elsewhere a socket file in the dir
  const name = createHash('sha256').update(dir).digest('hex').slice(0, 32);
  const address = process.platform === 'linux' ? `\0aesc-service-${name}` : join(dir, 'service.lock');
  if (process.platform !== 'linux' && !(await answers(address))) rmSync(address, { force: true });
  const server = createServer((socket) => socket.end());
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new DataDirLockedError(`DATA_DIR ${dir} is in use by another running service; stop it or choose another DATA_DIR`)
        : err);
    });
    server.listen(address, () => resolve());
  });
  return server;
}

function answers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(address, () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Resolves with a write's result once its commit is on disk. lmdb's write promises resolve when the
 * commit is visible; with overlappingSync (the default on Linux and macOS) lmdb documents durability
 * as `flushed`'s promise, not the write's. (lmdb 3.5.6 in fact runs the fdatasync inside its commit
 * before flagging the write done, as strace shows, but that is not its contract.) `flushed` is read
 * right after the write is queued, so it waits for that write's commit and not for whatever later
 * commit is pending when the write resolves; writes of one event turn share one commit and one fsync.
 */
export async function durably<T>(root: RootDatabase, write: Promise<T>): Promise<T> {
  // `.then` called here, synchronously (Promise.all would call it a microtask later)
  const flushed = root.flushed.then(() => undefined);
  const [result] = await Promise.all([write, flushed]);
  return result;
}
