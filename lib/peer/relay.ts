/**
 * Two Noise sessions joined end to end: every message read on one is sent on the other, unread (the
 * relay neither decodes nor keeps them), and either one ending ends the other. Each leg has its own
 * keys, so the relay sees the plaintexts: it runs between instances of one service, never between
 * operators. Under WORKERS one worker holds a public peer port, and a session from another
 * operator's node that names a responder waiting at another worker is relayed there
 * (lib/channel/instance-pairing.ts); the two FSMs' own links keep their reply watchdogs, end to end.
 */
import type { NoiseSession } from './noise-session.js';

export function splice(a: NoiseSession, b: NoiseSession): void {
  const pass = (to: NoiseSession, from: NoiseSession) => (message: Buffer) => {
    try {
      to.send(message);
    } catch (err) {
      // the far leg ended or refused the size: neither end can go on without it
      from.destroy(`relay: ${(err as Error).message}`);
      to.destroy(`relay: ${(err as Error).message}`);
    }
  };
  const end = (other: NoiseSession) => (error?: Error) => (error ? other.destroy(`relay: the other leg ended (${error.message})`) : other.close());
  a.onClose(end(b));
  b.onClose(end(a));
  a.onMessage(pass(b, a));
  b.onMessage(pass(a, b));
}
