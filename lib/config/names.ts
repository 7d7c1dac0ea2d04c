import type { InstanceConfig } from './instance';

// Object names that more than one place needs (constructs, validation, hack/ scripts). They are fixed
// here, never derived from construct paths, so they cannot change when code moves.

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
