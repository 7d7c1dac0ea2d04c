import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { claimProblem, explainKubectlError } from '../../hack/lib/cluster/causes';
import { rollbackTarget } from '../../hack/lib/cluster/deploy';
import { Kubectl } from '../../hack/lib/cluster/kubectl';
import type { StoredRevision } from '../../hack/lib/cluster/releases';
import { operatorKubeconfig } from '../../hack/lib/lab/cluster';
import { LAB_ANNOTATIONS } from '../../hack/lib/lab/stages';
import { type K8sObject } from '../../lib/manifest';
import { eventually, labBin, type TestCluster, useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir } from '../support/files';
import { roomler } from '../support/roomler';
import { createSecrets, deploy, exists, project } from './support';

afterAll(cleanupDirs);

// Failures named by their causes, against a real API server, scheduler and controllers (kwok plays the kubelet). The
// scenarios run in order on one lab; the revision numbers in the assertions are the history they build.

const history = (cluster: TestCluster) => roomler(['deploy', 'history'], { env: cluster.env }).stdout;
const apply = async (cluster: TestCluster, o: K8sObject) => {
  const r = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(o));
  expect(r.exitCode, r.stderr).toBe(0);
};

describe('bin/roomler deploy: causes, not symptoms', () => {
  const cluster = useCluster();
  const full = project();

  it('why a claim cannot bind, from the claim and its volume: the missing volume, one bound elsewhere, one too small', async () => {
    process.env.KUBECONFIG = cluster.state.kubeconfig;
    process.env.PATH = `${labBin()}:${process.env.PATH}`;
    const kubectl = new Kubectl();
    await cluster.kubectl(['create', 'namespace', 'claims']);
    const pv = (name: string, size: string, claim?: string) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name },
      spec: {
        capacity: { storage: size },
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: `/data/${name}` },
        ...(claim ? { claimRef: { namespace: claim.split('/')[0], name: claim.split('/')[1] } } : {}),
      },
    });
    const pvc = (name: string, volume: string) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace: 'claims' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', volumeName: volume, resources: { requests: { storage: '5Gi' } } },
    });
    for (const o of [
      pv('small', '1Gi'),
      pv('taken', '5Gi', 'elsewhere/owner'),
      pvc('wants-ghost', 'ghost'),
      pvc('wants-small', 'small'),
      pvc('wants-taken', 'taken'),
    ])
      await apply(cluster, o);
    expect(await claimProblem(kubectl, 'claims', 'wants-ghost')).toBe(
      'PVC wants-ghost is Pending: its PersistentVolume ghost does not exist (deleted?); bin/roomler deploy re-creates it when dist/ has it, with the same hostPath (Retain kept the files)',
    );
    expect(await claimProblem(kubectl, 'claims', 'wants-small')).toBe(
      'PVC wants-small is Pending: PersistentVolume small offers 1Gi, the claim requests 5Gi',
    );
    expect(await claimProblem(kubectl, 'claims', 'wants-taken')).toMatch(
      /^PVC wants-taken is Pending: PersistentVolume taken is bound to another claim, elsewhere\/owner/,
    );
  }, 120_000);

  it('a user without some rights is told the rights it lacks (verb, resource, namespace), never that Secrets are missing', async () => {
    await createSecrets(cluster, full);
    // "operator" may read and write most of the stack, but not Deployments/StatefulSets, and no Secrets at all.
    await apply(cluster, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'partial-deployer' },
      rules: [
        {
          apiGroups: [''],
          resources: ['namespaces', 'persistentvolumes', 'persistentvolumeclaims', 'configmaps', 'services', 'pods', 'events'],
          verbs: ['get', 'list', 'watch', 'patch', 'create'],
        },
        { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['batch'], resources: ['cronjobs', 'jobs'], verbs: ['get', 'list', 'patch', 'create'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'patch', 'create'] },
      ],
    });
    await apply(cluster, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'partial-deployer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'partial-deployer' },
      subjects: [{ kind: 'User', name: 'operator', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    const env = { ...cluster.env, KUBECONFIG: operatorKubeconfig(cluster.state, join(emptyDir(), 'operator')), ROOMLER_PROJECT_DIR: full };
    const r = roomler(['deploy', '--yes'], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /^deploy: user "operator" \(context roomler-lab\) lacks the rights deploy needs; nothing was changed\. Missing \(RBAC\), not missing objects:$/m,
    );
    for (const right of [
      'patch deployments.apps in namespace roomler',
      'create statefulsets.apps in namespace roomler',
      'patch deployments.apps in namespace coturn',
      'get secrets in namespace roomler',
      'get secrets in namespace coturn',
      'create secrets in namespace roomler-deploy',
      'update leases.coordination.k8s.io in namespace roomler-deploy',
    ]) {
      expect(r.stderr).toContain(`  - ${right}\n`);
    }
    expect(r.stderr).not.toMatch(/missing Secrets|patch configmaps/);
    expect(r.stdout).not.toMatch(/will change/);
    // A read the user may not make is said as the right it lacks, not as "no revisions" or "not found".
    const h = roomler(['deploy', 'history'], { env });
    expect(h.code).toBe(1);
    expect(h.stderr).toMatch(
      /reading the release history in namespace roomler-deploy failed: user "operator" lacks the right to list secrets in namespace roomler-deploy: a missing RBAC right, not a missing object/,
    );
    expect(history(cluster)).toMatch(/^no revisions in namespace roomler-deploy/);
  }, 120_000);

  it('a claim that cannot bind: the Pod waits, and deploy says why from the claim and its volume', async () => {
    // The data volume pre-bound to another namespace's claim (a hand edit; synth never writes it).
    const elsewhere = project('', (o) => {
      if (o.kind === 'PersistentVolume' && o.metadata.name === 'roomler-mongodb-data') o.spec.claimRef.namespace = 'elsewhere';
      return o;
    });
    const r = deploy(cluster, elsewhere, '--yes', '--timeout', '3');
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/roomler\/statefulset\/mongodb did not become ready/);
    expect(r.stderr).toMatch(
      /mongodb-0 Pending, not scheduled: its PersistentVolumeClaim is not bound .*; PVC mongodb-data is Pending: PersistentVolume roomler-mongodb-data is bound to another claim, elsewhere\/mongodb-data .*\(volume controller: volume "roomler-mongodb-data" already bound to a different claim\.\)/,
    );
    expect(r.stderr).toMatch(/recorded revision 1 as failed; nothing was pruned/);
    // The next deploy of what synth makes points the volume at its own claim again.
    expect(deploy(cluster, full, '--yes', '--timeout', '30').code).toBe(0);
  }, 120_000);

  it('a host-port clash names the foreign Pod, its node and ports; a Recreate workload left without a Pod is an outage', async () => {
    // Another team's hostNetwork Pod on Janus's node already serves on 8089, the port Janus's HTTP API moves to.
    await cluster.kubectl(['create', 'namespace', 'other']);
    await apply(cluster, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'squatter', namespace: 'other' },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': 'k8s-worker1' },
        hostNetwork: true,
        containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8089 }] }],
      },
    });
    await eventually(
      async () => ((await cluster.json(['get', 'pod', 'squatter', '-n', 'other'])).spec.nodeName ? true : undefined),
      20_000,
      'the other Pod to be scheduled',
    );
    // Janus's Recreate strategy stops the running Pod before the new one is scheduled.
    // It also drops the backup CronJobs: a deploy that fails prunes nothing.
    const moved = project('janus: { ports: { http: 8089 } }\nbackups: { enabled: false }\n');
    const r = deploy(cluster, moved, '--yes', '--timeout', '5');
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/roomler\/deployment\/janus did not become ready within 5 s/);
    expect(r.stderr).toMatch(
      /^ {2}OUTAGE: roomler\/janus has no ready Pod since \S+Z \(its Recreate strategy stopped the old Pod before the new one was ready\): whatever it serves is down now/m,
    );
    expect(r.stderr).toMatch(
      /janus-\S+ Pending, not scheduled: HOST PORT CLASH: .*\(scheduler: 0\/2 nodes are available: .*\); Pod other\/squatter on k8s-worker1 holds TCP 8089 \(hostNetwork\): stop or move that Pod/,
    );
    expect(r.stderr).toMatch(/recorded revision 3 as failed; nothing was pruned/);
    expect(await exists(cluster, 'cronjob', 'mongodb-backup', '-n', 'roomler')).toBe(true);
    // Gone before the next deploy: Janus comes back on its own once the port is free.
    await cluster.kubectl(['delete', 'pod', 'squatter', '-n', 'other', '--wait=true', '--timeout=30s']);
  }, 120_000);

  it('a failing init container is named with its exit code and restarts; --atomic rolls back to the last successful revision', async () => {
    const initFails = project('', (o) => {
      if (o.kind === 'Deployment' && o.metadata.name === 'roomler') {
        o.spec.template.spec.initContainers = [{ name: 'wait-for-mongo', image: 'busybox:1.36', command: ['true'] }];
        o.spec.template.metadata.annotations = { ...o.spec.template.metadata.annotations, [LAB_ANNOTATIONS.initFail]: 'true' };
      }
      return o;
    });
    const r = deploy(cluster, initFails, '--yes', '--timeout', '10', '--atomic');
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /roomler-\S+ Pending on k8s-worker1: init container wait-for-mongo failed: exit 1, 4 restarts, now CrashLoopBackOff \(back-off 1m20s restarting failed container\); the app's containers cannot start until it succeeds \(kubectl -n roomler logs roomler-\S+ -c wait-for-mongo --previous\)/,
    );
    // The old Pod kept serving (RollingUpdate, maxUnavailable 0): no outage.
    expect(r.stderr).not.toMatch(/OUTAGE/);
    expect(r.stderr).toMatch(/recorded revision 4 as failed; nothing was pruned/);
    // Revision 3 failed too: the last successful one before 4 is 2.
    expect(r.stdout).toMatch(/--atomic: revision 4 failed; rolling back to revision 2/);
    expect(r.stderr).toMatch(/--atomic: rolled back to revision 2 \(recorded as revision 5\); the deploy itself failed/);
    expect(history(cluster)).toMatch(/^5 +\S+ +succeeded .* rollback to revision 2 \(--atomic, after revision 4 failed\)$/m);
    const app = await cluster.json(['get', 'deployment', 'roomler', '-n', 'roomler']);
    expect(app.spec.template.spec.initContainers).toBeUndefined();
  }, 120_000);

  it('an apply conflict names the object, the field and its other manager, and what to do; --force-conflicts takes it over', async () => {
    const scaled = await cluster.kubectl(['-n', 'roomler', 'scale', 'deployment', 'redis', '--replicas=2']);
    expect(scaled.exitCode, scaled.stderr).toBe(0);
    const r = deploy(cluster, full, '--yes', '--timeout', '30');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /kubectl apply of wave 2 failed; waves before it are applied, nothing after it:\n {2}Deployment\/roomler\/redis: 1 field\(s\) set to other values by field manager "([^"]+)" \(through the scale subresource\): \.spec\.replicas\n {4}what to do: if "\1" changed it on purpose, put that change into roomler\.yaml \(and synth\) so deploy applies it; to overwrite it with dist\/'s values, re-run deploy with --force-conflicts/,
    );
    expect(r.stderr).not.toMatch(/Please review the fields above/);
    const forced = deploy(cluster, full, '--yes', '--timeout', '30', '--force-conflicts');
    expect(forced.code, forced.stderr).toBe(0);
    expect((await cluster.json(['get', 'deployment', 'redis', '-n', 'roomler'])).spec.replicas).toBe(1);
  }, 120_000);

  it('a rollback re-creates the claim and volume pruned since that revision, and says so', async () => {
    const lean = project('backups: { enabled: false }\n');
    const pruned = deploy(
      cluster,
      lean,
      '--yes',
      '--prune-data',
      'pvc/roomler/mongodb-backup',
      '--prune-data',
      'pv/roomler-mongodb-backup',
    );
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await exists(cluster, 'pv', 'roomler-mongodb-backup')).toBe(false);
    const r = roomler(['deploy', 'rollback', '--yes'], { project: lean, env: cluster.env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/rollback: to revision 7 /);
    expect(r.stdout).toMatch(
      /^ {2}recreate: +PersistentVolume\/roomler-mongodb-backup \(pruned since that revision\): hostPath \/data\/roomler\/backup on k8s-worker1, reclaim Retain \(the files stay on the node\)$/m,
    );
    expect(r.stdout).toMatch(
      /^ {2}recreate: +PersistentVolumeClaim\/roomler\/mongodb-backup \(pruned since that revision\): hostPath \/data\/roomler\/backup/m,
    );
    expect(r.stdout).toMatch(/^ {2}keep as is: +\d+ existing volume\(s\) and claim\(s\): a rollback never changes them$/m);
    await eventually(
      async () => ((await cluster.json(['get', 'pvc', 'mongodb-backup', '-n', 'roomler'])).status?.phase === 'Bound' ? true : undefined),
      20_000,
      'the re-created claim to bind',
    );
    expect(history(cluster)).toMatch(/^9 +\S+ +succeeded .* rollback to revision 7$/m);
  }, 120_000);
});

