/**
 * The worked raw clients under examples/ run as a newcomer runs them: `node examples/<file>` against
 * the service started the way the README starts it (`npm start`), each client its own process with
 * only `ws` and the aepp-sdk. They fund accounts from genesis, open, transfer, query and leave, and
 * exit 0 only if the balances came out right.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { PACKAGE_ROOT as ROOT } from '../lib/package-root.js';
import { startServiceProcess } from './helpers/process-service.js';
import { untapped } from './helpers/untapped.js';

function runExample(file: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(...untapped(process.execPath, [file]), { cwd: ROOT, env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr });
    });
  });
}

t.test('the raw WebSocket examples open, transfer and leave against npm start', async (t) => {
  const service = await startServiceProcess();
  t.teardown(() => service.stop());
  const env = { WS_URL: service.channelUrl, NODE_URL: service.nodeUrl, NETWORK_ID: 'ae_dev' };
  // one after the other: both spend from the one genesis account, and two spenders at once would
  // race for its nonce
  for (const file of ['examples/raw-client-jsonrpc.mjs', 'examples/raw-client-legacy.mjs']) {
    const { code, output } = await runExample(file, env);
    t.equal(code, 0, `${file} exits 0`, { output });
    t.match(output, /transfer done: round 2/, `${file}: the transfer is round 2`);
    t.match(output, /balances: alice 3000000000000000000, bob 5000000000000000000/, `${file}: the balances, exact`);
    t.match(output, /left; reestablish with existing_channel_id=ch_/, `${file}: left with what it needs to come back`);
    t.match(output, /\ndone\n$/, `${file}: ran to the end`);
  }
});
