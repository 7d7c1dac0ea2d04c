import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { compare, EXEMPTIONS_FILE, type LinterFinding, loadExemptions, runLinters, type Tool } from '../../hack/lib/linters/linters';
import { type K8sObject, podSpecOf } from '../../lib/manifest';
import { allObjects, cleanupDirs, emptyDir, find } from '../support/files';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');

// The real kube-score and Checkov, pinned and cached by hack/toolchain (warm after .ci/validators.sh; a cold
// build takes ~1-2 min each), over a fresh synth of the default config.
let bins: Record<Tool, string>;
let findings: LinterFinding[];
const lint = (files: ReadonlyMap<string, string>) => {
  const dir = emptyDir('roomler-linters-');
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return runLinters(
    bins,
    [...files.keys()].map((f) => join(dir, f)),
    dir,
  );
};

beforeAll(() => {
  const build = (script: string) =>
    execFileSync('bash', [join(ROOT, 'hack', 'toolchain', script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  bins = { 'kube-score': build('kube-score.sh'), checkov: build('checkov.sh') };
  findings = lint(synthFiles());
}, 600_000);

describe('kube-score and Checkov on the default output', () => {
  it('find only what .ci/linter-exemptions.yaml lists, and every listed exemption still matches a finding', () => {
    const { unexempted, stale, exempted } = compare(findings, loadExemptions(EXEMPTIONS_FILE));
    expect(unexempted.map((f) => `${f.tool} ${f.check} ${f.object}: ${f.detail}`)).toEqual([]);
    expect(stale).toEqual([]);
    expect(exempted.length).toBeGreaterThan(20);
  });

  it('an exemption for something no tool reports is stale, and fails', () => {
    const extra = {
      tool: 'kube-score' as const,
      check: 'container-image-tag',
      objects: ['Deployment/roomler/redis'],
      reason: 'redis is pinned, so this never matches',
    };
    expect(compare(findings, [...loadExemptions(EXEMPTIONS_FILE), extra]).stale).toEqual([
      'kube-score container-image-tag Deployment/roomler/redis',
    ]);
    const file = join(emptyDir('roomler-exemptions-'), 'x.yaml');
    writeFileSync(file, stringify([{ ...extra, reason: 'short' }]));
    expect(() => loadExemptions(file)).toThrow(/reason.*must say why/);
  });

  it('the defects the linters once found come back as new findings: identical probes, a Secret in env vars', () => {
    const files = synthFiles();
    const objects = allObjects(new Map([['r', files.get('roomler.k8s.yaml')!]]));
    const app = podSpecOf(find(objects, 'Deployment', 'roomler'))!.containers[0];
    app.readinessProbe = { ...app.livenessProbe, periodSeconds: 10 };
    podSpecOf(find(objects, 'StatefulSet', 'mongodb'))!.containers[0].env.push({
      name: 'MONGO_INITDB_ROOT_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'mongodb-secret', key: 'MONGO_INITDB_ROOT_PASSWORD' } },
    });
    const broken = lint(new Map([['roomler.k8s.yaml', objects.map((o: K8sObject) => stringify(o, { version: '1.1' })).join('---\n')]]));
    const { unexempted } = compare(broken, loadExemptions(EXEMPTIONS_FILE));
    expect(unexempted.map((f) => `${f.tool} ${f.check} ${f.object}`).sort()).toEqual([
      'checkov CKV_K8S_35 StatefulSet/roomler/mongodb',
      'kube-score pod-probes-identical Deployment/roomler/roomler',
    ]);
  });

  it('docs/security.md shows every exemption (tool and check) in its table', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'security.md'), 'utf8');
    const rows = doc
      .split('\n')
      .filter((l) => l.startsWith('| '))
      .map((l) => l.toLowerCase());
    for (const e of loadExemptions(EXEMPTIONS_FILE)) {
      expect(
        rows.some((r) => r.includes(`${e.tool} \`${e.check.toLowerCase()}\``) && r.includes('| exempted |')),
        `${e.tool} ${e.check}`,
      ).toBe(true);
    }
  });
});
