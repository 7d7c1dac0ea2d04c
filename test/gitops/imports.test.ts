import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { generateImports, IMPORTS_DIR } from '../../hack/gen-imports';
import { ROOT } from '../support/roomler';

// imports/ holds what `cdk8s import` generates from the vendored CRDs (`npm run imports`): a CRD updated without
// regenerating, or a hand edit of a generated file, fails here.

describe('imports/', () => {
  it('cdk8s.yaml imports every vendored CRD into imports/', () => {
    const config = parse(readFileSync(join(ROOT, 'cdk8s.yaml'), 'utf8'));
    expect(config.importDirectory).toBe('imports');
    expect([...config.imports].sort()).toEqual(
      readdirSync(join(ROOT, 'schemas', 'crds'))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => `schemas/crds/${f}`),
    );
  });

  it('is byte for byte what cdk8s import generates now (run `npm run imports` when this fails)', async () => {
    const fresh = await generateImports();
    const committed = readdirSync(IMPORTS_DIR).sort();
    expect(committed).toEqual([...fresh.keys()]);
    for (const [file, text] of fresh) {
      const stale = readFileSync(join(IMPORTS_DIR, file), 'utf8') !== text;
      expect(stale, `imports/${file} is stale: npm run imports`).toBe(false);
    }
    // The classes the chart and the sealing code use.
    expect(fresh.get('argoproj.io.ts')).toMatch(/export class Application extends ApiObject/);
    expect(fresh.get('bitnami.com.ts')).toMatch(/export class SealedSecret extends ApiObject/);
  }, 120_000);
});
