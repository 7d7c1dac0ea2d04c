import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir, projectWith, treeBytes } from '../support/files';
import { gitProject } from '../support/git-project';
import { ROOMLER, ROOT } from '../support/roomler';

afterAll(cleanupDirs);

// bin/roomler starts node from a V8 startup snapshot (lib/startup-snapshot.cjs) and falls back to the bundle when it
// cannot. ROOMLER_SNAPSHOT=require makes any fallback an error, so a run with it proves the snapshot ran the command;
// ROOMLER_SNAPSHOT=0 never uses it.
const cacheOf = (root: string) => join(root, 'node_modules', '.cache', 'roomler-bundle');
const failures = (root: string) => {
  const dir = cacheOf(root);
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.failed'))
        .map((f) => readFileSync(join(dir, f), 'utf8'))
    : [];
};

/** Every file under `dir` as text: a difference shows as changed lines. */
const treeText = (dir: string) =>
  Object.fromEntries(Object.entries(treeBytes(dir)).map(([f, b]) => [f, Buffer.from(b, 'base64').toString('utf8')]));

const run = (bin: string, args: string[], env: NodeJS.ProcessEnv) =>
  spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
const required = (bin: string, env: NodeJS.ProcessEnv) => run(bin, ['--version'], { ...env, ROOMLER_SNAPSHOT: 'require' });

/** Runs `bin` until its snapshot is in use: the first run builds it, unless another process is building it. */
function awaitSnapshot(bin: string, env: NodeJS.ProcessEnv = {}) {
  const root = join(bin, '..', '..');
  for (let attempt = 0; attempt < 60; attempt++) {
    expect(run(bin, ['--version'], env).status).toBe(0);
    if (required(bin, env).status === 0) return;
    expect(failures(root), 'the snapshot could not be built').toEqual([]);
    spawnSync('sleep', ['1']);
  }
  throw new Error(`no snapshot in ${cacheOf(root)} after a minute`);
}

const TWO_INSTANCES_AND_ARGO = `instances:
  - name: roomler
  - name: staging
    domains: { app: staging.roomler.live, janus: janus.staging.roomler.live }
    app: { nodePort: 31030 }
    janus: { node: k8s-worker2, nodePorts: { http: 31808, websocket: 31818 } }
argocd: { enabled: true, repoURL: https://git.example.com/ops/roomler.git }
`;

