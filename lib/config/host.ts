import { z } from 'zod';
import { absolutePath, port } from './primitives';

// Host-side settings for migrations (issues 5, 6) and off-node backups (issue 6).

/** The data node as reached over ssh (rsync migrations and off-node backups). */
export const sshSchema = z
  .object({
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'must be a POSIX user name').default('root'),
    host: z.string().min(1).default('k8s-worker1'),
    port: port.default(22),
    /** Private key file; when unset ssh uses its own defaults (agent, ~/.ssh). */
    keyPath: absolutePath.optional(),
  })
  .strict()
  .prefault({});

/** One-time migration sources on the old Docker host. */
export const migrateSchema = z
  .object({
    mongo: z
      .object({
        container: z.string().min(1).default('mongo'),
      })
      .strict()
      .prefault({}),
    uploads: z
      .object({
        source: absolutePath.default('/var/lib/docker/volumes/roomler_uploads/_data'),
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
    keep: z.number().int().min(1).default(7),
  })
  .strict()
  .prefault({});
