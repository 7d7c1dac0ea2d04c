import { z } from 'zod';

import { oneLine } from './values';

// Per-instance hardening: each default can be switched off, but only with a reason.
export const securitySchema = z
  .object({
    /** Default-deny NetworkPolicies with the allows the stack needs. Needs a CNI that enforces them. */
    networkPolicies: z.boolean().default(true),
    /** Why networkPolicies is off; required then, and written into the non-isolated-pod exemptions. */
    networkPoliciesOffReason: oneLine(10).optional(),
  })
  .strict()
  .refine((s) => s.networkPolicies || s.networkPoliciesOffReason !== undefined, {
    message: 'switching networkPolicies off needs networkPoliciesOffReason',
    path: ['networkPoliciesOffReason'],
  })
  .prefault({});