describe('rollback target and error wording (no cluster)', () => {
  const rev = (revision: number, ok: boolean) =>
    ({
      meta: { revision, ok, outcome: ok ? 'succeeded' : 'failed: x' },
      resourceVersion: '1',
      inventory: [],
      objects: [],
    }) as unknown as StoredRevision;

  it('rollback without a number goes to the last successful revision before the current one', () => {
    expect(rollbackTarget([rev(1, true), rev(2, true), rev(3, false)], undefined, 'h').meta.revision).toBe(2);
    expect(rollbackTarget([rev(1, true), rev(2, true)], undefined, 'h').meta.revision).toBe(1);
    expect(() => rollbackTarget([rev(1, true)], undefined, 'h')).toThrow(
      /no successful revision before the current one \(1\) to roll back to \(have: 1 \(succeeded\)\)/,
    );
    expect(() => rollbackTarget([rev(1, true), rev(2, false)], 2, 'h')).toThrow(/revision 2 did not deploy/);
    expect(() => rollbackTarget([rev(1, true), rev(2, false)], 99, 'roomler-deploy')).toThrow(
      'no revision 99 in namespace roomler-deploy (have: 1 (succeeded), 2 (failed))',
    );
  });

  it('an RBAC refusal reads as the missing right; an unreachable API server as such', () => {
    expect(
      explainKubectlError(
        'Error from server (Forbidden): secrets "roomler-secret" is forbidden: User "bob" cannot get resource "secrets" in API group "" in the namespace "roomler"\n',
      ),
    ).toBe(
      'user "bob" lacks the right to get secrets in namespace roomler: a missing RBAC right, not a missing object (kubectl auth can-i get secrets -n roomler)',
    );
    expect(
      explainKubectlError(
        'Error from server (Forbidden): persistentvolumes is forbidden: User "bob" cannot list resource "persistentvolumes" in API group "" at the cluster scope',
      ),
    ).toMatch(/^user "bob" lacks the right to list persistentvolumes \(cluster-wide\)/);
    expect(explainKubectlError('The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?')).toBe(
      'the API server 127.0.0.1:6443 refused the connection (it is down or unreachable)',
    );
  });
});
