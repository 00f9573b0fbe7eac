/**
 * Starts the real service for a test: storage of its own (a temp data directory for the embedded
 * store, or a key prefix of its own in the real Redis), ephemeral ports, fast dev-chain blocks.
 * Accounts are funded through the node HTTP API with the aepp-sdk's AeSdk spending from the
 * dev-mode genesis account, as a wallet developer would.
 */
import { Writable } from 'node:stream';
import { AccountMemory, AeSdk, Node } from '../../lib/sdk.js';
import winston from 'winston';
import { loadConfig, type Config, type DeepPartial } from '../../lib/config.js';
import { createLogger, silentLogger } from '../../lib/log.js';
import { startService, type RunningService } from '../../lib/service.js';
import { NETWORK_ID } from './accounts.js';
import { GENESIS_SECRET } from './genesis.js';
import { storageAt, testStorage, type TestStorage } from './storage.js';

export { REDIS_URL } from './storage.js';

export { GENESIS_SECRET };

/** What every test's service is given: its own storage, ephemeral ports, fast dev-chain blocks. */
export function testSettings(storage: TestStorage, overrides: DeepPartial<Config> = {}): DeepPartial<Config> {
  return {
    networkId: NETWORK_ID,
    ws: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    ops: { host: '127.0.0.1', port: 0 },
    dataDir: storage.dataDir,
    redis: storage.redis,
    chain: { blockIntervalMs: 50 },
    ...overrides,
  };
}

/** A test's config on its own storage (`storage`, or a new one of the default kind). */
export function testConfig(overrides: DeepPartial<Config> = {}, storage: TestStorage = testStorage()): Config {
  return loadConfig({}, testSettings(storage, overrides));
}

/** An AeSdk that spends from the dev-mode genesis account on the node API at `nodeUrl`, polling fast. */
export function genesisSdk(nodeUrl: string): AeSdk {
  return new AeSdk({
    nodes: [{ name: 'dev', instance: new Node(nodeUrl) }],
    accounts: [new AccountMemory(GENESIS_SECRET)],
    _expectedMineRate: 1000,
    // how often it asks whether a tx is mined: as often as the tests' dev chain makes a block
    _microBlockCycle: 50,
  } as ConstructorParameters<typeof AeSdk>[0]);
}

/**
 * `count` fresh accounts funded from genesis by `aeSdk`, one spend after the other, each mined before
 * the next, without the SDK's own pre-check of each spend (node requests the node repeats anyway).
 * The SDK gives up on a tx once `blocks` blocks pass while it is not seen mined, and it checks the
 * height after its pause without looking at the tx again: with 50 ms blocks, one stall of a loaded
 * test process longer than 5 blocks failed a spend that had been mined. So it may wait for 200.
 */
export async function fundFromGenesis(aeSdk: AeSdk, count: number, amount = 10n ** 22n): Promise<AccountMemory[]> {
  const accounts = Array.from({ length: count }, () => AccountMemory.generate());
  for (const account of accounts) await aeSdk.spend(amount.toString(), account.address, { verify: false, blocks: 200 });
  return accounts;
}

export interface TestService extends RunningService {
  config: Config;
  /** funds fresh accounts from genesis through the node HTTP API and AeSdk */
  fundedAccounts(count: number, amount?: bigint): Promise<AccountMemory[]>;
  /** deletes everything this run wrote (its data directory, or its keys) */
  cleanup(): Promise<void>;
}

/**
 * The service in this process. `onLogLine` receives its log (level info and up) line by line;
 * TEST_LOG=debug (or info…) prints it while a test runs.
 */
export async function startTestService(overrides: DeepPartial<Config> = {}, config = testConfig(overrides), onLogLine?: (line: string) => void): Promise<TestService> {
  const log = onLogLine ? lineLogger(onLogLine) : process.env.TEST_LOG ? createLogger(process.env.TEST_LOG) : silentLogger();
  const service = await startService(config, { log });
  let aeSdk: AeSdk | undefined;
  return {
    ...service,
    config,
    async fundedAccounts(count, amount) {
      aeSdk ??= genesisSdk(service.nodeUrl);
      return fundFromGenesis(aeSdk, count, amount);
    },
    async cleanup() {
      await storageAt(config.dataDir, config.redis).cleanup();
    },
  };
}


/** A logger at info that hands each JSON line to `onLine`, for tests that read what was logged. */
export function lineLogger(onLine: (line: string) => void) {
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { onLine(chunk.toString()); done(); } });
  return winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
}
