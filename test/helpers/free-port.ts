/**
 * A port nothing listens on right now, for a service, a private Redis, or a URL where nothing must
 * answer; picked at random below the kernel's ephemeral range (32768 and up here), from 10000 to 19999
 * (the private Redis Cluster takes 20000 to 29999).
 *
 * Not a port the kernel hands out (`listen(0)`): such a port is free again the moment it is returned,
 * and a service that listens on port 0 for itself (every instance's internal port, a peer listener) or
 * any outgoing socket can be given it before the service it was picked for binds it. The service then
 * fails to start, and the test, finding the port answering, talks to the wrong process: three
 * instances started at once in forwarding.test had a client answered 403 by another instance's
 * internal port. Below the ephemeral range the kernel never hands a port out by itself.
 */
import { createServer } from 'node:net';

const FIRST = 10_000;
const COUNT = 10_000;

export async function freePort(): Promise<number> {
  for (;;) {
    const port = FIRST + Math.floor(Math.random() * COUNT);
    if (await listenable(port)) return port;
  }
}

export function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
