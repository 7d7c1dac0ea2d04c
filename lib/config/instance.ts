import { z } from 'zod';
import { securitySchema } from './hardening';
import { mongoBackupSchema } from './mongo-backup';
import {
  absolutePath,
  dnsLabel,
  dnsSubdomain,
  image,
  nodePort,
  port,
  probeTiming,
  quantity,
  resources,
  url,
} from './primitives';

/** coturn compares REST-API timestamps as 32-bit values (FIELD-NOTES: 9999999999 is rejected). */
export const TURN_EXPIRY_MAX = 2147483647;

/** A preStop delay lets the Service endpoints drop the pod before it stops accepting; then a grace period. */
const shutdown = (d: { preStopSeconds: number; gracePeriodSeconds: number }) =>
  z
    .object({
      preStopSeconds: z.number().int().min(0, 'must not be negative').default(d.preStopSeconds),
      gracePeriodSeconds: z.number().int().min(1, 'must be at least 1').default(d.gracePeriodSeconds),
    })
    .strict()
    .refine((s) => s.gracePeriodSeconds > s.preStopSeconds, 'gracePeriodSeconds must exceed preStopSeconds, or the pod is killed during preStop')
    .prefault({});

const mongodb = z
  .object({
    image: image.default('mongo:7'),
    database: z.string().regex(/^[^/\\. "$*<>:|?]{1,63}$/, 'must be a valid MongoDB database name').default('roomlerdb'),
    port: port.default(27017),
    storage: quantity.default('5Gi'),
    /** Directory on the data node. @default /data/<namespace>/mongodb */
    hostPath: absolutePath.optional(),
    secretName: dnsSubdomain('secretName').default('mongodb-secret'),
    resources: resources({ requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '500m', memory: '1Gi' } }),
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
    image: image.default('redis:7-alpine'),
    port: port.default(6379),
    resources: resources({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '100m', memory: '128Mi' } }),
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

const janusNodePorts = z
  .object({
    http: nodePort.default(30808),
    websocket: nodePort.default(30818),
    adminHttp: nodePort.default(30708),
    adminWebsocket: nodePort.default(30718),
  })
  .strict()
  .prefault({});

const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'must be a port range such as 10000-10200')
  .refine((r) => {
    const [a, b] = r.split('-').map(Number);
    return a >= 1 && b <= 65535 && a <= b;
  }, 'must be an ascending range within 1-65535');

const janus = z
  .object({
    image: image.default('gjovanov/janus-slim:latest'),
    /** Required reason for running a `:latest` image; becomes the latest-tag exemption annotation. */
    latestTagReason: z.string().min(1).optional().default('the operator deploys janus-slim by :latest today; pin a digest once releases are tagged'),
    shutdown: shutdown({ preStopSeconds: 30, gracePeriodSeconds: 120 }),
    /** Node Janus is pinned to; defaults to the instance's data node. */
    node: dnsLabel('node name').optional(),
    ports: janusPorts,
    nodePorts: janusNodePorts,
    /** UDP range Janus binds for RTP on the host network (janus.jcfg rtp_port_range). */
    rtpPortRange: portRange.default('10000-10200'),
    resources: resources({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } }),
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
    TURN_URL: url(['turn', 'turns']).optional(),
    WS_SCALEOUT_ENABLED: z.enum(['true', 'false']).default('true'),
    WS_SCALEOUT_HOST: dnsSubdomain('WS_SCALEOUT_HOST').optional(),
    FACEBOOK_ID: z.string().default(''),
    GOOGLE_ID: z.string().default(''),
    GITHUB_ID: z.string().default(''),
    LINKEDIN_ID: z.string().default(''),
    MICROSOFT_ID: z.string().default(''),
    GIPHY_API_KEY: z.string().default(''),
    GOOGLE_ANALYTICS_ID: z.string().default(''),
    NUXT_TELEMETRY_DISABLED: z.enum(['0', '1']).default('1'),
    SUPER_ADMIN_EMAILS: z
      .string()
      .refine((s) => {
        try {
          const v = JSON.parse(s);
          return Array.isArray(v) && v.every((e) => typeof e === 'string' && /^[^@\s]+@[^@\s]+$/.test(e));
        } catch {
          return false;
        }
      }, 'must be a JSON array of e-mail addresses, e.g. ["admin@roomler.live"]')
      .default('[]'),
    WEB_PUSH_CONTACT: z.string().default(''),
    WEB_PUSH_PUBLISH_KEY: z.string().default(''),
    NODE_ENV: z.enum(['production', 'development', 'test']).default('production'),
    HOST: z.string().default('0.0.0.0'),
  })
  .strict()
  .prefault({});

const app = z
  .object({
    image: image.default('gjovanov/roomler:latest'),
    /** Required reason for running a `:latest` image; becomes the latest-tag exemption annotation. */
    latestTagReason: z.string().min(1).optional().default('the operator deploys roomler by :latest today; pin a digest once releases are tagged'),
    shutdown: shutdown({ preStopSeconds: 10, gracePeriodSeconds: 60 }),
    replicas: z.number().int().min(0).max(50).default(1),
    command: z.array(z.string().min(1)).min(1).default(['npx', 'pm2-runtime', 'start', '/roomler/pm2.config.js']),
    workingDir: absolutePath.default('/roomler/packages/ui'),
    port: port.default(3000),
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
    // 1Gi was OOM-killed with 12 PM2 workers (FIELD-NOTES).
    resources: resources({ requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '4Gi' } }),
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
      .max(TURN_EXPIRY_MAX, `must be at most ${TURN_EXPIRY_MAX} (2038-01-19): coturn compares REST-API timestamps as 32-bit values and rejects later expiries such as 9999999999`)
      .refine((e) => e > Date.now() / 1000, 'must be in the future: an expired TURN credential is rejected by coturn')
      .default(2145830400),
    user: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits, ".", "_" or "-"').default('roomler'),
    /** Public TURN host name, used for TURN_URL when that is not set. */
    host: dnsSubdomain('turn.host').default('turn.roomler.live'),
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
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    /** Node that holds the hostPath data (MongoDB, uploads, backups). */
    dataNode: dnsLabel('node name').default('k8s-worker1'),
    /** Address the host nginx uses to reach this instance's NodePorts. */
    nodeAddress: z.string().min(1).default('k8s-worker1'),
    domains: z
      .object({ app: dnsSubdomain('domain').default('roomler.live'), janus: dnsSubdomain('domain').default('janus.roomler.live') })
      .strict()
      .prefault({}),
    mongodb,
    redis,
    janus,
    app,
    turn,
    /** MongoDB backup CronJobs (issue 5). */
    backups: mongoBackupSchema,
    /** NetworkPolicies, pod security and graceful stops (issue 7). */
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
