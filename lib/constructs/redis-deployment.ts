import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { NAMES } from '../config';
import { containerDefaults, exec, podDefaults, probe, resourceRequirements, restrictedSecurityContext, scratch, tcp } from './container';
import { instanceExemptions, type InstanceScope, namespaced, recommendedLabels, selectorLabels } from './metadata';

export type RedisDeploymentProps = InstanceScope;

/** The redis image's redis user. */
export const REDIS_UID = 999;

/** Redis for Socket.IO pub/sub only: nothing to persist, so persistence is off and no volume is needed. */
export class RedisDeployment extends Construct {
  readonly service: k8s.KubeService;
  readonly deployment: k8s.KubeDeployment;

  constructor(scope: Construct, id: string, props: RedisDeploymentProps) {
    super(scope, id);
    const { instance: i } = props;
    const r = i.redis;
    const labels = recommendedLabels(i, NAMES.redis, 'cache');
    const selector = selectorLabels(i, NAMES.redis);
    // Persistence is off, but redis-server starts in the image's /data: keep it writable on a read-only root.
    const data = scratch('data', '/data');

    this.service = new k8s.KubeService(this, 'service', {
      metadata: namespaced(i, NAMES.redis, labels),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'redis', port: r.port, targetPort: k8s.IntOrString.fromString('redis'), protocol: 'TCP' }],
      },
    });

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: namespaced(i, NAMES.redis, labels, instanceExemptions(i)),
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            ...podDefaults(REDIS_UID),
            containers: [
              {
                name: 'redis',
                ...containerDefaults(r.image, i.imagePullPolicy),
                command: ['redis-server', '--port', String(r.port), '--save', '', '--appendonly', 'no'],
                securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: true, runAsUser: REDIS_UID }),
                ports: [{ name: 'redis', containerPort: r.port, protocol: 'TCP' }],
                resources: resourceRequirements(r.resources),
                readinessProbe: probe(exec('redis-cli', '-p', String(r.port), 'ping'), r.readinessProbe),
                livenessProbe: probe(tcp('redis'), r.livenessProbe),
                volumeMounts: [data.mount],
              },
            ],
            volumes: [data.volume],
          },
        },
      },
    });
  }
}
