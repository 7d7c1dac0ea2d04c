import { z } from 'zod';
import { absolutePath } from './primitives';

// The host nginx cutover (issue 4).

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
