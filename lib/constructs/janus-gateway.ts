import { createHash } from 'node:crypto';

import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { HOST_UDP_PORTS_ANNOTATION, type InstanceConfig, JANUS_ADMIN_SECRET_KEY, JANUS_API_PORTS, JANUS_PORTS, NAMES } from '../config';
import {
  containerDefaults,
  exec,
  httpGet,
  nodePin,
  podDefaults,
  probe,
  resourceRequirements,
  restrictedSecurityContext,
  ROOT_UID,
  scratch,
  tcp,
} from './container';
import { JANUS_ADMIN_SECRET_SCRIPT, janusHttpTransport, janusWebsocketsTransport } from './janus-conf';
import {
  CONFIG_HASH_ANNOTATION,
  exemptions,
  type InstanceScope,
  latestTagReason,
  namespaced,
  recommendedLabels,
  selectorLabels,
} from './metadata';

export type JanusGatewayProps = InstanceScope;

type Janus = InstanceConfig['janus'];

/**
 * The Janus WebRTC gateway on the host network: ICE candidates must carry the node's own addresses and the
 * RTP range is bound on the node, so two pods can never run on one node at once (hence Recreate). Its transport
 * configs come from a ConfigMap so the admin API is off unless `janus.admin` enables it; then an init container
 * joins the admin secret to the image's janus.jcfg, so the secret is never in a ConfigMap or an argv.
 */
export class JanusGateway extends Construct {
  readonly deployment: k8s.KubeDeployment;
  readonly service: k8s.KubeService;
  readonly nodePortService: k8s.KubeService;
  readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: JanusGatewayProps) {
    super(scope, id);
    const { instance: i } = props;
    const j = i.janus;
    const labels = recommendedLabels(i, NAMES.janus, 'webrtc-gateway');
    const selector = selectorLabels(i, NAMES.janus);

    this.configMap = new k8s.KubeConfigMap(this, 'config', { metadata: namespaced(i, NAMES.janusConfig, labels), data: transportFiles(j) });

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: namespaced(i, NAMES.janus, labels, deploymentExemptions(j)),
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels, annotations: { [HOST_UDP_PORTS_ANNOTATION]: j.rtpPortRange, [CONFIG_HASH_ANNOTATION]: configHash(j) } },
          spec: podSpec(i),
        },
      },
    });

    this.service = new k8s.KubeService(this, 'service', {
      metadata: namespaced(i, NAMES.janus, labels),
      spec: { type: 'ClusterIP', selector, ports: apiServicePorts(j) },
    });

    this.nodePortService = new k8s.KubeService(this, 'nodeport', {
      metadata: namespaced(
        i,
        NAMES.janusNodePort,
        labels,
        exemptions({
          'exposed-services': 'the host nginx proxies the Janus API of janus.roomler.live to these NodePorts (never the admin API)',
        }),
      ),
      spec: {
        type: 'NodePort',
        // Traffic from the host nginx must reach the Janus on the pinned node, not hop to another one.
        externalTrafficPolicy: 'Local',
        selector,
        ports: apiServicePorts(j).map((port, n) => ({ ...port, nodePort: j.nodePorts[JANUS_API_PORTS[n].key] })),
      },
    });
  }
}

/** The transport configs the ConfigMap holds, by file name. */
const transportFiles = (j: Janus) => ({
  'janus.transport.http.jcfg': janusHttpTransport(j),
  'janus.transport.websockets.jcfg': janusWebsocketsTransport(j),
});

/** Janus mounts its configs with subPath, which never update in a running pod: the hash replaces the pod instead. */
const configHash = (j: Janus) =>
  createHash('sha256')
    .update(JSON.stringify({ files: transportFiles(j), admin: j.admin }))
    .digest('hex');

/** The emptyDir the init container writes janus.jcfg (with the admin secret) into. */
const runtime = () => scratch('runtime', '/run/janus-config');

const securityContext = () => restrictedSecurityContext({ readOnlyRootFilesystem: false, runAsUser: ROOT_UID });

/** The public API ports of both Services, by name (never the admin API). */
const apiServicePorts = (j: Janus): k8s.ServicePort[] =>
  JANUS_API_PORTS.map(({ name, key }) => ({ name, port: j.ports[key], targetPort: k8s.IntOrString.fromString(name), protocol: 'TCP' }));

