import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { inject } from 'vitest';

import { ROOT } from './roomler';

// The cached toolchain pieces the tests use (hack/toolchain/<piece>.sh prints a piece's directory last, building it on
// a machine that skipped `bash hack/toolchain/all.sh`). A piece's script checks every cached file (sha256) before it
// hands the directory out: ~1.2 s of CPU for the lab's binaries. Within one `vitest run` that check runs once per
// piece (test/support/global-setup.ts gives the run its directory), not once per test file; the toolchain's own tests
// (test/toolchain) run the scripts themselves.

declare module 'vitest' {
  export interface ProvidedContext {
    /** A directory of this `vitest run`: the checked toolchain pieces, the lab pool. */
    runDir: string;
  }
}

/** This run's directory, or undefined outside a `vitest run` with the full project's global setup. */
export function runDir(): string | undefined {
  try {
    return inject('runDir');
  } catch {
    return undefined;
  }
}

const checked = new Map<string, string>();

/** The directory of a toolchain piece (`lab`, `ferretdb`, `mongo-tools`, `kube-score`, `argocd`, …), checked once per run. */
export function toolchainDir(piece: string): string {
  const known = checked.get(piece);
  if (known) return known;
  const script = join(ROOT, 'hack', 'toolchain', `${piece}.sh`);
  const run = runDir();
  let dir: string;
  if (run) {
    // The first file of the run to need the piece checks it (others wait on the lock), and records where it is.
    const file = join(run, `${piece}.dir`);
    if (!existsSync(file)) {
      execFileSync(
        'flock',
        [
          `${file}.lock`,
          'bash',
          '-c',
          'set -e; [ -s "$1" ] || { out=$(bash "$2"); printf "%s\\n" "${out##*$\'\\n\'}" >"$1.tmp"; mv "$1.tmp" "$1"; }',
          '_',
          file,
          script,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
    }
    dir = readFileSync(file, 'utf8').trim();
  } else {
    dir = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split('\n')
      .pop()!;
  }
  checked.set(piece, dir);
  return dir;
}

/** The lab's bin directory: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl v1.28.15, kwok. */
export const labBin = () => toolchainDir('lab');
