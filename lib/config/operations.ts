import { z } from 'zod';

// `npm run deploy` and `npm run doctor` (issue 9). Placeholders until that issue fills them in.
export const deploySchema = z.object({}).strict().prefault({});
export const doctorSchema = z.object({}).strict().prefault({});
