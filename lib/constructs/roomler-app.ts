import { createHash } from 'node:crypto';

import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { APP_SECRET_KEYS, appConfigData, NAMES } from '../config';
import {
  containerDefaults,
  exec,
  httpGet,
  podDefaults,
  probe,
  resourceRequirements,
  restrictedSecurityContext,
  ROOT_UID,
  tcp,
} from './container';
import {
  CONFIG_HASH_ANNOTATION,
  exemptions,
  instanceExemptions,
  type InstanceScope,
  latestTagReason,
  namespaced,
  recommendedLabels,
  selectorLabels,
} from './metadata';

/** What the app's pods read at start, hashed: the ConfigMap's data and which Secret (and keys) they read. */
const configHash = (configMap: string, data: Record<string, string>, secret: string) =>
  createHash('sha256')
    .update(JSON.stringify({ configMap, data: Object.entries(data).sort(), secret, keys: APP_SECRET_KEYS }))
    .digest('hex');

export interface RoomlerAppProps extends InstanceScope {
  /** Claim holding user uploads. */
  readonly uploadsClaimName: string;
}

/** The Roomler Node.js app under PM2, its non-secret config, and the NodePort the host nginx proxies to. */
export class RoomlerApp extends Construct {
  readonly configMap: k8s.KubeConfigMap;
  readonly deployment: k8s.KubeDeployment;
  readonly service: k8s.KubeService;

  constructor(scope: Construct, id: string, props: RoomlerAppProps) {
    super(scope, id);
    const { instance: i } = props;
    const a = i.app;
    const labels = recommendedLabels(i, NAMES.app, 'app');
    const selector = selectorLabels(i, NAMES.app);

    const data = appConfigData(i);
    this.configMap = new k8s.KubeConfigMap(this, 'config', {
      metadata: namespaced(i, a.configMapName, labels),
      data,
    });

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: namespaced(i, NAMES.app, labels, {
        ...instanceExemptions(i),
        ...exemptions({
          'run-as-non-root': 'gjovanov/roomler runs as root (runAsUser: 0) and the migrated uploads are owned by root',
          'no-read-only-root-fs': 'PM2 writes ~/.pm2 and Nuxt writes its cache inside the image; ephemeral-storage is limited',
          'latest-tag': latestTagReason(a.image, a.latestTagReason),
          'read-secret-from-env-var': `the app reads DB_CONN, TURN_PASSWORD and the OAuth secrets from process.env (envFrom ${a.secretName}); it has no _FILE variants`,
        }),
      }),
      spec: {
        replicas: a.replicas,
        // Surge first: the old pod keeps serving until the new one is ready.
        strategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) },
        },
        selector: { matchLabels: selector },
        template: {
          // envFrom is read once, at start: a changed ConfigMap (or a Secret with other keys) must replace the pods.
          metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash(this.configMap.metadata.name!, data, a.secretName) } },
          spec: {
            ...podDefaults(),
            terminationGracePeriodSeconds: a.shutdown.gracePeriodSeconds,
            containers: [
              {
                name: 'roomler',
                ...containerDefaults(a.image, i.imagePullPolicy),
                command: a.command,
                workingDir: a.workingDir,
                ports: [{ name: 'http', containerPort: a.port, protocol: 'TCP' }],
                securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: false, runAsUser: ROOT_UID }),
                // Endpoints drop the pod first, then PM2 gets SIGTERM and drains its workers.
                lifecycle: { preStop: { exec: exec('sleep', String(a.shutdown.preStopSeconds)).exec! } },
                envFrom: [{ configMapRef: { name: a.configMapName } }, { secretRef: { name: a.secretName } }],
                resources: resourceRequirements(a.resources),
                startupProbe: probe(tcp('http'), a.startupProbe),
                // Different handlers: readiness asks the API, liveness only connects (identical-probes).
                readinessProbe: probe(httpGet(a.readinessPath, 'http'), a.readinessProbe),
                livenessProbe: probe(tcp('http'), a.livenessProbe),
                volumeMounts: [{ name: 'uploads', mountPath: a.uploads.mountPath }],
              },
            ],
            volumes: [{ name: 'uploads', persistentVolumeClaim: { claimName: props.uploadsClaimName } }],
          },
        },
      },
    });

    this.service = new k8s.KubeService(this, 'service', {
      metadata: namespaced(
        i,
        NAMES.app,
        labels,
        exemptions({ 'exposed-services': 'the host nginx proxies roomler.live to this NodePort' }),
      ),
      spec: {
        type: 'NodePort',
        selector,
        ports: [{ name: 'http', port: a.port, targetPort: k8s.IntOrString.fromString('http'), nodePort: a.nodePort, protocol: 'TCP' }],
      },
    });
  }
}
