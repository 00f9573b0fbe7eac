/**
 * Removes from dist/ what tsc compiled from a source that is gone: test/runner.ts runs dist/test/**\/*.test.js, and
 * a test file deleted or renamed must not keep running from its old copy. tsc never deletes an output
 * itself. Only outputs without a source go: one whose source is still there must be left to tsc, whose
 * incremental build would not write it again (it goes by its build info, not by what is on disk).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

function prune(dir) {
  for (const entry of readdirSync(join(ROOT, 'dist', dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) prune(path);
    else if (/\.(js|d\.ts)(\.map)?$/.test(entry.name)) {
      const source = path.replace(/\.map$/, '').replace(/(\.d\.ts|\.js)$/, '.ts');
      if (!existsSync(join(ROOT, source))) {
        rmSync(join(ROOT, 'dist', path));
        process.stderr.write(`removed dist/${path}: ${source} is gone\n`);
      }
    }
  }
}

// the folders tsconfig.build.json and tsconfig.json compile
for (const dir of ['lib', 'fsm', 'test', 'scripts']) if (existsSync(join(ROOT, 'dist', dir))) prune(dir);
