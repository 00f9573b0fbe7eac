/**
 * The initiator's side of the peer link: dial the responder's service, host:port, and run the Noise
 * handshake, again and again until it works, as the node's initiator does (aesc_session_noise
 * establish/2 with get_reconnect_params/0: a 3 s connect timeout, a 3 s sleep, 40 tries, then
 * `connect_timeout`). The attempts are the caller's to set; an abort stops at once.
 */
import { connect, NoiseSessionError, type NoiseSession } from './noise-session.js';

export interface DialOptions {
  connectTimeoutMs: number;
  /** pause after each failed attempt */
  retryDelayMs: number;
  attempts: number;
  handshakeTimeoutMs: number;
  maxMessage: number;
}

/** The dial gave up: every attempt failed (`connect_timeout`, the node's word), or it was aborted. */
export class DialError extends Error {
  override readonly name = 'DialError';
  constructor(readonly code: 'connect_timeout' | 'aborted', message: string, readonly last?: NoiseSessionError) {
    super(message);
  }
}

/**
 * A session to host:port, after at most `attempts` tries. `onAttemptFailed` hears each failure (for
 * the log). Rejects with a DialError; an abort while a handshake is under way closes what it gives.
 */
export async function dial(
  host: string,
  port: number,
  options: DialOptions,
  signal?: AbortSignal,
  onAttemptFailed?: (attempt: number, error: NoiseSessionError) => void,
): Promise<NoiseSession> {
  let last: NoiseSessionError | undefined;
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    if (signal?.aborted) throw new DialError('aborted', `dial to ${host}:${port} aborted`);
    try {
      const session = await connect(host, port, {
        connectTimeoutMs: options.connectTimeoutMs, handshakeTimeoutMs: options.handshakeTimeoutMs, maxMessage: options.maxMessage,
      });
      if (signal?.aborted) {
        session.close();
        throw new DialError('aborted', `dial to ${host}:${port} aborted`);
      }
      return session;
    } catch (err) {
      if (err instanceof DialError) throw err;
      last = err instanceof NoiseSessionError ? err : new NoiseSessionError('connect_failed', String(err));
      onAttemptFailed?.(attempt, last);
    }
    if (attempt < options.attempts) await pause(options.retryDelayMs, signal);
  }
  throw new DialError('connect_timeout', `no session with ${host}:${port} after ${options.attempts} attempts (${last?.message ?? 'no attempt'})`, last);
}

/** Sleeps, or wakes early when aborted (the loop above then stops). */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
