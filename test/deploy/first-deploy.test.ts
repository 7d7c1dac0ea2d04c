import { afterAll, describe, expect, it } from 'vitest';

import { type K8sObject } from '../../lib/manifest';
import { useCluster } from '../support/cluster';
import { cleanupDirs } from '../support/files';
import { createSecrets, deploy, exists, project } from './support';

afterAll(cleanupDirs);

// `bin/roomler deploy` against a real API server, scheduler and controllers (test/support/cluster.ts).

describe('bin/roomler deploy: a first deploy', () => {
  const cluster = useCluster();

  it('refuses while required Secrets are missing, naming them and the commands; nothing is applied', async () => {
    const r = deploy(cluster, project(), '--yes');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /missing Secrets in the cluster: coturn\/coturn-auth, coturn\/coturn-tls, roomler\/mongodb-secret, roomler\/roomler-secret; nothing was applied\. Create them with: bin\/roomler secrets apply --context roomler-lab and kubectl --context roomler-lab -n coturn create secret tls coturn-tls/,
    );
    expect(await exists(cluster, 'namespace', 'roomler')).toBe(false);
  });

  it('--dry-run=server on an empty cluster validates every wave and changes nothing', async () => {
    const r = deploy(cluster, project(), '--dry-run=server');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dry run: a real deploy would refuse now: missing Secrets/);
    expect(r.stdout).toMatch(/object\(s\) in namespaces that do not exist yet \(roomler\): checked against the server's schema only/);
    expect(r.stdout).toMatch(/server-side dry run passed for every wave; nothing was changed/);
    expect(await exists(cluster, 'namespace', 'roomler')).toBe(false);
    expect(await exists(cluster, 'pv', 'roomler-mongodb-data')).toBe(false);
  });

  it('without a terminal and without --yes it says where it would deploy and changes nothing', async () => {
    const dir = project();
    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /deploy will change:\n {2}kubectl context: roomler-lab\n {2}API server: +https:\/\/127\.0\.0\.1:\d+\n {2}namespaces: +coturn, roomler/,
    );
    expect(r.stderr).toMatch(/no terminal to ask on: re-run with --yes to proceed; nothing was changed/);
    expect(await exists(cluster, 'statefulset', 'mongodb', '-n', 'roomler')).toBe(false);
  });

  it('applies wave by wave, waits for every workload as kubectl judges it, and ends with pods and NodePorts', async () => {
    const dir = project();
    const r = deploy(cluster, dir, '--yes');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const waves = [...r.stdout.matchAll(/wave (-?\d+): applying/g)].map((m) => Number(m[1]));
    expect(waves).toEqual([...waves].sort((a, b) => a - b));
    expect(waves[0]).toBe(-2);
    const ready = [...r.stdout.matchAll(/ (\S+) ready$/gm)].map((m) => m[1]);
    // MongoDB before Redis, the TURN servers with Janus, the app last (it needs all of them).
    expect(ready).toEqual([
      'roomler/statefulset/mongodb',
      'roomler/deployment/redis',
      'coturn/deployment/coturn-worker1',
      'coturn/deployment/coturn-worker2',
      'roomler/deployment/janus',
      'roomler/deployment/roomler',
    ]);
    expect(r.stdout).toMatch(/wave 3: applying Deployment\/coturn-worker1, Deployment\/coturn-worker2, .*Deployment\/janus/);
    expect(r.stdout).toMatch(/^roomler +mongodb-0 +1\/1 +0$/m);
    expect(r.stdout).toMatch(/^coturn +coturn-worker2-\S+ +1\/1 +0$/m);
    expect(r.stdout).toContain('roomler/janus-nodeport websocket 8188 -> 30818');
    // Server-side apply under one field manager: the next deploy owns exactly these fields.
    const sts = await cluster.json(['get', 'statefulset', 'mongodb', '-n', 'roomler', '--show-managed-fields']);
    expect(sts.metadata.managedFields.map((m: K8sObject) => m.manager)).toContain('roomler-deploy');
    // A second deploy of the same dist/ converges without changes and succeeds again.
    const again = deploy(cluster, dir, '--yes');
    expect(again.code, again.stderr).toBe(0);
    // The history is made outside Git: no Argo CD Application may adopt or prune it (docs/gitops.md).
    const outsideGit = { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous', 'argocd.argoproj.io/sync-options': 'Prune=false' };
    expect((await cluster.json(['get', 'namespace', 'roomler-deploy'])).metadata.annotations).toMatchObject(outsideGit);
    const records = (await cluster.json(['get', 'secrets', '-n', 'roomler-deploy', '-l', 'roomler.dev/release=deploy']))
      .items as K8sObject[];
    expect(records.length).toBe(2);
    for (const x of records) expect(x.metadata.annotations).toMatchObject(outsideGit);
  });
});
