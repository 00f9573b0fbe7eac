/**
 * `npm start`: the service on its embedded defaults (config/default.json plus environment).
 */
import { ConfigError, loadConfig } from './config.js';
import { startService } from './service.js';
import { StoreUnavailableError } from './store/store.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = await startService(config);
  const shutdown = (signal: string) => {
    process.stderr.write(`${signal}: stopping\n`);
    service.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StoreUnavailableError) {
    process.stderr.write(`aesc-service: ${err.message}\n`);
  } else {
    process.stderr.write(`aesc-service: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
