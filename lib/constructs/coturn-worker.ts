import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { COTURN_SECRET_KEY, HOST_UDP_PORTS_ANNOTATION } from '../config';
import type { CoturnConfig } from '../config/coturn';
import {
  containerDefaults,
  exec,
  nodePin,
  probe,
  resourceRequirements,
  restrictedSecurityContext,
  ROOT_UID,
  scratch,
  tcp,
} from './container';
import { exemptions } from './metadata';
import { turnserverConf } from './turnserver-conf';

/** The coturn image's `nobody`. */
export const NOBODY_UID = 65534;

/**
 * Run by the init container as `sh -c SCRIPT coturn-config <template> <secret file> <output>`: the template plus
 * `static-auth-secret=<value>`, 0600. It fails, so the pod never starts, when the secret file is missing,
 * unreadable or empty (coturn would otherwise start with an empty secret and reject every TURN login) or holds
 * a line break (which would inject config lines). The value goes through the shell's printf, never an argv.
 */
export const COTURN_SECRET_SCRIPT = [
  'set -eu',
  'umask 077',
  'template=$1 secret_file=$2 out=$3',
  `[ -r "$secret_file" ] || { echo "coturn-config: cannot read $secret_file: set key ${COTURN_SECRET_KEY} of the coturn auth Secret" >&2; exit 1; }`,
  'secret=$(cat "$secret_file")',
  `[ -n "$secret" ] || { echo "coturn-config: $secret_file is empty: every TURN login would be rejected" >&2; exit 1; }`,
  // $(…) strips only trailing newlines: one inside the value would start a config line of its own.
  `[ "$(printf '%s' "$secret" | wc -l)" -eq 0 ] || { echo "coturn-config: $secret_file holds a line break" >&2; exit 1; }`,
  'cat "$template" >"$out.tmp"',
  `printf 'static-auth-secret=%s\\n' "$secret" >>"$out.tmp"`,
  'mv "$out.tmp" "$out"',
].join('\n');

type Worker = CoturnConfig['workers'][number];

export interface CoturnWorkerProps {
  readonly coturn: CoturnConfig;
  readonly worker: Worker;
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
    const labels = props.labels(name, 'turn-server');
    const selector = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': 'coturn' };
    const config = new k8s.KubeConfigMap(this, 'config', {
      metadata: { name, namespace: c.namespace, labels },
      data: { 'turnserver.conf': turnserverConf(c, w) },
    });
    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name, namespace: c.namespace, labels, annotations: deploymentExemptions(turnUser(c)) },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...labels, ...selector }, annotations: { [HOST_UDP_PORTS_ANNOTATION]: c.relayRange } },
          spec: podSpec(c, w, config.name),
        },
      },
    });
  }
}

/** The emptyDir the init container writes turnserver.conf (with the auth secret) into, and coturn reads it from. */
const runtime = () => scratch('runtime', '/etc/coturn');

/** The TURN ports, each bound on the node under its own number. */
const turnPorts = (c: CoturnConfig): k8s.ContainerPort[] =>
  [
    { name: 'turn-udp', containerPort: c.ports.listening, protocol: 'UDP' },
    { name: 'turn-tcp', containerPort: c.ports.listening, protocol: 'TCP' },
    { name: 'turns', containerPort: c.ports.tls, protocol: 'TCP' },
    { name: 'turns-alt', containerPort: c.ports.altTls, protocol: 'TCP' },
  ].map((p) => ({ ...p, hostPort: p.containerPort }));

interface TurnUser {
  readonly uid: number;
  /** The ports below 1024 coturn binds, e.g. `443`; empty when there are none. */
  readonly privilegedPorts: string;
}

/**
 * Who coturn runs as. A port below 1024 needs NET_BIND_SERVICE, which a non-root process cannot hold with
 * allowPrivilegeEscalation false (no file capabilities under no_new_privs): then coturn runs as root, explicitly, with
 * only that capability. Otherwise it runs as the image's `nobody`, explicitly, and reads the 0400 Secret files through
 * fsGroup. Either way the user is stated, never inherited from the image.
 */
