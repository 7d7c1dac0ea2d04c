import { afterAll, describe, expect, it } from 'vitest';

import { imagePinning } from '../../lib/config/images';
import { type K8sObject, podSpecOf } from '../../lib/manifest';
import { SchemaValidator } from '../../lib/validate/schema';
import { allObjects, cleanupDirs } from '../support/files';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);

// Whole-app invariants: they hold for every object every chart emits, including charts added later.
const files = synthFiles();
const objects = allObjects(files);
const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job'].includes(o.kind));
const containers = workloads.flatMap((w) => podSpecOf(w)!.containers.map((c: K8sObject) => ({ w: `${w.kind}/${w.metadata.name}`, c })));
const initContainers = workloads.flatMap((w) =>
  (podSpecOf(w)!.initContainers ?? []).map((c: K8sObject) => ({ w: `${w.kind}/${w.metadata.name} init ${c.name}`, c })),
);
const CLUSTER_SCOPED = new Set(['Namespace', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);
const RECOMMENDED = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/managed-by',
];

describe('every synthesized object', () => {
  it('validates strictly against the Kubernetes 1.28 schema (unknown fields are errors)', () => {
    const validator = new SchemaValidator();
    const problems = objects.flatMap((o) => validator.validate(o).map((f) => `${o.kind}/${o.metadata.name} ${f.path}: ${f.message}`));
    expect(problems).toEqual([]);
  });

  it('carries the recommended labels', () => {
    for (const o of objects.filter((x) => x.kind !== 'Application' && x.kind !== 'SealedSecret')) {
      for (const l of RECOMMENDED) expect(o.metadata.labels?.[l], `${o.kind}/${o.metadata.name} ${l}`).toBeTruthy();
    }
  });

  it('has a namespace exactly when it is namespaced', () => {
    for (const o of objects) {
      expect(o.metadata.namespace === undefined, `${o.kind}/${o.metadata.name}`).toBe(CLUSTER_SCOPED.has(o.kind));
    }
  });

  it('has an explicit selector made only of stable name/instance labels, matching its pod template', () => {
    for (const w of workloads.filter((x) => x.kind !== 'CronJob')) {
      const selector = w.spec.selector.matchLabels;
      expect(Object.keys(selector).sort()).toEqual(['app.kubernetes.io/instance', 'app.kubernetes.io/name']);
      expect(w.spec.template.metadata.labels).toMatchObject(selector);
    }
    for (const s of objects.filter((o) => o.kind === 'Service')) {
      expect(
        Object.keys(s.spec.selector).every((k) => k.startsWith('app.kubernetes.io/')),
        s.metadata.name,
      ).toBe(true);
    }
  });
});

describe('every container', () => {
  it('exists', () => expect(containers.length).toBeGreaterThanOrEqual(4));

  it('has an explicit name, image, pull policy, requests and limits (init containers too)', () => {
    expect(initContainers.length).toBeGreaterThanOrEqual(2);
    for (const { w, c } of [...containers, ...initContainers]) {
      expect(c.name, w).not.toBe('main');
      expect(c.image, w).toMatch(/.+:.+/);
      // A moving tag is pulled on every start; a pinned one only when missing.
      expect(c.imagePullPolicy, w).toBe(['latest', 'floating'].includes(imagePinning(c.image)) ? 'Always' : 'IfNotPresent');
      for (const k of ['requests', 'limits'])
        for (const r of ['cpu', 'memory', 'ephemeral-storage']) expect(c.resources?.[k]?.[r], `${w} ${k}.${r}`).toBeTruthy();
      // The user is explicit: a non-root uid, or 0 with a run-as-non-root exemption naming it.
      expect(typeof c.securityContext?.runAsUser, w).toBe('number');
    }
  });

  it('of a long-running workload has readiness and liveness probes that differ', () => {
    for (const { w, c } of containers.filter(({ w }) => !w.startsWith('CronJob') && !w.startsWith('Job'))) {
      expect(c.readinessProbe, w).toBeDefined();
      expect(c.livenessProbe, w).toBeDefined();
      const handler = (p: K8sObject) => JSON.stringify([p.exec, p.httpGet, p.tcpSocket]);
      expect(handler(c.readinessProbe), w).not.toEqual(handler(c.livenessProbe));
      for (const p of [c.livenessProbe, c.startupProbe].filter(Boolean)) expect(p.successThreshold, w).toBe(1);
    }
  });

  it('probes only ports it declares', () => {
    for (const { w, c } of containers) {
      const declared = new Set((c.ports ?? []).flatMap((p: K8sObject) => [p.name, p.containerPort]));
      for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
        const port = p.tcpSocket?.port ?? p.httpGet?.port;
        if (port !== undefined) expect(declared.has(port), `${w} probes ${port}`).toBe(true);
      }
    }
  });
});
