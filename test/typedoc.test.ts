/**
 * The API docs (`npm run docs`: TypeDoc over lib/index.ts, typedoc.json) build without a warning:
 * every type the package's entry point exposes is documented, and TypeDoc treats warnings as errors.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { untapped } from './helpers/untapped.js';

const out = mkdtempSync(join(tmpdir(), 'aesc-docs-'));
t.teardown(() => rmSync(out, { recursive: true, force: true }));

t.test('npm run docs builds the API docs without warnings', async (t) => {
  const { stdout, stderr } = await promisify(execFile)(...untapped('npm', ['run', 'docs', '--', '--out', out]), { cwd: PACKAGE_ROOT });
  t.notMatch(stdout + stderr, /warning|error/i);
  t.ok(existsSync(join(out, 'index.html')));
  for (const page of ['functions/startEmbedded.html', 'classes/EmbeddedChannel.html', 'interfaces/EmbeddedService.html']) {
    t.ok(existsSync(join(out, page)), page);
  }
});
