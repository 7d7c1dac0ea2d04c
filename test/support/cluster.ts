import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll } from 'vitest';

import { FIELD_MANAGER, toYaml, waves } from '../../hack/lib/cluster/deploy';
import type { LabNode, LabState } from '../../hack/lib/lab/cluster';
import { run, type RunResult } from '../../hack/lib/process/run';
import { acquireLab, type LabLease } from './lab-pool';
import { labBin } from './toolchain';

export { labBin };

// A test file that needs Kubernetes gets a lab control plane of its own for as long as it runs (the same as
// `bin/roomler lab up`), from the run's pool (test/support/lab-pool.ts): empty when the file starts, with no namespace,
// PersistentVolume or NodePort of another file.

export interface TestCluster {
  readonly state: LabState;
  /** Environment for a command under test: KUBECONFIG and the real kubectl v1.28.15 first on PATH. */
  readonly env: Record<string, string>;
  kubectl(args: readonly string[], input?: string): Promise<RunResult>;
  /** kubectl that must succeed; returns stdout parsed as JSON when `-o json` was asked. */
  json(args: readonly string[]): Promise<any>;
}

/** Takes a lab for this test file or describe block (beforeAll) and gives it back (afterAll). */
export function useCluster(nodes: readonly LabNode[] = [{ name: 'k8s-worker1' }, { name: 'k8s-worker2' }]): TestCluster {
  let lease: LabLease | undefined;
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
    lease = await acquireLab(nodes);
    state = lease.state;
  }, 120_000);
  afterAll(async () => {
    await lease?.release();
  }, 60_000);
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
    await sleep(200);
  }
}

/** Applies a dist directory wave by wave, as `deploy` does (server-side, deploy's field manager), without waiting. */
export async function applyWaves(cluster: TestCluster, dist: string): Promise<void> {
  for (const [wave, objs] of waves(dist)) {
    const r = await cluster.kubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], toYaml(objs));
    if (r.exitCode !== 0) throw new Error(`wave ${wave}: ${r.stderr}`);
  }
}
