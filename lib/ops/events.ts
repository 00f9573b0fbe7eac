/**
 * The one way lifecycle events leave the places they happen: the socket server, the sessions, the
 * watchtower and the readiness monitor emit here, and the log, the ops feed and the metrics listen.
 * Events never carry secrets (fsm_id, keys, tokens, passwords): emitters pass only the fields below.
 */
import type { Role } from '../../fsm/types.js';

/** Lifecycle events: rare, always emitted, each logged at info. */
export const LIFECYCLE_TYPES = [
  'connection_accepted', 'connection_refused', 'connection_forwarded', 'client_disconnected',
  'channel_opened', 'channel_closed', 'channel_died', 'channel_left', 'channel_reestablished', 'peer_disconnected',
  'dispute_seen', 'watchtower_slash', 'watchtower_slash_failed',
  'store_trouble', 'store_recovered', 'chain_trouble', 'chain_recovered',
  'feed_reader_dropped',
] as const;

/** What the clients are told (info events, co-signed updates, on-chain reports): only built while a feed reader listens. */
export const CLIENT_TYPES = ['info', 'update', 'on_chain_tx', 'conflict', 'error'] as const;

export const EVENT_TYPES: readonly string[] = [...LIFECYCLE_TYPES, ...CLIENT_TYPES];

export type LifecycleType = typeof LIFECYCLE_TYPES[number];
export type ClientEventType = typeof CLIENT_TYPES[number];

export interface OpsEvent {
  type: LifecycleType | ClientEventType;
  channel_id?: string | null;
  role?: Role;
  /** the client's remote address */
  address?: string;
  /** a refusal's reason code, a stop's cause, an info event's name */
  reason?: string;
  detail?: string;
  round?: number;
  tx_hash?: string;
  tx_type?: string;
  [field: string]: unknown;
}

export type OpsEventWithTime = OpsEvent & { time: string };

type Listener = (event: OpsEventWithTime) => void;

export class OpsEvents {
  private readonly listeners = new Set<Listener>();
  /** how many listeners want the clients' events too (feed readers) */
  private clientReaders = 0;

  /** Whether anybody listens to the clients' events: emitters skip building them otherwise. */
  get wantsClientEvents(): boolean {
    return this.clientReaders > 0;
  }

  on(listener: Listener, options: { clientEvents?: boolean } = {}): () => void {
    this.listeners.add(listener);
    if (options.clientEvents) this.clientReaders++;
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      this.listeners.delete(listener);
      if (options.clientEvents) this.clientReaders--;
    };
  }

  emit(event: OpsEvent): void {
    if (this.listeners.size === 0) return;
    const stamped = { time: new Date().toISOString(), ...event };
    for (const listener of this.listeners) {
      try {
        listener(stamped);
      } catch {
        // a listener's failure is its own: the channel that emitted goes on
      }
    }
  }
}

const LIFECYCLE = new Set<string>(LIFECYCLE_TYPES);

export function isLifecycle(event: OpsEvent): boolean {
  return LIFECYCLE.has(event.type);
}
