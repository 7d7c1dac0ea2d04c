import { z } from 'zod';

// Per-instance hardening: NetworkPolicies, pod security, graceful stops (issue 7). Placeholder.
export const securitySchema = z.object({}).strict().prefault({});
