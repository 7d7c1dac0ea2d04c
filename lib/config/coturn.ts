import { z } from 'zod';

// The coturn namespace (issue 8). Placeholder until that issue fills it in.
export const coturnSchema = z.object({}).strict().prefault({});
