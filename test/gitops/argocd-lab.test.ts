import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Kubectl } from '../../hack/lib/cluster/kubectl';
import { buildSecrets, secretSource } from '../../hack/lib/cluster/secrets';
import { argocdChecks } from '../../hack/lib/doctor/argocd';
import { type GitopsState, startGitops, stopGitops } from '../../hack/lib/lab/gitops';
import { loadConfig } from '../../lib/config';
import { type K8sObject } from '../../lib/manifest';
import { eventually, labBin, useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir, selfSignedCert } from '../support/files';
import { GIT_ENV } from '../support/git-project';
import { roomler, ROOT } from '../support/roomler';

// The user's whole GitOps path, played with the real Argo CD v2.14.21 (repo-server and application controller) and
// the real Sealed Secrets controller v0.27.1 on the lab (control plane + kwok): a Git repository served by a git
// daemon holds the synthesized dist/ and the SealedSecrets `secrets seal` made with the controller's own
// certificate; the project's own Application is applied as the docs say, and Argo CD syncs it. Then the days after:
// an instance and a CronJob dropped, a hand edit, re-sealing, deploy meeting Argo CD, and the deliberate retire.
//
// Two Argo CD installations run side by side, as two clusters' would: `argocd` with annotation tracking (what the
// docs recommend) and `argocd-label` with Argo CD 2.x's default label tracking, each with a project whose Secrets
// come from `secrets apply`: those must survive every automated sync with prune under both.

afterAll(cleanupDirs);
const ENV =
  'MONGO_ROOT_USERNAME=root\nMONGO_ROOT_PASSWORD=lab-mongo-p@ss:word\nCOTURN_AUTH_SECRET=lab-turn-secret\nSENDGRID_API_KEY=lab-sendgrid\n';
const TRACKED = 'argocd.argoproj.io/tracking-id';

/** A project's roomler.yaml: `app` is the Application block, `rest` the instances. */
const mainConfig = (repoURL: string, withStaging: boolean, restoreTest: boolean) =>
  [
    `argocd: { enabled: true, repoURL: "${repoURL}" }`,
    `backups: { restoreTest: { enabled: ${restoreTest} } }`,
    'instances:',
    '  - name: roomler',
    ...(withStaging
      ? [
          '  - name: staging',
          '    dataNode: k8s-worker2',
          '    nodeAddress: k8s-worker2',
          '    app: { nodePort: 30031 }',
          '    janus: { nodePorts: { http: 30809, websocket: 30819 } }',
          '    backups: { enabled: false }',
        ]
      : []),
    '',
  ].join('\n');
/** A second project beside it whose Secrets come from `secrets apply`, on its own ports (Janus binds host ports). */
/** The single-instance projects: under annotation tracking (its own Application name) and under label tracking. */
const PLAIN_A = { name: 'plain-a', namespace: 'plain-a', node: 'k8s-worker1', port: 2, argocd: 'argocd', app: 'plain-gitops' };
const PLAIN_L = { name: 'roomler', namespace: 'plain-l', node: 'k8s-worker2', port: 3, argocd: 'argocd-label' };
const plainConfig = (
  repoURL: string,
  o: { name: string; namespace: string; node: string; port: number; argocd: string; app?: string; env?: string },
) =>
  [
    `name: ${o.name}`,
    `namespace: ${o.namespace}`,
    `dataNode: ${o.node}`,
    `nodeAddress: ${o.node}`,
    `app: { nodePort: ${30030 + o.port}, env: { GIPHY_API_KEY: "${o.env ?? 'one'}" } }`,
    `janus: { nodePorts: { http: ${30808 + o.port}, websocket: ${30818 + o.port} }, ` +
      `ports: { http: ${8088 + 2 * o.port}, websocket: ${8188 + 2 * o.port}, ` +
      `adminHttp: ${7088 + 2 * o.port}, adminWebsocket: ${7188 + 2 * o.port} }, ` +
      `rtpPortRange: ${20000 + 300 * o.port}-${20200 + 300 * o.port} }`,
    'coturn: { enabled: false }',
    'backups: { enabled: false }',
    `argocd: { enabled: true, namespace: ${o.argocd}, ${o.app ? `name: ${o.app}, ` : ''}repoURL: "${repoURL}", path: ${o.namespace}/dist }`,
    '',
  ].join('\n');

