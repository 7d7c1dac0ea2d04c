import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A JSON-Schema subset: what the Kubernetes OpenAPI definitions and CRD openAPIV3Schemas use. */
interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
}

export interface SchemaFinding {
  /** JSON path inside the object, e.g. `spec.template.spec.containers[0].ports[0].name`. */
  readonly path: string;
  readonly message: string;
}

const SCHEMA_DIR = join(__dirname, '..', '..', 'schemas');

/**
 * The schemas without their documentation: a string `description` explains a field and is never checked (a field
 * NAMED description is an object, its schema, and stays). Four fifths of the definitions' text, which the startup
 * snapshot would otherwise hold and restore at every start.
 */
const readSchemas = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8'), (key, value) => (key === 'description' && typeof value === 'string' ? undefined : value));

/**
 * Strict structural validation against the vendored Kubernetes 1.28 definitions and CRD schemas, as
 * `kubeconform -strict` does it: unknown fields, wrong types, missing required fields, unknown kinds.
 */
export class SchemaValidator {
  private readonly definitions: Record<string, Schema>;
  private readonly byGvk = new Map<string, Schema>();

  constructor(schemaDir = SCHEMA_DIR) {
    this.definitions = readSchemas(join(schemaDir, 'kubernetes', 'v1.28.0', '_definitions.json')).definitions;
    for (const def of Object.values(this.definitions)) {
      for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
        this.byGvk.set(`${gvk.group ? `${gvk.group}/` : ''}${gvk.version}/${gvk.kind}`, def);
      }
    }
    const crds: Record<string, Schema> = readSchemas(join(schemaDir, 'crds.json'));
    for (const [gvk, schema] of Object.entries(crds)) {
      // CRD schemas leave metadata open; the API server checks it as ObjectMeta.
      const properties = {
        ...(schema.properties ?? {}),
        metadata: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' },
      };
      this.byGvk.set(gvk, { ...schema, properties });
    }
  }

  /** Whether this apiVersion/kind has a schema here. */
  knows(apiVersion: string, kind: string): boolean {
    return this.byGvk.has(`${apiVersion}/${kind}`);
  }

  validate(object: unknown): SchemaFinding[] {
    const findings: SchemaFinding[] = [];
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      return [{ path: '', message: 'a manifest must be a mapping' }];
    }
    const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      return [{ path: typeof apiVersion !== 'string' ? 'apiVersion' : 'kind', message: 'apiVersion and kind are required strings' }];
    }
    const schema = this.byGvk.get(`${apiVersion}/${kind}`);
    if (!schema)
      return [
        { path: 'kind', message: `unknown apiVersion/kind ${apiVersion}/${kind} (no schema in Kubernetes 1.28 or the vendored CRDs)` },
      ];
    this.check(schema, object, '', findings);
    return findings;
  }

  private resolve(schema: Schema): Schema {
    let s = schema;
    while (s.$ref) s = this.definitions[s.$ref.replace('#/definitions/', '')] ?? {};
    return s;
  }

  private check(schemaIn: Schema, value: unknown, path: string, out: SchemaFinding[]): void {
    const schema = this.resolve(schemaIn);
    const at = (p: string) => (path ? `${path}${p.startsWith('[') ? '' : '.'}${p}` : p);
    if (value === null) return; // null means "unset" to the API server
    if (schema['x-kubernetes-int-or-string']) {
      if (typeof value !== 'string' && !Number.isInteger(value))
        out.push({ path, message: `expected integer or string, got ${typeName(value)}` });
      return;
    }
    const alternatives = schema.oneOf ?? schema.anyOf;
    if (alternatives && !schema.type) {
      const ok = alternatives.some((alt) => {
        const sub: SchemaFinding[] = [];
        this.check(alt, value, path, sub);
        return sub.length === 0;
      });
      if (!ok)
        out.push({ path, message: `expected ${alternatives.map((a) => this.resolve(a).type).join(' or ')}, got ${typeName(value)}` });
      return;
    }
    if (schema.enum && !schema.enum.includes(value)) {
      out.push({ path, message: `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(value)}` });
    }
    switch (schema.type) {
      case 'string':
        if (typeof value !== 'string') out.push({ path, message: `expected string, got ${typeName(value)}` });
        return;
      case 'integer':
        if (!Number.isInteger(value)) out.push({ path, message: `expected integer, got ${typeName(value)}` });
        else if (schema.format === 'int32' && ((value as number) > 2147483647 || (value as number) < -2147483648)) {
          out.push({ path, message: `integer ${value} does not fit int32` });
        }
        return;
      case 'number':
        if (typeof value !== 'number') out.push({ path, message: `expected number, got ${typeName(value)}` });
        return;
      case 'boolean':
        if (typeof value !== 'boolean') out.push({ path, message: `expected boolean, got ${typeName(value)}` });
        return;
      case 'array':
        if (!Array.isArray(value)) return void out.push({ path, message: `expected array, got ${typeName(value)}` });
        if (schema.items) value.forEach((v, n) => this.check(schema.items!, v, at(`[${n}]`), out));
        return;
      case 'object':
      case undefined: {
        if (!schema.properties && !schema.additionalProperties) return; // free-form (e.g. RawExtension)
        if (typeof value !== 'object' || Array.isArray(value))
          return void out.push({ path, message: `expected object, got ${typeName(value)}` });
        const obj = value as Record<string, unknown>;
        for (const req of schema.required ?? []) {
          if (obj[req] === undefined) out.push({ path: at(req), message: `required field "${req}" is missing` });
        }
        for (const [key, v] of Object.entries(obj)) {
          const prop = schema.properties?.[key];
          if (prop) this.check(prop, v, at(key), out);
          else if (typeof schema.additionalProperties === 'object') this.check(schema.additionalProperties, v, at(key), out);
          else if (schema.additionalProperties !== true && !schema['x-kubernetes-preserve-unknown-fields']) {
            out.push({ path: at(key), message: `unknown field "${key}"` });
          }
        }
        return;
      }
    }
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (Number.isInteger(v)) return 'integer';
  return typeof v;
}
