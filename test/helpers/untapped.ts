/**
 * tap's runner (`npx tap`; `npm test` uses test/runner.ts, which adds none) loads its process-info
 * hooks into every node process a test starts: into NODE_OPTIONS, put back by a hook on spawn whatever
 * env the test passes. They serve coverage, which is off here, and
 * they cost a service start about 2.5 s of CPU (5.7 s instead of 3.2 s), npm and tsc alike. A child
 * started through `env -u NODE_OPTIONS` runs without them; `env` execs the command, so the pid, the
 * signals and the exit code are still the command's own.
 */
export function untapped(command: string, args: readonly string[] = []): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', command, ...args]];
}
