import { parseAllDocuments } from 'yaml';

import type { LoadedConfig } from '../config';
import type { K8sObject } from '../manifest';
import { apiServerRules } from './api-rules';
import { crossObjectRules, type ExternalRefs } from './cross-object';
import { finding } from './objects';
import { type Exemption, policyRules } from './policy';
import { SchemaValidator } from './schema';

export type { Exemption };

export interface Finding {
  readonly severity: 'error' | 'warning';
  /** Rule id: `schema`, `api-server`, `cross-object`, or the policy check's name. */
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
  readonly object: K8sObject;
}

export interface Report {
  readonly findings: Finding[];
  readonly exemptions: Exemption[];
  readonly objects: number;
}

let validator: SchemaValidator | undefined;
/** One validator per process: loading the definitions is the expensive part. */
export const schemaValidator = () => (validator ??= new SchemaValidator());

const yamlError = (file: string, index: number, message: string): Finding => ({
  severity: 'error',
  rule: 'yaml',
  object: `document ${index}`,
  file,
  path: '',
  message,
});

export function parseFiles(files: ReadonlyMap<string, string>): { objects: ParsedObject[]; findings: Finding[] } {
  const objects: ParsedObject[] = [];
  const findings: Finding[] = [];
  for (const [file, text] of files) {
    // YAML 1.1, as kubectl reads it: `no`, `on` and `yes` are booleans there.
    parseAllDocuments(text, { version: '1.1' }).forEach((doc, index) => {
      if ('errors' in doc && doc.errors.length) {
        findings.push(yamlError(file, index, doc.errors[0].message.split('\n')[0]));
        return;
      }
      const object = doc.toJS();
      if (object === null || object === undefined) return;
      if (typeof object !== 'object' || Array.isArray(object)) {
        findings.push(yamlError(file, index, 'a manifest must be a mapping'));
        return;
      }
      objects.push({ file, index, object });
    });
  }
  return { objects, findings };
}

/**
 * Secrets the manifests reference by name but that `bin/roomler secrets apply` / `secrets tls` create, under the
 * names the config gives them (the defaults without a config), plus what config declares.
 */
export function externalRefs(config?: LoadedConfig): ExternalRefs {
  const declared = config?.root.validation.external;
  const fromInstances = (config?.instances ?? []).flatMap((i) => [
    i.app.secretName,
    i.mongodb.secretName,
    ...(i.janus.admin.enabled ? [i.janus.admin.secretName] : []),
  ]);
  const coturn = config?.root.coturn;
  const fromCoturn = coturn ? (coturn.enabled ? [coturn.authSecretName, coturn.tlsSecretName] : []) : ['coturn-auth', 'coturn-tls'];
  const defaults = config ? [] : ['roomler-secret', 'mongodb-secret'];
  return {
    secrets: [...new Set([...defaults, ...fromCoturn, ...fromInstances, ...(declared?.secrets ?? [])])],
    configMaps: declared?.configMaps ?? [],
    persistentVolumeClaims: declared?.persistentVolumeClaims ?? [],
  };
}

/** Every check on a set of manifest files: schema, API-server rules, cross-object consistency, policy. */
export function validateReport(files: ReadonlyMap<string, string>, config?: LoadedConfig): Report {
  const { objects, findings } = parseFiles(files);
  const report = validateObjects(objects, config);
  return { ...report, findings: [...findings, ...report.findings] };
}

/**
 * The same checks on objects in memory: what synth runs on the manifests before it renders them (re-parsing its
 * own YAML cost ~160 ms; the YAML 1.1 round trip is the renderer's job and has its own test).
 */
export function validateObjects(objects: readonly ParsedObject[], config?: LoadedConfig): Report {
  const findings: Finding[] = [];
  for (const p of objects) {
    for (const f of schemaValidator().validate(p.object)) findings.push(finding('error', 'schema', p.object, p.file, f.path, f.message));
    findings.push(...apiServerRules(p));
  }
  findings.push(...crossObjectRules(objects, externalRefs(config)));
  const policy = policyRules(objects);
  findings.push(...policy.findings);
  const order = (f: Finding) => (f.severity === 'error' ? 0 : 1);
  findings.sort((a, b) => order(a) - order(b));
  return { findings, exemptions: policy.exemptions, objects: objects.length };
}

export const validateFiles = (files: ReadonlyMap<string, string>, config?: LoadedConfig): Finding[] =>
  validateReport(files, config).findings;

export function formatFindings(findings: readonly Finding[]): string {
  return findings
    .map(
      (f) =>
        `${f.severity.toUpperCase()} [${f.rule}] ${f.object} ${f.path || '(object)'}: ${f.message}${f.fix ? `\n    fix: ${f.fix}` : ''}\n    in ${f.file}`,
    )
    .join('\n');
}