function turnUser(c: CoturnConfig): TurnUser {
  const privileged = [...new Set(turnPorts(c).flatMap((p) => (p.containerPort < 1024 ? [p.containerPort] : [])))];
  return { uid: privileged.length ? ROOT_UID : NOBODY_UID, privilegedPorts: privileged.join(', ') };
}

function deploymentExemptions({ privilegedPorts }: TurnUser): Record<string, string> {
  return exemptions({
    'host-network': 'TURN relays must bind the node addresses and the relay range on the node',
    'non-isolated-pod': 'hostNetwork pods are outside NetworkPolicy; denied-peer-ip guards the relay',
    'run-as-non-root': privilegedPorts
      ? `coturn binds port ${privilegedPorts} on the host network: NET_BIND_SERVICE needs uid 0 (runAsUser: 0) when privilege escalation is off`
      : undefined,
    'privileged-ports': privilegedPorts
      ? `TURN over TLS on ${privilegedPorts} reaches clients behind firewalls that allow only HTTPS ports`
      : undefined,
    'added-capabilities': privilegedPorts ? `NET_BIND_SERVICE, only in the coturn container, to bind ${privilegedPorts}` : undefined,
  });
}

function podSpec(c: CoturnConfig, w: Worker, configMapName: string): k8s.PodSpec {
  const { uid } = turnUser(c);
  return {
    hostNetwork: true,
    dnsPolicy: 'ClusterFirstWithHostNet',
    nodeSelector: nodePin(w.node),
    automountServiceAccountToken: false,
    securityContext: { seccompProfile: { type: 'RuntimeDefault' }, ...(uid === ROOT_UID ? {} : { fsGroup: uid }) },
    initContainers: [configContainer(c)],
    containers: [turnContainer(c)],
    volumes: [
      { name: 'template', configMap: { name: configMapName } },
      { name: 'auth', secret: { secretName: c.authSecretName, defaultMode: 0o400 } },
      { name: 'tls', secret: { secretName: c.tlsSecretName, defaultMode: 0o400 } },
      runtime().volume,
      scratch('tmp', '/tmp').volume,
    ],
  };
}

/** Joins the template and the auth secret into turnserver.conf (COTURN_SECRET_SCRIPT). It only copies files: no capability at all. */
function configContainer(c: CoturnConfig): k8s.Container {
  return {
    name: 'config',
    ...containerDefaults(c.image),
    command: [
      'sh',
      '-c',
      COTURN_SECRET_SCRIPT,
      'coturn-config',
      '/etc/coturn-template/turnserver.conf',
      `/secrets/${COTURN_SECRET_KEY}`,
      '/etc/coturn/turnserver.conf',
    ],
    securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: true, runAsUser: turnUser(c).uid }),
    resources: resourceRequirements({
      requests: { cpu: '10m', memory: '16Mi', ephemeralStorage: '1Mi' },
      limits: { cpu: '100m', memory: '64Mi', ephemeralStorage: '16Mi' },
    }),
    volumeMounts: [
      { name: 'template', mountPath: '/etc/coturn-template', readOnly: true },
      { name: 'auth', mountPath: '/secrets', readOnly: true },
      runtime().mount,
    ],
  };
}

function turnContainer(c: CoturnConfig): k8s.Container {
  const { uid, privilegedPorts } = turnUser(c);
  return {
    name: 'coturn',
    ...containerDefaults(c.image),
    command: ['turnserver', '-c', '/etc/coturn/turnserver.conf'],
    ports: turnPorts(c),
    securityContext: restrictedSecurityContext({
      readOnlyRootFilesystem: true,
      runAsUser: uid,
      add: privilegedPorts ? ['NET_BIND_SERVICE'] : [],
    }),
    resources: resourceRequirements(c.resources),
    // A STUN binding request on the listening port: what clients do first.
    readinessProbe: probe(exec('turnutils_stunclient', '-p', String(c.ports.listening), '127.0.0.1'), {
      initialDelaySeconds: 2,
      periodSeconds: 10,
      timeoutSeconds: 3,
      failureThreshold: 3,
    }),
    livenessProbe: probe(tcp('turn-tcp'), { initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 5 }),
    volumeMounts: [runtime().mount, { name: 'tls', mountPath: '/etc/coturn/tls', readOnly: true }, scratch('tmp', '/tmp').mount],
  };
}
