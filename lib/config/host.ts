import { z } from 'zod';

import { absolutePath, port } from './primitives';
import { containerName, crontabSchedule, hostOrIp, int32, mailto, posixUser, timerDuration } from './values';

// Host-side settings for migrations and off-node backups.

/** The data node as reached over ssh (rsync migrations and off-node backups). */
export const sshSchema = z
  .object({
    user: posixUser.default('root'),
    host: hostOrIp.default('k8s-worker1'),
    port: port.default(22),
    /** Private key file; when unset ssh uses its own defaults (agent, ~/.ssh). */
    keyPath: absolutePath.optional(),
    /** known_hosts file to check the node's host key against. @default ssh's own (~/.ssh/known_hosts) */
    knownHostsFile: absolutePath.optional(),
    /** `yes` refuses unknown host keys; `accept-new` records a first-seen key (never a changed one). */
    strictHostKeyChecking: z.enum(['yes', 'accept-new']).default('yes'),
    connectTimeoutSeconds: timerDuration('s', 1).default(10),
  })
  .strict()
  .prefault({});

/** One-time migration sources on the old Docker host. */
export const migrateSchema = z
  .object({
    mongo: z
      .object({
        container: containerName.default('mongo'),
        /** The port mongod listens on inside that container (its tools and shell connect to 127.0.0.1:<port> there). */
        port: port.default(27017),
      })
      .strict()
      .prefault({}),
    uploads: z
      .object({
        source: absolutePath.default('/var/lib/docker/volumes/roomler_uploads/_data'),
        /** Files whose checksums the final verification compares; 0 = every file. */
        checksumSample: z.number().int().min(0).default(0),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

/** Off-node snapshots pulled from the data node. */
export const backupSchema = z
  .object({
    basePath: absolutePath.default('/var/backups/roomler'),
    /** Snapshots kept per set, newest by the stamp in the name; `latest` is never deleted. */
    keep: int32(1).default(7),
    /** verify fails when the newest snapshot is older than this, by its stamp. */
    maxAgeHours: int32(1).default(25),
    /** rsync --bwlimit in KiB/s, to spare the node's uplink; unset = unlimited. */
    bwlimitKiBps: int32(1).optional(),
    /** Give up (and kill rsync and ssh) after this long. */
    timeoutMinutes: timerDuration('min', 1).default(240),
    /** crontab schedules of `npm run backup -- run` and `-- verify` (written by `backup -- install`). */
    schedule: crontabSchedule.default('30 3 * * *'),
    verifySchedule: crontabSchedule.default('30 4 * * *'),
    /**
     * Who gets cron's mail of a failed run or verify (the installed schedule prints only failures): addresses or
     * local users, comma-separated; "" sends no mail. Unset: cron's own default (the crontab's owner).
     */
    mailto: mailto.optional(),
  })
  .strict()
  .prefault({});
