import { parseAllDocuments } from 'yaml';
import type { LoadedConfig } from '../config';
import { SchemaValidator } from './schema';

export interface Finding {
  readonly severity: 'error' | 'warning';
  /** Rule id, e.g. `schema`. */
  readonly rule: string;
  /** `kind/namespace/name` (namespace omitted for cluster-scoped objects). */
  readonly object: string;
  /** File the object came from. */
  readonly file: string;
  /** JSON path inside the object. */
  readonly path: string;
  readonly message: string;
  /** How to fix it. */
  readonly fix?: string;
}

export interface ParsedObject {
  readonly file: string;
  readonly index: number;
  readonly object: Record<string, any>;
}

let validator: SchemaValidator | undefined;
/** One validator per process: loading the definitions is the expensive part. */
export const schemaValidator = () => (validator ??= new SchemaValidator());

export const objectId = (o: Record<string, any>) =>
  [o?.kind ?? '?', o?.metadata?.namespace, o?.metadata?.name ?? '?'].filter((x) => x !== undefined).join('/');

export function parseFiles(files: ReadonlyMap<string, string>): { objects: ParsedObject[]; findings: Finding[] } {
  const objects: ParsedObject[] = [];
  const findings: Finding[] = [];
  for (const [file, text] of files) {
    parseAllDocuments(text).forEach((doc, index) => {
      if ('errors' in doc && doc.errors.length) {
        findings.push({ severity: 'error', rule: 'yaml', object: `document ${index}`, file, path: '', message: doc.errors[0].message });
        return;
      }
      const object = doc.toJS();
      if (object !== null && object !== undefined) objects.push({ file, index, object });
    });
  }
  return { objects, findings };
}

/** Every check on a set of manifest files; `config` supplies declared external references. */
export function validateFiles(files: ReadonlyMap<string, string>, _config?: LoadedConfig): Finding[] {
  const { objects, findings } = parseFiles(files);
  for (const { file, object } of objects) {
    for (const f of schemaValidator().validate(object)) {
      findings.push({ severity: 'error', rule: 'schema', object: objectId(object), file, path: f.path, message: f.message });
    }
  }
  return findings;
}

export function formatFindings(findings: readonly Finding[]): string {
  return findings
    .map((f) => `${f.severity.toUpperCase()} [${f.rule}] ${f.file}: ${f.object} ${f.path}: ${f.message}${f.fix ? ` (fix: ${f.fix})` : ''}`)
    .join('\n');
}
