import { z } from 'zod';

import { securitySchema } from './hardening';
import { mongoBackupSchema } from './mongo-backup';
import { absolutePath, dnsLabel, dnsSubdomain, image, nodePort, port, probeTiming, quantity, resources, url } from './primitives';
import {
  argument,
  domainName,
  emailList,
  hostOrIp,
  int32,
  ipv4,
  ipv4Prefix,
  kubeContext,
  mongoDatabase,
  oneLine,
  portRange,
  requestPath,
  token,
  turnUrl,
  turnUser,
  vapidSubject,
} from './values';

/**
 * coturn 4.6 compares REST-API timestamps as 32-bit values: a later expiry, like the old deployment's 9999999999, is
 * rejected (docs/reference-topology.md).
 */
export const TURN_EXPIRY_MAX = 2147483647;

/** A preStop delay lets the Service endpoints drop the pod before it stops accepting; then a grace period. */
const shutdown = (d: { preStopSeconds: number; gracePeriodSeconds: number }) =>
  z
    .object({
      preStopSeconds: int32(0).default(d.preStopSeconds),
      gracePeriodSeconds: int32(1).default(d.gracePeriodSeconds),
    })
    .strict()
    .refine(
      (s) => s.gracePeriodSeconds > s.preStopSeconds,
      'gracePeriodSeconds must exceed preStopSeconds, or the pod is killed during preStop',
    )
    .prefault({});

const mongodb = z
  .object({
    // An exact patch, never a moving major tag. Within 7.0 a patch can go up or down without touching the
    // data files' featureCompatibilityVersion; set the patch the old deployment runs (`npm run doctor` prints it).
    image: image.default('mongo:7.0.16'),
    database: mongoDatabase.default('roomlerdb'),
    port: port.default(27017),
    storage: quantity.default('5Gi'),
    /** Directory on the data node. @default /data/<namespace>/mongodb */
    hostPath: absolutePath.optional(),
    secretName: dnsSubdomain('secretName').default('mongodb-secret'),
    // Data is on the PVC; only /tmp, /data/configdb and the logs are local.
    resources: resources({
      requests: { cpu: '250m', memory: '512Mi', ephemeralStorage: '128Mi' },
      limits: { cpu: '500m', memory: '1Gi', ephemeralStorage: '1Gi' },
    }),
    // A first boot initialises the data files and a crash recovery replays the WiredTiger journal:
    // 10 s + 60 x 10 s gives ten minutes before liveness may act.
    startupProbe: probeTiming({ initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 60 }),
    readinessProbe: probeTiming({ periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 }),
    livenessProbe: probeTiming({ periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 }),
  })
  .strict()
  .prefault({});

const redis = z
  .object({
    image: image.default('redis:7.4.2-alpine'),
    port: port.default(6379),
    resources: resources({
      requests: { cpu: '50m', memory: '64Mi', ephemeralStorage: '64Mi' },
      limits: { cpu: '100m', memory: '128Mi', ephemeralStorage: '256Mi' },
    }),
    readinessProbe: probeTiming({ initialDelaySeconds: 2, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 }),
    livenessProbe: probeTiming({ initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 2, failureThreshold: 5 }),
  })
  .strict()
  .prefault({});

const janusPorts = z
  .object({
    http: port.default(8088),
    websocket: port.default(8188),
    adminHttp: port.default(7088),
    adminWebsocket: port.default(7188),
  })
  .strict()
  .prefault({});

/** The host nginx proxies the Janus API here. The admin API never gets a NodePort: see `janus.admin`. */
const janusNodePorts = z
  .object({
    http: nodePort.default(30808),
    websocket: nodePort.default(30818),
  })
  .strict()
  .prefault({});

/**
 * The Janus admin/monitor API (ports.adminHttp / ports.adminWebsocket) can list and tear down every session.
 * Off by default: synth renders Janus's transport configs with admin_http and admin_ws false. Enabled, it binds
 * only `bindAddress` on the node (Janus is on the host network, so no NodePort or Service is involved), accepts
 * only `allowFrom`, and every request must carry the admin_secret from Secret `secretName`.
 */
const janusAdmin = z
  .object({
    enabled: z.boolean().default(false),
    /** Address on the node the admin API binds (admin_ip / admin_ws_ip). 127.0.0.1: only the node itself. */
    bindAddress: ipv4.default('127.0.0.1'),
    /** Source addresses Janus accepts admin requests from (admin_acl: prefixes such as "10.0.0.5" or "10.0."). */
    allowFrom: z.array(ipv4Prefix).min(1).default(['127.0.0.1']),
    /** Secret holding the admin_secret (key `admin-secret`); `npm run secrets` makes it from JANUS_ADMIN_SECRET. */
    secretName: dnsSubdomain('secretName').default('janus-admin'),
  })
  .strict()
  .prefault({});

