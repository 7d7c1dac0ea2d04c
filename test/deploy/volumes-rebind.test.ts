import { afterAll, describe, expect, it } from 'vitest';

import { useCluster } from '../support/cluster';
import { cleanupDirs } from '../support/files';
import { createSecrets, deploy, project } from './support';

afterAll(cleanupDirs);

// `bin/roomler deploy` against a real API server, scheduler and controllers (test/support/cluster.ts).

describe('bin/roomler deploy: data volumes kept across a deleted namespace', () => {
  const cluster = useCluster();

  it('a redeploy after the namespace was deleted re-binds the retained volumes to the new claims, and MongoDB starts on its data', async () => {
    const dir = project();
    await createSecrets(cluster, dir);
    const first = deploy(cluster, dir, '--yes');
    expect(first.code, first.stderr).toBe(0);
    const before = await cluster.json(['get', 'pv', 'roomler-mongodb-data']);
    const del = await cluster.kubectl(['delete', 'namespace', 'roomler', '--wait']);
    expect(del.exitCode, del.stderr).toBe(0);
    // What Kubernetes does with Retain: the volume stays, Released, still naming the deleted claim's uid.
    const released = await cluster.json(['get', 'pv', 'roomler-mongodb-data']);
    expect(released.status.phase).toBe('Released');
    expect(released.spec.claimRef.uid).toBe(before.spec.claimRef.uid);

    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir, '--yes');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(
      /re-bind: +PersistentVolume roomler-mongodb-data \(Released: its claim was deleted, the data is retained\) to the new claim roomler\/mongodb-data/,
    );
    const after = await cluster.json(['get', 'pv', 'roomler-mongodb-data']);
    expect(after.status.phase).toBe('Bound');
    expect(after.spec.hostPath.path).toBe(before.spec.hostPath.path);
    const claim = await cluster.json(['get', 'pvc', 'mongodb-data', '-n', 'roomler']);
    expect(after.spec.claimRef.uid).toBe(claim.metadata.uid);
  });
});