describe('bin/roomler from its startup snapshot', () => {
  it('writes byte-identical manifests and messages with and without the snapshot', () => {
    awaitSnapshot(ROOMLER);
    const bad = 'app:\n  nodePort: 99999\n';
    const configs: Record<string, string>[] = [{}, { 'roomler.yaml': TWO_INSTANCES_AND_ARGO }, { 'roomler.yaml': bad }];
    for (const files of configs) {
      const project = projectWith(files);
      const out = emptyDir();
      const [fromSnapshot, fromBundle] = ['require', '0'].map((mode) => {
        const r = run(ROOMLER, ['synth'], { ROOMLER_SNAPSHOT: mode, ROOMLER_PROJECT_DIR: project, ROOMLER_OUTDIR: out });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, files: treeText(out) };
      });
      expect(fromSnapshot, JSON.stringify(files)).toEqual(fromBundle);
    }
    // The reviewed dist/ is what the snapshot writes for the default config, and validate reports the same on it.
    const out = emptyDir();
    const env = { ROOMLER_PROJECT_DIR: projectWith({}) };
    expect(run(ROOMLER, ['synth'], { ...env, ROOMLER_SNAPSHOT: 'require', ROOMLER_OUTDIR: out }).status).toBe(0);
    expect(treeText(out)).toEqual(treeText(join(ROOT, 'dist')));
    const [a, b] = ['require', '0'].map((mode) => run(ROOMLER, ['validate', '--format', 'json', out], { ...env, ROOMLER_SNAPSHOT: mode }));
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('hands NODE_EXTRA_CA_CERTS on to every program it runs, unchanged, with or without the snapshot', () => {
    awaitSnapshot(ROOMLER);
    const spy = emptyDir();
    const log = join(spy, 'calls.log');
    writeFileSync(join(spy, 'kubectl'), `#!/bin/sh\necho "[$NODE_EXTRA_CA_CERTS] [$ROOMLER_NODE_EXTRA_CA_CERTS]" >> '${log}'\nexit 1\n`);
    chmodSync(join(spy, 'kubectl'), 0o755);
    const project = projectWith({});
    expect(run(ROOMLER, ['synth'], { ROOMLER_PROJECT_DIR: project }).status).toBe(0);
    for (const mode of ['require', '0']) {
      const env = { ROOMLER_SNAPSHOT: mode, ROOMLER_PROJECT_DIR: project, PATH: `${spy}:${process.env.PATH}` };
      Object.assign(env, { NODE_EXTRA_CA_CERTS: '/etc/corp ca.pem' });
      expect(run(ROOMLER, ['deploy', '--yes'], env).stderr).toMatch(/^deploy: cannot read the kubeconfig/);
    }
    expect(readFileSync(log, 'utf8')).toBe('[/etc/corp ca.pem] []\n'.repeat(2));
  });

  it('is rebuilt after a source change, and not used by another node binary or an older one', () => {
    const p = gitProject();
    const bin = join(p.dir, 'bin', 'roomler');
    const env = { ROOMLER_PROJECT_DIR: projectWith({}), ROOMLER_OUTDIR: emptyDir() };
    awaitSnapshot(bin, env);
    const snapshot = join(cacheOf(p.dir), 'cli-snapshot');
    const key = readFileSync(join(snapshot, 'key'), 'utf8');

    // A source edited since the build: the snapshot notices, the command runs from the new bundle.
    appendFileSync(join(p.dir, 'lib', 'sync-waves.ts'), '\n// edited\n');
    const stale = required(bin, env);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toBe('bin/roomler: ROOMLER_SNAPSHOT=require: a source changed since the startup snapshot was built\n');
    awaitSnapshot(bin, env); // the next plain start rebuilt it
    expect(readFileSync(join(snapshot, 'key'), 'utf8')).not.toBe(key);

    // Built by another binary (here: the link names /bin/sh), or by this one before it was replaced in place.
    const synth = () => run(bin, ['synth'], env);
    rmSync(join(snapshot, 'node'));
    symlinkSync('/bin/sh', join(snapshot, 'node'));
    expect(required(bin, env).stderr).toMatch(/^bin\/roomler: ROOMLER_SNAPSHOT=require: no startup snapshot in .* built by .*node/);
    expect(synth().status).toBe(0);
    rmSync(join(snapshot, 'node'));
    symlinkSync(process.execPath, join(snapshot, 'node'));
    expect(required(bin, env).status).toBe(0);
    const old = new Date(statSync(process.execPath).mtimeMs - 60_000);
    utimesSync(join(snapshot, 'blob'), old, old);
    expect(required(bin, env).status).toBe(1);
    expect(synth().status).toBe(0);
    // NODE_OPTIONS may carry V8 flags, with which node would refuse the snapshot.
    expect(run(bin, ['--version'], { ...env, NODE_OPTIONS: '--max-old-space-size=512' }).stdout).toMatch(/^roomler-k8s /);
  });

  it('records a snapshot it cannot build once, and runs every command from the bundle', () => {
    const p = gitProject();
    const bin = join(p.dir, 'bin', 'roomler');
    // A command module that reads node:http as it loads: the one thing a snapshot cannot hold.
    const loadsHttp = "\nimport { STATUS_CODES } from 'node:http';\nexport const okText = STATUS_CODES[200];\n";
    appendFileSync(join(p.dir, 'hack', 'commands', 'synth.ts'), loadsHttp);
    const out = emptyDir();
    const env = { ROOMLER_PROJECT_DIR: projectWith({}), ROOMLER_OUTDIR: out };
    const first = run(bin, ['synth'], env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    expect(treeText(out)).toEqual(treeText(join(ROOT, 'dist')));
    const [failure, ...more] = failures(p.dir);
    expect(more).toEqual([]);
    expect(failure).toMatch(/node:http is used while the snapshot is built: the module that does so cannot be preloaded/);
    const marker = readdirSync(cacheOf(p.dir)).find((f) => f.endsWith('.failed'))!;
    const recorded = statSync(join(cacheOf(p.dir), marker)).mtimeMs;
    expect(run(bin, ['synth'], env).status).toBe(0);
    expect(statSync(join(cacheOf(p.dir), marker)).mtimeMs).toBe(recorded); // not tried again
    expect(existsSync(join(cacheOf(p.dir), 'cli-snapshot'))).toBe(false);
    expect(required(bin, env).status).toBe(1);
  });
});
