import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { type K8sObject } from '../../lib/manifest';
import { type Finding, validateReport } from '../../lib/validate';
import { cronProblem } from '../../lib/validate/api-rules';
import { POLICY_CHECKS } from '../../lib/validate/policy';
import { allObjects, cleanupDirs } from '../support/files';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);

// The corpus: each case breaks the real default output in one way and names the finding it must produce.
const base = allObjects(synthFiles());
const clone = (): K8sObject[] => structuredClone(base);
const get = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;
const tpl = (o: K8sObject) => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template);
const janusPod = (objs: K8sObject[]) => structuredClone(get(objs, 'Deployment', 'janus'));

interface Case {
  readonly name: string;
  readonly mutate: (objs: K8sObject[]) => void;
  readonly expect: { severity?: Finding['severity']; rule: string; object: string; path?: string; message: RegExp };
}

const CASES: Case[] = [
  {
    name: 'Service selector typo',
    mutate: (o) => (get(o, 'Service', 'redis').spec.selector['app.kubernetes.io/name'] = 'rediss'),
    expect: { rule: 'cross-object', object: 'Service/roomler/redis', path: 'spec.selector', message: /matches no workload/ },
  },
  {
    name: 'named targetPort the pods do not declare',
    mutate: (o) => (get(o, 'Service', 'janus').spec.ports[1].targetPort = 'websockets'),
    expect: {
      rule: 'cross-object',
      object: 'Service/roomler/janus',
      path: 'spec.ports[1].targetPort',
      message: /targetPort "websockets" is not declared/,
    },
  },
  {
    name: 'numeric targetPort the pods do not declare',
    mutate: (o) => (get(o, 'Service', 'roomler').spec.ports[0].targetPort = 3001),
    expect: { rule: 'cross-object', object: 'Service/roomler/roomler', message: /targetPort 3001 is not declared/ },
  },
  {
    name: 'PVC that binds to no PV',
    mutate: (o) => (get(o, 'PersistentVolumeClaim', 'mongodb-data').spec.resources.requests.storage = '50Gi'),
    expect: {
      rule: 'cross-object',
      object: 'PersistentVolumeClaim/roomler/mongodb-data',
      path: 'spec',
      message: /binds to no PersistentVolume .*capacity 5Gi is less than the request 50Gi/,
    },
  },
  {
    name: 'PV and PVC storage classes differ',
    mutate: (o) => (get(o, 'PersistentVolume', 'roomler-uploads').spec.storageClassName = 'local-path'),
    expect: {
      rule: 'cross-object',
      object: 'PersistentVolumeClaim/roomler/roomler-uploads',
      message: /storage class "local-path" differs/,
    },
  },
  {
    name: 'NodePort 30030 used twice',
    mutate: (o) => (get(o, 'Service', 'janus-nodeport').spec.ports[0].nodePort = 30030),
    expect: {
      rule: 'cross-object',
      object: 'Service/roomler/roomler',
      path: 'spec.ports[0].nodePort',
      message: /NodePort 30030 is already used by Service\/roomler\/janus-nodeport/,
    },
  },
  {
    name: 'NodePort out of range',
    mutate: (o) => (get(o, 'Service', 'roomler').spec.ports[0].nodePort = 29999),
    expect: { rule: 'cross-object', object: 'Service/roomler/roomler', message: /NodePort 29999 is outside 30000-32767/ },
  },
  {
    name: 'probe on an undeclared port',
    mutate: (o) => (tpl(get(o, 'Deployment', 'roomler')).spec.containers[0].livenessProbe.tcpSocket.port = 'metrics'),
    expect: {
      rule: 'cross-object',
      object: 'Deployment/roomler/roomler',
      path: 'spec.template.spec.containers[0].livenessProbe',
      message: /targets port "metrics", which the container does not declare/,
    },
  },
  {
    name: 'Janus and another hostNetwork pod on one node sharing 8088',
    mutate: (o) => {
      const other = janusPod(o);
      other.metadata.name = 'janus-canary';
      delete tpl(other).metadata.annotations;
      o.push(other);
    },
    expect: {
      rule: 'cross-object',
      object: 'Deployment/roomler/janus-canary',
      message: /host port TCP 8088 collides with TCP 8088 of Deployment\/roomler\/janus on node k8s-worker1/,
    },
  },
  {
    name: 'hostNetwork pods overlapping in a declared UDP range',
    mutate: (o) => {
      const turn = janusPod(o);
      turn.metadata.name = 'turn';
      tpl(turn).spec.containers[0].ports = [{ name: 'turn', containerPort: 3478, protocol: 'UDP' }];
      tpl(turn).metadata.annotations = { 'roomler.io/host-udp-ports': '10100-10150' };
      o.push(turn);
    },
    expect: { rule: 'cross-object', object: 'Deployment/roomler/turn', message: /host port UDP 10100-10150 collides with UDP 10000-10200/ },
  },
  {
    name: 'unknown field',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].imagePullPolicyy = 'Always'),
    expect: {
      rule: 'schema',
      object: 'Deployment/roomler/redis',
      path: 'spec.template.spec.containers[0].imagePullPolicyy',
      message: /unknown field "imagePullPolicyy"/,
    },
  },
  {
    name: 'wrong type',
    mutate: (o) => (get(o, 'Deployment', 'redis').spec.replicas = '1'),
    expect: { rule: 'schema', object: 'Deployment/roomler/redis', path: 'spec.replicas', message: /expected integer, got string/ },
  },
  {
    name: 'missing required field',
    mutate: (o) => delete tpl(get(o, 'Deployment', 'redis')).spec.containers[0].name,
    expect: {
      rule: 'schema',
      path: 'spec.template.spec.containers[0].name',
      object: 'Deployment/roomler/redis',
      message: /required field "name" is missing/,
    },
  },
  {
    name: 'unknown apiVersion/kind',
    mutate: (o) => (get(o, 'Deployment', 'redis').apiVersion = 'apps/v1beta1'),
    expect: {
      rule: 'schema',
      object: 'Deployment/roomler/redis',
      path: 'kind',
      message: /unknown apiVersion\/kind apps\/v1beta1\/Deployment/,
    },
  },
  {
    name: 'name that is not a DNS-1123 subdomain',
    mutate: (o) => (get(o, 'ConfigMap', 'roomler-config').metadata.name = 'Roomler_Config'),
    expect: {
      rule: 'api-server',
      object: 'ConfigMap/roomler/Roomler_Config',
      path: 'metadata.name',
      message: /must be a DNS-1123 subdomain/,
    },
  },
  {
    name: 'Service name that is not a DNS-1035 label',
    mutate: (o) => (get(o, 'Service', 'redis').metadata.name = '1redis'),
    expect: { rule: 'api-server', object: 'Service/roomler/1redis', message: /DNS-1035 label/ },
  },
  {
    name: 'invalid label value',
    mutate: (o) => (get(o, 'Deployment', 'redis').metadata.labels['app.kubernetes.io/part-of'] = 'roomler stack'),
    expect: {
      rule: 'api-server',
      object: 'Deployment/roomler/redis',
      path: 'metadata.labels["app.kubernetes.io/part-of"]',
      message: /label value "roomler stack"/,
    },
  },
  {
    name: 'invalid annotation key',
    mutate: (o) => (get(o, 'Deployment', 'redis').metadata.annotations = { 'a/b/c': 'x' }),
    expect: { rule: 'api-server', object: 'Deployment/roomler/redis', message: /annotation key has more than one "\/"/ },
  },
  {
    name: 'container port name longer than 15',
    mutate: (o) => (tpl(get(o, 'Deployment', 'janus')).spec.containers[0].ports[1].name = 'janus-websockets'),
    expect: {
      rule: 'api-server',
      object: 'Deployment/roomler/janus',
      path: 'spec.template.spec.containers[0].ports[1].name',
      message: /at most 15 characters/,
    },
  },
  {
    name: 'containerPort out of range',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].ports[0].containerPort = 70000),
    expect: { rule: 'api-server', object: 'Deployment/roomler/redis', message: /containerPort 70000 is outside 1-65535/ },
  },
  {
    name: 'selector does not match the template',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).metadata.labels['app.kubernetes.io/instance'] = 'other'),
    expect: {
      rule: 'api-server',
      object: 'Deployment/roomler/redis',
      path: 'spec.selector.matchLabels["app.kubernetes.io/instance"]',
      message: /does not match the pod template labels/,
    },
  },
  {
    name: 'liveness successThreshold other than 1',
    mutate: (o) => (tpl(get(o, 'Deployment', 'roomler')).spec.containers[0].livenessProbe.successThreshold = 2),
    expect: { rule: 'api-server', object: 'Deployment/roomler/roomler', message: /livenessProbe successThreshold must be 1, got 2/ },
  },
  {
    name: 'duplicate volume name',
    mutate: (o) => tpl(get(o, 'StatefulSet', 'mongodb')).spec.volumes.push({ name: 'tmp', emptyDir: {} }),
    expect: { rule: 'api-server', object: 'StatefulSet/roomler/mongodb', message: /duplicate volume name "tmp"/ },
  },
  {
    name: 'duplicate env name',
    mutate: (o) => tpl(get(o, 'StatefulSet', 'mongodb')).spec.containers[0].env.push({ name: 'MONGO_INITDB_DATABASE', value: 'x' }),
    expect: { rule: 'api-server', object: 'StatefulSet/roomler/mongodb', message: /duplicate env name "MONGO_INITDB_DATABASE"/ },
  },
  {
    name: "StatefulSet serviceName that doesn't exist",
    mutate: (o) => (get(o, 'StatefulSet', 'mongodb').spec.serviceName = 'mongo'),
    expect: {
      rule: 'cross-object',
      object: 'StatefulSet/roomler/mongodb',
      path: 'spec.serviceName',
      message: /serviceName "mongo" names no Service/,
    },
  },
  {
    name: 'mount that names no volume',
    mutate: (o) => (tpl(get(o, 'Deployment', 'roomler')).spec.containers[0].volumeMounts[0].name = 'upload'),
    expect: { rule: 'cross-object', object: 'Deployment/roomler/roomler', message: /mount "upload" names no volume/ },
  },
  {
    name: 'missing ConfigMap',
    mutate: (o) => o.splice(o.indexOf(get(o, 'ConfigMap', 'roomler-config')), 1),
    expect: {
      rule: 'cross-object',
      object: 'Deployment/roomler/roomler',
      message: /ConfigMap "roomler-config" is neither in the output nor declared external/,
    },
  },
  {
    name: 'undeclared Secret',
    mutate: (o) => (tpl(get(o, 'Deployment', 'roomler')).spec.containers[0].envFrom[1].secretRef.name = 'roomler-secrets'),
    expect: {
      rule: 'cross-object',
      object: 'Deployment/roomler/roomler',
      message: /Secret "roomler-secrets" is neither in the output nor declared external/,
    },
  },
  {
    name: 'missing PVC',
    mutate: (o) => (tpl(get(o, 'Deployment', 'roomler')).spec.volumes[0].persistentVolumeClaim.claimName = 'uploads'),
    expect: {
      rule: 'cross-object',
      object: 'Deployment/roomler/roomler',
      message: /PersistentVolumeClaim "uploads" is neither in the output nor declared external/,
    },
  },
  {
    name: 'exemption without a reason',
    mutate: (o) => (get(o, 'Deployment', 'janus').metadata.annotations['ignore-check.kube-linter.io/host-network'] = ' '),
    expect: { rule: 'exemption', object: 'Deployment/roomler/janus', message: /must carry its reason/ },
  },
  // Policy: warnings.
  {
    name: 'latest tag without acknowledgment',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].image = 'redis:latest'),
    expect: { severity: 'warning', rule: 'latest-tag', object: 'Deployment/roomler/redis', message: /not pinned/ },
  },
  {
    name: 'image without a tag',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].image = 'redis'),
    expect: { severity: 'warning', rule: 'latest-tag', object: 'Deployment/roomler/redis', message: /not pinned/ },
  },
  {
    name: 'hostNetwork without exemption',
    mutate: (o) => delete get(o, 'Deployment', 'janus').metadata.annotations['ignore-check.kube-linter.io/host-network'],
    expect: { severity: 'warning', rule: 'host-network', object: 'Deployment/roomler/janus', message: /node network namespace/ },
  },
  {
    name: 'NodePort without exemption',
    mutate: (o) => delete get(o, 'Service', 'roomler').metadata.annotations,
    expect: { severity: 'warning', rule: 'exposed-services', object: 'Service/roomler/roomler', message: /exposes ports on every node/ },
  },
  {
    name: 'missing limits',
    mutate: (o) => delete tpl(get(o, 'Deployment', 'redis')).spec.containers[0].resources.limits,
    expect: { severity: 'warning', rule: 'unset-cpu-requirements', object: 'Deployment/roomler/redis', message: /CPU request or limit/ },
  },
  {
    name: 'identical readiness and liveness',
    mutate: (o) => {
      const c = tpl(get(o, 'Deployment', 'redis')).spec.containers[0];
      c.livenessProbe = structuredClone(c.readinessProbe);
    },
    expect: {
      severity: 'warning',
      rule: 'identical-probes',
      object: 'Deployment/roomler/redis',
      message: /the same readiness and liveness check/,
    },
  },
  {
    name: 'the same probe handler behind different thresholds (the app before its probes were split)',
    mutate: (o) => {
      const c = tpl(get(o, 'Deployment', 'roomler')).spec.containers[0];
      c.readinessProbe = { ...c.readinessProbe, httpGet: undefined, tcpSocket: structuredClone(c.livenessProbe.tcpSocket) };
      delete c.readinessProbe.httpGet;
    },
    expect: {
      severity: 'warning',
      rule: 'identical-probes',
      object: 'Deployment/roomler/roomler',
      path: 'spec.template.spec.containers[0].livenessProbe',
      message: /the same readiness and liveness check/,
    },
  },
  {
    name: ':latest with IfNotPresent voids the latest-tag exemption',
    mutate: (o) => (tpl(get(o, 'Deployment', 'janus')).spec.containers[0].imagePullPolicy = 'IfNotPresent'),
    expect: {
      severity: 'warning',
      rule: 'latest-tag',
      object: 'Deployment/roomler/janus',
      message: /the exemption does not hold: imagePullPolicy is IfNotPresent: a node that has an older copy never pulls the new one/,
    },
  },
  {
    name: 'floating major tag',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].image = 'redis:7-alpine'),
    expect: {
      severity: 'warning',
      rule: 'floating-tag',
      object: 'Deployment/roomler/redis',
      message: /"redis:7-alpine" names a moving version/,
    },
  },
  {
    name: 'a run-as-non-root exemption without runAsUser: 0',
    mutate: (o) => delete tpl(get(o, 'Deployment', 'janus')).spec.containers[0].securityContext.runAsUser,
    expect: {
      severity: 'warning',
      rule: 'run-as-non-root',
      object: 'Deployment/roomler/janus',
      message: /the exemption does not hold: runAsUser is unset, so the image's USER decides/,
    },
  },
  {
    name: 'added capability',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].securityContext.capabilities.add = ['NET_ADMIN']),
    expect: {
      severity: 'warning',
      rule: 'added-capabilities',
      object: 'Deployment/roomler/redis',
      path: 'spec.template.spec.containers[0].securityContext.capabilities.add',
      message: /adds NET_ADMIN/,
    },
  },
  {
    name: 'privileged port',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].ports[0].containerPort = 636),
    expect: {
      severity: 'warning',
      rule: 'privileged-ports',
      object: 'Deployment/roomler/redis',
      path: 'spec.template.spec.containers[0].ports[0]',
      message: /privileged port 636/,
    },
  },
  {
    name: 'secret literal in an env var',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].env = [{ name: 'REDIS_PASSWORD', value: 'hunter2' }]),
    expect: {
      severity: 'warning',
      rule: 'env-var-secret',
      object: 'Deployment/roomler/redis',
      path: 'spec.template.spec.containers[0].env[0]',
      message: /REDIS_PASSWORD .* looks like a secret/,
    },
  },
  {
    name: 'Secret read into an env var',
    mutate: (o) =>
      tpl(get(o, 'StatefulSet', 'mongodb')).spec.containers[0].env.push({
        name: 'MONGO_INITDB_ROOT_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'mongodb-secret', key: 'MONGO_INITDB_ROOT_PASSWORD' } },
      }),
    expect: {
      severity: 'warning',
      rule: 'read-secret-from-env-var',
      object: 'StatefulSet/roomler/mongodb',
      message: /reads Secret mongodb-secret/,
    },
  },
  {
    name: 'no ephemeral-storage limit',
    mutate: (o) => delete tpl(get(o, 'Deployment', 'redis')).spec.containers[0].resources.limits['ephemeral-storage'],
    expect: {
      severity: 'warning',
      rule: 'unset-ephemeral-storage-requirements',
      object: 'Deployment/roomler/redis',
      message: /ephemeral-storage request or limit/,
    },
  },
  {
    name: 'writable root filesystem',
    mutate: (o) => (tpl(get(o, 'Deployment', 'redis')).spec.containers[0].securityContext.readOnlyRootFilesystem = false),
    expect: { severity: 'warning', rule: 'no-read-only-root-fs', object: 'Deployment/roomler/redis', message: /writable root filesystem/ },
  },
  {
    name: 'privilege escalation allowed',
    mutate: (o) => delete tpl(get(o, 'Deployment', 'redis')).spec.containers[0].securityContext.allowPrivilegeEscalation,
    expect: {
      severity: 'warning',
      rule: 'privilege-escalation-container',
      object: 'Deployment/roomler/redis',
      message: /allows privilege escalation/,
    },
  },
  {
    name: 'root user',
    mutate: (o) => {
      const s = tpl(get(o, 'Deployment', 'redis')).spec;
      delete s.securityContext.runAsNonRoot;
      delete s.securityContext.runAsUser;
      delete s.containers[0].securityContext.runAsNonRoot;
      delete s.containers[0].securityContext.runAsUser;
    },
    expect: { severity: 'warning', rule: 'run-as-non-root', object: 'Deployment/roomler/redis', message: /may run as root/ },
  },
  {
    name: 'pod outside every NetworkPolicy',
    mutate: (o) =>
      o.splice(o.indexOf(get(o, 'NetworkPolicy', 'redis')), 1) &&
      o.splice(o.indexOf(get(o, 'NetworkPolicy', 'default-deny')), 1) &&
      o.splice(o.indexOf(get(o, 'NetworkPolicy', 'allow-dns')), 1),
    expect: { severity: 'warning', rule: 'non-isolated-pod', object: 'Deployment/roomler/redis', message: /no NetworkPolicy selects/ },
  },
  {
    name: 'CronJob without startingDeadlineSeconds and with a job TTL',
    mutate: (o) =>
      o.push({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'tick', namespace: 'roomler' },
        spec: {
          schedule: '0 3 * * *',
          jobTemplate: {
            spec: {
              ttlSecondsAfterFinished: 60,
              template: {
                spec: {
                  restartPolicy: 'Never',
                  containers: [
                    { name: 'tick', image: 'busybox:1.36', resources: tpl(get(o, 'Deployment', 'redis')).spec.containers[0].resources },
                  ],
                },
              },
            },
          },
        },
      }),
    expect: { severity: 'warning', rule: 'cronjob-starting-deadline', object: 'CronJob/roomler/tick', message: /started arbitrarily late/ },
  },
  {
    name: 'CronJob schedule syntax',
    mutate: (o) =>
      o.push({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'tock', namespace: 'roomler' },
        spec: {
          schedule: '0 25 * * *',
          startingDeadlineSeconds: 60,
          jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'tock', image: 'busybox:1.36' }] } } } },
        },
      }),
    expect: {
      rule: 'api-server',
      object: 'CronJob/roomler/tock',
      path: 'spec.schedule',
      message: /end of range \(25\) above maximum \(23\)/,
    },
  },
  {
    name: 'PodDisruptionBudget that never allows a disruption',
    mutate: (o) =>
      o.push({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'mongodb', namespace: 'roomler' },
        spec: { minAvailable: 1, selector: { matchLabels: get(o, 'StatefulSet', 'mongodb').spec.selector.matchLabels } },
      }),
    expect: {
      severity: 'warning',
      rule: 'pdb-allows-disruption',
      object: 'PodDisruptionBudget/roomler/mongodb',
      message: /can never allow a disruption \(1 replica/,
    },
  },
];

