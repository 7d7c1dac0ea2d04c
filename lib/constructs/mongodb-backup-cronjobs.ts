import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { backupVolumeName, type InstanceConfig, MONGODB_CLIENT_LABEL, MONGODB_CREDENTIALS, NAMES } from '../config';
import { containerDefaults, nodePin, podDefaults, resourceRequirements, restrictedSecurityContext, scratch } from './container';
import { instanceExemptions, type InstanceScope, namespaced, recommendedLabels } from './metadata';
import { mongoCredentials, MONGODB_UID } from './mongodb-statefulset';
import { StaticHostPathVolume } from './static-host-path-volume';

export type MongoDbBackupCronJobsProps = InstanceScope;

/** The scripts the jobs run: real files in the repo, mounted from a ConfigMap. */
export const BACKUP_SCRIPTS = [
  'mongodb-backup.sh',
  'mongodb-backup-verify.sh',
  'mongodb-restore-test.sh',
  'mongodb-steps.sh',
  'mongodb-inventory.js',
  'mongodb-manifest.js',
] as const;
export const SCRIPTS_DIR = join(__dirname, '..', 'scripts');

/** One backup CronJob: the script it runs, its environment beyond the common one, and what it may touch. */
interface BackupJob {
  readonly name: string;
  readonly schedule: string;
  readonly script: (typeof BACKUP_SCRIPTS)[number];
  readonly env: Record<string, string>;
  /** Mounts the MongoDB credentials. */
  readonly credentials?: boolean;
  /** Mounts the backup volume writable (read-only otherwise). */
  readonly writable?: boolean;
}

/**
 * Nightly `mongodump` into a backup volume on the data node, a verification job an hour later, and an
 * optional weekly restore test. Failed jobs stay visible (history limits, no TTL) so alerts can fire.
 */
export class MongoDbBackupCronJobs extends Construct {
  constructor(scope: Construct, id: string, props: MongoDbBackupCronJobsProps) {
    super(scope, id);
    const { instance: i } = props;
    const labels = recommendedLabels(i, 'mongodb-backup', 'backup');
    const claimName = i.backups.volume.existingClaim || this.staticVolume(i);

    new k8s.KubeConfigMap(this, 'scripts', {
      metadata: namespaced(i, NAMES.backupScripts, labels),
      data: Object.fromEntries(BACKUP_SCRIPTS.map((f) => [f, readFileSync(join(SCRIPTS_DIR, f), 'utf8')])),
    });

    for (const job of backupJobs(i)) new k8s.KubeCronJob(this, job.name, cronJobProps(i, job, labels, claimName));
  }

  /** The static hostPath volume on the data node, when no existing claim is configured: returns its claim's name. */
  private staticVolume(i: InstanceConfig): string {
    new StaticHostPathVolume(this, 'volume', {
      instance: i,
      volumeName: backupVolumeName(i),
      claimName: NAMES.backupPvc,
      hostPath: i.backups.volume.hostPath ?? `/data/${i.namespace}/backup`,
      node: i.dataNode,
      storage: i.backups.volume.storage,
      appName: 'mongodb-backup',
    });
    return NAMES.backupPvc;
  }
}

function backupJobs(i: InstanceConfig): BackupJob[] {
  const b = i.backups;
  const jobs: BackupJob[] = [
    {
      name: 'mongodb-backup',
      schedule: b.schedule,
      script: 'mongodb-backup.sh',
      env: {
        MONGO_HOST: `${NAMES.mongodb}:${i.mongodb.port}`,
        [MONGODB_CREDENTIALS.dirEnv]: MONGODB_CREDENTIALS.dir,
        KEEP: String(b.keep),
      },
      credentials: true,
      writable: true,
    },
    {
      name: 'mongodb-backup-verify',
      schedule: b.verifySchedule,
      script: 'mongodb-backup-verify.sh',
      env: { MAX_AGE_HOURS: String(b.maxAgeHours), MIN_BYTES: String(b.minBytes), MIN_ARCHIVES: String(b.minArchives) },
    },
  ];
  if (b.restoreTest.enabled)
    jobs.push({
      name: 'mongodb-restore-test',
      schedule: b.restoreTest.schedule,
      script: 'mongodb-restore-test.sh',
      env: { SCRATCH_DIR: '/tmp/restore' },
    });
  return jobs;
}

function cronJobProps(i: InstanceConfig, job: BackupJob, labels: Record<string, string>, claimName: string): k8s.KubeCronJobProps {
  const b = i.backups;
  return {
    metadata: namespaced(i, job.name, labels, instanceExemptions(i)),
    spec: {
      schedule: job.schedule,
      timeZone: b.timeZone,
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: b.startingDeadlineSeconds,
      successfulJobsHistoryLimit: b.historyLimit,
      failedJobsHistoryLimit: b.historyLimit,
      jobTemplate: {
        spec: {
          backoffLimit: b.backoffLimit,
          activeDeadlineSeconds: b.activeDeadlineSeconds,
          template: {
            // The NetworkPolicy lets pods with this label reach MongoDB.
            metadata: { labels: { ...labels, [MONGODB_CLIENT_LABEL]: 'true' } },
            spec: jobPodSpec(i, job, claimName),
          },
        },
      },
    },
  };
}

/** /tmp, the writable emptyDir of a read-only root filesystem. */
const tmp = () => scratch('tmp', '/tmp');

function jobPodSpec(i: InstanceConfig, job: BackupJob, claimName: string): k8s.PodSpec {
  const credentials = mongoCredentials(i.mongodb.secretName);
  return {
    ...podDefaults(MONGODB_UID),
    restartPolicy: 'Never',
    nodeSelector: nodePin(i.dataNode),
    containers: [jobContainer(i, job)],
    volumes: [
      { name: 'backup', persistentVolumeClaim: { claimName, readOnly: !job.writable } },
      { name: 'scripts', configMap: { name: NAMES.backupScripts, defaultMode: 0o555 } },
      tmp().volume,
      ...(job.credentials ? [credentials.volume] : []),
    ],
  };
}

function jobContainer(i: InstanceConfig, job: BackupJob): k8s.Container {
  const common = {
    // mongosh writes to HOME; the image's HOME is on the read-only root filesystem, where mongosh prints a warning
    // on stdout (into the inventory the manifest is made from). /tmp is the writable emptyDir.
    HOME: tmp().mount.mountPath,
    BACKUP_DIR: '/backup',
    DATABASE: i.mongodb.database,
    SCRIPTS_DIR: '/scripts',
  };
  return {
    name: job.name,
    ...containerDefaults(i.backups.image ?? i.mongodb.image, i.imagePullPolicy),
    command: ['bash', `/scripts/${job.script}`],
    env: Object.entries({ ...common, ...job.env }).map(([k, value]) => ({ name: k, value })),
    securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: true, runAsUser: MONGODB_UID }),
    resources: resourceRequirements(i.backups.resources),
    volumeMounts: [
      { name: 'backup', mountPath: '/backup', readOnly: !job.writable },
      { name: 'scripts', mountPath: '/scripts', readOnly: true },
      tmp().mount,
      ...(job.credentials ? [mongoCredentials(i.mongodb.secretName).mount] : []),
    ],
  };
}
