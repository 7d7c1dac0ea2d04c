import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { NAMES } from '../config';
import { containerDefaults, exec, httpGet, nodePin, podDefaults, probe, resourceRequirements, restrictedSecurityContext, tcp } from './container';
import { exemptions, namespaced, recommendedLabels, selectorLabels, type InstanceScope } from './metadata';

export type JanusGatewayProps = InstanceScope;

import { HOST_UDP_PORTS_ANNOTATION } from '../validate/cross-object';

/** Janus's API ports: container port names (IANA service names, at most 15 characters) and config keys. */
export const JANUS_PORTS = [
  { name: 'http', key: 'http' },
  { name: 'websocket', key: 'websocket' },
  { name: 'admin-http', key: 'adminHttp' },
  { name: 'admin-websocket', key: 'adminWebsocket' },
] as const;

/**
 * The Janus WebRTC gateway on the host network: ICE candidates must carry the node's own addresses and the
 * RTP range is bound on the node, so two pods can never run on one node at once (hence Recreate).
 */
export class JanusGateway extends Construct {
  readonly deployment: k8s.KubeDeployment;
  readonly service: k8s.KubeService;
  readonly nodePortService: k8s.KubeService;

  constructor(scope: Construct, id: string, props: JanusGatewayProps) {
    super(scope, id);
    const { instance: i } = props;
    const j = i.janus;
    const labels = recommendedLabels(i, NAMES.janus, 'webrtc-gateway');
    const selector = selectorLabels(i, NAMES.janus);
    const servicePorts = JANUS_PORTS.map(({ name, key }) => ({
      name,
      port: j.ports[key],
      targetPort: k8s.IntOrString.fromString(name),
      protocol: 'TCP',
    }));

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: namespaced(
        i,
        NAMES.janus,
        labels,
        exemptions({
          'host-network': 'WebRTC: ICE candidates must carry the node addresses and the RTP range is bound on the node',
          'non-isolated-pod': 'hostNetwork pods are outside NetworkPolicy',
          'run-as-non-root': 'gjovanov/janus-slim runs as root; no non-root user is published for it',
          'no-read-only-root-fs': 'janus-slim writes its runtime config and logs inside the image',
          'latest-tag': j.image.endsWith(':latest') ? j.latestTagReason : undefined,
        }),
      ),
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels, annotations: { [HOST_UDP_PORTS_ANNOTATION]: j.rtpPortRange } },
          spec: {
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            ...podDefaults(),
            terminationGracePeriodSeconds: j.shutdown.gracePeriodSeconds,
            nodeSelector: nodePin(j.node),
            containers: [
              {
                name: 'janus',
                image: j.image,
                ...containerDefaults(i),
                ports: JANUS_PORTS.map(({ name, key }) => ({
                  name,
                  containerPort: j.ports[key],
                  hostPort: j.ports[key],
                  protocol: 'TCP',
                })),
                securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: false }),
                // Let running calls finish their signalling before SIGTERM.
                lifecycle: { preStop: { exec: exec('sleep', String(j.shutdown.preStopSeconds)).exec! } },
                resources: resourceRequirements(j.resources),
                readinessProbe: probe(httpGet('/janus/info', 'http'), j.readinessProbe),
                livenessProbe: probe(tcp('http'), j.livenessProbe),
              },
            ],
          },
        },
      },
    });

    this.service = new k8s.KubeService(this, 'service', {
      metadata: namespaced(i, NAMES.janus, labels),
      spec: { type: 'ClusterIP', selector, ports: servicePorts },
    });

    this.nodePortService = new k8s.KubeService(this, 'nodeport', {
      metadata: namespaced(i, NAMES.janusNodePort, labels, exemptions({ 'exposed-services': 'the host nginx proxies janus.roomler.live to these NodePorts' })),
      spec: {
        type: 'NodePort',
        // Traffic from the host nginx must reach the Janus on the pinned node, not hop to another one.
        externalTrafficPolicy: 'Local',
        selector,
        ports: JANUS_PORTS.map(({ key }, n) => ({ ...servicePorts[n], nodePort: j.nodePorts[key] })),
      },
    });
  }
}
