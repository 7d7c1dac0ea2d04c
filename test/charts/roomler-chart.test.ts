import { afterAll, describe, expect, it } from 'vitest';

import { MONGODB_CREDENTIALS } from '../../lib/config';
import { BACKUP_SCRIPTS } from '../../lib/constructs/mongodb-backup-cronjobs';
import { type K8sObject, podSpecOf } from '../../lib/manifest';
import { allObjects, cleanupDirs, find, projectWith } from '../support/files';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);

const files = synthFiles();
const objects = allObjects(files);
const container = (workload: K8sObject, name: string) => podSpecOf(workload)!.containers.find((c: K8sObject) => c.name === name);

describe('roomler chart (default config = the reference production topology)', () => {
  it('matches its YAML snapshot', async () => {
    await expect(files.get('roomler.k8s.yaml')).toMatchFileSnapshot('__snapshots__/roomler.k8s.yaml');
  });

  it('starts with the Namespace and the PersistentVolumes, in apply order', () => {
    const kinds = objectsInFile('roomler.k8s.yaml').map((o) => o.kind);
    expect(kinds[0]).toBe('Namespace');
    expect(kinds.slice(1, 4)).toEqual(['PersistentVolume', 'PersistentVolume', 'PersistentVolume']);
    expect(kinds.indexOf('PersistentVolumeClaim')).toBeLessThan(kinds.indexOf('StatefulSet'));
    expect(kinds.indexOf('ConfigMap')).toBeLessThan(kinds.indexOf('Deployment'));
  });

  it('names every object exactly, without hash suffixes', () => {
    const names = objects.filter((o) => o.metadata.namespace === 'roomler').map((o) => `${o.kind}/${o.metadata.name}`);
    for (const n of [
      'StatefulSet/mongodb',
      'Service/mongodb',
      'PersistentVolumeClaim/mongodb-data',
      'Deployment/redis',
      'Service/redis',
      'Deployment/janus',
      'Service/janus',
      'Service/janus-nodeport',
      'Deployment/roomler',
      'Service/roomler',
      'ConfigMap/roomler-config',
      'PersistentVolumeClaim/roomler-uploads',
    ])
      expect(names).toContain(n);
    expect(objects.every((o) => !/-[0-9a-f]{8}$/.test(o.metadata.name))).toBe(true);
  });

  it('exposes the NodePorts the host nginx proxies to', () => {
    const app = find(objects, 'Service', 'roomler');
    expect(app.spec.type).toBe('NodePort');
    expect(app.spec.ports).toEqual([expect.objectContaining({ name: 'http', port: 3000, nodePort: 30030 })]);
    const janus = find(objects, 'Service', 'janus-nodeport');
    // The Janus API only: the admin API (7088/7188) is on no NodePort and no Service.
    expect(Object.fromEntries(janus.spec.ports.map((p: K8sObject) => [p.port, p.nodePort]))).toEqual({ 8088: 30808, 8188: 30818 });
    expect(find(objects, 'Service', 'janus').spec.type).toBe('ClusterIP');
    expect(find(objects, 'Service', 'janus').spec.ports.map((p: K8sObject) => p.port)).toEqual([8088, 8188]);
    expect(find(objects, 'Service', 'mongodb').spec.clusterIP).toBe('None');
  });

  it('runs Janus on the host network, pinned, recreated, ready on /janus/info', () => {
    const janus = find(objects, 'Deployment', 'janus');
    const spec = podSpecOf(janus)!;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-worker1' });
    expect(janus.spec.strategy).toEqual({ type: 'Recreate' });
    const c = container(janus, 'janus');
    expect(c.image).toBe('gjovanov/janus-slim:latest');
    // :latest only with Always: a node that has an older copy pulls the new one on every start.
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.securityContext).toMatchObject({ runAsUser: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/janus/info', port: 'http' });
    expect(c.ports.map((p: K8sObject) => p.containerPort)).toEqual([8088, 8188]);
  });

  it("switches the Janus admin API off by default, in the transport configs that replace the image's", () => {
    const janus = find(objects, 'Deployment', 'janus');
    const cm = find(objects, 'ConfigMap', 'janus-config');
    expect(cm.data['janus.transport.http.jcfg']).toMatch(/^\tadmin_http = false$/m);
    expect(cm.data['janus.transport.http.jcfg']).toMatch(/^\tport = 8088$/m);
    expect(cm.data['janus.transport.websockets.jcfg']).toMatch(/^\tadmin_ws = false$/m);
    expect(container(janus, 'janus').volumeMounts).toEqual([
      { name: 'config', mountPath: '/opt/janus/etc/janus/janus.transport.http.jcfg', subPath: 'janus.transport.http.jcfg', readOnly: true },
      {
        name: 'config',
        mountPath: '/opt/janus/etc/janus/janus.transport.websockets.jcfg',
        subPath: 'janus.transport.websockets.jcfg',
        readOnly: true,
      },
    ]);
    expect(podSpecOf(janus)!.initContainers).toBeUndefined();
  });

  it('serves the Janus admin API, when enabled, only on its bind address and ACL, with the admin secret from a Secret', () => {
    const enabled = allObjects(
      synthFiles({
        cwd: projectWith({ 'roomler.yaml': 'janus:\n  admin: { enabled: true, bindAddress: 10.0.0.11, allowFrom: [10.0.0.5] }\n' }),
        env: {},
      }),
    );
    const janus = find(enabled, 'Deployment', 'janus');
    const http = find(enabled, 'ConfigMap', 'janus-config').data['janus.transport.http.jcfg'];
    for (const line of ['admin_http = true', 'admin_port = 7088', 'admin_ip = "10.0.0.11"', 'admin_acl = "10.0.0.5"'])
      expect(http.split('\n')).toContain(`\t${line}`);
    expect(find(enabled, 'ConfigMap', 'janus-config').data['janus.transport.websockets.jcfg'].split('\n')).toContain(
      '\tadmin_ws_ip = "10.0.0.11"',
    );
    expect(container(janus, 'janus').ports.map((p: K8sObject) => `${p.name}:${p.hostPort}`)).toEqual([
      'http:8088',
      'websocket:8188',
      'admin-http:7088',
      'admin-websocket:7188',
    ]);
    expect(find(enabled, 'Service', 'janus-nodeport').spec.ports.map((p: K8sObject) => p.port)).toEqual([8088, 8188]);
    const init = podSpecOf(janus)!.initContainers[0];
    expect(init.command.slice(3)).toEqual([
      'janus-config',
      '/opt/janus/etc/janus/janus.jcfg',
      '/secrets/admin-secret',
      '/run/janus-config/janus.jcfg',
    ]);
    expect(podSpecOf(janus)!.volumes).toContainEqual({ name: 'admin-secret', secret: { secretName: 'janus-admin', defaultMode: 0o400 } });
    expect(container(janus, 'janus').volumeMounts).toContainEqual({
      name: 'runtime',
      mountPath: '/opt/janus/etc/janus/janus.jcfg',
      subPath: 'janus.jcfg',
      readOnly: true,
    });
    // A config change replaces the pod: subPath mounts never see ConfigMap updates.
    expect(janus.spec.template.metadata.annotations['roomler.io/config-sha256']).not.toBe(
      find(objects, 'Deployment', 'janus').spec.template.metadata.annotations['roomler.io/config-sha256'],
    );
  });

  it('gives MongoDB a generous startup probe, a cheap liveness and the data node', () => {
    const sts = find(objects, 'StatefulSet', 'mongodb');
    expect(sts.spec.serviceName).toBe('mongodb');
    expect(sts.spec.replicas).toBe(1);
    const spec = podSpecOf(sts)!;
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-worker1' });
    expect(spec.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
    const c = container(sts, 'mongodb');
    expect(c.image).toBe('mongo:7.0.16');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    const budget = c.startupProbe.initialDelaySeconds + c.startupProbe.periodSeconds * c.startupProbe.failureThreshold;
    expect(budget).toBeGreaterThanOrEqual(300);
    expect(c.readinessProbe.exec.command.join(' ')).toContain('db.runCommand({ping:1}).ok');
    expect(c.livenessProbe.tcpSocket).toBeDefined();
    expect(c.resources).toEqual({
      requests: { cpu: '250m', memory: '512Mi', 'ephemeral-storage': '128Mi' },
      limits: { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '1Gi' },
    });
    // The root credentials are files (MONGODB_CREDENTIALS), read through the image's _FILE variables; no value in env.
    expect(c.env.filter((e: K8sObject) => e.valueFrom)).toEqual([]);
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'MONGO_INITDB_ROOT_USERNAME_FILE', value: `${MONGODB_CREDENTIALS.dir}/MONGO_INITDB_ROOT_USERNAME` },
        { name: 'MONGO_INITDB_ROOT_PASSWORD_FILE', value: `${MONGODB_CREDENTIALS.dir}/MONGO_INITDB_ROOT_PASSWORD` },
        { name: 'SECRET_DIR', value: MONGODB_CREDENTIALS.dir },
      ]),
    );
    expect(c.volumeMounts).toContainEqual({ name: 'credentials', mountPath: MONGODB_CREDENTIALS.dir, readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'credentials', secret: { secretName: 'mongodb-secret', defaultMode: 0o400 } });
    expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data/db' });
    expect(spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'mongodb-data' } });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    // A read-only root still needs /tmp for mongod's socket.
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('starts Redis without persistence', () => {
    const c = container(find(objects, 'Deployment', 'redis'), 'redis');
    expect(c.image).toBe('redis:7.4.2-alpine');
    expect(c.command).toEqual(expect.arrayContaining(['--save', '', '--appendonly', 'no']));
    expect(c.readinessProbe.exec.command).toContain('ping');
  });

  it('runs the app under PM2 with the field-tested probe timings and 4Gi limit', () => {
    const app = find(objects, 'Deployment', 'roomler');
    const c = container(app, 'roomler');
    expect(c.command).toEqual(['npx', 'pm2-runtime', 'start', '/roomler/pm2.config.js']);
    expect(c.workingDir).toBe('/roomler/packages/ui');
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.securityContext).toMatchObject({ runAsUser: 0 });
    expect(c.startupProbe).toMatchObject({ tcpSocket: { port: 'http' }, initialDelaySeconds: 10, periodSeconds: 5, failureThreshold: 30 });
    // Readiness asks the API; liveness only connects: different handlers, not just different thresholds.
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/api/ping', port: 'http' }, periodSeconds: 10, failureThreshold: 5 });
    expect(c.livenessProbe).toMatchObject({ tcpSocket: { port: 'http' }, periodSeconds: 15, failureThreshold: 10 });
    expect(c.resources.limits).toEqual({ cpu: '1', memory: '4Gi', 'ephemeral-storage': '4Gi' });
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'roomler-config' } }, { secretRef: { name: 'roomler-secret' } }]);
    expect(c.volumeMounts).toEqual([{ name: 'uploads', mountPath: '/roomler/packages/ui/static/uploads' }]);
  });

  it('puts only non-secret keys into roomler-config, with a TURN username coturn accepts', () => {
    const cm = find(objects, 'ConfigMap', 'roomler-config');
    expect(cm.data.TURN_USERNAME).toBe('2145830400:roomler');
    expect(cm.data.URL).toBe('https://roomler.live');
    expect(cm.data.JANUS_URL).toBe('wss://janus.roomler.live/janus_ws');
    expect(cm.data.WS_SCALEOUT_HOST).toBe('redis');
    expect(cm.data.PORT).toBe('3000');
    for (const secret of ['DB_CONN', 'TURN_PASSWORD', 'SENDGRID_API_KEY', 'GOOGLE_SECRET', 'WEB_PUSH_PRIVATE_KEY']) {
      expect(cm.data).not.toHaveProperty(secret);
    }
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
  });

  it('isolates the namespace: default deny, then only the flows the stack uses', () => {
    const np = (name: string) => find(objects, 'NetworkPolicy', name, 'roomler').spec;
    expect(np('default-deny')).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(np('mongodb').ingress[0].ports).toEqual([{ port: 27017, protocol: 'TCP' }]);
    expect(np('redis').ingress[0].from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'roomler', 'app.kubernetes.io/instance': 'roomler' } } },
    ]);
  });

  it('stops Janus and the app gracefully', () => {
    for (const [name, pre, grace] of [
      ['janus', '30', 120],
      ['roomler', '10', 60],
    ] as const) {
      const d = find(objects, 'Deployment', name);
      expect(podSpecOf(d)!.terminationGracePeriodSeconds).toBe(grace);
      expect(container(d, name).lifecycle.preStop.exec.command).toEqual(['sleep', pre]);
    }
  });

  it('backs MongoDB up nightly with CronJobs that never hide a failure', () => {
    const backup = find(objects, 'CronJob', 'mongodb-backup');
    const verify = find(objects, 'CronJob', 'mongodb-backup-verify');
    expect([backup.spec.schedule, verify.spec.schedule]).toEqual(['0 3 * * *', '0 4 * * *']);
    for (const cj of [backup, verify]) {
      expect(cj.spec).toMatchObject({
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
      });
      expect(cj.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 3600 });
      expect(cj.spec.jobTemplate.spec.ttlSecondsAfterFinished).toBeUndefined();
      expect(podSpecOf(cj)!.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-worker1' });
    }
    const c = podSpecOf(backup)!.containers[0];
    expect(c.command).toEqual(['bash', '/scripts/mongodb-backup.sh']);
    expect(c.env).toContainEqual({ name: 'KEEP', value: '7' });
    expect(c.env).toContainEqual({ name: 'DATABASE', value: 'roomlerdb' });
    // Credentials arrive as files from the Secret, never as env values or arguments.
    expect(podSpecOf(backup)!.volumes).toContainEqual({
      name: 'credentials',
      secret: { secretName: 'mongodb-secret', defaultMode: 0o400 },
    });
    expect(c.volumeMounts).toContainEqual({ name: 'credentials', mountPath: MONGODB_CREDENTIALS.dir, readOnly: true });
    expect(c.env).toContainEqual({ name: 'SECRET_DIR', value: MONGODB_CREDENTIALS.dir });
    expect(JSON.stringify(c.env)).not.toContain('secretKeyRef');
    expect(find(objects, 'ConfigMap', 'mongodb-backup-scripts').data['mongodb-backup.sh']).toContain('set -euo pipefail');
    expect(Object.keys(find(objects, 'ConfigMap', 'mongodb-backup-scripts').data).sort()).toEqual([...BACKUP_SCRIPTS].sort());
    // mongosh needs a writable HOME: on the read-only root filesystem it warns on stdout (docs/mongodb.md).
    for (const cj of [backup, verify]) {
      const home = podSpecOf(cj)!.containers[0].env.find((e: { name: string }) => e.name === 'HOME')?.value;
      const mount = podSpecOf(cj)!.containers[0].volumeMounts.find((m: { mountPath: string }) => m.mountPath === home);
      expect(podSpecOf(cj)!.volumes).toContainEqual({ name: mount.name, emptyDir: {} });
      expect(podSpecOf(cj)!.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    }
    expect(find(objects, 'PersistentVolume', 'roomler-mongodb-backup').spec.hostPath.path).toBe('/data/roomler/backup');
    expect(objects.some((o) => o.metadata.name === 'mongodb-restore-test')).toBe(false);
  });

  it('binds each static claim to exactly its hostPath volume on the data node', () => {
    for (const [pvc, pv, path, size] of [
      ['mongodb-backup', 'roomler-mongodb-backup', '/data/roomler/backup', '10Gi'],
      ['mongodb-data', 'roomler-mongodb-data', '/data/roomler/mongodb', '5Gi'],
      ['roomler-uploads', 'roomler-uploads', '/data/roomler/uploads', '5Gi'],
    ]) {
      const claim = find(objects, 'PersistentVolumeClaim', pvc, 'roomler');
      const volume = find(objects, 'PersistentVolume', pv);
      expect(volume.metadata.namespace).toBeUndefined();
      expect(volume.spec).toMatchObject({
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        hostPath: { path },
        claimRef: { namespace: 'roomler', name: pvc },
      });
      expect(volume.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0]).toEqual({
        key: 'kubernetes.io/hostname',
        operator: 'In',
        values: ['k8s-worker1'],
      });
      expect(claim.spec).toMatchObject({ storageClassName: '', volumeName: pv, resources: { requests: { storage: size } } });
      expect(volume.spec.capacity.storage).toBe(claim.spec.resources.requests.storage);
    }
  });
});

function objectsInFile(name: string): K8sObject[] {
  return allObjects(new Map([[name, files.get(name)!]]));
}
