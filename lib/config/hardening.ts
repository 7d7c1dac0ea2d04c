import { z } from 'zod';

// Per-instance hardening (issue 7).
export const securitySchema = z
  .object({
    /** Default-deny NetworkPolicies with the allows the stack needs. Needs a CNI that enforces them. */
    networkPolicies: z.boolean().default(true),
  })
  .strict()
  .prefault({});