const janus = z
  .object({
    image: image.default('gjovanov/janus-slim:latest'),
    /** Why a `:latest` image is acceptable; becomes the latest-tag exemption annotation (valid only with imagePullPolicy Always). */
    latestTagReason: oneLine()
      .optional()
      .default('gjovanov/janus-slim publishes no version tags; pulled with imagePullPolicy Always, so every start runs the newest push'),
    /** Where the image keeps Janus's .jcfg files (janus-slim: --prefix=/opt/janus, make configs). */
    configDir: absolutePath.default('/opt/janus/etc/janus'),
    admin: janusAdmin,
    shutdown: shutdown({ preStopSeconds: 30, gracePeriodSeconds: 120 }),
    /** Node Janus is pinned to; defaults to the instance's data node. */
    node: dnsLabel('node name').optional(),
    ports: janusPorts,
    nodePorts: janusNodePorts,
    /** UDP range Janus binds for RTP on the host network (janus.jcfg rtp_port_range). */
    rtpPortRange: portRange().default('10000-10200'),
    // janus-slim writes its logs inside the image (writable root filesystem): bounded, so a runaway log evicts
    // the pod instead of filling the node's disk.
    resources: resources({
      requests: { cpu: '250m', memory: '256Mi', ephemeralStorage: '256Mi' },
      limits: { cpu: '1', memory: '512Mi', ephemeralStorage: '2Gi' },
    }),
    readinessProbe: probeTiming({ initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 }),
    // Liveness is a TCP connect on the HTTP port: cheaper than the info request readiness makes.
    livenessProbe: probeTiming({ initialDelaySeconds: 15, periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 5 }),
  })
  .strict()
  .prefault({});

/** The non-secret keys of ConfigMap roomler-config; unset URLs are derived from `domains`. */
const appEnv = z
  .object({
    URL: url(['https', 'http']).optional(),
    API_URL: url(['https', 'http']).optional(),
    API_URL_SERVER: url(['https', 'http']).optional(),
    JANUS_URL: url(['wss', 'ws', 'https', 'http']).optional(),
    TURN_URL: turnUrl.optional(),
    WS_SCALEOUT_ENABLED: z.enum(['true', 'false']).default('true'),
    WS_SCALEOUT_HOST: hostOrIp.optional(),
    FACEBOOK_ID: token.default(''),
    GOOGLE_ID: token.default(''),
    GITHUB_ID: token.default(''),
    LINKEDIN_ID: token.default(''),
    MICROSOFT_ID: token.default(''),
    GIPHY_API_KEY: token.default(''),
    GOOGLE_ANALYTICS_ID: token.default(''),
    NUXT_TELEMETRY_DISABLED: z.enum(['0', '1']).default('1'),
    SUPER_ADMIN_EMAILS: emailList.default('[]'),
    WEB_PUSH_CONTACT: vapidSubject.default(''),
    WEB_PUSH_PUBLISH_KEY: token.default(''),
    NODE_ENV: z.enum(['production', 'development', 'test']).default('production'),
    /** Address the app binds inside its container. */
    HOST: hostOrIp.default('0.0.0.0'),
  })
  .strict()
  .prefault({});

const app = z
  .object({
    image: image.default('gjovanov/roomler:latest'),
    /** Why a `:latest` image is acceptable; becomes the latest-tag exemption annotation (valid only with imagePullPolicy Always). */
    latestTagReason: oneLine()
      .optional()
      .default('gjovanov/roomler publishes no version tags; pulled with imagePullPolicy Always, so every start runs the newest push'),
    shutdown: shutdown({ preStopSeconds: 10, gracePeriodSeconds: 60 }),
    replicas: z.number().int().min(0).max(50).default(1),
    command: z.array(argument).min(1).default(['npx', 'pm2-runtime', 'start', '/roomler/pm2.config.js']),
    workingDir: absolutePath.default('/roomler/packages/ui'),
    port: port.default(3000),
    /** Readiness asks the API itself (fastify's GET /api/ping); liveness only connects, so a slow moment never restarts PM2. */
    readinessPath: requestPath.default('/api/ping'),
    nodePort: nodePort.default(30030),
    configMapName: dnsSubdomain('configMapName').default('roomler-config'),
    secretName: dnsSubdomain('secretName').default('roomler-secret'),
    uploads: z
      .object({
        storage: quantity.default('5Gi'),
        /** Directory on the data node. @default /data/<namespace>/uploads */
        hostPath: absolutePath.optional(),
        mountPath: absolutePath.default('/roomler/packages/ui/static/uploads'),
      })
      .strict()
      .prefault({}),
    // 1Gi was OOM-killed with 12 PM2 workers (docs/reference-topology.md).
    // PM2 logs and the Nuxt cache are written inside the image (writable root filesystem); uploads are on the PVC.
    resources: resources({
      requests: { cpu: '250m', memory: '512Mi', ephemeralStorage: '512Mi' },
      limits: { cpu: '1', memory: '4Gi', ephemeralStorage: '4Gi' },
    }),
    // PM2 spawns a worker per CPU; each connects to Mongo and Redis and builds the SSR renderer: 10 s + 30 x 5 s.
    startupProbe: probeTiming({ initialDelaySeconds: 10, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 30 }),
    readinessProbe: probeTiming({ periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 5 }),
    livenessProbe: probeTiming({ periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 10 }),
    env: appEnv,
  })
  .strict()
  .prefault({});

