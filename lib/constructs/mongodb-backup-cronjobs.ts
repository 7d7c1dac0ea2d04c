import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { backupVolumeName, MONGODB_CREDENTIALS, NAMES } from '../config';
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

/**
 * Nightly `mongodump` into a backup volume on the data node, a verification job an hour later, and an
 * optional weekly restore test. Failed jobs stay visible (history limits, no TTL) so alerts can fire.
 */
export class MongoDbBackupCronJobs extends Construct {
  constructor(scope: Construct, id: string, props: MongoDbBackupCronJobsProps) {
    super(scope, id);
    const { instance: i } = props;
    const b = i.backups;
    const labels = recommendedLabels(i, 'mongodb-backup', 'backup');

    let claimName = b.volume.existingClaim;
    if (!claimName) {
      claimName = NAMES.backupPvc;
      new StaticHostPathVolume(this, 'volume', {
        instance: i,
        volumeName: backupVolumeName(i),
        claimName,
        hostPath: b.volume.hostPath ?? `/data/${i.namespace}/backup`,
        node: i.dataNode,
        storage: b.volume.storage,
        appName: 'mongodb-backup',
      });
    }

    new k8s.KubeConfigMap(this, 'scripts', {
      metadata: namespaced(i, NAMES.backupScripts, labels),
      data: Object.fromEntries(BACKUP_SCRIPTS.map((f) => [f, readFileSync(join(SCRIPTS_DIR, f), 'utf8')])),
    });

    const tmp = scratch('tmp', '/tmp');
    const credentials = mongoCredentials(i.mongodb.secretName);
    const common = {
      // mongosh writes to HOME; the image's HOME is on the read-only root filesystem, where mongosh prints a warning
      // on stdout (into the inventory the manifest is made from). /tmp is the writable emptyDir.
      HOME: tmp.mount.mountPath,
      BACKUP_DIR: '/backup',
      DATABASE: i.mongodb.database,
      SCRIPTS_DIR: '/scripts',
    };
    const cronJob = (
      name: string,
      schedule: string,
      script: string,
      env: Record<string, string>,
      opts: { secret?: boolean; writable?: boolean } = {},
    ) =>
      new k8s.KubeCronJob(this, name, {
        metadata: namespaced(i, name, labels, instanceExemptions(i)),
        spec: {
          schedule,
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
                metadata: { labels: { ...labels, 'roomler.io/mongodb-client': 'true' } },
                spec: {
                  ...podDefaults(MONGODB_UID),
                  restartPolicy: 'Never',
                  nodeSelector: nodePin(i.dataNode),
                  containers: [
                    {
                      name,
                      ...containerDefaults(b.image ?? i.mongodb.image, i.imagePullPolicy),
                      command: ['bash', `/scripts/${script}`],
                      env: Object.entries({ ...common, ...env }).map(([k, value]) => ({ name: k, value })),
                      securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: true, runAsUser: MONGODB_UID }),
                      resources: resourceRequirements(b.resources),
                      volumeMounts: [
                        { name: 'backup', mountPath: '/backup', readOnly: !opts.writable },
                        { name: 'scripts', mountPath: '/scripts', readOnly: true },
                        tmp.mount,
                        ...(opts.secret ? [credentials.mount] : []),
                      ],
                    },
                  ],
                  volumes: [
                    { name: 'backup', persistentVolumeClaim: { claimName: claimName!, readOnly: !opts.writable } },
                    { name: 'scripts', configMap: { name: NAMES.backupScripts, defaultMode: 0o555 } },
                    tmp.volume,
                    ...(opts.secret ? [credentials.volume] : []),
                  ],
                },
              },
            },
          },
        },
      });

    cronJob(
      'mongodb-backup',
      b.schedule,
      'mongodb-backup.sh',
      { MONGO_HOST: `${NAMES.mongodb}:${i.mongodb.port}`, [MONGODB_CREDENTIALS.dirEnv]: MONGODB_CREDENTIALS.dir, KEEP: String(b.keep) },
      { secret: true, writable: true },
    );
    cronJob('mongodb-backup-verify', b.verifySchedule, 'mongodb-backup-verify.sh', {
      MAX_AGE_HOURS: String(b.maxAgeHours),
      MIN_BYTES: String(b.minBytes),
      MIN_ARCHIVES: String(b.minArchives),
    });
    if (b.restoreTest.enabled)
      cronJob('mongodb-restore-test', b.restoreTest.schedule, 'mongodb-restore-test.sh', { SCRATCH_DIR: '/tmp/restore' });
  }
}
