import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { LAB_ANNOTATIONS } from '../../hack/lib/lab/stages';
import { roomler } from '../support/cli';
import { useCluster, type TestCluster } from '../support/cluster';
import { cleanupDirs, emptyDir, projectWith, synthIn, type Obj } from '../support/synth';

afterAll(cleanupDirs);

// `bin/roomler deploy` against a real API server, scheduler and controllers (kwok plays the kubelet: Pods are
// reported Running/Ready, or slow, never Ready, or crash-looping where a test annotates them; no container runs).

const ENV = 'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=lab-mongo-password\nCOTURN_AUTH_SECRET=lab-turn-secret\n';

/** A project: config, .env and a fresh dist/, optionally edited object by object (what synth would never write). */
function project(config = '', edit?: (o: Obj) => Obj | Obj[]): string {
  const dir = projectWith({ 'roomler.yaml': config, '.env': ENV });
  const s = synthIn(dir, {});
  expect(s.code, s.stderr).toBe(0);
  if (edit) {
    for (const f of readdirSync(s.outdir)) {
      const objs = parseAllDocuments(readFileSync(join(s.outdir, f), 'utf8'), { version: '1.1' }).flatMap((d) => edit(d.toJS()));
      writeFileSync(join(s.outdir, f), objs.map((o) => stringify(o, { version: '1.1' })).join('---\n'));
    }
  }
  return dir;
}

const deploy = (cluster: TestCluster, dir: string, ...args: string[]) => roomler(['deploy', ...args], { env: { ...cluster.env, ROOMLER_PROJECT_DIR: dir } });

/** The Secrets deploy needs, created the way the README says: secrets apply, and a TLS Secret by kubectl. */
async function createSecrets(cluster: TestCluster, dir: string) {
  const s = roomler(['secrets', 'apply', '--yes'], { env: { ...cluster.env, ROOMLER_PROJECT_DIR: dir } });
  expect(s.status, s.stderr).toBe(0);
  const pem = emptyDir();
  expect(spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(pem, 'k'), '-out', join(pem, 'c'), '-subj', '/CN=turn.roomler.live', '-days', '2'], { stdio: 'ignore' }).status).toBe(0);
  const made = await cluster.kubectl(['-n', 'coturn', 'create', 'secret', 'tls', 'coturn-tls', `--cert=${join(pem, 'c')}`, `--key=${join(pem, 'k')}`, '--dry-run=client', '-o', 'yaml']);
  const t = await cluster.kubectl(['apply', '-f', '-'], made.stdout);
  expect(t.exitCode, t.stderr).toBe(0);
}

const exists = async (cluster: TestCluster, ...what: string[]) => (await cluster.kubectl(['get', ...what, '-o', 'name'])).exitCode === 0;

/** Adds an annotation to a workload's Pod template (the lab's kwok stages read it). */
const annotate = (kind: string, name: string, key: string, value: string) => (o: Obj) => {
  if (o.kind === kind && o.metadata.name === name) o.spec.template.metadata.annotations = { ...o.spec.template.metadata.annotations, [key]: value };
  return o;
};

describe('bin/roomler deploy: a first deploy', () => {
  const cluster = useCluster();

  it('refuses while required Secrets are missing, naming them and the commands; nothing is applied', async () => {
    const r = deploy(cluster, project(), '--yes');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing Secrets in the cluster: coturn\/coturn-auth, coturn\/coturn-tls, roomler\/mongodb-secret, roomler\/roomler-secret; nothing was applied\. Create them with: bin\/roomler secrets apply --context roomler-lab and kubectl --context roomler-lab -n coturn create secret tls coturn-tls/);
    expect(await exists(cluster, 'namespace', 'roomler')).toBe(false);
  });

  it('--dry-run=server on an empty cluster validates every wave and changes nothing', async () => {
    const r = deploy(cluster, project(), '--dry-run=server');
    expect(r.status, r.stderr).toBe(0);
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
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/deploy will change:\n {2}kubectl context: roomler-lab\n {2}API server: +https:\/\/127\.0\.0\.1:\d+\n {2}namespaces: +coturn, roomler/);
    expect(r.stderr).toMatch(/no terminal to ask on: re-run with --yes to proceed; nothing was changed/);
    expect(await exists(cluster, 'statefulset', 'mongodb', '-n', 'roomler')).toBe(false);
  });

  it('applies wave by wave, waits for every workload as kubectl judges it, and ends with pods and NodePorts', async () => {
    const dir = project();
    const r = deploy(cluster, dir, '--yes');
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const waves = [...r.stdout.matchAll(/wave (-?\d+): applying/g)].map((m) => Number(m[1]));
    expect(waves).toEqual([...waves].sort((a, b) => a - b));
    expect(waves[0]).toBe(-2);
    const ready = [...r.stdout.matchAll(/ (\S+) ready$/gm)].map((m) => m[1]);
    // MongoDB before Redis, the TURN servers with Janus, the app last (it needs all of them).
    expect(ready).toEqual(['roomler/statefulset/mongodb', 'roomler/deployment/redis', 'coturn/deployment/coturn-worker1', 'coturn/deployment/coturn-worker2', 'roomler/deployment/janus', 'roomler/deployment/roomler']);
    expect(r.stdout).toMatch(/wave 3: applying Deployment\/coturn-worker1, Deployment\/coturn-worker2, .*Deployment\/janus/);
    expect(r.stdout).toMatch(/^roomler +mongodb-0 +1\/1 +0$/m);
    expect(r.stdout).toMatch(/^coturn +coturn-worker2-\S+ +1\/1 +0$/m);
    expect(r.stdout).toContain('roomler/janus-nodeport websocket 8188 -> 30818');
    // Server-side apply under one field manager: the next deploy owns exactly these fields.
    const sts = await cluster.json(['get', 'statefulset', 'mongodb', '-n', 'roomler', '--show-managed-fields']);
    expect(sts.metadata.managedFields.map((m: Obj) => m.manager)).toContain('roomler-deploy');
    // A second deploy of the same dist/ converges without changes and succeeds again.
    const again = deploy(cluster, dir, '--yes');
    expect(again.status, again.stderr).toBe(0);
  });
});

