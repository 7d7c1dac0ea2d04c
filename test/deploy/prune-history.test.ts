import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { readDist } from '../../hack/lib/cluster/deploy';
import { keyOf } from '../../lib/manifest';
import { eventually, type TestCluster, useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir } from '../support/files';
import { roomler } from '../support/roomler';
import { createSecrets, deploy, exists, project } from './support';

afterAll(cleanupDirs);

// deploy that cleans up and can go back, against a real API server, scheduler and controllers.

const DATA = new Set(['PersistentVolume', 'PersistentVolumeClaim', 'Namespace']);
const history = (cluster: TestCluster) => roomler(['deploy', 'history'], { env: cluster.env });

describe('bin/roomler deploy: prune, history, rollback', () => {
  const cluster = useCluster();
  const full = project();
  const noBackups = project('backups: { enabled: false }\n');

  it('deploying a config without the backup CronJobs deletes exactly what dist/ dropped, keeps the data volume, leaves hand-made objects alone', async () => {
    await createSecrets(cluster, full);
    expect(deploy(cluster, full, '--yes').code).toBe(0);
    const made = await cluster.kubectl(['-n', 'roomler', 'create', 'configmap', 'hand-made', '--from-literal=k=v']);
    expect(made.exitCode, made.stderr).toBe(0);

    const dropped = readDist(join(full, 'dist')).filter((o) => !new Set(readDist(join(noBackups, 'dist')).map(keyOf)).has(keyOf(o)));
    const expectedDeleted = dropped
      .filter((o) => !DATA.has(o.kind))
      .map(keyOf)
      .sort();
    expect(expectedDeleted).toEqual(expect.arrayContaining(['CronJob/roomler/mongodb-backup', 'CronJob/roomler/mongodb-backup-verify']));

    // deploy diff shows the deletions first, object by object, and the claim it would keep.
    const preview = roomler(['deploy', 'diff'], { project: noBackups, env: cluster.env });
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toMatch(/^- CronJob\/roomler\/mongodb-backup$/m);
    expect(preview.stderr).toMatch(
      /PersistentVolumeClaim\/roomler\/mongodb-backup is no longer in dist\/ but holds data .*: deploy keeps it unless --prune-data names it/,
    );
    expect(await exists(cluster, 'cronjob', 'mongodb-backup', '-n', 'roomler')).toBe(true);

    const r = deploy(cluster, noBackups, '--yes');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const listed = [...r.stdout.matchAll(/^ {2}delete: +(\S+) \(deployed before, no longer in dist\/\)$/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(expectedDeleted);
    const pruned = [...r.stdout.matchAll(/prune: deleting (\S+)$/gm)].map((m) => m[1]);
    expect([...pruned].sort()).toEqual(expectedDeleted);
    // Reverse wave order: the CronJobs (wave 5) go before the ConfigMap their Jobs mounted (wave 0).
    expect(pruned.indexOf('CronJob/roomler/mongodb-backup')).toBeLessThan(pruned.indexOf('ConfigMap/roomler/mongodb-backup-scripts'));
    expect(r.stdout).toMatch(
      /^ {2}keep: +PersistentVolumeClaim\/roomler\/mongodb-backup, no longer deployed but it holds data: volume roomler-mongodb-backup: hostPath \/data\/roomler\/backup on k8s-worker1, reclaim Retain \(the files stay on the node\); delete it with --prune-data pvc\/roomler\/mongodb-backup$/m,
    );
    for (const key of expectedDeleted) {
      const [kind, ns, name] = key.split('/');
      expect(await exists(cluster, kind.toLowerCase(), name, '-n', ns), key).toBe(false);
    }
    expect(await exists(cluster, 'pvc', 'mongodb-backup', '-n', 'roomler')).toBe(true);
    expect(await exists(cluster, 'pv', 'roomler-mongodb-backup')).toBe(true);
    expect(await exists(cluster, 'configmap', 'hand-made', '-n', 'roomler')).toBe(true);
  });

  it('--prune-data deletes the claim it names, and only that', async () => {
    const r = deploy(cluster, noBackups, '--yes', '--prune-data', 'pvc/roomler/mongodb-backup');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/prune: deleting PersistentVolumeClaim\/roomler\/mongodb-backup$/m);
    expect(await exists(cluster, 'pvc', 'mongodb-backup', '-n', 'roomler')).toBe(false);
    expect(await exists(cluster, 'pv', 'roomler-mongodb-backup')).toBe(true);
  });

  it("an object deploy made, deleted and re-created by hand, is not deploy's to prune", async () => {
    // The uploads PVC's ConfigMap neighbour: roomler-config, deleted and re-created by an operator.
    await cluster.kubectl(['-n', 'roomler', 'delete', 'configmap', 'roomler-config']);
    await cluster.kubectl(['-n', 'roomler', 'create', 'configmap', 'roomler-config', '--from-literal=by=hand']);
    const renamed = project('backups: { enabled: false }\n', (o) => {
      if (o.kind === 'ConfigMap' && o.metadata.name === 'roomler-config') o.metadata.name = 'roomler-config-v2';
      return o;
    });
    const r = deploy(cluster, renamed, '--yes', '--timeout', '60');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^ {2}leave alone: +ConfigMap\/roomler\/roomler-config \(re-created by someone else since deploy made it\)$/m);
    expect((await cluster.json(['get', 'configmap', 'roomler-config', '-n', 'roomler'])).data).toEqual({ by: 'hand' });
  });

  it('history lists every revision: when, outcome, digest, git, who, source', () => {
    const h = history(cluster);
    expect(h.code, h.stderr).toBe(0);
    const rows = h.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^REVISION +FINISHED +OUTCOME +DIGEST +GIT +BY +SOURCE$/);
    expect(rows.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['1', '2', '3', '4']);
    expect(rows[1]).toMatch(/^1 +\d{4}-\d\d-\d\dT\S+ +succeeded +[0-9a-f]{12} +not a git checkout +\S+@\S+ +dist\//);
  });

  it('rollback re-applies a recorded revision and waits for it; existing volumes stay as they are, a pruned claim comes back', async () => {
    const r = roomler(['deploy', 'rollback', '1', '--yes'], { project: full, env: cluster.env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/rollback: to revision 1 \(.*; existing volumes and claims stay as they are\)/);
    expect(r.stdout).toMatch(/waiting for roomler\/statefulset\/mongodb .*\n.*roomler\/statefulset\/mongodb ready/);
    expect(await exists(cluster, 'cronjob', 'mongodb-backup', '-n', 'roomler')).toBe(true);
    // The claim --prune-data deleted comes back, re-bound to the volume that kept its files.
    expect(r.stdout).toMatch(
      /^ {2}re-bind: +PersistentVolume roomler-mongodb-backup \(Released: its claim was deleted, the data is retained\) to the new claim roomler\/mongodb-backup$/m,
    );
    expect(r.stdout).toMatch(
      /^ {2}recreate: +PersistentVolumeClaim\/roomler\/mongodb-backup \(pruned since that revision\): hostPath \/data\/roomler\/backup on k8s-worker1/m,
    );
    await eventually(
      async () => ((await cluster.json(['get', 'pvc', 'mongodb-backup', '-n', 'roomler'])).status?.phase === 'Bound' ? true : undefined),
      20_000,
      'the re-created claim to bind to the kept volume',
    );
    expect(history(cluster).stdout).toMatch(/^5 +\S+ +succeeded .* rollback to revision 1$/m);
  });
});

describe('bin/roomler deploy: instances on their own clusters', () => {
  const a = useCluster();
  const b = useCluster();

  it('each instance goes to the context it names, with its own confirmation', async () => {
    // One kubeconfig with both labs as contexts "production" and "staging".
    const config = (c: TestCluster, name: string) => {
      const text = readFileSync(c.state.kubeconfig, 'utf8');
      return {
        server: /server: (\S+)/.exec(text)![1],
        ca: /certificate-authority: (\S+)/.exec(text)![1],
        token: /token: (\S+)/.exec(text)![1],
        name,
      };
    };
    const [prod, stage] = [config(a, 'production'), config(b, 'staging')];
    const kubeconfig = join(emptyDir(), 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\ncurrent-context: production\nclusters:\n${[prod, stage].map((c) => `- name: ${c.name}\n  cluster: { server: ${c.server}, certificate-authority: ${c.ca} }\n`).join('')}contexts:\n${[prod, stage].map((c) => `- name: ${c.name}\n  context: { cluster: ${c.name}, user: ${c.name} }\n`).join('')}users:\n${[prod, stage].map((c) => `- name: ${c.name}\n  user: { token: ${c.token} }\n`).join('')}`,
    );
    const dir = project(
      'context: production\ninstances:\n  - name: roomler\n  - name: staging\n    context: staging\n    dataNode: k8s-worker2\n    app: { nodePort: 31030 }\n    janus: { nodePorts: { http: 31808, websocket: 31818 } }\n',
    );
    const env = { ...a.env, KUBECONFIG: kubeconfig, ROOMLER_PROJECT_DIR: dir };
    // Each instance's Secrets go to its own cluster, as deploy sends it there.
    const secrets = roomler(['secrets', 'apply', '--yes'], { env });
    expect(secrets.code, secrets.stderr).toBe(0);
    expect(secrets.stdout).toMatch(/kubectl context: production[\s\S]*kubectl context: staging/);
    // coturn is no instance: it goes with the top-level context (production).
    const tls = await a.kubectl([
      '-n',
      'coturn',
      'create',
      'secret',
      'generic',
      'coturn-tls',
      '--from-literal=tls.crt=x',
      '--from-literal=tls.key=y',
    ]);
    expect(tls.exitCode, tls.stderr).toBe(0);
    expect(await exists(b, 'namespace', 'coturn')).toBe(false);
    const r = roomler(['deploy', '--yes'], { env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const confirmations = [
      ...r.stdout.matchAll(/deploy will change:\n {2}kubectl context: (\S+)\n {2}API server: +(\S+)\n {2}namespaces: +(.*)\n/g),
    ].map((m) => [m[1], m[2], m[3]]);
    expect(confirmations).toEqual([
      ['production', prod.server, 'coturn, roomler'],
      ['staging', stage.server, 'staging'],
    ]);
    expect(await exists(a, 'namespace', 'staging')).toBe(false);
    expect(await exists(b, 'namespace', 'staging')).toBe(true);
    expect(await exists(b, 'namespace', 'roomler')).toBe(false);
    expect(await exists(a, 'statefulset', 'mongodb', '-n', 'roomler')).toBe(true);
  });
});
