/**
 * The package's root directory, where package.json is. Files read at run time (config/, schemas/)
 * stay there and are never copied into dist/, so both `tsx lib/main.ts` (lib/) and
 * `node dist/lib/main.js` (dist/lib/) find them by walking up from this module to package.json.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the package, e.g. `packagePath('schemas')`. */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
