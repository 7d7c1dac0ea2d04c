import { z } from 'zod';
import { absolutePath, dnsLabel, port } from './primitives';

// Sections of the config that are not per-instance. Each issue that needs host-side settings owns one
// section here; the operator's `.env` names map onto them in env.ts.

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

/** The host nginx the cutover rewrites. */
export const cutoverSchema = z
  .object({
    nginx: z
      .object({
        confDir: absolutePath.default('/etc/nginx/conf.d'),
        /** How nginx is invoked: a local binary, or a prefix such as ["docker", "exec", "nginx", "nginx"]. */
        command: z.array(z.string().min(1)).min(1).default(['nginx']),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export const validationSchema = z
  .object({
    /** ConfigMaps, Secrets and PVCs created outside dist/ (by `npm run secrets`, or by hand). */
    external: z
      .object({
        secrets: z.array(dnsLabel('secret name')).default([]),
        configMaps: z.array(dnsLabel('configMap name')).default([]),
        persistentVolumeClaims: z.array(dnsLabel('pvc name')).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});
