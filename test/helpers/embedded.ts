/**
 * The service started the way a backend embeds it (`startEmbedded`), on test storage of its own,
 * ephemeral ports and fast dev-chain blocks, with accounts funded over the node HTTP API by the
 * aepp-sdk's AeSdk as a wallet would.
 */
import type { AccountMemory } from '@aeternity/aepp-sdk';
import type { Config, DeepPartial } from '../../lib/config.js';
import { silentLogger } from '../../lib/log.js';
import { startEmbedded, type EmbeddedService } from '../../lib/embed/start.js';
import { fundFromGenesis, genesisSdk, testSettings } from './service.js';
import { storageAt, testStorage, type TestStorage } from './storage.js';

export async function startTestEmbedded(storage: TestStorage = testStorage(), overrides: DeepPartial<Config> = {}): Promise<EmbeddedService & { storage: TestStorage }> {
  const embedded = await startEmbedded({ env: {}, config: testSettings(storage, overrides), log: silentLogger() });
  return Object.assign(embedded, { storage });
}

export function fund(nodeUrl: string, count: number, amount?: bigint): Promise<AccountMemory[]> {
  return fundFromGenesis(genesisSdk(nodeUrl), count, amount);
}

export async function cleanup(storage: TestStorage): Promise<void> {
  await storageAt(storage.dataDir, storage.redis).cleanup();
}

/** Resolves when the channel reaches `status` (at once if it is there). */
export function reaches(channel: { status(): string; on(event: 'statusChanged', cb: (s: never) => void): void }, status: string, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (channel.status() === status) return resolve();
    const timer = setTimeout(() => reject(new Error(`status ${channel.status()}, expected ${status}`)), ms);
    channel.on('statusChanged', ((s: string) => { if (s === status) { clearTimeout(timer); resolve(); } }) as never);
  });
}
