import { z } from 'zod';

// The Argo CD Application (issue 7). Placeholder until that issue fills it in.
export const argocdSchema = z.object({}).strict().prefault({});
