import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { rotationLines } from '../../hack/lib/cluster/rotation';
import { buildSecrets } from '../../hack/lib/cluster/secrets';
import { loadConfig } from '../../lib/config';
import { turnPassword } from '../../lib/turn';
import { watchArgv } from '../support/argv-watch';
import { applyWaves, labBin, type TestCluster, useCluster } from '../support/cluster';
import { cleanupDirs, emptyDir, projectWith } from '../support/files';
import { kubectlSpy } from '../support/kubectl-spy';
import { ROOMLER } from '../support/roomler';
import { synthIn } from '../support/synth';
import { keyPair, unseal } from './support';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');
const SENTINEL = `sentinel-${process.pid}-${Date.now()}`;
const ENV = [
  'MONGO_ROOT_USERNAME=root',
  `MONGO_ROOT_PASSWORD=${SENTINEL}-mongo:/@`,
  `COTURN_AUTH_SECRET=${SENTINEL}-turn`,
  `SENDGRID_API_KEY=${SENTINEL}-sendgrid`,
  `GOOGLE_SECRET=${SENTINEL}-google`,
  `WEB_PUSH_PRIVATE_KEY=${SENTINEL}-push`,
].join('\n');

/** `bin/roomler secrets …` against the lab cluster, scanning every process's argv for the sentinel while it runs. */
function secrets(cluster: TestCluster | undefined, project: string, args: string[]) {
  // kubectl calls are recorded, then run by the lab's real kubectl (or fail where no cluster is given).
  const spy = kubectlSpy(cluster ? join(labBin(), 'kubectl') : undefined);
  const child = spawn(ROOMLER, ['secrets', ...args, ...(args[0] === 'apply' && !args.includes('--dry-run') ? ['--yes'] : [])], {
    cwd: ROOT,
    env: { ...process.env, ROOMLER_PROJECT_DIR: project, ...(cluster ? cluster.env : {}), PATH: `${spy.dir}:${process.env.PATH}` },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const watch = watchArgv([SENTINEL]);
  const exited = new Promise<number>((res) => child.on('close', (c) => res(c ?? -1)));
  return exited.then((code) => {
    const { leaks } = watch.stop();
    return { code, stdout, stderr, leaks, calls: spy.calls() };
  });
}

/** A Secret as the API server holds it, values decoded. */
async function liveSecret(cluster: TestCluster, namespace: string, name: string): Promise<Record<string, string>> {
  const s = await cluster.json(['get', 'secret', name, '-n', namespace]);
  return Object.fromEntries(Object.entries<string>(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

describe('bin/roomler secrets apply (real API server)', () => {
  const cluster = useCluster();

  it("creates the namespaces and Secrets from .env through kubectl's stdin: nothing in any argv, nothing printed", async () => {
    const project = projectWith({ '.env': ENV });
    const r = await secrets(cluster, project, ['apply']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.calls).toContain('apply -f -'); // the manifests went on stdin (the calls around it hold the cluster lock)
    expect(r.leaks).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(SENTINEL);
    expect(r.stdout).toMatch(/secrets apply will change:\n {2}kubectl context: roomler-lab/);
    const names = (await cluster.json(['get', 'secrets', '-A', '-l', 'app.kubernetes.io/part-of=roomler'])).items
      .map((x: any) => `${x.metadata.namespace}/${x.metadata.name}`)
      .sort();
    expect(names).toEqual(['coturn/coturn-auth', 'roomler/mongodb-secret', 'roomler/roomler-secret']);
    expect(await liveSecret(cluster, 'coturn', 'coturn-auth')).toEqual({ 'static-auth-secret': `${SENTINEL}-turn` });
    const app = await liveSecret(cluster, 'roomler', 'roomler-secret');
    expect(app.DB_CONN).toBe(
      `mongodb://root:${encodeURIComponent(`${SENTINEL}-mongo:/@`)}@mongodb.roomler.svc:27017/roomlerdb?authSource=admin`,
    );
    expect(app.TURN_PASSWORD).toBe(turnPassword(`${SENTINEL}-turn`, '2145830400:roomler'));
    expect(app.SENDGRID_API_KEY).toBe(`${SENTINEL}-sendgrid`);
    expect(await liveSecret(cluster, 'roomler', 'mongodb-secret')).toEqual({
      MONGO_INITDB_ROOT_USERNAME: 'root',
      MONGO_INITDB_ROOT_PASSWORD: `${SENTINEL}-mongo:/@`,
    });

    // Applying again with a rotated value updates it in place.
    writeFileSync(join(project, '.env'), ENV.replace(`${SENTINEL}-sendgrid`, `${SENTINEL}-sendgrid-2`));
    expect((await secrets(cluster, project, ['apply'])).code).toBe(0);
    expect((await liveSecret(cluster, 'roomler', 'roomler-secret')).SENDGRID_API_KEY).toBe(`${SENTINEL}-sendgrid-2`);
  });

  it('a changed value restarts the workloads in dist/ that read its Secret; an unchanged apply restarts nothing', async () => {
    const project = projectWith({ 'roomler.yaml': 'name: rotate\nnamespace: rotate\ncoturn: { enabled: false }\n', '.env': ENV });
    expect(synthIn(project).code).toBe(0);
    await applyWaves(cluster, join(project, 'dist'));
    const restartedAt = async (kind: string, name: string): Promise<string | undefined> =>
      (await cluster.json(['get', kind, name, '-n', 'rotate'])).spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
    const none = /^ {2}restarts: {8}none: no Secret changes value$/m;

    // The first apply creates the Secrets: nothing running read them, nothing restarts.
    const created = await secrets(cluster, project, ['apply']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(none);
    expect(await restartedAt('deployment', 'roomler')).toBeUndefined();

    // A rotated SENDGRID_API_KEY changes roomler-secret only: the app restarts (said before it asks), MongoDB does not.
    writeFileSync(join(project, '.env'), ENV.replace(`${SENTINEL}-sendgrid`, `${SENTINEL}-sendgrid-rotated`));
    const rotated = await secrets(cluster, project, ['apply']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout.match(/^ {2}restarts:.*$/gm)).toEqual([
      '  restarts:        rotate/deployment/roomler (reads roomler-secret, changed)',
    ]);
    expect(rotated.stdout).toMatch(/^deployment\.apps\/roomler restarted$/m);
    expect(rotated.calls.filter((c) => c.startsWith('rollout'))).toEqual(['rollout restart deployment/roomler -n rotate']);
    expect(rotated.leaks).toEqual([]);
    expect(rotated.stdout + rotated.stderr).not.toContain(SENTINEL);
    const stamp = await restartedAt('deployment', 'roomler');
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    expect(await restartedAt('statefulset', 'mongodb')).toBeUndefined();

    const again = await secrets(cluster, project, ['apply']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(none);
    expect(again.calls.filter((c) => c.startsWith('rollout'))).toEqual([]);
    expect(await restartedAt('deployment', 'roomler')).toBe(stamp);
  });

  it('says when the changes cannot be known, and what to restart by hand', () => {
    const readers = [
      { namespace: 'roomler', ref: 'deployment/roomler', secrets: ['roomler-secret'] },
      { namespace: 'roomler', ref: 'statefulset/mongodb', secrets: ['mongodb-secret'] },
    ];
    const forbidden = 'this user may not read Secrets in roomler (get secrets is forbidden)';
    expect(rotationLines({ context: 'production', changed: [], restarts: [], unknown: forbidden, readers })).toEqual([
      `restarts:        unknown: ${forbidden}, so which values change cannot be known; if one does, restart its readers by hand: ` +
        'kubectl --context production -n roomler rollout restart deployment/roomler statefulset/mongodb',
    ]);
    expect(rotationLines({ changed: ['roomler/roomler-secret'], restarts: [], readers: [], noDist: '/p/dist' })).toEqual([
      'restarts:        unknown: roomler/roomler-secret change value, but /p/dist does not exist (bin/roomler synth) to tell which workloads read them',
    ]);
  });

  it('--dry-run prints them with every value redacted and touches no cluster', async () => {
    const r = await secrets(undefined, projectWith({ '.env': ENV }), ['apply', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MONGO_INITDB_ROOT_PASSWORD: "<redacted: \d+ characters>"/);
    expect(r.stdout).not.toContain(SENTINEL);
    expect(r.calls).toEqual([]);
  });

  it('lists every missing required value at once and applies nothing', async () => {
    const project = projectWith({
      'roomler.yaml': 'coturn: { namespace: coturn-b }\napp:\n  env:\n    GITHUB_ID: abc\n',
      '.env': 'MONGO_ROOT_USERNAME=root\n',
    });
    const r = await secrets(cluster, project, ['apply']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing required values .*: MONGO_ROOT_PASSWORD, COTURN_AUTH_SECRET, GITHUB_SECRET; nothing was applied/);
    expect(r.calls).toEqual([]);
    expect((await cluster.kubectl(['get', 'namespace', 'coturn-b'])).exitCode).not.toBe(0);
  });

  it('makes the Janus admin Secret only where the admin API is enabled, and requires JANUS_ADMIN_SECRET then', async () => {
    const yaml = 'janus:\n  admin: { enabled: true }\n';
    const missing = await secrets(undefined, projectWith({ 'roomler.yaml': yaml, '.env': ENV }), ['apply']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing required values .*: JANUS_ADMIN_SECRET; nothing was applied/);
    const value = (n: string) =>
      ({ MONGO_ROOT_USERNAME: 'root', MONGO_ROOT_PASSWORD: 'x', COTURN_AUTH_SECRET: 't', JANUS_ADMIN_SECRET: `${SENTINEL}-janus` })[n];
    const names = (cfg: string) =>
      buildSecrets(loadConfig({ cwd: projectWith({ 'roomler.yaml': cfg }), env: {} }), value).map(
        (x) => `${x.metadata.namespace}/${x.metadata.name}`,
      );
    expect(names('')).not.toContain('roomler/janus-admin');
    const admin = buildSecrets(loadConfig({ cwd: projectWith({ 'roomler.yaml': yaml }), env: {} }), value).find(
      (x) => x.metadata.name === 'janus-admin',
    );
    expect(admin).toMatchObject({
      kind: 'Secret',
      metadata: { namespace: 'roomler' },
      stringData: { 'admin-secret': `${SENTINEL}-janus` },
    });
  });

  it('seal writes SealedSecrets that synth puts into dist/, and re-sealing unchanged values rewrites nothing', async () => {
    const dir = emptyDir();
    const { key, certFile } = keyPair(dir);
    const project = projectWith({ '.env': ENV });
    const first = await secrets(undefined, project, ['seal', '--cert', certFile]);
    expect(first.code, first.stderr).toBe(0);
    const files = readdirSync(join(project, 'sealed')).sort();
    expect(files).toEqual(['coturn-coturn-auth.yaml', 'roomler-mongodb-secret.yaml', 'roomler-roomler-secret.yaml']);
    const sealedApp = parse(readFileSync(join(project, 'sealed', files[2]), 'utf8'));
    expect(unseal(key, 'roomler/roomler-secret', sealedApp.spec.encryptedData.GOOGLE_SECRET)).toBe(`${SENTINEL}-google`);
    const before = files.map((f) => readFileSync(join(project, 'sealed', f), 'utf8'));
    const mtimes = files.map((f) => statSync(join(project, 'sealed', f)).mtimeMs);

    const again = await secrets(undefined, project, ['seal', '--cert', certFile]);
    expect(again.stdout).toMatch(/0 file\(s\) written, 3 unchanged/);
    expect(files.map((f) => readFileSync(join(project, 'sealed', f), 'utf8'))).toEqual(before);
    expect(files.map((f) => statSync(join(project, 'sealed', f)).mtimeMs)).toEqual(mtimes);
    // A file that says the same in another layout (written by an older version, or reformatted by hand) stays as it is.
    const reordered = join(project, 'sealed', files[0]);
    const doc = parse(readFileSync(reordered, 'utf8'));
    const relaid = stringify({ spec: doc.spec, metadata: doc.metadata, kind: doc.kind, apiVersion: doc.apiVersion }, { indent: 4 });
    writeFileSync(reordered, relaid);
    expect((await secrets(undefined, project, ['seal', '--cert', certFile])).stdout).toMatch(/0 file\(s\) written, 3 unchanged/);
    expect(readFileSync(reordered, 'utf8')).toBe(relaid);

    writeFileSync(join(project, '.env'), ENV.replace(`${SENTINEL}-google`, `${SENTINEL}-google-rotated`));
    const rotated = await secrets(undefined, project, ['seal', '--cert', certFile]);
    expect(rotated.stdout).toMatch(/1 file\(s\) written, 2 unchanged/);
    const after = parse(readFileSync(join(project, 'sealed', files[2]), 'utf8')).spec.encryptedData;
    expect(after.GOOGLE_SECRET).not.toBe(sealedApp.spec.encryptedData.GOOGLE_SECRET);
    expect(after.DB_CONN).toBe(sealedApp.spec.encryptedData.DB_CONN);

    const { code, outdir } = synthIn(project);
    expect(code).toBe(0);
    const dist = readFileSync(join(outdir, 'sealed-secrets.k8s.yaml'), 'utf8');
    expect(dist).toContain('kind: SealedSecret');
    expect(dist).toContain('argocd.argoproj.io/sync-wave: "0"');
    for (const f of readdirSync(outdir)) expect(readFileSync(join(outdir, f), 'utf8')).not.toContain(SENTINEL);
  });
});
