import { z } from 'zod';

import { dnsLabel } from './primitives';

// Validation settings, for `bin/roomler validate` and synth's own check of its output.

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
