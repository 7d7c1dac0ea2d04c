import { afterAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../lib/config';
import { validateFiles } from '../../lib/validate';
import { allObjects, cleanupDirs, find, projectWith } from '../support/files';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);
const ARGO = 'argocd:\n  enabled: true\n  repoURL: https://git.example.com/ops/roomler-gitops.git\n  targetRevision: production\n';

describe('GitOps wiring', () => {
  const objects = allObjects(synthFiles());
  const wave = (kind: string, name: string) => Number(find(objects, kind, name).metadata.annotations['argocd.argoproj.io/sync-wave']);

  it('orders the sync: namespace and storage, config, MongoDB, Redis, Janus, the app, then CronJobs', () => {
    const order = [
      wave('Namespace', 'roomler'),
      wave('PersistentVolume', 'roomler-mongodb-data'),
      wave('ConfigMap', 'roomler-config'),
      wave('StatefulSet', 'mongodb'),
      wave('Deployment', 'redis'),
      wave('Deployment', 'janus'),
      wave('Deployment', 'roomler'),
      wave('CronJob', 'mongodb-backup'),
    ];
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(wave('Service', 'mongodb')).toBe(wave('StatefulSet', 'mongodb'));
    expect(objects.every((o) => o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] !== undefined)).toBe(true);
  });

  it('never lets a sync prune or delete a data volume', () => {
    for (const o of objects.filter((x) => x.kind === 'PersistentVolume' || x.kind === 'PersistentVolumeClaim')) {
      expect(o.metadata.annotations['argocd.argoproj.io/sync-options'], o.metadata.name).toBe('Prune=false,Delete=false');
    }
  });

  it('writes no Application unless enabled', () => {
    expect(objects.some((o) => o.kind === 'Application')).toBe(false);
  });

  it('writes an Application for dist/ that validates against the Argo CD CRD', () => {
    const files = synthFiles({ cwd: projectWith({ 'roomler.yaml': ARGO }), env: {} });
    const app = find(allObjects(new Map([['a', files.get('argocd.k8s.yaml')!]])), 'Application', 'roomler-gitops');
    expect(app.metadata.namespace).toBe('argocd');
    expect(app.spec.source).toMatchObject({
      repoURL: 'https://git.example.com/ops/roomler-gitops.git',
      targetRevision: 'production',
      path: 'dist',
    });
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(validateFiles(files)).toEqual([]);
    // Broken against the CRD schema: caught.
    const broken = new Map([['a.yaml', files.get('argocd.k8s.yaml')!.replace('targetRevision:', 'targetRevisions:')]]);
    expect(validateFiles(broken).map((f) => f.message)).toContain('unknown field "targetRevisions"');
  });

  it('requires the repository URL when enabled', () => {
    expect(() => loadConfig({ cwd: projectWith({ 'roomler.yaml': 'argocd:\n  enabled: true\n' }), env: {} })).toThrow(ConfigError);
    try {
      loadConfig({ cwd: projectWith({ 'roomler.yaml': 'argocd:\n  enabled: true\n' }), env: {} });
    } catch (e) {
      expect((e as ConfigError).problems.join('\n')).toMatch(/argocd\.repoURL.*required when argocd\.enabled is true/);
    }
  });
});

describe('hardening switches', () => {
  it('NetworkPolicies can be switched off only with a reason, which then becomes the exemption', () => {
    expect(() => loadConfig({ cwd: projectWith({ 'roomler.yaml': 'security:\n  networkPolicies: false\n' }), env: {} })).toThrow(
      /networkPoliciesOffReason/,
    );
    const reason = 'the cluster runs flannel, which does not enforce NetworkPolicy';
    const files = synthFiles({
      cwd: projectWith({ 'roomler.yaml': `security:\n  networkPolicies: false\n  networkPoliciesOffReason: ${reason}\n` }),
      env: {},
    });
    const objects = allObjects(files);
    expect(objects.some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    expect(find(objects, 'Deployment', 'roomler').metadata.annotations['ignore-check.kube-linter.io/non-isolated-pod']).toBe(reason);
    expect(validateFiles(files)).toEqual([]);
  });

  it('every pod runs without a service account token, with RuntimeDefault seccomp, no escalation and no capabilities', () => {
    const objects = allObjects(synthFiles());
    for (const w of objects.filter((o) => ['Deployment', 'StatefulSet', 'CronJob'].includes(o.kind))) {
      const spec = w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template.spec : w.spec.template.spec;
      expect(spec.automountServiceAccountToken, w.metadata.name).toBe(false);
      expect(spec.securityContext.seccompProfile, w.metadata.name).toEqual({ type: 'RuntimeDefault' });
      for (const c of spec.containers)
        expect(c.securityContext, w.metadata.name).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
  });
});
