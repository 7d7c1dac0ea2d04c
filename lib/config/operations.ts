import { z } from 'zod';

import { dnsLabel, ipv4, resolverAddress, timerDuration } from './values';

// Settings of `npm run deploy` and `npm run doctor`.

export const deploySchema = z
  .object({
    /** How long each workload may take to become ready. */
    rolloutTimeoutSeconds: timerDuration('s', 10).default(600),
    /** Namespace holding the release history (one Secret per deploy, as Helm keeps its releases). */
    historyNamespace: dnsLabel('deploy.historyNamespace').default('roomler-deploy'),
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
    dnsServer: resolverAddress.optional(),
    /** PM2 workers the app starts (one per CPU of the node) and the seconds each takes to start. */
    pm2Workers: z.number().int().min(1).max(1024).default(12),
    secondsPerWorker: z.number().int().min(1).max(3600).default(10),
    /** Warn when the TURN credential expires sooner than this. */
    turnExpiryWarnDays: z.number().int().min(1).max(36500).default(90),
  })
  .strict()
  .prefault({});
