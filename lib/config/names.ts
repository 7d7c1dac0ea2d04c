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
  app: 'roomler',
  uploadsPvc: 'roomler-uploads',
  backupPvc: 'mongodb-backup',
  backupScripts: 'mongodb-backup-scripts',
} as const;
