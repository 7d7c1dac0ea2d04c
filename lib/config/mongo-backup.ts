import { z } from 'zod';

// Per-instance MongoDB backup CronJobs (issue 5). Placeholder until that issue fills it in.
export const mongoBackupSchema = z.object({}).strict().prefault({});
