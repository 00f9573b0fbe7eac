/**
 * Starts the real service for a test: real Redis (a key prefix of its own per run, so runs cannot
 * collide), ephemeral ports, fast dev-chain blocks. Accounts are funded through the node HTTP API with
 * the aepp-sdk's AeSdk spending from the dev-mode genesis account, as a wallet developer would.
 */
import { randomBytes } from 'node:crypto';
import { AccountMemory, AeSdk, Node } from '@aeternity/aepp-sdk';
import { Redis } from 'ioredis';
import { loadConfig, type Config, type DeepPartial } from '../../lib/config.js';
import { createLogger, silentLogger } from '../../lib/log.js';
import { startService, type RunningService } from '../../lib/service.js';
import { NETWORK_ID } from './accounts.js';

/** The dev-mode genesis secret key: public test data (channel-api §7). */
export const GENESIS_SECRET = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function testConfig(overrides: DeepPartial<Config> = {}): Config {
  const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
  return loadConfig({}, {
    networkId: NETWORK_ID,
    ws: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    redis: { url: REDIS_URL, keyPrefix: prefix },
    chain: { blockIntervalMs: 50 },
    ...overrides,
  });
}

/** An AeSdk that spends from the dev-mode genesis account on the node API at `nodeUrl`, polling fast. */
export function genesisSdk(nodeUrl: string): AeSdk {
  return new AeSdk({
    nodes: [{ name: 'dev', instance: new Node(nodeUrl) }],
    accounts: [new AccountMemory(GENESIS_SECRET)],
    _expectedMineRate: 1000,
    _microBlockCycle: 100,
  } as ConstructorParameters<typeof AeSdk>[0]);
}

export interface TestService extends RunningService {
  config: Config;
  /** funds fresh accounts from genesis through the node HTTP API and AeSdk */
  fundedAccounts(count: number, amount?: bigint): Promise<AccountMemory[]>;
  /** deletes every key this run wrote */
  cleanup(): Promise<void>;
}

export async function startTestService(overrides: DeepPartial<Config> = {}, config = testConfig(overrides)): Promise<TestService> {
  // TEST_LOG=debug (or info…) shows the service's log while a test runs
  const service = await startService(config, { log: process.env.TEST_LOG ? createLogger(process.env.TEST_LOG) : silentLogger() });
  let aeSdk: AeSdk | undefined;
  return {
    ...service,
    config,
    async fundedAccounts(count, amount = 10n ** 22n) {
      aeSdk ??= genesisSdk(service.nodeUrl);
      const accounts = Array.from({ length: count }, () => AccountMemory.generate());
      for (const account of accounts) await aeSdk.spend(amount.toString(), account.address);
      return accounts;
    },
    async cleanup() {
      const redis = new Redis(config.redis.url);
      const keys = await redis.keys(`${config.redis.keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    },
  };
}
