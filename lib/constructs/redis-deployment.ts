import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { NAMES } from '../config';
import { containerDefaults, exec, probe, resourceRequirements, tcp } from './container';
import { namespaced, recommendedLabels, selectorLabels, type InstanceScope } from './metadata';

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

    this.service = new k8s.KubeService(this, 'service', {
      metadata: namespaced(i, NAMES.redis, labels),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'redis', port: r.port, targetPort: k8s.IntOrString.fromString('redis'), protocol: 'TCP' }],
      },
    });

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: namespaced(i, NAMES.redis, labels),
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            securityContext: { runAsUser: REDIS_UID, runAsGroup: REDIS_UID, runAsNonRoot: true },
            containers: [
              {
                name: 'redis',
                image: r.image,
                ...containerDefaults(i),
                command: ['redis-server', '--port', String(r.port), '--save', '', '--appendonly', 'no'],
                ports: [{ name: 'redis', containerPort: r.port, protocol: 'TCP' }],
                resources: resourceRequirements(r.resources),
                readinessProbe: probe(exec('redis-cli', '-p', String(r.port), 'ping'), r.readinessProbe),
                livenessProbe: probe(tcp('redis'), r.livenessProbe),
              },
            ],
          },
        },
      },
    });
  }
}