const reportOf = (objs: K8sObject[]) =>
  validateReport(new Map([['roomler.k8s.yaml', objs.map((o) => stringify(o, { version: '1.1' })).join('---\n')]]));

describe('validation of the default output', () => {
  it('passes with zero errors and zero warnings, listing every exemption with its reason', () => {
    const report = reportOf(clone());
    expect(report.findings).toEqual([]);
    expect(report.exemptions.map((e) => `${e.object} ${e.check}`)).toEqual(
      expect.arrayContaining([
        'Deployment/roomler/janus host-network',
        'Service/roomler/roomler exposed-services',
        'Service/roomler/janus-nodeport exposed-services',
      ]),
    );
    expect(report.exemptions.every((e) => e.reason.length > 10)).toBe(true);
  });
});

describe('the broken-manifest corpus', () => {
  it(`covers every rule family (${CASES.length} cases)`, () => {
    const rules = new Set(CASES.map((c) => c.expect.rule));
    for (const r of [
      'schema',
      'api-server',
      'cross-object',
      'exemption',
      'latest-tag',
      'host-network',
      'exposed-services',
      'cronjob-starting-deadline',
      'pdb-allows-disruption',
      'non-isolated-pod',
    ])
      expect(rules).toContain(r);
    // What the independent linters found that our policy missed: each check has a case.
    const issue19 = [
      'identical-probes',
      'run-as-non-root',
      'latest-tag',
      'floating-tag',
      'added-capabilities',
      'privileged-ports',
      'env-var-secret',
      'read-secret-from-env-var',
      'unset-ephemeral-storage-requirements',
    ] as const;
    for (const check of issue19) {
      expect(POLICY_CHECKS).toHaveProperty(check);
      expect(rules, check).toContain(check);
    }
  });

  for (const c of CASES) {
    it(c.name, () => {
      const objs = clone();
      c.mutate(objs);
      const { findings } = reportOf(objs);
      const hit = findings.find(
        (f) =>
          f.rule === c.expect.rule &&
          f.object === c.expect.object &&
          c.expect.message.test(f.message) &&
          (c.expect.path === undefined || f.path === c.expect.path),
      );
      expect(
        hit,
        `findings were:\n${findings.map((f) => `${f.severity} ${f.rule} ${f.object} ${f.path}: ${f.message}`).join('\n')}`,
      ).toBeDefined();
      expect(hit!.severity).toBe(c.expect.severity ?? 'error');
      expect(hit!.file).toBe('roomler.k8s.yaml');
    });
  }

  it('reads YAML as kubectl does: a bare `no` in a command is a boolean, and an error', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: roomler\ndata:\n  APPENDONLY: no\n';
    const { findings } = validateReport(new Map([['bad.yaml', text]]));
    expect(findings).toContainEqual(
      expect.objectContaining({ rule: 'schema', path: 'data.APPENDONLY', message: 'expected string, got boolean' }),
    );
  });

  it('a path that only looks like a secret is not one: SECRET_DIR=/etc/… passes, SECRET_DIR=<a value> does not', () => {
    const withEnv = (value: string) => {
      const objs = clone();
      tpl(get(objs, 'Deployment', 'redis')).spec.containers[0].env = [{ name: 'SECRET_DIR', value }];
      return reportOf(objs).findings.filter((f) => f.rule === 'env-var-secret');
    };
    expect(withEnv('/etc/mongodb-credentials')).toEqual([]);
    expect(withEnv('s3cr3t-value')).toHaveLength(1);
  });

  it('the CronJob job TTL is flagged too', () => {
    const objs = clone();
    CASES.find((c) => c.name.startsWith('CronJob without'))!.mutate(objs);
    expect(reportOf(objs).findings.map((f) => f.rule)).toContain('cronjob-job-ttl');
  });
});

describe('cron syntax', () => {
  it.each(['0 3 * * *', '*/15 * * * *', '0 4 * * 1-5', '30 3 1,15 * *', '@daily', '0 0 * jan-mar sun'])('accepts %s', (s) =>
    expect(cronProblem(s)).toBeUndefined(),
  );
  // robfig/cron v3's own messages, as the API server reports them; a time zone belongs in spec.timeZone.
  it.each([
    ['0 3 * *', /expected exactly 5 fields, found 4/],
    ['60 * * * *', /end of range \(60\) above maximum \(59\)/],
    ['0 3 32 * *', /end of range \(32\) above maximum \(31\)/],
    ['*/0 * * * *', /step of range should be a positive number/],
    ['0 5-3 * * *', /beginning of range \(5\) beyond end of range \(3\)/],
    ['CRON_TZ=UTC 0 3 * * *', /cannot use TZ or CRON_TZ in schedule, use timeZone field instead/],
  ])('rejects %s', (s, re) => expect(cronProblem(s)).toMatch(re));
});
