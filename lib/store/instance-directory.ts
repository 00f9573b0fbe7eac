/**
 * Where each service instance sharing a Redis can be reached by the others for forwarded client
 * connections (lib/ws/forwarding.ts): a client that reestablishes at an instance while another live
 * instance holds its FSM's lease is relayed to that owner, found here under its lease owner name
 * (INSTANCE_ID).
 *
 * One key per instance, `<prefix>{instance:<id>}` (its own hash tag: any Cluster slot will do), holding
 * its internal `host:port` and expiring unless renewed: an instance that died stops being found once
 * its entry runs out, with nothing to clean up (the same model as the pairing directory).
 */
import type { Cluster, Redis } from 'ioredis';
import { DELETE_IF_HOLDS } from './redis-scripts.js';

export interface InstanceDirectory {
  /** `instance` is reachable at `address` for the next `ttlMs` (renewed by calling again) */
  advertise(instance: string, address: string, ttlMs: number): Promise<void>;
  /** it no longer is (a clean stop), unless another process advertised itself under that name since */
  withdraw(instance: string, address: string): Promise<void>;
  /** where `instance` is reachable now, or null when it advertises nothing (gone, or never forwarding) */
  addressOf(instance: string): Promise<string | null>;
}

type WithWithdraw = (Redis | Cluster) & { withdrawInstance(key: string, address: string): Promise<number> };

export class RedisInstanceDirectory implements InstanceDirectory {
  private readonly redis: WithWithdraw;

  /** On a connection the caller owns (the pairing directory's: both are small and rare next to round writes). */
  constructor(redis: Redis | Cluster, private readonly prefix: string) {
    redis.defineCommand('withdrawInstance', { numberOfKeys: 1, lua: DELETE_IF_HOLDS });
    this.redis = redis as WithWithdraw;
  }

  private key(instance: string): string {
    return `${this.prefix}{instance:${instance}}`;
  }

  async advertise(instance: string, address: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.key(instance), address, 'PX', ttlMs);
  }

  async withdraw(instance: string, address: string): Promise<void> {
    await this.redis.withdrawInstance(this.key(instance), address);
  }

  async addressOf(instance: string): Promise<string | null> {
    return this.redis.get(this.key(instance));
  }
}
