import { z } from 'zod';

// `npm run deploy` and `npm run doctor` (issue 9).
const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'must be an IPv4 address');

export const deploySchema = z
  .object({
    /** How long each workload may take to become ready. */
    rolloutTimeoutSeconds: z.number().int().min(10).default(600),
    /** Namespace holding the release history (one Secret per deploy, as Helm keeps its releases). */
    historyNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label').default('roomler-deploy'),
    /** Revisions kept; older ones are deleted after each deploy. */
    historyLimit: z.number().int().min(2).max(100).default(10),
  })
  .strict()
  .prefault({});

export const doctorSchema = z
  .object({
    /** The address every public name must resolve to. */
    publicIp: ipv4.optional(),
    /** Resolver to ask, host:port. @default the system resolver */
    dnsServer: z.string().regex(/^[^:\s]+(:\d+)?$/, 'must be host or host:port').optional(),
    /** PM2 workers the app starts (one per CPU of the node) and the seconds each takes to start. */
    pm2Workers: z.number().int().min(1).default(12),
    secondsPerWorker: z.number().int().min(1).default(10),
    /** Warn when the TURN credential expires sooner than this. */
    turnExpiryWarnDays: z.number().int().min(1).default(90),
  })
  .strict()
  .prefault({});