function deploymentExemptions(j: Janus): Record<string, string> {
  return exemptions({
    'host-network': 'WebRTC: ICE candidates must carry the node addresses and the RTP range is bound on the node',
    'non-isolated-pod': j.admin.enabled
      ? `hostNetwork pods are outside NetworkPolicy; the admin API binds only ${j.admin.bindAddress}, admits ${j.admin.allowFrom.join(', ')} and needs its secret`
      : 'hostNetwork pods are outside NetworkPolicy; the admin API is switched off in the transport configs',
    'run-as-non-root': 'gjovanov/janus-slim runs as root (runAsUser: 0); no non-root user is published for it',
    'no-read-only-root-fs': 'janus-slim writes its logs inside the image; ephemeral-storage is limited',
    'latest-tag': latestTagReason(j.image, j.latestTagReason),
  });
}

function podSpec(i: InstanceConfig): k8s.PodSpec {
  const j = i.janus;
  const admin = j.admin.enabled;
  return {
    hostNetwork: true,
    dnsPolicy: 'ClusterFirstWithHostNet',
    ...podDefaults(),
    terminationGracePeriodSeconds: j.shutdown.gracePeriodSeconds,
    nodeSelector: nodePin(j.node),
    ...(admin ? { initContainers: [adminSecretContainer(i)] } : {}),
    containers: [janusContainer(i)],
    volumes: [
      { name: 'config', configMap: { name: NAMES.janusConfig } },
      ...(admin ? [runtime().volume, { name: 'admin-secret', secret: { secretName: j.admin.secretName, defaultMode: 0o400 } }] : []),
    ],
  };
}

/** Joins the admin secret to the image's janus.jcfg (JANUS_ADMIN_SECRET_SCRIPT); only when the admin API is enabled. */
function adminSecretContainer(i: InstanceConfig): k8s.Container {
  const j = i.janus;
  return {
    name: 'admin-secret',
    ...containerDefaults(j.image, i.imagePullPolicy),
    command: [
      'sh',
      '-c',
      JANUS_ADMIN_SECRET_SCRIPT,
      'janus-config',
      `${j.configDir}/janus.jcfg`,
      `/secrets/${JANUS_ADMIN_SECRET_KEY}`,
      `${runtime().mount.mountPath}/janus.jcfg`,
    ],
    securityContext: securityContext(),
    resources: resourceRequirements({
      requests: { cpu: '10m', memory: '16Mi', ephemeralStorage: '1Mi' },
      limits: { cpu: '100m', memory: '64Mi', ephemeralStorage: '16Mi' },
    }),
    volumeMounts: [{ name: 'admin-secret', mountPath: '/secrets', readOnly: true }, runtime().mount],
  };
}

function janusContainer(i: InstanceConfig): k8s.Container {
  const j = i.janus;
  const served = j.admin.enabled ? JANUS_PORTS : JANUS_API_PORTS;
  const configMounts = Object.keys(transportFiles(j)).map((f) => ({
    name: 'config',
    mountPath: `${j.configDir}/${f}`,
    subPath: f,
    readOnly: true,
  }));
  const adminConfigMount = { name: runtime().volume.name, mountPath: `${j.configDir}/janus.jcfg`, subPath: 'janus.jcfg', readOnly: true };
  return {
    name: 'janus',
    ...containerDefaults(j.image, i.imagePullPolicy),
    ports: served.map(({ name, key }) => ({ name, containerPort: j.ports[key], hostPort: j.ports[key], protocol: 'TCP' })),
    securityContext: securityContext(),
    // Let running calls finish their signalling before SIGTERM.
    lifecycle: { preStop: { exec: exec('sleep', String(j.shutdown.preStopSeconds)).exec! } },
    resources: resourceRequirements(j.resources),
    readinessProbe: probe(httpGet('/janus/info', 'http'), j.readinessProbe),
    livenessProbe: probe(tcp('http'), j.livenessProbe),
    volumeMounts: [...configMounts, ...(j.admin.enabled ? [adminConfigMount] : [])],
  };
}