describe('the GitOps path with the real Argo CD and Sealed Secrets controller', () => {
  const cluster = useCluster();
  const repo = emptyDir('roomler-gitops-repo-');
  let gitops: GitopsState;
  const timings: Record<string, number> = {};
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { ...process.env, ...GIT_ENV } });
  const bin = (dir: string, ...args: string[]) => {
    const r = roomler(args, { env: { ...cluster.env, ROOMLER_PROJECT_DIR: dir } });
    expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return r;
  };
  /** `bin/roomler …` in the background (the steps that do not depend on each other run at once); must succeed. */
  const binAsync = (dir: string, ...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(join(ROOT, 'bin', 'roomler'), args, { env: { ...process.env, ...cluster.env, ROOMLER_PROJECT_DIR: dir } });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`bin/roomler ${args.join(' ')} exited ${code}: ${out}`))));
    });
  const app = (namespace: string, name: string) => cluster.json(['get', 'applications.argoproj.io', name, '-n', namespace]);
  const refresh = (namespace: string, name: string) =>
    cluster.kubectl(['annotate', 'applications.argoproj.io', name, '-n', namespace, '--overwrite', 'argocd.argoproj.io/refresh=normal']);
  /** Waits until the Application has synced `revision` (default: any) and reports `sync`/`health`. */
  const settled = (namespace: string, name: string, sync: string, revision?: string, ms = 60_000) =>
    eventually(
      async () => {
        const a = await app(namespace, name);
        const op = a.status?.operationState;
        const done = op && op.phase !== 'Running' && (!revision || op.syncResult?.revision === revision);
        return done &&
          a.status?.sync?.status === sync &&
          a.status?.health?.status === 'Healthy' &&
          (!revision || a.status.sync.revision === revision)
          ? a
          : undefined;
      },
      ms,
      `Application ${namespace}/${name} ${sync}/Healthy${revision ? ` at ${revision.slice(0, 7)}` : ''}`,
    );
  const live = (kind: string, namespace: string) => cluster.json(['get', kind, '-n', namespace]).then((l) => l.items as K8sObject[]);
  const uid = async (kind: string, namespace: string, name: string) =>
    (await cluster.json(['get', kind, name, '-n', namespace])).metadata.uid as string;
  const plainA = join(repo, 'plain-a');
  const plainL = join(repo, 'plain-l');
  const surviving: { what: string; uid: string; kind: string; namespace: string; name: string }[] = [];
  let start = 0;

  beforeAll(async () => {
    writeFileSync(join(repo, '.gitignore'), '.env\n.sealed-cache.json\n');
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'an empty GitOps repository');
    const tool = (piece: string) =>
      execFileSync('bash', [join(ROOT, 'hack', 'toolchain', `${piece}.sh`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
        .trim()
        .split('\n')
        .pop()!;
    const t0 = Date.now();
    gitops = await startGitops({
      lab: cluster.state,
      kubectl: join(labBin(), 'kubectl'),
      argocdDir: tool('argocd'),
      sealedSecretsDir: tool('sealed-secrets'),
      repo,
      installations: [
        { namespace: 'argocd', trackingMethod: 'annotation' },
        { namespace: 'argocd-label', trackingMethod: 'label' },
      ],
      // 1 s between waves instead of Argo CD's 2 s (four full syncs of eight waves); waves still run in order, each
      // after the one before is healthy, and a second apart (the wave-order check below relies on it).
      syncWaveDelaySeconds: 1,
    });
    timings.startSeconds = (Date.now() - t0) / 1000;
    // doctor's Argo CD checks run in this process: kubectl is the lab's, the kubeconfig the lab's.
    process.env.KUBECONFIG = cluster.state.kubeconfig;
    process.env.PATH = `${labBin()}:${process.env.PATH}`;
  }, 120_000);
  afterAll(async () => {
    if (gitops) await stopGitops(gitops);
    console.log(`gitops timings (s): ${JSON.stringify(timings)}`);
  });

  it('syncs the committed dist/ in wave order: every workload Healthy, each SealedSecret the Secret secrets apply would make', async () => {
    const t1 = Date.now();
    writeFileSync(join(repo, 'roomler.yaml'), mainConfig(gitops.repoURL, true, true));
    writeFileSync(join(repo, '.env'), ENV);
    for (const [dir, cfg] of [
      [plainA, plainConfig(gitops.repoURL, PLAIN_A)],
      [plainL, plainConfig(gitops.repoURL, PLAIN_L)],
    ]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'roomler.yaml'), cfg);
      writeFileSync(join(dir, '.env'), ENV);
    }
    // coturn's TLS certificate, made as the docs say; and the plain projects' Secrets, before their first sync.
    const pem = selfSignedCert('turn.roomler.live');
    await Promise.all([
      binAsync(repo, 'secrets', 'seal', '--cert', gitops.certFile).then(() => binAsync(repo, 'synth')),
      // The three take deploy's cluster lock one after the other.
      binAsync(repo, 'secrets', 'tls', '--cert', pem.cert, '--key', pem.key, '--yes', '--wait-lock', '60'),
      ...[plainA, plainL].map((dir) => binAsync(dir, 'synth').then(() => binAsync(dir, 'secrets', 'apply', '--yes', '--wait-lock', '60'))),
    ]);
    timings.prepareSeconds = (Date.now() - t1) / 1000;
    git('add', '-A');
    git('commit', '-q', '-m', 'roomler: first sync');
    const first = git('rev-parse', 'HEAD').trim();
    for (const [what, namespace, name] of [
      ['secrets apply, annotation tracking', 'plain-a', 'roomler-secret'],
      ['secrets apply, annotation tracking', 'plain-a', 'mongodb-secret'],
      ['secrets apply, label tracking', 'plain-l', 'roomler-secret'],
      ['secrets apply, label tracking', 'plain-l', 'mongodb-secret'],
      ['secrets tls', 'coturn', 'coturn-tls'],
    ]) {
      surviving.push({ what, kind: 'secret', namespace, name, uid: await uid('secret', namespace, name) });
    }
    // Under label tracking, only what this project makes is safe: a hand-made Secret carrying the Application's name
    // as its instance label is adopted and pruned (the failure these annotations and the name check prevent), and the
    // same Secret with the annotations secrets apply writes is left alone.
    const foreign = (name: string, annotations: Record<string, string>) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'plain-l', labels: { 'app.kubernetes.io/instance': 'roomler-gitops' }, annotations },
        stringData: { k: 'v' },
      });
    expect((await cluster.kubectl(['apply', '-f', '-'], foreign('labelled-by-hand', {}))).exitCode).toBe(0);
    expect(
      (
        await cluster.kubectl(
          ['apply', '-f', '-'],
          foreign('labelled-but-kept', {
            'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
            'argocd.argoproj.io/sync-options': 'Prune=false',
          }),
        )
      ).exitCode,
    ).toBe(0);
    surviving.push({
      what: 'hand-made with the tracking label and the annotations',
      kind: 'secret',
      namespace: 'plain-l',
      name: 'labelled-but-kept',
      uid: await uid('secret', 'plain-l', 'labelled-but-kept'),
    });

    // The user's step: apply the Application once, by hand.
    start = Date.now();
    for (const dir of [repo, plainA, plainL])
      expect((await cluster.kubectl(['apply', '-f', join(dir, 'dist', 'argocd.k8s.yaml')])).exitCode).toBe(0);
    const synced = await settled('argocd', 'roomler-gitops', 'Synced', first, 80_000);
    timings.firstSyncSeconds = (Date.now() - start) / 1000;
    await settled('argocd', 'plain-gitops', 'Synced', first);
    await settled('argocd-label', 'roomler-gitops', 'Synced', first);

    // Every workload Healthy (kwok's Pods), every resource Synced.
    const resources: K8sObject[] = synced.status.resources;
    const workloads = resources.filter((r) => ['Deployment', 'StatefulSet'].includes(r.kind));
    expect(workloads.map((r) => `${r.namespace}/${r.name}`).sort()).toEqual(
      [
        'coturn/coturn-worker1',
        'coturn/coturn-worker2',
        ...['janus', 'mongodb', 'redis', 'roomler'].flatMap((n) => [`roomler/${n}`, `staging/${n}`]),
      ].sort(),
    );
    for (const r of resources) {
      expect(r.status, `${r.kind}/${r.name}`).toBe('Synced');
      if (r.health) expect(r.health.status, `${r.kind}/${r.namespace}/${r.name}`).toBe('Healthy');
    }

    // Waves in the order the manifests declare: Argo CD waits for a wave to be healthy (and 2 s) before the next.
    const created = new Map<number, number[]>();
    const objects = [
      ...(await cluster.json(['get', 'namespaces,persistentvolumes'])).items,
      ...(await cluster.json(['get', 'pvc,sealedsecrets,configmaps,networkpolicies,services,statefulsets,deployments,cronjobs', '-A']))
        .items,
    ];
    for (const o of objects.filter((x: K8sObject) => x.metadata.annotations?.[TRACKED]?.startsWith('roomler-gitops:'))) {
      const wave = Number(o.metadata.annotations['argocd.argoproj.io/sync-wave']);
      const at = Date.parse(o.metadata.creationTimestamp);
      if (at >= start - 1000) created.set(wave, [...(created.get(wave) ?? []), at]);
    }
    const waves = [...created.keys()].sort((a, b) => a - b);
    expect(waves).toEqual([-2, -1, 0, 1, 2, 3, 4, 5]);
    for (let n = 1; n < waves.length; n++)
      expect(Math.max(...created.get(waves[n - 1])!), `wave ${waves[n - 1]} before wave ${waves[n]}`).toBeLessThan(
        Math.min(...created.get(waves[n])!),
      );

    // The controller turned each SealedSecret into exactly the Secret `secrets apply` makes from the same .env.
    const expected = buildSecrets(loadConfig({ cwd: repo, env: {} }), secretSource(repo));
    expect(expected.length).toBe(5);
    for (const s of expected) {
      const got = await cluster.json(['get', 'secret', s.metadata.name, '-n', s.metadata.namespace]);
      const data = Object.fromEntries(Object.entries<string>(got.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
      expect(data, `${s.metadata.namespace}/${s.metadata.name}`).toEqual(s.stringData);
      expect(got.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'SealedSecret', name: s.metadata.name });
    }
    expect(
      (await cluster.kubectl(['get', 'secret', 'labelled-by-hand', '-n', 'plain-l'])).exitCode,
      'Argo CD (label tracking) pruned the hand-labelled Secret',
    ).not.toBe(0);
  }, 120_000);

  it('after a commit that drops a CronJob and an instance: prunes what it may, keeps the Namespace, claims and volumes', async () => {
    const before = {
      pvc: await uid('pvc', 'staging', 'mongodb-data'),
      pv: (await cluster.json(['get', 'pv', 'staging-mongodb-data'])).metadata.uid,
      ns: (await cluster.json(['get', 'namespace', 'staging'])).metadata.uid,
    };
    writeFileSync(join(repo, 'roomler.yaml'), mainConfig(gitops.repoURL, false, false));
    const refused = roomler(['secrets', 'seal', '--cert', gitops.certFile], { env: { ROOMLER_PROJECT_DIR: repo } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('sealed/staging-mongodb-secret.yaml (staging/mongodb-secret)');
    expect(bin(repo, 'secrets', 'seal', '--cert', gitops.certFile, '--prune').stdout).toMatch(
      /0 file\(s\) written, 3 unchanged, 2 removed/,
    );
    // The plain projects change too, so both Argo CDs run an automated sync with prune while their Secrets exist.
    writeFileSync(join(plainA, 'roomler.yaml'), plainConfig(gitops.repoURL, { ...PLAIN_A, env: 'two' }));
    writeFileSync(join(plainL, 'roomler.yaml'), plainConfig(gitops.repoURL, { ...PLAIN_L, env: 'two' }));
    await Promise.all([repo, plainA, plainL].map((dir) => binAsync(dir, 'synth')));
    git('add', '-A');
    git('commit', '-q', '-m', 'drop staging and the restore test');
    const second = git('rev-parse', 'HEAD').trim();
    const t0 = Date.now();
    for (const [ns, name] of [
      ['argocd', 'roomler-gitops'],
      ['argocd', 'plain-gitops'],
      ['argocd-label', 'roomler-gitops'],
    ])
      await refresh(ns, name);
    const synced = await settled('argocd', 'roomler-gitops', 'OutOfSync', second);
    timings.dropSyncSeconds = (Date.now() - t0) / 1000;
    expect(synced.status.operationState.phase).toBe('Succeeded');
    // Pruned: gone from the cluster once the garbage collector has removed what they own (Argo CD deletes in the
    // foreground and reports the prune when the deletion is accepted).
    const left = async () => {
      const names = await Promise.all(
        ['deployment', 'statefulset', 'sealedsecret', 'configmap', 'service', 'networkpolicy', 'cronjob', 'secret'].map(async (kind) =>
          (await live(kind, 'staging')).map((o) => `${kind}/staging/${o.metadata.name}`),
        ),
      );
      const restoreTest =
        (await cluster.kubectl(['get', 'cronjob', 'mongodb-restore-test', '-n', 'roomler'])).exitCode === 0
          ? ['cronjob/roomler/mongodb-restore-test']
          : [];
      return [...names.flat().filter((n) => n !== 'configmap/staging/kube-root-ca.crt'), ...restoreTest];
    };
    await eventually(
      async () => ((await left()).length === 0 ? true : undefined),
      30_000,
      'the pruned objects of staging to be gone',
    ).catch(async (e) => {
      throw new Error(`${e.message}; left: ${(await left()).join(', ')}`);
    });
    // Kept: skipped by the sync, listed by the Application as requiring a prune, the data untouched.
    const results: K8sObject[] = synced.status.operationState.syncResult.resources;
    const kept = [
      'Namespace//staging',
      'PersistentVolume//staging-mongodb-data',
      'PersistentVolume//staging-uploads',
      'PersistentVolumeClaim/staging/mongodb-data',
      'PersistentVolumeClaim/staging/roomler-uploads',
    ];
    expect(
      results
        .filter((r) => r.status === 'PruneSkipped')
        .map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`)
        .sort(),
    ).toEqual(kept);
    await eventually(
      async () => {
        const waiting = ((await app('argocd', 'roomler-gitops')).status.resources as K8sObject[])
          .filter((r) => r.requiresPruning)
          .map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`);
        return waiting.sort().join() === kept.join() ? true : undefined;
      },
      20_000,
      'the Application to list exactly the kept objects as requiring a prune',
    );
    const claim = await cluster.json(['get', 'pvc', 'mongodb-data', '-n', 'staging']);
    expect({
      pvc: claim.metadata.uid,
      pv: (await cluster.json(['get', 'pv', 'staging-mongodb-data'])).metadata.uid,
      ns: (await cluster.json(['get', 'namespace', 'staging'])).metadata.uid,
    }).toEqual(before);
    expect([claim.status.phase, claim.spec.volumeName]).toEqual(['Bound', 'staging-mongodb-data']);
    await settled('argocd', 'plain-gitops', 'Synced', second);
    await settled('argocd-label', 'roomler-gitops', 'Synced', second);
  }, 90_000);

  it('deploy refuses the namespaces Argo CD manages; doctor reports the Application, what it keeps and the tracking method', async () => {
    const r = roomler(['deploy', '--yes'], { env: { ...cluster.env, ROOMLER_PROJECT_DIR: repo } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        'Argo CD manages what this deploy would change: namespace coturn by Application argocd/roomler-gitops; ' +
          'namespace roomler by Application argocd/roomler-gitops\\. .*--force-with-argo; nothing was applied',
      ),
    );
    // No revision recorded (the history namespace exists: secrets apply and tls took the lock there).
    expect((await cluster.json(['get', 'secrets', '-n', 'roomler-deploy', '-l', 'roomler.dev/release=deploy'])).items).toEqual([]);

    // --force-with-argo goes ahead, saying why it should not (a server-side dry run here: nothing changes).
    const forced = binAsync(repo, 'deploy', '--dry-run=server', '--force-with-argo').catch((e: Error) => e.message);
    const lines = await argocdChecks(loadConfig({ cwd: repo, env: {} }), new Kubectl());
    const byCheck = Object.fromEntries(lines.map((l) => [l.check, l]));
    expect(byCheck['argocd argocd/roomler-gitops']).toMatchObject({ status: 'warn' });
    expect(byCheck['argocd argocd/roomler-gitops'].detail).toMatch(
      /^sync OutOfSync, health Healthy, revision [0-9a-f]{12} of git:\/\/127\.0\.0\.1:\d+\//,
    );
    const keeps = lines.filter((l) => l.check === 'argocd argocd/roomler-gitops keeps').map((l) => l.detail);
    expect(keeps.map((d) => d.split(':')[0]).sort()).toEqual([
      'Namespace/staging',
      'PersistentVolume/staging-mongodb-data',
      'PersistentVolume/staging-uploads',
      'PersistentVolumeClaim/staging/mongodb-data',
      'PersistentVolumeClaim/staging/roomler-uploads',
    ]);
    expect(keeps.find((d) => d.startsWith('PersistentVolumeClaim/staging/mongodb-data'))).toMatch(
      new RegExp(
        'kept \\(Prune=false,Delete=false\\) with volume staging-mongodb-data: hostPath /data/staging/mongodb on k8s-worker2, ' +
          'reclaim Retain .*bin/roomler argocd retire pvc/staging/mongodb-data',
      ),
    );
    expect(byCheck['argocd tracking argocd']).toMatchObject({ status: 'ok' });
    const label = await argocdChecks(loadConfig({ cwd: plainL, env: {} }), new Kubectl());
    expect(label.find((l) => l.check === 'argocd argocd-label/roomler-gitops')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^sync Synced, health Healthy/),
    });
    expect(label.find((l) => l.check === 'argocd tracking argocd-label')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/not set \(label in Argo CD 2\.x\).*set it to annotation/),
    });
    const forcedOut = await forced;
    expect(forcedOut).toMatch(
      /deploy: --force-with-argo: deploying although Argo CD manages it \(namespace coturn by Application argocd\/roomler-gitops/,
    );
    expect(forcedOut, forcedOut).toContain('server-side dry run passed for every wave; nothing was changed');
  }, 60_000);

  it('argocd retire deletes what the Application keeps, on purpose: Synced again; the next (self-heal) sync succeeds', async () => {
    const [listed, wrong] = await Promise.all([
      binAsync(repo, 'argocd', 'retire'),
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(join(ROOT, 'bin', 'roomler'), ['argocd', 'retire', 'namespace/roomler', '--yes'], {
          env: { ...process.env, ...cluster.env, ROOMLER_PROJECT_DIR: repo },
        });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stderr }));
      }),
    ]);
    expect(listed).toMatch(
      'keeps PersistentVolume/staging-mongodb-data (Prune=false,Delete=false): hostPath /data/staging/mongodb on k8s-worker2, ' +
        'reclaim Retain (the files stay on the node); retire it with bin/roomler argocd retire pv/staging-mongodb-data',
    );
    expect(listed).toMatch(
      /keeps Namespace\/staging \(Prune=false,Delete=false\): every object in it, whoever created it, with claim mongodb-data/,
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/namespace\/roomler: not kept by Application argocd\/roomler-gitops .*nothing was deleted/);
    const t0 = Date.now();
    const retired = bin(repo, 'argocd', 'retire', 'all', '--yes');
    timings.retireSeconds = (Date.now() - t0) / 1000;
    expect(retired.stdout).toMatch(/argocd: Application argocd\/roomler-gitops is Synced \(health Healthy\)/);
    expect((await cluster.kubectl(['get', 'namespace', 'staging'])).exitCode).not.toBe(0);
    expect((await cluster.kubectl(['get', 'pv', 'staging-mongodb-data'])).exitCode).not.toBe(0);

    // The next sync succeeds with the instance gone (a SealedSecret of it left in dist/ would fail it: "namespaces not
    // found"). Here it is the automated sync self-heal starts for a hand edit: it syncs whatever is OutOfSync.
    const edited = Date.now();
    const patch = ['patch', 'configmap', 'roomler-config', '-n', 'roomler', '--type', 'merge', '-p', '{"data":{"NODE_ENV":"development"}}'];
    expect((await cluster.kubectl(patch)).exitCode).toBe(0);
    const healed = await eventually(
      async () => {
        const cm = await cluster.json(['get', 'configmap', 'roomler-config', '-n', 'roomler']);
        const op = (await app('argocd', 'roomler-gitops')).status.operationState;
        const after = Date.parse(op.startedAt) >= Math.floor(edited / 1000) * 1000;
        return cm.data.NODE_ENV === 'production' && after && op.phase !== 'Running' ? op : undefined;
      },
      30_000,
      'selfHeal',
    );
    timings.selfHealSeconds = (Date.now() - edited) / 1000;
    expect(healed).toMatchObject({ phase: 'Succeeded', operation: { initiatedBy: { automated: true } } });
    expect(healed.syncResult.resources.map((r: K8sObject) => `${r.kind}/${r.namespace}/${r.name}:${r.status}`)).toContain(
      'ConfigMap/roomler/roomler-config:Synced',
    );
  }, 90_000);

  it('re-sealing an unchanged .env changes no Git file and starts no sync; what secrets apply made outlived it all', async () => {
    await settled('argocd', 'roomler-gitops', 'Synced');
    const before = (await app('argocd', 'roomler-gitops')).status;
    expect(bin(repo, 'secrets', 'seal', '--cert', gitops.certFile).stdout).toMatch(/0 file\(s\) written, 3 unchanged/);
    bin(repo, 'synth');
    expect(git('status', '--porcelain')).toBe('');
    await refresh('argocd', 'roomler-gitops');
    const after = await eventually(
      async () => {
        const a = await app('argocd', 'roomler-gitops');
        return a.status.reconciledAt !== before.reconciledAt && !a.metadata.annotations?.['argocd.argoproj.io/refresh']
          ? a.status
          : undefined;
      },
      20_000,
      'a refresh',
    );
    expect(after.sync.revision).toBe(before.sync.revision);
    expect(after.operationState.startedAt).toBe(before.operationState.startedAt);

    // Everything made outside Git outlived every automated sync with prune, under both tracking methods.
    timings.secretsSurvivedSeconds = (Date.now() - start) / 1000;
    for (const x of surviving) expect(await uid(x.kind, x.namespace, x.name), `${x.what}: ${x.namespace}/${x.name}`).toBe(x.uid);
    for (const [ns, name] of [
      ['argocd', 'plain-gitops'],
      ['argocd-label', 'roomler-gitops'],
    ]) {
      const a = await app(ns, name);
      expect(a.status.sync.status, `${ns}/${name}`).toBe('Synced');
      // Two automated syncs with prune ran while they existed (the first one and the one of the second commit).
      expect(a.status.history.length, `${ns}/${name}`).toBeGreaterThanOrEqual(2);
      expect(
        (a.status.resources as K8sObject[]).filter((r) => r.kind === 'Secret' && ['roomler-secret', 'mongodb-secret'].includes(r.name)),
      ).toEqual([]);
    }
  }, 60_000);
});
