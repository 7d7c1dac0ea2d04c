import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';

import { blockYaml, YAML_OPTIONS } from '../../lib/yaml-block';
import { cleanupDirs, projectWith } from '../support/files';
import { STAGING, synthFiles } from '../support/synth';

// lib/yaml-block.ts writes dist/'s YAML itself for speed; the `yaml` library is the program whose output it must
// reproduce byte for byte (kubectl, Argo CD and every pull request's diff read those bytes). Proven against it on every
// object the charts make and on generated data made of what YAML 1.1 treats specially.

afterAll(cleanupDirs);

/** The objects of one synthesized output file, as data. */
const objectsOf = (text: string) => parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as unknown);

describe('the block YAML writer against the yaml library', () => {
  it('writes every object of the default output and of a two-instance config as the library does, without falling back', () => {
    const configs = [
      synthFiles(),
      synthFiles({ cwd: projectWith({ 'roomler.yaml': `instances:\n  - name: roomler\n${STAGING}` }), env: {} }),
    ];
    let objects = 0;
    for (const files of configs) {
      for (const [file, text] of files) {
        const docs = objectsOf(text);
        // The file is exactly its objects, each as the library writes it.
        expect(docs.map((o) => stringify(o, YAML_OPTIONS)).join('---\n'), file).toBe(text);
        for (const o of docs) {
          expect(blockYaml(o), file).toBe(stringify(o, YAML_OPTIONS));
          objects += 1;
        }
      }
    }
    expect(objects).toBeGreaterThan(50);
  });

  it('agrees with the library on generated data, or leaves it to the library; what it writes reads back as the data', () => {
    const special = fc.constantFrom(
      ...['yes', 'No', 'ON', 'off', 'y', 'n', '~', 'null', 'NULL', 'true', 'False', '1', '-1', '0x1f', '0o7', '010', '0b101'],
      ...['1e3', '.inf', '-.5', '.NaN', '1:20', '190:20:30.15', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '<<', '=', '-'],
      ...['?', '- a', '? a', 'a: b', 'a:', 'a #b', '#c', ' lead', 'trail ', '', 'a"b', "a'b", `a'"b`, 'a\\b', '---', '...'],
      ...['--- x', '%x', '@x', '`x', '|', '>', '!t', '&a', '*a', '[x]', '{x}', 'a,b', 'a, b', '512Mi', '0 3 * * *', 'x\ty'],
      ...['l1\nl2', 'l1\nl2\n', 'l1\n\nl2\n', 'l1\nl2\n\n', ' l1\nl2', '\nl1', 'l1 \nl2', 'l1\n l2\n', 'l1\nl2 ', 'l1\n\tl2'],
      ...['# c\nx: 1\n', 'a: b\n- c\n', '---\nx', 'x\n---\n', '\u0085', '\u00a0x', 'x\u2028y', '\u0007', 'é ü', '😀'],
    );
    const text = fc.oneof(special, fc.string({ maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 6 }));
    const key = text.filter((k) => k !== '__proto__');
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        text,
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.double(),
        tie('map'),
        tie('list'),
      ),
      map: fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
      list: fc.array(tie('value'), { maxLength: 4 }),
    }));
    let written = 0;
    let total = 0;
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(key, value, { maxKeys: 6, noNullPrototype: true }), value), (v) => {
        total += 1;
        const mine = blockYaml(v);
        if (mine === undefined) return;
        written += 1;
        expect(mine).toBe(stringify(v, YAML_OPTIONS));
        expect(parse(mine, { version: '1.1' })).toEqual(v);
      }),
      { numRuns: 3000 },
    );
    // Most generated data is written here, not left to the library: the comparison above is not vacuous.
    expect(written / total).toBeGreaterThan(0.3);
  });
});
