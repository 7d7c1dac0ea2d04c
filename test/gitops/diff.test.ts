import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REDACTED } from '../../hack/lib/gitops/object-diff';
import { type K8sObject } from '../../lib/manifest';
import { cleanupDirs, objectsOf } from '../support/files';
import { type GitProject, gitProject } from '../support/git-project';

afterAll(cleanupDirs);

// `bin/roomler diff` on real git history made here: a copy of this project in a throw-away repository, whose own
// bin/roomler synthesizes the base commit (with that commit's code) and the working tree.

const REDIS_128 = 'redis:\n  resources:\n    limits: { memory: 128Mi }\n';
const REDIS_256 = 'redis:\n  resources:\n    limits: { memory: 256Mi }\n';
const ARGO = (name: string) => `argocd:\n  enabled: true\n  name: ${name}\n  repoURL: https://git.example.com/ops/roomler.git\n`;

/** The report's lines after its first (which names the sides). */
const body = (stdout: string) => stdout.split('\n').slice(1).join('\n');

describe('bin/roomler diff against a git base', () => {
  let p: GitProject;
  /** A fresh branch off main with a clean working tree. */
  const branch = (name: string) => {
    p.git('checkout', '-q', '-f', '-B', name, 'main');
    p.git('clean', '-q', '-f', '-d');
  };
  const short = (ref: string) => p.git('rev-parse', '--short=7', ref).trim();

  beforeAll(() => {
    p = gitProject();
    // The operator's config is tracked here: each side of the diff has its own.
    p.commit('config', { 'roomler.yaml': REDIS_128 });
  });

  it('a change of one config value gives exactly the changed field, old and new value (uncommitted and committed)', () => {
    branch('value');
    p.write('roomler.yaml', REDIS_256);
    const uncommitted = p.roomler(['diff']);
    expect(uncommitted.code, uncommitted.stderr).toBe(0);
    expect(uncommitted.stdout.split('\n')[0]).toBe(`diff: main (merge base ${short('main')}) → the working tree`);
    expect(body(uncommitted.stdout)).toBe(
      [
        '~ Deployment/roomler/redis',
        '    spec.template.spec.containers[name=redis].resources.limits.memory: "128Mi" → "256Mi"',
        'diff: 1 changed, 0 added, 0 removed, 0 renamed',
        '',
      ].join('\n'),
    );
    p.commit('more memory for redis');
    const committed = p.roomler(['diff']);
    expect(committed.stdout).toBe(uncommitted.stdout);

    // --exit-code gates CI: 1 when there are changes, the same report.
    const gate = p.roomler(['diff', '--exit-code']);
    expect(gate.code, gate.stderr).toBe(1);
    expect(gate.stdout).toBe(uncommitted.stdout);

    const md = p.roomler(['diff', '--format', 'markdown']);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/^### Manifests: 1 changed, 0 added, 0 removed, 0 renamed\n/);
    expect(md.stdout).toContain('**~ changed** `Deployment/roomler/redis`\n\n| field | before | after |\n| --- | --- | --- |\n');
    expect(md.stdout).toContain('| `spec.template.spec.containers[name=redis].resources.limits.memory` | `"128Mi"` | `"256Mi"` |\n');
  });

  it('a renamed object: the old and the new id, and only the fields that differ', () => {
    branch('rename');
    p.commit('argo cd', { 'roomler.yaml': ARGO('roomler-gitops') });
    p.write('roomler.yaml', ARGO('roomler-production'));
    const r = p.roomler(['diff', '--base', 'HEAD']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`diff: HEAD (${short('HEAD')}) → the working tree`);
    expect(body(r.stdout)).toBe(
      [
        '> Application/argocd/roomler-gitops → Application/argocd/roomler-production (renamed: Kubernetes deletes the old object and creates the new one)',
        '    metadata.name: "roomler-gitops" → "roomler-production"',
        'diff: 0 changed, 0 added, 0 removed, 1 renamed',
        '',
      ].join('\n'),
    );
  });

  it('removed objects: every object of the chart that is switched off, nothing else', () => {
    branch('removed');
    p.write('roomler.yaml', `${REDIS_128}coturn:\n  enabled: false\n`);
    const r = p.roomler(['diff']);
    expect(r.code, r.stderr).toBe(0);
    // What the base has in that chart, from the committed dist/ (the default config synthesizes exactly it).
    const coturn = objectsOf(readFileSync(join(p.dir, 'dist', 'coturn.k8s.yaml'), 'utf8')).map((o: K8sObject) =>
      [o.kind, o.metadata.namespace, o.metadata.name].filter(Boolean).join('/'),
    );
    expect(coturn.length).toBeGreaterThan(3);
    expect(body(r.stdout)).toBe(
      [...coturn.sort().map((id) => `- ${id}`), `diff: 0 changed, 0 added, ${coturn.length} removed, 0 renamed`, ''].join('\n'),
    );
  });

  it('identical output: "no changes" for a fresh branch and for a change that synthesizes the same bytes', () => {
    branch('same');
    const fresh = p.roomler(['diff']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toBe(`diff: main (merge base ${short('main')}) → the working tree\ndiff: no changes\n`);
    expect(p.roomler(['diff', '--exit-code']).code).toBe(0);
    const chart = 'lib/charts/roomler-chart.ts';
    p.commit('a comment and the README', {
      [chart]: `// a comment only\n${readFileSync(join(p.dir, chart), 'utf8')}`,
      'README.md': '# changed\n',
    });
    const r = p.roomler(['diff', '--format', 'markdown']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^### Manifests: no changes\n\nmain \(merge base [0-9a-f]{7}\) → the working tree/);
    expect(r.stdout).not.toMatch(/\*\*[~+>-] /);
  });

  it("synthesizes the base with the base's own code, and an untracked config is the same on both sides", () => {
    branch('code');
    // A code change of a default: only a base synthesized by its own code shows it.
    const file = 'lib/config/instance.ts';
    const source = readFileSync(join(p.dir, file), 'utf8');
    expect(source).toContain("limits: { cpu: '100m', memory: '128Mi', ephemeralStorage: '256Mi' }");
    p.commit('redis default', {
      [file]: source.replace(
        "limits: { cpu: '100m', memory: '128Mi', ephemeralStorage: '256Mi' }",
        "limits: { cpu: '100m', memory: '128Mi', ephemeralStorage: '512Mi' }",
      ),
    });
    // The operator's untracked config file (ROOMLER_CONFIG) is read by both sides: its value is no difference.
    p.write('ops.yaml', 'redis:\n  image: redis:7.4.3-alpine\n');
    const r = p.roomler(['diff'], { ROOMLER_CONFIG: 'ops.yaml' });
    expect(r.code, r.stderr).toBe(0);
    expect(body(r.stdout)).toBe(
      [
        '~ Deployment/roomler/redis',
        '    spec.template.spec.containers[name=redis].resources.limits.ephemeral-storage: "256Mi" → "512Mi"',
        'diff: 1 changed, 0 added, 0 removed, 0 renamed',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('');
    // Other dependencies in the working tree: the base still runs with them, and the reader is told.
    p.write('package-lock.json', readFileSync(join(p.dir, 'package-lock.json'), 'utf8') + '\n');
    const lock = p.roomler(['diff'], { ROOMLER_CONFIG: 'ops.yaml' });
    expect(lock.stdout).toBe(r.stdout);
    expect(lock.stderr).toMatch(
      /^diff: note: the base's package-lock\.json differs from the working tree's: the base was synthesized with the working tree's node_modules/,
    );
  });

  it('never prints a SealedSecret value, in text or markdown', () => {
    branch('sealed');
    const sealed = (data: Record<string, string>) =>
      [
        'apiVersion: bitnami.com/v1alpha1',
        'kind: SealedSecret',
        'metadata: { name: roomler-secret, namespace: roomler }',
        'spec:',
        '  encryptedData:',
        ...Object.entries(data).map(([k, v]) => `    ${k}: ${v}`),
        '  template: { metadata: { name: roomler-secret, namespace: roomler }, type: Opaque }',
        '',
      ].join('\n');
    p.commit('sealed', { 'sealed/roomler-roomler-secret.yaml': sealed({ DB_CONN: 'QUFBQW9sZGNpcGhlcg==' }) });
    p.write('sealed/roomler-roomler-secret.yaml', sealed({ DB_CONN: 'QkJCQm5ld2NpcGhlcg==', GIPHY: 'Q0NDQ2FkZGVk' }));
    for (const format of ['text', 'markdown']) {
      const r = p.roomler(['diff', '--base', 'HEAD', '--format', format]);
      expect(r.code, r.stderr).toBe(0);
      for (const secret of ['QUFBQW9sZGNpcGhlcg', 'QkJCQm5ld2NpcGhlcg', 'Q0NDQ2FkZGVk']) expect(r.stdout).not.toContain(secret);
      if (format === 'text') {
        expect(body(r.stdout)).toBe(
          [
            '~ SealedSecret/roomler/roomler-secret',
            `    spec.encryptedData.DB_CONN: ${REDACTED} → ${REDACTED}`,
            `    spec.encryptedData.GIPHY: (absent) → ${REDACTED}`,
            'diff: 1 changed, 0 added, 0 removed, 0 renamed',
            '',
          ].join('\n'),
        );
      }
    }
  });

  it('refuses what it cannot compare: an unknown base, a base that does not synthesize, flags that do not go together', () => {
    branch('errors');
    const unknown = p.roomler(['diff', '--base', 'no-such-branch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^diff: --base no-such-branch: no such commit, branch or tag/);
    p.commit('broken config', { 'roomler.yaml': 'redis:\n  port: 99999\n' });
    p.write('roomler.yaml', REDIS_128);
    const broken = p.roomler(['diff', '--base', 'HEAD']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/synth of the base HEAD \([0-9a-f]{7}\) failed \(exit 1\):\n[\s\S]*redis\.port/);
    expect(broken.stdout).toBe('');
    // With --exit-code a diff that cannot be made is 2, never 1 ("changes"), as kubectl diff.
    expect(p.roomler(['diff', '--base', 'HEAD', '--exit-code']).code).toBe(2);
    expect(p.roomler(['diff', '--synth']).stderr).toMatch(/--synth applies only with --live/);
    expect(p.roomler(['diff', '--context', 'production']).stderr).toMatch(/--context applies only with --live/);
    const both = p.roomler(['diff', '--live', '--base', 'main']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give one of them/);
  });
});
