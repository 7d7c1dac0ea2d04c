import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A recording wrapper, not a stand-in: a `kubectl` first on PATH that appends its arguments to a log and then runs
 * the real kubectl (`real`, or none: then it fails as a missing kubectl would). Tests use it to prove which calls a
 * command made, and that a bad flag made none.
 */
export function kubectlSpy(real?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'roomler-kubectl-spy-'));
  const log = join(dir, 'calls.log');
  writeFileSync(
    join(dir, 'kubectl'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n${real ? `exec '${real}' "$@"` : 'echo "kubectl: not installed on this test host" >&2; exit 127'}\n`,
  );
  chmodSync(join(dir, 'kubectl'), 0o755);
  return {
    /** Prepend to PATH. */
    dir,
    /** The argument lists kubectl was called with, in order. */
    calls: (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}
