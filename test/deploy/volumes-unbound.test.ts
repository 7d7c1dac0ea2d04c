import { afterAll, describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster';
import { cleanupDirs } from '../support/synth';
import { createSecrets, deploy, project } from './support';

afterAll(cleanupDirs);

// `bin/roomler deploy` against a real API server, scheduler and controllers (test/support/cluster.ts).

describe('bin/roomler deploy: a data volume that cannot bind', () => {
  const cluster = useCluster();

  it('a claim that cannot bind: the Pod waits, and deploy quotes the volume controller', async () => {
    // The data volume pre-bound to another namespace's claim (a hand edit; synth never writes it).
    const dir = project('', (o) => {
      if (o.kind === 'PersistentVolume' && o.metadata.name === 'roomler-mongodb-data') o.spec.claimRef.namespace = 'elsewhere';
      return o;
    });
    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir, '--yes', '--timeout', '3');
    expect(r.status, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/roomler\/statefulset\/mongodb did not become ready/);
    expect(r.stderr).toMatch(/mongodb-0 Pending, not scheduled: its PersistentVolumeClaim is not bound/);
    expect(r.stderr).toMatch(/PVC mongodb-data is Pending: PersistentVolume roomler-mongodb-data is bound to another claim, elsewhere\/mongodb-data .*\(volume controller: volume "roomler-mongodb-data" already bound to a different claim\.\)/);
  });
});
