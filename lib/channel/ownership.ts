/**
 * Ownership of participants' FSMs when several processes share one Redis (or Redis Cluster): each FSM
 * runs in the one process holding its lease (lib/store/lease.ts). A process takes the lease when it
 * starts hosting the FSM (a reestablish restores it here, or a new channel writes its first round),
 * renews every lease it holds on one timer, and lets it go when the FSM stops here or the service
 * stops. Every round and on-chain write carries the lease, and the store refuses it once another
 * process has taken the FSM over; a renewal that finds the lease taken stops the FSM here at once.
 *
 * A process that dies (SIGKILL, a lost machine) renews nothing: its leases run out after the lease
 * time, and the FSMs move to whichever process their clients reestablish at next.
 */
import { hostname } from 'node:os';
import type { ChannelId, Role } from '../../fsm/types.js';
import type { Logger } from '../log.js';
import type { Lease, LeaseStore } from '../store/lease.js';

/** What ownership needs of a session. */
export interface Owned {
  readonly role: Role;
  readonly isStopped: boolean;
  /** the lease it hosts its FSM under (null until it has one) */
  lease: Lease | null;
  /** Another process holds the FSM now: this one must stop, and tell its client why. */
  leaseLost(detail: string): void;
}

/** A reestablish at this process while another live process hosts the FSM. */
export class OwnedElsewhereError extends Error {
  override name = 'OwnedElsewhereError';
  constructor(readonly owner: string, readonly remainingMs: number) {
    super(`this FSM is hosted by the service instance ${owner} (its lease runs for up to ${remainingMs} ms more unless renewed): `
      + 'reconnect there, or reestablish again once that instance is gone');
  }
}

export interface OwnershipOptions {
  leases: LeaseStore;
  /** this process's name as lease owner (INSTANCE_ID) */
  owner: string;
  ttlMs: number;
  renewMs: number;
  log: Logger;
}

/**
 * The instance id when INSTANCE_ID is empty: the host and the WebSocket port. With WORKERS the primary
 * gives each worker this (or INSTANCE_ID) with the worker's place after it (lib/cluster/primary.ts), so
 * workers are owners of their own, and a restart in the same place (a respawned worker) takes its
 * predecessor's leases back at once.
 */
export function defaultInstanceId(wsPort: number): string {
  return `${hostname()}:${wsPort || `pid${process.pid}`}`;
}

export class Ownership {
  private readonly held = new Set<Owned>();
  private readonly timer: NodeJS.Timeout;
  private renewing = false;
  readonly owner: string;

  constructor(private readonly options: OwnershipOptions) {
    this.owner = options.owner;
    this.timer = setInterval(() => void this.renewAll(), options.renewMs);
    this.timer.unref();
  }

  /** The FSM's lease with a new fencing token, or OwnedElsewhereError while another live process holds it. */
  async acquire(channelId: ChannelId, role: Role): Promise<Lease> {
    const acquired = await this.options.leases.acquire(channelId, role, this.owner, this.options.ttlMs);
    if (!acquired.ok) throw new OwnedElsewhereError(acquired.owner, acquired.remainingMs);
    return acquired.lease;
  }

  /** The session hosts its FSM under `lease` from now on: renewed until it stops. */
  hold(session: Owned, lease: Lease): void {
    session.lease = lease;
    this.held.add(session);
  }

  /** A new channel's first round is about to be written: its session takes the lease (once). */
  async take(session: Owned, channelId: ChannelId): Promise<Lease> {
    if (session.lease?.channelId === channelId) return session.lease;
    const lease = await this.acquire(channelId, session.role);
    if (session.isStopped) {
      this.letGo(lease);
      throw new Error('the FSM stopped while taking its lease');
    }
    this.hold(session, lease);
    return lease;
  }

  /** The FSM stopped here: its lease goes at once, so another process may take it without waiting. */
  release(session: Owned): void {
    if (!this.held.delete(session) || !session.lease) return;
    this.letGo(session.lease);
  }

  /** A lease taken but never held (the admission that took it failed). */
  letGo(lease: Lease): void {
    this.options.leases.release(lease).catch((err: Error) => this.options.log.warn('could not release a lease', { error: err.message }));
  }

  /** A write was refused for the lease, or a renewal found it taken: the FSM stops here. */
  lost(session: Owned): void {
    if (!this.held.delete(session)) return;
    session.leaseLost('another service instance took this FSM over (its lease here ran out, or was taken): reestablish to reach it there');
  }

  /** Renews every lease held, in one go (ioredis pipelines the calls); the ones found taken stop their FSMs. */
  private async renewAll(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    let failed = 0;
    let lastError = '';
    try {
      await Promise.all([...this.held].map(async (session) => {
        if (session.isStopped) return void this.held.delete(session);
        const lease = session.lease!;
        try {
          if (!(await this.options.leases.renew(lease, this.options.ttlMs)) && session.lease === lease) this.lost(session);
        } catch (err) {
          failed++;
          lastError = (err as Error).message;
        }
      }));
    } finally {
      this.renewing = false;
    }
    if (failed) this.options.log.warn('could not renew leases', { failed, error: lastError });
  }

  /** Clean stop: every lease held goes at once, so other instances take the FSMs over without waiting. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const leases = [...this.held].map((session) => session.lease!);
    this.held.clear();
    await Promise.allSettled(leases.map((lease) => this.options.leases.release(lease)));
  }

  /** How many FSMs this process holds leases for. */
  get size(): number {
    return this.held.size;
  }
}
