import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

// `npm run vendor-schemas`: turns the vendored CRD YAML files into schemas/crds.json, keyed by
// `group/version/Kind`. Parsing 400 KB of YAML on every synth cost ~300 ms; JSON.parse takes a few.
export const SCHEMAS = join(__dirname, '..', 'schemas');

export function crdSchemasText(): string {
  const out: Record<string, unknown> = {};
  const dir = join(SCHEMAS, 'crds');
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS();
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const v of crd.spec.versions ?? []) {
        out[`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`] = v.schema?.openAPIV3Schema ?? {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
        };
      }
    }
  }
  return JSON.stringify(out) + '\n';
}

if (require.main === module) {
  writeFileSync(join(SCHEMAS, 'crds.json'), crdSchemasText());
  process.stdout.write('vendor-schemas: wrote schemas/crds.json\n');
}
