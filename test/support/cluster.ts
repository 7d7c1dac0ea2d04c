import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import { FIELD_MANAGER, toYaml, waves } from '../../hack/lib/cluster/deploy';
import { type LabNode, type LabState, startLab, stopLab } from '../../hack/lib/lab/cluster';
import { run, type RunResult } from '../../hack/lib/process/run';
import { ROOT } from './cli';

// Each test file that needs Kubernetes gets its own lab control plane (the same as `bin/roomler lab up`): ~4 s to
// start, so files run in parallel without sharing namespaces, PersistentVolumes or NodePorts.

let binDir: string | undefined;
/** The cached lab binaries (built by .ci/run before the tests; built here only on a machine that skipped it). */
export function labBin(): string {
  binDir ??= execFileSync('bash', [join(ROOT, 'hack', 'toolchain', 'lab.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!;
  return binDir;
}

export interface TestCluster {
  readonly state: LabState;
  /** Environment for a command under test: KUBECONFIG and the real kubectl v1.28.15 first on PATH. */
  readonly env: Record<string, string>;
  kubectl(args: readonly string[], input?: string): Promise<RunResult>;
  /** kubectl that must succeed; returns stdout parsed as JSON when `-o json` was asked. */
  json(args: readonly string[]): Promise<any>;
}

/** Starts a lab for this test file (beforeAll) and stops it (afterAll). */
export function useCluster(nodes: readonly LabNode[] = [{ name: 'k8s-worker1' }, { name: 'k8s-worker2' }]): TestCluster {
  let state: LabState | undefined;
  const cluster: TestCluster = {
    get state() {
      if (!state) throw new Error('the lab is not started (useCluster belongs at the top of a describe)');
      return state;
    },
    get env() {
      return { KUBECONFIG: cluster.state.kubeconfig, PATH: `${labBin()}:${process.env.PATH}` };
    },
    kubectl: (args, input) =>
      run(join(labBin(), 'kubectl'), ['--kubeconfig', cluster.state.kubeconfig, ...args], { input, timeoutMs: 60_000 }),
    json: async (args) => {
      const r = await cluster.kubectl([...args, '-o', 'json']);
      if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
  };
  beforeAll(async () => {
    state = await startLab({ dir: mkdtempSync(join(tmpdir(), 'roomler-lab-')), binDir: labBin(), nodes });
  }, 120_000);
  afterAll(async () => {
    if (state) await stopLab(state, true);
  });
  return cluster;
}

/** Polls `check` until it returns a value (not undefined) or `ms` pass; the last error explains a timeout. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Applies a dist directory wave by wave, as `deploy` does (server-side, deploy's field manager), without waiting. */
export async function applyWaves(cluster: TestCluster, dist: string): Promise<void> {
  for (const [wave, objs] of waves(dist)) {
    const r = await cluster.kubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], toYaml(objs));
    if (r.exitCode !== 0) throw new Error(`wave ${wave}: ${r.stderr}`);
  }
}
