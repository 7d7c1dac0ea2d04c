import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { schemaText } from '../../hack/gen-schema';
import { cleanupDirs, projectWith } from '../support/files';
import { synthFiles } from '../support/synth';

afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');

/** Every property path of a JSON Schema object, e.g. `app.env.URL` (array items as `[]`). */
function propertyPaths(schema: any, prefix = ''): string[] {
  const props = schema?.properties ?? {};
  return Object.entries(props).flatMap(([k, v]: [string, any]) => {
    const here = prefix ? `${prefix}.${k}` : k;
    return [here, ...propertyPaths(v, here)];
  });
}

describe('roomler.schema.json', () => {
  it('is generated from the zod schema that validates (run `npm run schema` after changing it)', () => {
    expect(readFileSync(join(ROOT, 'roomler.schema.json'), 'utf8')).toBe(schemaText());
  });
});

describe('roomler.example.yaml', () => {
  it('documents every field of the schema', () => {
    const example = readFileSync(join(ROOT, 'roomler.example.yaml'), 'utf8');
    const missing = propertyPaths(JSON.parse(schemaText()))
      .filter((p) => p !== '$schema')
      .filter((p) => !new RegExp(`(^|[\\s{,#])${p.split('.').pop()}:`, 'm').test(example));
    expect(missing).toEqual([]);
  });

  it('is a valid config that reproduces the default output byte for byte', () => {
    const dir = projectWith({});
    copyFileSync(join(ROOT, 'roomler.example.yaml'), join(dir, 'roomler.yaml'));
    expect(synthFiles({ cwd: dir, env: {} })).toEqual(synthFiles());
  });
});
