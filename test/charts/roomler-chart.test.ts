import { afterAll, describe, expect, it } from 'vitest';
import { allObjects, cleanupDirs, find, podSpec, synthFiles, type Obj } from '../support/synth';

afterAll(cleanupDirs);

const files = synthFiles();
const objects = allObjects(files);
const container = (workload: Obj, name: string) => podSpec(workload).containers.find((c: Obj) => c.name === name);

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
      'StatefulSet/mongodb', 'Service/mongodb', 'PersistentVolumeClaim/mongodb-data', 'Deployment/redis', 'Service/redis',
      'Deployment/janus', 'Service/janus', 'Service/janus-nodeport', 'Deployment/roomler', 'Service/roomler',
      'ConfigMap/roomler-config', 'PersistentVolumeClaim/roomler-uploads',
    ]) expect(names).toContain(n);
    expect(objects.every((o) => !/-[0-9a-f]{8}$/.test(o.metadata.name))).toBe(true);
  });

  it('exposes the NodePorts the host nginx proxies to', () => {
    const app = find(objects, 'Service', 'roomler');
    expect(app.spec.type).toBe('NodePort');
    expect(app.spec.ports).toEqual([expect.objectContaining({ name: 'http', port: 3000, nodePort: 30030 })]);
    const janus = find(objects, 'Service', 'janus-nodeport');
    expect(Object.fromEntries(janus.spec.ports.map((p: Obj) => [p.port, p.nodePort]))).toEqual({ 8088: 30808, 8188: 30818, 7088: 30708, 7188: 30718 });
    expect(find(objects, 'Service', 'janus').spec.type).toBe('ClusterIP');
    expect(find(objects, 'Service', 'mongodb').spec.clusterIP).toBe('None');
  });

  it('runs Janus on the host network, pinned, recreated, ready on /janus/info', () => {
    const janus = find(objects, 'Deployment', 'janus');
    const spec = podSpec(janus);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-worker1' });
    expect(janus.spec.strategy).toEqual({ type: 'Recreate' });
    const c = container(janus, 'janus');
    expect(c.image).toBe('gjovanov/janus-slim:latest');
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/janus/info', port: 'http' });
    expect(c.ports.find((p: Obj) => p.name === 'http').containerPort).toBe(8088);
  });

  it('gives MongoDB a generous startup probe, a cheap liveness and the data node', () => {
    const sts = find(objects, 'StatefulSet', 'mongodb');
    expect(sts.spec.serviceName).toBe('mongodb');
    expect(sts.spec.replicas).toBe(1);
    const spec = podSpec(sts);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-worker1' });
    expect(spec.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
    const c = container(sts, 'mongodb');
    expect(c.image).toBe('mongo:7');
    const budget = c.startupProbe.initialDelaySeconds + c.startupProbe.periodSeconds * c.startupProbe.failureThreshold;
    expect(budget).toBeGreaterThanOrEqual(300);
    expect(c.readinessProbe.exec.command.join(' ')).toContain('db.runCommand({ping:1}).ok');
    expect(c.livenessProbe.tcpSocket).toBeDefined();
    expect(c.resources).toEqual({ requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '500m', memory: '1Gi' } });
    expect(c.env.filter((e: Obj) => e.valueFrom).map((e: Obj) => e.valueFrom.secretKeyRef.name)).toEqual(['mongodb-secret', 'mongodb-secret']);
    expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data/db' });
    expect(spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'mongodb-data' } });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    // A read-only root still needs /tmp for mongod's socket.
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('starts Redis without persistence', () => {
    const c = container(find(objects, 'Deployment', 'redis'), 'redis');
    expect(c.image).toBe('redis:7-alpine');
    expect(c.command).toEqual(expect.arrayContaining(['--save', '', '--appendonly', 'no']));
    expect(c.readinessProbe.exec.command).toContain('ping');
  });

  it('runs the app under PM2 with the field-tested probe timings and 4Gi limit', () => {
    const app = find(objects, 'Deployment', 'roomler');
    const c = container(app, 'roomler');
    expect(c.command).toEqual(['npx', 'pm2-runtime', 'start', '/roomler/pm2.config.js']);
    expect(c.workingDir).toBe('/roomler/packages/ui');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.startupProbe).toMatchObject({ tcpSocket: { port: 'http' }, initialDelaySeconds: 10, periodSeconds: 5, failureThreshold: 30 });
    expect(c.readinessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 5 });
    expect(c.livenessProbe).toMatchObject({ periodSeconds: 15, failureThreshold: 10 });
    expect(c.resources.limits).toEqual({ cpu: '1', memory: '4Gi' });
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
    expect(np('redis').ingress[0].from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'roomler', 'app.kubernetes.io/instance': 'roomler' } } }]);
  });

  it('stops Janus and the app gracefully', () => {
    for (const [name, pre, grace] of [['janus', '30', 120], ['roomler', '10', 60]] as const) {
      const d = find(objects, 'Deployment', name);
      expect(podSpec(d).terminationGracePeriodSeconds).toBe(grace);
      expect(container(d, name).lifecycle.preStop.exec.command).toEqual(['sleep', pre]);
    }
  });

  it('backs MongoDB up nightly with CronJobs that never hide a failure', () => {
    const backup = find(objects, 'CronJob', 'mongodb-backup');
    const verify = find(objects, 'CronJob', 'mongodb-backup-verify');
    expect([backup.spec.schedule, verify.spec.schedule]).toEqual(['0 3 * * *', '0 4 * * *']);
    for (const cj of [backup, verify]) {
      expect(cj.spec).toMatchObject({ concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 3600, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 });
      expect(cj.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 3600 });
      expect(cj.spec.jobTemplate.spec.ttlSecondsAfterFinished).toBeUndefined();
      expect(podSpec(cj).nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-worker1' });
    }
    const c = podSpec(backup).containers[0];
    expect(c.command).toEqual(['bash', '/scripts/mongodb-backup.sh']);
    expect(c.env).toContainEqual({ name: 'KEEP', value: '7' });
    expect(c.env).toContainEqual({ name: 'DATABASE', value: 'roomlerdb' });
    // Credentials arrive as files from the Secret, never as env values or arguments.
    expect(podSpec(backup).volumes).toContainEqual({ name: 'credentials', secret: { secretName: 'mongodb-secret', defaultMode: 0o400 } });
    expect(JSON.stringify(c.env)).not.toContain('secretKeyRef');
    expect(find(objects, 'ConfigMap', 'mongodb-backup-scripts').data['mongodb-backup.sh']).toContain('set -euo pipefail');
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
      expect(volume.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0]).toEqual({ key: 'kubernetes.io/hostname', operator: 'In', values: ['k8s-worker1'] });
      expect(claim.spec).toMatchObject({ storageClassName: '', volumeName: pv, resources: { requests: { storage: size } } });
      expect(volume.spec.capacity.storage).toBe(claim.spec.resources.requests.storage);
    }
  });
});

function objectsInFile(name: string): Obj[] {
  return allObjects(new Map([[name, files.get(name)!]]));
}
