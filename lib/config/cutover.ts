import { z } from 'zod';
import { absolutePath } from './primitives';

// The host nginx cutover (issue 4): which proxy targets move from the old Docker backends to which NodePort.

const route = z
  .object({
    /** The old upstream exactly as nginx names it, host:port. */
    from: z.string().regex(/^[A-Za-z0-9._-]+:\d{1,5}$/, 'must be host:port, e.g. r00mler2:3000'),
    /** The synthesized Service and port name it moves to, e.g. roomler/http or janus-nodeport/websocket. */
    to: z.string().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'must be <service>/<port name>, e.g. roomler/http'),
    /** Matches expected per file (name relative to confDir); anything else aborts before a byte changes. */
    expect: z.record(z.string(), z.number().int().min(0)).optional(),
  })
  .strict();

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
    /** Instance whose NodePorts and node address are the new targets. @default the first */
    instance: z.string().optional(),
    routes: z
      .array(route)
      .min(1)
      .default([
        { from: 'r00mler2:3000', to: 'roomler/http' },
        { from: 'janus_r:8088', to: 'janus-nodeport/http' },
        { from: 'janus_r:8188', to: 'janus-nodeport/websocket' },
        { from: 'janus_r:7088', to: 'janus-nodeport/admin-http' },
        { from: 'janus_r:7188', to: 'janus-nodeport/admin-websocket' },
      ]),
  })
  .strict()
  .prefault({});
