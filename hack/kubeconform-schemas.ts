import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

// `node --require tsx/cjs hack/kubeconform-schemas.ts <manifest dir> <out dir>`: writes strict standalone JSON
// schemas, offline, from the vendored 1.28 definitions and CRDs, for the kinds present in the manifests, in
// kubeconform's `{{.ResourceKind}}{{.KindSuffix}}.json` layout (e.g. deployment-apps-v1.json).
const SCHEMAS = join(__dirname, '..', 'schemas');

type Schema = Record<string, any>;

/** openapi2jsonschema --strict: objects with declared properties reject unknown ones. */
function strict(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(strict);
  if (!s || typeof s !== 'object') return s;
  const out: Schema = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'enum' || k === 'required' ? v : strict(v)]));
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields'])
    out.additionalProperties = false;
  return out;
}

const [manifestDir, outDir] = process.argv.slice(2);
const definitions: Record<string, Schema> = JSON.parse(
  readFileSync(join(SCHEMAS, 'kubernetes', 'v1.28.0', '_definitions.json'), 'utf8'),
).definitions;
const crds: Record<string, Schema> = JSON.parse(readFileSync(join(SCHEMAS, 'crds.json'), 'utf8'));
const strictDefinitions = strict(definitions);
mkdirSync(outDir, { recursive: true });

const wanted = new Set<string>();
for (const f of readdirSync(manifestDir).filter((x) => /\.ya?ml$/.test(x))) {
  for (const d of parseAllDocuments(readFileSync(join(manifestDir, f), 'utf8'))) {
    const o = d.toJS();
    if (o?.apiVersion && o?.kind) wanted.add(`${o.apiVersion}/${o.kind}`);
  }
}
for (const gvk of wanted) {
  const parts = gvk.split('/');
  const [kind, version] = [parts.pop()!, parts.pop()!];
  const group = parts.join('/');
  const suffix = `${group ? `-${group.split('.')[0]}` : ''}-${version}`;
  const file = join(outDir, `${kind.toLowerCase()}${suffix}.json`);
  const crd = crds[gvk];
  if (crd) {
    writeFileSync(file, JSON.stringify(strict(crd)));
    continue;
  }
  const name = Object.keys(definitions).find((k) =>
    (definitions[k]['x-kubernetes-group-version-kind'] ?? []).some(
      (g: Schema) => g.group === group && g.version === version && g.kind === kind,
    ),
  );
  if (!name) continue; // kubeconform reports the missing schema itself
  writeFileSync(file, JSON.stringify({ $ref: `#/definitions/${name}`, definitions: strictDefinitions }));
}
process.stdout.write(`kubeconform-schemas: ${wanted.size} kinds -> ${outDir}\n`);
