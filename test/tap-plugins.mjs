/**
 * Builds tap with the plugins package.json names before the suite runs, when it is not built with them.
 * tap notices a difference itself, but rebuilds only for the run after: right after `npm ci` (a clean
 * clone, CI) every test process of the first run would still load the TypeScript plugin's ts-node
 * loader next to tsx, about 2.5 s of CPU per test file and a third of the suite's CPU.
 */
import { spawnSync } from 'node:child_process';
import { TapConfig } from '@tapjs/config';
import { signature } from '@tapjs/test';

const config = await TapConfig.load();
if (config.pluginSignature !== signature) {
  const built = spawnSync('npx', ['tap', 'build'], { stdio: 'inherit' });
  process.exit(built.status ?? 1);
}
