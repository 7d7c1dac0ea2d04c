import type { InstanceConfig } from './instance';

// Names that more than one part of the project needs (the constructs that write them, the validators, deploy and the
// cutover that read them): object names, port names, label and annotation keys, Secret keys. They are fixed here,
// never derived from construct paths, so they cannot change when code moves.

/** Cluster-scoped PV names carry the namespace so that several instances can coexist. */
export const persistentVolumeNames = (i: Pick<InstanceConfig, 'namespace'>) => ({
  mongodb: `${i.namespace}-mongodb-data`,
  uploads: `${i.namespace}-uploads`,
});

/** The backup volume's PV name. */
export const backupVolumeName = (i: Pick<InstanceConfig, 'namespace'>) => `${i.namespace}-mongodb-backup`;

export const NAMES = {
  mongodb: 'mongodb',
  mongodbPvc: 'mongodb-data',
  redis: 'redis',
  janus: 'janus',
  janusNodePort: 'janus-nodeport',
  janusConfig: 'janus-config',
  app: 'roomler',
  uploadsPvc: 'roomler-uploads',
  backupPvc: 'mongodb-backup',
  backupScripts: 'mongodb-backup-scripts',
} as const;

/**
 * The MongoDB root credentials as files: every pod that needs them mounts Secret `mongodb.secretName` read-only at
 * `dir` (file names = the Secret's keys) and gets `SECRET_DIR=<dir>` in its environment. The mongodb container's
 * entrypoint reads them through MONGO_INITDB_ROOT_USERNAME_FILE / _PASSWORD_FILE; scripts run in the pod
 * (`kubectl exec`, the backup CronJobs) read "$SECRET_DIR/<key>". The values are never in an environment variable.
 */
export const MONGODB_CREDENTIALS = {
  dir: '/etc/mongodb-credentials',
  /** The environment variable naming `dir` in every such container. */
  dirEnv: 'SECRET_DIR',
  username: 'MONGO_INITDB_ROOT_USERNAME',
  password: 'MONGO_INITDB_ROOT_PASSWORD',
} as const;

/** The OAuth providers the app knows: `<P>_ID` in its ConfigMap, `<P>_SECRET` in its Secret. */
export const OAUTH_PROVIDERS = ['FACEBOOK', 'GOOGLE', 'GITHUB', 'LINKEDIN', 'MICROSOFT'] as const;

/** The keys of the app's Secret (`app.secretName`), all read by its pods through envFrom. */
export const APP_SECRET_KEYS = [
  'DB_CONN',
  'SENDGRID_API_KEY',
  ...OAUTH_PROVIDERS.map((p) => `${p}_SECRET`),
  'TURN_PASSWORD',
  'WEB_PUSH_PRIVATE_KEY',
] as const;

/** A Janus port: its container (and Service) port name, an IANA service name of at most 15 characters, and its key in `janus.ports`. */
interface JanusPort {
  readonly name: string;
  readonly key: keyof InstanceConfig['janus']['ports'];
}

/** Janus's public API ports: on the pod, the ClusterIP Service and the NodePort Service the host nginx proxies to. */
export const JANUS_API_PORTS = [
  { name: 'http', key: 'http' },
  { name: 'websocket', key: 'websocket' },
] as const satisfies readonly JanusPort[];

/** The admin/monitor API ports: served only when `janus.admin.enabled`, on the node only, never on a Service. */
export const JANUS_ADMIN_PORTS = [
  { name: 'admin-http', key: 'adminHttp' },
  { name: 'admin-websocket', key: 'adminWebsocket' },
] as const satisfies readonly JanusPort[];

export const JANUS_PORTS = [...JANUS_API_PORTS, ...JANUS_ADMIN_PORTS] as const;

/** The key of Secret `janus.admin.secretName` holding Janus's admin_secret. */
export const JANUS_ADMIN_SECRET_KEY = 'admin-secret';

/** The key of Secret `coturn.authSecretName` holding the shared TURN REST secret. */
export const COTURN_SECRET_KEY = 'static-auth-secret';

/** The node label a pod is pinned to one node by. */
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** Pod label (value `"true"`) of the pods besides the app that the MongoDB NetworkPolicy admits. */
export const MONGODB_CLIENT_LABEL = 'roomler.io/mongodb-client';

/** Pod-template annotation declaring host ports a hostNetwork pod binds beyond its container ports (`from-to[,…]`, UDP). */
export const HOST_UDP_PORTS_ANNOTATION = 'roomler.io/host-udp-ports';

/** Annotation-key prefix that exempts an object from a policy check, with the reason as its value (kube-linter's own). */
export const EXEMPTION_PREFIX = 'ignore-check.kube-linter.io/';
