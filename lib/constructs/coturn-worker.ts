import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { CoturnConfig } from '../config/coturn';
import { HOST_UDP_PORTS_ANNOTATION } from '../validate/cross-object';
import { exec, nodePin, probe, resourceRequirements, scratch, tcp } from './container';
import { exemptions } from './metadata';
import { turnserverConf } from './turnserver-conf';

export interface CoturnWorkerProps {
  readonly coturn: CoturnConfig;
  readonly worker: CoturnConfig['workers'][number];
  /** Labels every object of the coturn chart carries. */
  readonly labels: (name: string, component: string) => Record<string, string>;
}

/**
 * One TURN server on one WebRTC node: a Deployment (not a DaemonSet, because each node needs its own
 * external-ip and is named in TURN URLs) on the host network, its turnserver.conf in a ConfigMap, and the auth
 * secret joined to it at start by an init container, so it never sits in a ConfigMap or an argv.
 */
export class CoturnWorker extends Construct {
  readonly deployment: k8s.KubeDeployment;

  constructor(scope: Construct, id: string, props: CoturnWorkerProps) {
    super(scope, id);
    const { coturn: c, worker: w } = props;
    const name = `coturn-${w.name}`;
    const ns = c.namespace;
    const labels = props.labels(name, 'turn-server');
    const selector = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': 'coturn' };
    const config = new k8s.KubeConfigMap(this, 'config', {
      metadata: { name, namespace: ns, labels },
      data: { 'turnserver.conf': turnserverConf(c, w) },
    });
    const runtime = scratch('runtime', '/etc/coturn');
    const ports = [
      { name: 'turn-udp', containerPort: c.ports.listening, protocol: 'UDP' },
      { name: 'turn-tcp', containerPort: c.ports.listening, protocol: 'TCP' },
      { name: 'turns', containerPort: c.ports.tls, protocol: 'TCP' },
      { name: 'turns-alt', containerPort: c.ports.altTls, protocol: 'TCP' },
    ].map((p) => ({ ...p, hostPort: p.containerPort }));
    const securityContext: k8s.SecurityContext = {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    };

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: {
        name,
        namespace: ns,
        labels,
        annotations: exemptions({
          'host-network': 'TURN relays must bind the node addresses and the relay range on the node',
          'non-isolated-pod': 'hostNetwork pods are outside NetworkPolicy; denied-peer-ip guards the relay',
          'run-as-non-root': `coturn binds the alt-TLS port ${c.ports.altTls}; it runs as root with only NET_BIND_SERVICE`,
        }),
      },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...labels, ...selector }, annotations: { [HOST_UDP_PORTS_ANNOTATION]: c.relayRange } },
          spec: {
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            nodeSelector: nodePin(w.node),
            automountServiceAccountToken: false,
            securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
            initContainers: [
              {
                name: 'config',
                image: c.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['sh', '-c', 'umask 077 && cat /etc/coturn-template/turnserver.conf > /etc/coturn/turnserver.conf && printf "static-auth-secret=%s\\n" "$(cat /secrets/static-auth-secret)" >> /etc/coturn/turnserver.conf'],
                securityContext,
                resources: resourceRequirements({ requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } }),
                volumeMounts: [
                  { name: 'template', mountPath: '/etc/coturn-template', readOnly: true },
                  { name: 'auth', mountPath: '/secrets', readOnly: true },
                  runtime.mount,
                ],
              },
            ],
            containers: [
              {
                name: 'coturn',
                image: c.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['turnserver', '-c', '/etc/coturn/turnserver.conf'],
                ports,
                securityContext,
                resources: resourceRequirements(c.resources),
                // A STUN binding request on the listening port: what clients do first.
                readinessProbe: probe(exec('turnutils_stunclient', '-p', String(c.ports.listening), '127.0.0.1'), { initialDelaySeconds: 2, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 }),
                livenessProbe: probe(tcp('turn-tcp'), { initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 5 }),
                volumeMounts: [runtime.mount, { name: 'tls', mountPath: '/etc/coturn/tls', readOnly: true }, scratch('tmp', '/tmp').mount],
              },
            ],
            volumes: [
              { name: 'template', configMap: { name: config.name } },
              { name: 'auth', secret: { secretName: c.authSecretName, defaultMode: 0o400 } },
              { name: 'tls', secret: { secretName: c.tlsSecretName, defaultMode: 0o400 } },
              runtime.volume,
              scratch('tmp', '/tmp').volume,
            ],
          },
        },
      },
    });
  }
}
