import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cleanupDirs, emptyDir, projectWith, treeBytes } from '../support/files';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');
const env = (extra: Record<string, string>) => ({
  ...process.env,
  CDK8S_CHECK_UPGRADE: 'false',
  ROOMLER_PROJECT_DIR: projectWith({}),
  ...extra,
});

// These run the real commands a user types, as separate processes.
describe('synth commands', () => {
  it('`npx cdk8s synth` and `npm run synth` give byte-identical dist/, drop stale files, write only manifests', () => {
    const a = emptyDir();
    const b = emptyDir();
    writeFileSync(join(a, 'stale.k8s.yaml'), 'kind: Stale\n');
    const cli = spawnSync('npx', ['cdk8s', 'synth', '--output', join(emptyDir(), 'cli')], {
      cwd: ROOT,
      env: env({ ROOMLER_OUTDIR: a }),
      encoding: 'utf8',
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toContain(`synth: wrote ${join(a, 'roomler.k8s.yaml')}`);
    const npm = spawnSync('npm', ['run', 'synth'], { cwd: ROOT, env: env({ ROOMLER_OUTDIR: b }), encoding: 'utf8' });
    expect(npm.status, npm.stderr).toBe(0);
    // Each names the files it wrote in the output directory (not the cdk8s CLI's mirror).
    expect(npm.stdout).toContain(`synth: wrote ${join(b, 'roomler.k8s.yaml')}`);
    expect(readdirSync(a)).not.toContain('stale.k8s.yaml');
    expect(readdirSync(a).every((f) => f.endsWith('.k8s.yaml'))).toBe(true);
    expect(readdirSync(a).length).toBeGreaterThan(0);
    expect(treeBytes(a)).toEqual(treeBytes(b));
  });

  it('`cdk8s synth --stdout` prints the manifests', () => {
    const out = execFileSync('npx', ['cdk8s', 'synth', '--stdout'], {
      cwd: ROOT,
      env: env({ ROOMLER_OUTDIR: emptyDir() }),
      encoding: 'utf8',
    });
    expect(out).toContain('kind: Namespace');
    expect(out).toContain('name: janus-nodeport');
  });

  it('a bad config fails `npm run synth` with exit 1 and leaves dist/ as it was', () => {
    const dist = emptyDir();
    writeFileSync(join(dist, 'roomler.k8s.yaml'), '# last good\n');
    const project = projectWith({ 'roomler.yaml': 'app:\n  nodePort: 99999\n' });
    const r = spawnSync('npm', ['run', '-s', 'synth'], {
      cwd: ROOT,
      env: { ...env({ ROOMLER_OUTDIR: dist }), ROOMLER_PROJECT_DIR: project },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/roomler\.yaml:2:\d+: app\.nodePort: NodePort must be within 30000-32767/);
    expect(treeBytes(dist)).toEqual({ '/roomler.k8s.yaml': Buffer.from('# last good\n').toString('base64') });
  });

  it('is deterministic: two runs give identical bytes', () => {
    const runs = [emptyDir(), emptyDir()].map((out) => {
      execFileSync('node', ['--require', 'tsx/cjs', 'main.ts'], { cwd: ROOT, env: env({ ROOMLER_OUTDIR: out }), stdio: 'pipe' });
      return treeBytes(out);
    });
    expect(runs[0]).toEqual(runs[1]);
  });
});
