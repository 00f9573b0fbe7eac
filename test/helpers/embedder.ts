/**
 * A game backend in miniature, run as its own process by test/start-stop.test.ts: it starts the
 * service (config from its environment), stops it, and then does nothing. It reports what still keeps
 * its event loop alive, stdio apart, and should then end by itself.
 */
import { loadConfig } from '../../lib/config.js';
import { silentLogger } from '../../lib/log.js';
import { startService } from '../../lib/service.js';

/** loop turns for closed handles to be released (node frees a handle in the turn after its close) */
const SETTLE_TURNS = 10;

function leftOver(baseline: string[]): string[] {
  const left = process.getActiveResourcesInfo();
  for (const kind of baseline) {
    const at = left.indexOf(kind);
    if (at >= 0) left.splice(at, 1);
  }
  return left;
}

const baseline = process.getActiveResourcesInfo();
const service = await startService(loadConfig({ ...process.env, WS_PORT: '0', HTTP_PORT: '0', OPS_PORT: '0' }), { log: silentLogger() });
// a wallet's keep-alive connection to the node API, which stop() must close too
await fetch(`${service.nodeUrl}/v3/status`);
await service.stop();
let left = leftOver(baseline);
for (let turn = 0; turn < SETTLE_TURNS && left.length; turn++) {
  await new Promise((resolve) => setImmediate(resolve));
  left = leftOver(baseline);
}
process.stdout.write(`${JSON.stringify({ stopped: true, left })}\n`);