describe('bin/roomler deploy: rollouts that really wait, and say why when they fail', () => {
  const cluster = useCluster();
  const fast = 'deploy: { rolloutTimeoutSeconds: 10 }\n';

  it('waits for a workload that becomes Ready late (a slow first MongoDB boot)', async () => {
    const dir = project('', annotate('StatefulSet', 'mongodb', LAB_ANNOTATIONS.readyAfter, '4s'));
    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir, '--yes');
    expect(r.status, r.stderr).toBe(0);
    const waited = /\[ *(\d+) s\] waiting for roomler\/statefulset\/mongodb[\s\S]*?\[ *(\d+) s\] roomler\/statefulset\/mongodb ready/.exec(r.stdout);
    expect(waited, r.stdout).not.toBeNull();
    expect(Number(waited![2]) - Number(waited![1])).toBeGreaterThanOrEqual(3);
  });

  it('stops at a workload that never becomes Ready, naming it and what its Pods report; later waves are not applied', async () => {
    await cluster.kubectl(['delete', 'deployment', 'roomler', '-n', 'roomler', '--wait']);
    const dir = project(fast, annotate('Deployment', 'janus', LAB_ANNOTATIONS.neverReady, 'true'));
    const r = deploy(cluster, dir, '--yes');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/roomler\/deployment\/janus did not become ready within 10 s \(deploy\.rolloutTimeoutSeconds\); later waves were not applied\./);
    expect(r.stderr).toMatch(/its Pods: janus-\S+ Running on k8s-worker1: container janus running but not Ready \(its readiness probe fails\)/);
    expect(r.stderr).toMatch(/inspect: kubectl -n roomler describe deployment\/janus/);
    expect(await exists(cluster, 'deployment', 'roomler', '-n', 'roomler')).toBe(false);
  });

  it('names a crash-looping container with its restarts', async () => {
    const dir = project(fast, annotate('Deployment', 'roomler', LAB_ANNOTATIONS.crashLoop, 'true'));
    const r = deploy(cluster, dir, '--yes');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/roomler\/deployment\/roomler did not become ready within 10 s/);
    expect(r.stderr).toMatch(/roomler-\S+ Running on k8s-worker1: container roomler CrashLoopBackOff \(5 restarts, last exit 1\)/);
  });

  it('a hostNetwork port clash shows up as the scheduler shows it, and deploy says so plainly', async () => {
    // A second Janus on the same node with the same host ports: synth refuses this; a hand-made manifest does not.
    const dir = project(fast, (o) => {
      if (o.kind !== 'Deployment' || o.metadata.name !== 'janus') return o;
      const twin = JSON.parse(JSON.stringify(o));
      twin.metadata.name = 'janus-twin';
      twin.spec.selector.matchLabels = { ...twin.spec.selector.matchLabels, twin: 'yes' };
      twin.spec.template.metadata.labels = { ...twin.spec.template.metadata.labels, twin: 'yes' };
      return [o, twin];
    });
    const r = deploy(cluster, dir, '--yes');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/did not become ready within 10 s/);
    expect(r.stderr).toMatch(/Pending, not scheduled: HOST PORT CLASH: the node already runs a Pod that uses the same host ports .*\(scheduler: 0\/2 nodes are available: .*didn't have free ports for the requested pod ports/);
  });
});

