import { z } from 'zod';

import { coturnSchema } from './coturn';
import { cutoverSchema } from './cutover';
import { argocdSchema } from './gitops';
import { backupSchema, migrateSchema, sshSchema } from './host';
import { instanceSchema } from './instance';
import { deploySchema, doctorSchema } from './operations';
import { validationSchema } from './validation';

/**
 * The whole config file. Its top level holds the instance defaults (every field of `instanceSchema`) plus
 * sections that are not per-instance. `instances` lists the copies of the stack; without it there is one,
 * named by the top-level `name` (default `roomler`).
 */
export const rootSchema = instanceSchema
  .extend({
    $schema: z.string().optional(),
    instances: z
      .array(z.looseObject({}))
      .min(1, 'must list at least one instance (or leave `instances` out for the single default one)')
      .optional()
      .describe('Copies of the stack; each entry overrides the top-level defaults (same fields).'),
    ssh: sshSchema,
    migrate: migrateSchema,
    backup: backupSchema,
    cutover: cutoverSchema,
    validation: validationSchema,
    argocd: argocdSchema,
    coturn: coturnSchema,
    deploy: deploySchema,
    doctor: doctorSchema,
  })
  .strict();

export type RootConfig = z.output<typeof rootSchema>;

/** The top-level keys that are instance defaults, as opposed to host-side sections. */
export const INSTANCE_KEYS: ReadonlySet<string> = new Set(Object.keys(instanceSchema.shape));

/** JSON Schema for editor completion, generated from the same zod schema that validates. */
export function configJsonSchema(): unknown {
  const root = z.toJSONSchema(rootSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, any>;
  const instance = z.toJSONSchema(instanceSchema.partial(), { io: 'input', unrepresentable: 'any' }) as Record<string, any>;
  delete instance.$schema;
  root.properties.instances.items = { ...instance, required: ['name'] };
  root.title = 'Roomler cdk8s configuration (roomler.yaml)';
  return root;
}
