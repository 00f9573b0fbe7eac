/**
 * Idle FSMs sleep: once a second, every session whose channel has been open and idle for a while puts
 * its actor away (most of an idle channel's memory), and a sleeping one whose idle timeout has passed
 * is woken to end as it would have awake. One timer for all sessions, none per session.
 */
import type { Registry } from './registry.js';

const SWEEP_MS = 1_000;

export function startHibernation(registry: Registry, quietMs: number): () => void {
  if (quietMs === 0) return () => undefined;
  const timer = setInterval(() => {
    const now = Date.now();
    for (const session of registry.all()) {
      session.hibernateIfQuiet(now, quietMs);
      session.expireIfIdle(now);
    }
  }, SWEEP_MS);
  timer.unref();
  return () => clearInterval(timer);
}