describe('bin/roomler deploy: data volumes kept across a deleted namespace', () => {
  const cluster = useCluster();

  it('a redeploy after the namespace was deleted re-binds the retained volumes to the new claims, and MongoDB starts on its data', async () => {
    const dir = project();
    await createSecrets(cluster, dir);
    const first = deploy(cluster, dir, '--yes');
    expect(first.status, first.stderr).toBe(0);
    const before = await cluster.json(['get', 'pv', 'roomler-mongodb-data']);
    const del = await cluster.kubectl(['delete', 'namespace', 'roomler', '--wait']);
    expect(del.exitCode, del.stderr).toBe(0);
    // What Kubernetes does with Retain: the volume stays, Released, still naming the deleted claim's uid.
    const released = await cluster.json(['get', 'pv', 'roomler-mongodb-data']);
    expect(released.status.phase).toBe('Released');
    expect(released.spec.claimRef.uid).toBe(before.spec.claimRef.uid);

    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir, '--yes');
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/re-bind: +PersistentVolume roomler-mongodb-data \(Released: its claim was deleted, the data is retained\) to the new claim roomler\/mongodb-data/);
    const after = await cluster.json(['get', 'pv', 'roomler-mongodb-data']);
    expect(after.status.phase).toBe('Bound');
    expect(after.spec.hostPath.path).toBe(before.spec.hostPath.path);
    const claim = await cluster.json(['get', 'pvc', 'mongodb-data', '-n', 'roomler']);
    expect(after.spec.claimRef.uid).toBe(claim.metadata.uid);
  });
});

describe('bin/roomler deploy: a data volume that cannot bind', () => {
  const cluster = useCluster();

  it('a claim that cannot bind: the Pod waits, and deploy quotes the volume controller', async () => {
    // The data volume pre-bound to another namespace's claim (a hand edit; synth never writes it).
    const dir = project('deploy: { rolloutTimeoutSeconds: 10 }\n', (o) => {
      if (o.kind === 'PersistentVolume' && o.metadata.name === 'roomler-mongodb-data') o.spec.claimRef.namespace = 'elsewhere';
      return o;
    });
    await createSecrets(cluster, dir);
    const r = deploy(cluster, dir, '--yes');
    expect(r.status, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/roomler\/statefulset\/mongodb did not become ready/);
    expect(r.stderr).toMatch(/mongodb-0 Pending, not scheduled: its PersistentVolumeClaim is not bound/);
    expect(r.stderr).toMatch(/PVC mongodb-data is Pending: volume "roomler-mongodb-data" already bound to a different claim\./);
  });
});

describe('bin/roomler deploy --context', () => {
  const cluster = useCluster();

  it('reaches every kubectl call in both forms; a context that does not exist changes nothing anywhere', async () => {
    // The current context's server refuses its token; only the named context works.
    const kubeconfig = join(emptyDir(), 'config');
    const good = readFileSync(cluster.state.kubeconfig, 'utf8');
    const server = /server: (\S+)/.exec(good)![1];
    const ca = /certificate-authority: (\S+)/.exec(good)![1];
    const token = /token: (\S+)/.exec(good)![1];
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\ncurrent-context: broken\nclusters:\n- name: lab\n  cluster: { server: ${server}, certificate-authority: ${ca} }\ncontexts:\n- name: broken\n  context: { cluster: lab, user: nobody }\n- name: staging\n  context: { cluster: lab, user: admin }\nusers:\n- name: nobody\n  user: { token: wrong }\n- name: admin\n  user: { token: ${token} }\n`,
    );
    const dir = project();
    mkdirSync(join(dir, 'x'), { recursive: true });
    const env = { ...cluster.env, KUBECONFIG: kubeconfig, ROOMLER_PROJECT_DIR: dir };
    const current = roomler(['deploy', '--yes'], { env });
    expect(current.status).toBe(1);
    expect(current.stderr).toMatch(/the API server https:\/\/127\.0\.0\.1:\d+ \(context broken\) refused the credentials of user "nobody" \(401 Unauthorized\)/);
    const missing = roomler(['deploy', '--context=production', '--yes'], { env });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/kubectl context "production" does not exist in the kubeconfig \(contexts: broken, staging\)/);
    expect(await exists(cluster, 'namespace', 'roomler')).toBe(false);

    const secrets = roomler(['secrets', 'apply', '--context=staging', '--yes'], { env });
    expect(secrets.status, secrets.stderr).toBe(0);
    expect(secrets.stdout).toMatch(/kubectl context: staging/);
    const dry = roomler(['deploy', '--context', 'staging', '--dry-run=server'], { env });
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/server-side dry run passed/);
  });
});