const turn = z
  .object({
    /** Unix time the long-lived TURN credential expires; part of TURN_USERNAME `<expiry>:<user>`. */
    expiry: z
      .number()
      .int()
      .max(
        TURN_EXPIRY_MAX,
        `must be at most ${TURN_EXPIRY_MAX} (2038-01-19): coturn compares REST-API timestamps as 32-bit values and rejects later expiries such as 9999999999`,
      )
      .refine((e) => e > Date.now() / 1000, 'must be in the future: an expired TURN credential is rejected by coturn')
      .default(2145830400),
    user: turnUser.default('roomler'),
    /** Public TURN host name, used for TURN_URL when that is not set. */
    host: domainName.default('turn.roomler.live'),
    port: port.default(3478),
  })
  .strict()
  .prefault({});

/** Everything one copy of the Roomler stack needs; top-level config values are the defaults for every instance. */
export const instanceSchema = z
  .object({
    /** Instance name: the chart id and `dist/<name>.k8s.yaml`. */
    name: dnsLabel('instance name').default('roomler'),
    /** Namespace; defaults to the instance name. */
    namespace: dnsLabel('namespace').optional(),
    partOf: dnsLabel('partOf').default('roomler'),
    /**
     * For every container of the instance. @default Always for a `:latest` or floating tag, IfNotPresent for an
     * exact tag or digest. A moving tag with anything but Always is a config error: a node that has an older copy
     * would never run the new one.
     */
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    /** Node that holds the hostPath data (MongoDB, uploads, backups). */
    dataNode: dnsLabel('node name').default('k8s-worker1'),
    /** Address the host nginx uses to reach this instance's NodePorts. */
    nodeAddress: hostOrIp.default('k8s-worker1'),
    /**
     * kubeconfig context `deploy` sends this instance to (staging and production on different clusters from one
     * config). `deploy --context` overrides it for every instance. @default kubectl's current context
     */
    context: kubeContext.optional(),
    domains: z
      .object({ app: domainName.default('roomler.live'), janus: domainName.default('janus.roomler.live') })
      .strict()
      .prefault({}),
    mongodb,
    redis,
    janus,
    app,
    turn,
    /** MongoDB backup CronJobs. */
    backups: mongoBackupSchema,
    /** NetworkPolicies, pod security and graceful stops. */
    security: securitySchema,
  })
  .strict();

export type InstanceInput = z.input<typeof instanceSchema>;
export type ParsedInstance = z.output<typeof instanceSchema>;

/** A fully resolved instance: every derived default filled in. */
export type InstanceConfig = ParsedInstance & {
  namespace: string;
  mongodb: ParsedInstance['mongodb'] & { hostPath: string };
  janus: ParsedInstance['janus'] & { node: string };
  app: ParsedInstance['app'] & { env: Required<ParsedInstance['app']['env']>; uploads: { hostPath: string } };
};

export function resolveInstance(p: ParsedInstance): InstanceConfig {
  const origin = `https://${p.domains.app}`;
  const env = {
    ...p.app.env,
    URL: p.app.env.URL ?? origin,
    API_URL: p.app.env.API_URL ?? origin,
    API_URL_SERVER: p.app.env.API_URL_SERVER ?? `http://localhost:${p.app.port}`,
    JANUS_URL: p.app.env.JANUS_URL ?? `wss://${p.domains.janus}/janus_ws`,
    TURN_URL: p.app.env.TURN_URL ?? `turn:${p.turn.host}:${p.turn.port}`,
    WS_SCALEOUT_HOST: p.app.env.WS_SCALEOUT_HOST ?? 'redis',
  };
  const namespace = p.namespace ?? p.name;
  return {
    ...p,
    namespace,
    mongodb: { ...p.mongodb, hostPath: p.mongodb.hostPath ?? `/data/${namespace}/mongodb` },
    janus: { ...p.janus, node: p.janus.node ?? p.dataNode },
    app: { ...p.app, env, uploads: { ...p.app.uploads, hostPath: p.app.uploads.hostPath ?? `/data/${namespace}/uploads` } },
  };
}

/** TURN_USERNAME as coturn's use-auth-secret expects it. */
export const turnUsername = (i: Pick<InstanceConfig, 'turn'>) => `${i.turn.expiry}:${i.turn.user}`;

/** The data of ConfigMap `app.configMapName`: the app's environment (envFrom), keys sorted. */
export function appConfigData(i: InstanceConfig): Record<string, string> {
  const data: Record<string, string> = { ...i.app.env, TURN_USERNAME: turnUsername(i), PORT: String(i.app.port) };
  return Object.fromEntries(Object.entries(data).sort(([x], [y]) => (x < y ? -1 : 1)));
}
