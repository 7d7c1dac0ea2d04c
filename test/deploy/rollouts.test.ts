import { afterAll, describe, expect, it } from 'vitest';

import { LAB_ANNOTATIONS } from '../../hack/lib/lab/stages';
import { useCluster } from '../support/cluster';
import { cleanupDirs } from '../support/files';
import { annotate, createSecrets, deploy, exists, project } from './support';

afterAll(cleanupDirs);

// `bin/roomler deploy` against a real API server, scheduler and controllers (test/support/cluster.ts).

describe('bin/roomler deploy: rollouts that really wait, and say why when they fail', () => {
  const cluster = useCluster();
  // MongoDB's template as the first test leaves it, in every later one: no rolling update of an earlier wave that a
  // short --timeout would have to wait for on a loaded machine.
  const slowMongo = annotate('StatefulSet', 'mongodb', LAB_ANNOTATIONS.readyAfter, '4s');

  it('waits for a workload that becomes Ready late (a slow first MongoDB boot)', async () => {
    const dir = project('', slowMongo);
    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir, '--yes', '--timeout', '30');
    expect(r.code, r.stderr).toBe(0);
    const waited = /\[ *(\d+) s\] waiting for roomler\/statefulset\/mongodb[\s\S]*?\[ *(\d+) s\] roomler\/statefulset\/mongodb ready/.exec(
      r.stdout,
    );
    expect(waited, r.stdout).not.toBeNull();
    expect(Number(waited![2]) - Number(waited![1])).toBeGreaterThanOrEqual(3);
  });

  it('stops at a workload that never becomes Ready, naming it and what its Pods report; later waves are not applied', async () => {
    await cluster.kubectl(['delete', 'deployment', 'roomler', '-n', 'roomler', '--wait']);
    const dir = project('', (o) => annotate('Deployment', 'janus', LAB_ANNOTATIONS.neverReady, 'true')(slowMongo(o)));
    const r = deploy(cluster, dir, '--yes', '--timeout', '3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /roomler\/deployment\/janus did not become ready within 3 s \(--timeout, default deploy\.rolloutTimeoutSeconds\); later waves were not applied\./,
    );
    expect(r.stderr).toMatch(
      /its Pods: janus-\S+ Running on k8s-worker1: container janus running but not Ready \(its readiness probe fails\)/,
    );
    expect(r.stderr).toMatch(/inspect: kubectl -n roomler describe deployment\/janus/);
    expect(await exists(cluster, 'deployment', 'roomler', '-n', 'roomler')).toBe(false);
  });

  it('names a crash-looping container with its restarts', async () => {
    // Janus rolls back to Ready first (it was never Ready above): 10 s for that on a loaded machine.
    const dir = project('', (o) => annotate('Deployment', 'roomler', LAB_ANNOTATIONS.crashLoop, 'true')(slowMongo(o)));
    const r = deploy(cluster, dir, '--yes', '--timeout', '10');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/roomler\/deployment\/roomler did not become ready within 10 s/);
    expect(r.stderr).toMatch(/roomler-\S+ Running on k8s-worker1: container roomler CrashLoopBackOff \(5 restarts, last exit 1\)/);
  });
});
