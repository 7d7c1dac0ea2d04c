import { z } from 'zod';

import { absolutePath } from './primitives';
import {
  argument,
  containerHostPort,
  containerName,
  dnsLabel,
  hostOrIp,
  hostPort,
  httpToken,
  oneLine,
  relativePath,
  requestPath,
  stringKind,
  timerDuration,
} from './values';

// The host nginx cutover: which proxy targets move from the old Docker backends to which NodePort,
// how nginx is driven, and how every step is checked.

/** Where a route goes: a synthesized Service and port name, the Janus admin API on its node, or nginx itself. */
const routeTarget = stringKind(
  {
    kind: 'routeTarget',
    rule: '<service>/<port name> (roomler/http, janus-nodeport/http, janus-host/admin-http…), retired, or retired/<4xx>',
  },
  (v) => {
    const rule = 'must be <service>/<port name>, e.g. roomler/http, or retired[/<4xx>]';
    if (v.length > 127 || !/^([a-z0-9-]+\/[a-z0-9-]+|retired)$/.test(v)) return rule;
    return v.startsWith('retired/') && !/^retired\/4\d\d$/.test(v) ? `${rule}: a retired route answers a 4xx status` : undefined;
  },
);

/** One request through nginx after the reload (and before the change, as a baseline). */
const verify = z
  .object({
    /** Request path (and query) sent to nginx. */
    path: requestPath,
    /** Expected status. @default 101 for a WebSocket, otherwise any status below 500 (nginx reached the backend) */
    status: z.number().int().min(100).max(599).optional(),
    /** Host header and TLS SNI. @default the server_name of the server block that proxies to the route */
    host: hostOrIp.optional(),
    /** Complete a WebSocket upgrade handshake instead of a GET. @default true for the Janus WebSocket ports */
    websocket: z.boolean().optional(),
    /** Sec-WebSocket-Protocol offered. @default janus-protocol / janus-admin-protocol on the Janus ports */
    protocol: httpToken.optional(),
    /** Where nginx listens, host:port. @default the `listen` of that server block (a wildcard becomes loopback) */
    address: hostPort.optional(),
    /** Speak TLS to nginx. @default whether that `listen` has `ssl` */
    tls: z.boolean().optional(),
  })
  .strict();

const route = z
  .object({
    /** The old upstream exactly as nginx names it, host:port. */
    from: containerHostPort(false),
    /**
     * The synthesized NodePort Service and port name it moves to (roomler/http, janus-nodeport/http|websocket), or
     * janus-host/admin-http|admin-websocket: the Janus admin API on its node (janus.admin.bindAddress, or nodeAddress
     * when it binds 0.0.0.0), which no Service exposes; while janus.admin.enabled is false those locations are retired
     * instead. `retired` or `retired/<4xx>`: the locations answer that status (403 by default) from nginx itself.
     */
    to: routeTarget,
    /** Matches expected per file (name relative to confDir); anything else aborts before a byte changes. */
    expect: z.record(relativePath, z.number().int().min(0)).optional(),
    /** An HTTP path the new target must answer directly (preflight), beside the TCP connect. @default none */
    health: z
      .object({ path: requestPath, status: z.number().int().min(100).max(599).default(200) })
      .strict()
      .optional(),
    /** Requests through nginx that prove the route works. @default one per location that proxies to the route */
    verify: z.array(verify).min(1).optional(),
    /**
     * Whether the verification requests must pass on the OLD backend before anything changes (preflight). Turn
     * off only for a route that is already broken, e.g. janus_r:8080, where the Janus image serves nothing.
     */
    baseline: z.boolean().default(true),
  })
  .strict();

/** A proxy target on an old host that stays as it is on purpose: its host must keep running after the move. */
const kept = z
  .object({
    /** host:port, or a host alone for every port of it. */
    target: containerHostPort(true),
    /** Why it stays (shown in plan, status and drain). */
    reason: oneLine(),
  })
  .strict();

export const cutoverSchema = z
  .object({
    nginx: z
      .object({
        confDir: absolutePath.default('/etc/nginx/conf.d'),
        /**
         * Prefix for commands that must run where nginx runs (reading its pid file, /proc, name lookups), e.g.
         * [docker, exec, nginx]. @default [] (nginx runs on this host)
         */
        exec: z.array(argument).default([]),
        /** The nginx binary and global options, run after `exec`, e.g. [nginx] or [nginx, -c, /etc/nginx/nginx.conf]. */
        command: z.array(argument).min(1).default(['nginx']),
        /** nginx's pid file as seen where nginx runs; its master's children are the workers a reload replaces. */
        pidFile: absolutePath.default('/run/nginx.pid'),
        /** How long a reload may take to start new workers before it counts as not taken effect. */
        reloadTimeoutMs: timerDuration('ms', 100).default(5000),
      })
      .strict()
      .prefault({}),
    /** Backup sets (one per apply/rollback); must be outside every directory nginx includes from. */
    backupDir: absolutePath.default('/var/backups/roomler-nginx-cutover'),
    /** Instance whose NodePorts and node address are the new targets. @default the first */
    instance: dnsLabel('cutover.instance').optional(),
    /** Preflight TCP connect / health request timeout, and each verification request's timeout. */
    connectTimeoutMs: timerDuration('ms', 100).default(3000),
    requestTimeoutMs: timerDuration('ms', 100).default(10000),
    drain: z
      .object({
        /** `drain` gives up (exit 3) after this long. */
        timeoutMinutes: timerDuration('min', 0, false).default(120),
        intervalSeconds: timerDuration('s', 0.05, false).default(2),
      })
      .strict()
      .prefault({}),
    routes: z
      .array(route)
      .min(1)
      .default([
        { from: 'r00mler2:3000', to: 'roomler/http', baseline: true },
        { from: 'janus_r:8088', to: 'janus-nodeport/http', baseline: true },
        { from: 'janus_r:8188', to: 'janus-nodeport/websocket', baseline: true },
        // The admin API has no NodePort: these follow it to Janus's node (janus.admin), and plan warns that
        // nginx keeps the locations public. While the admin API is off (the default), they are retired: nginx
        // answers 403 there itself.
        { from: 'janus_r:7088', to: 'janus-host/admin-http', baseline: true },
        { from: 'janus_r:7188', to: 'janus-host/admin-websocket', baseline: true },
        // janus.roomler.live's `location /` proxies here, but the Janus image serves nothing on 8080 (nginx answers
        // 502 today). It goes where the original deployment's cutover script sent it, the HTTP API NodePort, which
        // answers 404 outside /janus (measured on Janus 1.1.2): a dead route stays harmless, and `janus_r` leaves
        // nginx's config, so nginx -t still passes once the container is gone.
        { from: 'janus_r:8080', to: 'janus-nodeport/http', baseline: false },
      ]),
    /** Proxy targets on an old host that stay where they are on purpose (plan, apply and drain account for them). */
    kept: z.array(kept).default([]),
    /**
     * More hosts of the old stack besides the routes' hosts (other container names): every proxy target on them
     * must be routed or kept, and drain watches them too.
     */
    oldHosts: z.array(containerName).default([]),
  })
  .strict()
  .prefault({});

export type CutoverConfig = z.output<typeof cutoverSchema>;
export type CutoverRoute = CutoverConfig['routes'][number];
export type VerifySpec = NonNullable<CutoverRoute['verify']>[number];
export type KeptTarget = CutoverConfig['kept'][number];
