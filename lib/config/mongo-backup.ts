import { z } from 'zod';

import { absolutePath, dnsSubdomain, image, quantity, resources } from './primitives';
import { cronJobSchedule, int32, timeZone } from './values';

// Per-instance MongoDB backup CronJobs.

const schedule = (d: string) => cronJobSchedule.default(d);

export const mongoBackupSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Image with mongodump, mongosh, gzip, sha256sum and flock; defaults to the MongoDB image. */
    image: image.optional(),
    /** IANA time zone of the schedules (CronJob spec.timeZone). */
    timeZone: timeZone.default('Etc/UTC'),
    schedule: schedule('0 3 * * *'),
    verifySchedule: schedule('0 4 * * *'),
    /** Archives kept after a successful run (newest by the stamp in the name). */
    keep: int32(1).default(7),
    /** verify fails when fewer archives exist. */
    minArchives: int32(1).default(1),
    /** verify fails when the newest archive is older than this, by the stamp in its name. */
    maxAgeHours: int32(1).default(25),
    /** verify fails for a smaller newest archive (bytes); an empty database dumps to a few KiB. */
    minBytes: z.number().int().min(1).default(4096),
    volume: z
      .object({
        /** Directory on the data node. @default /data/<namespace>/backup */
        hostPath: absolutePath.optional(),
        storage: quantity.default('10Gi'),
        /** Use this existing PVC instead of the static hostPath volume. */
        existingClaim: dnsSubdomain('existingClaim').optional(),
      })
      .strict()
      .prefault({}),
    restoreTest: z
      .object({ enabled: z.boolean().default(false), schedule: schedule('0 5 * * 0') })
      .strict()
      .prefault({}),
    startingDeadlineSeconds: int32(10).default(3600),
    activeDeadlineSeconds: int32(60).default(3600),
    backoffLimit: int32(0).default(1),
    historyLimit: int32(1).default(3),
    // The restore test unpacks a whole archive into a scratch mongod under /tmp (an emptyDir).
    resources: resources({
      requests: { cpu: '100m', memory: '256Mi', ephemeralStorage: '256Mi' },
      limits: { cpu: '1', memory: '1Gi', ephemeralStorage: '4Gi' },
    }),
  })
  .strict()
  .prefault({});

export type MongoBackupConfig = z.output<typeof mongoBackupSchema>;

/** `<db>-YYYYmmddTHHMMSSZ.archive.gz`: sortable by name; the stamp is the age that counts. */
export const ARCHIVE_NAME = /^(.+)-(\d{8}T\d{6}Z)\.archive\.gz$/;

/** Written beside each archive as `<db>-<stamp>.manifest.json` (lib/scripts/mongodb-manifest.js). */
export interface ArchiveManifest {
  readonly database: string;
  readonly createdAt: string;
  /** Documents per collection as mongodump reported writing them into the archive. */
  readonly collections: Record<string, number>;
  /** Index definitions per collection (without the version-dependent v, ns, background), read before the dump. */
  readonly indexes: Record<string, readonly Record<string, unknown>[]>;
  readonly bytes: number;
  readonly sha256: string;
}
