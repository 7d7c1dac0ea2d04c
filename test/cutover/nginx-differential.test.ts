import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tokenize } from '../../hack/lib/cutover/nginx-config';
import { cleanupDirs, emptyDir } from '../support/files';
import { CROSSPLANE_DIVERGENCES, crossplaneForm, generateBody, parseNginxTest, predictTypes, prng } from './support/nginx-fuzz';

// The cutover's nginx tokenizer against the two other readers of the same files: real nginx (`nginx -t`, the final
// word) and crossplane (PyPI, an independent implementation of nginx's lexer rules), on generated configs.
afterAll(cleanupDirs);
const ROOT = join(__dirname, '..', '..');
const CASES = 400;
const NGINX = '/usr/sbin/nginx';

// crossplane's lexer over each file: its tokens (value, line, quoted) or its error.
const CROSSPLANE_LEX = `
import json, sys
from crossplane.lexer import lex
from crossplane.errors import NgxParserBaseException
out = {}
for path in json.load(sys.stdin):
    try:
        out[path] = {"tokens": [list(t) for t in lex(path)]}
    except NgxParserBaseException as e:
        out[path] = {"error": [e.strerror, e.lineno]}
    except Exception as e:
        out[path] = {"error": [repr(e), None]}
json.dump(out, sys.stdout)
`;

interface Case {
  readonly dir: string;
  readonly strict: boolean;
  readonly body: string;
  readonly files: Map<string, string>;
}

let python: string;
const cases: Case[] = [];
beforeAll(() => {
  python = execFileSync('bash', [join(ROOT, 'hack/toolchain/crossplane.sh')], { encoding: 'utf8' }).trim();
  const root = emptyDir('roomler-nginx-fuzz-');
  const r = prng(20261207);
  for (let i = 0; i < CASES; i++) {
    const dir = join(root, `c${i}`);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const strict = i % 2 === 0;
    const { text, includes } = generateBody(r, strict, dir);
    const body = join(dir, 'body.conf');
    const files = new Map([[body, text], ...includes]);
    for (const [path, t] of files) writeFileSync(path, Buffer.from(t, 'latin1'));
    writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nevents {}\nhttp {\n  types { include ${body}; }\n}\n`);
    cases.push({ dir, strict, body, files });
  }
}, 120_000);

describe('the nginx tokenizer agrees with nginx and crossplane on generated configs', () => {
  it(`predicts every nginx -t warning (each token nginx read, with its line) and the first error, on ${CASES} configs`, () => {
    const mismatches: string[] = [];
    let ok = 0;
    let warnings = 0;
    for (const c of cases) {
      const t = spawnSync(NGINX, ['-p', c.dir, '-c', join(c.dir, 'nginx.conf'), '-t'], { encoding: 'latin1', timeout: 10_000 });
      const actual = parseNginxTest(t.stderr);
      const predicted = predictTypes(c.body, c.files);
      if (JSON.stringify(actual) !== JSON.stringify(predicted)) {
        mismatches.push(`${c.body}:\n  nginx:     ${JSON.stringify(actual)}\n  predicted: ${JSON.stringify(predicted)}`);
      }
      ok += actual.ok ? 1 : 0;
      warnings += actual.messages.filter((m) => m.level === 'warn').length;
    }
    expect(mismatches.slice(0, 3).join('\n'), `${mismatches.length} of ${CASES} differ`).toBe('');
    // Both outcomes are well represented, and nginx named thousands of tokens.
    expect(ok).toBeGreaterThan(CASES * 0.5);
    expect(CASES - ok).toBeGreaterThan(CASES * 0.1);
    expect(warnings).toBeGreaterThan(CASES * 3);
    console.log(
      `nginx -t: ${ok} of ${CASES} configs load, ${CASES - ok} refused; ${warnings} duplicate-extension warnings, every one predicted`,
    );
  }, 120_000);

  it('gives the same token stream as crossplane wherever crossplane follows nginx; where it does not, nginx decides', () => {
    const paths = cases.flatMap((c) => [...c.files.keys()]);
    const lexed = JSON.parse(
      execFileSync(python, ['-c', CROSSPLANE_LEX], { input: JSON.stringify(paths), encoding: 'utf8', maxBuffer: 64 << 20 }),
    ) as Record<string, { tokens?: [string, number, boolean][]; error?: [string, number | null] }>;
    const problems: string[] = [];
    const divergences = new Map<string, number>();
    let agreed = 0;
    let strictCompared = 0;
    let refusedButLexed = 0;
    for (const c of cases) {
      if (!predictTypes(c.body, c.files).ok) {
        // nginx refuses it (the test above matched nginx's error); crossplane's lexer often reads on regardless.
        if ([...c.files.keys()].every((p) => lexed[p].tokens)) refusedButLexed++;
        continue;
      }
      for (const [path, text] of c.files) {
        const ours = crossplaneForm(tokenize(text));
        const theirs = lexed[path];
        // crossplane yields comments as tokens (an unquoted one starting with #, which no nginx word can); ours apart.
        const same = JSON.stringify(theirs.tokens?.filter(([v, , quoted]) => quoted || !v.startsWith('#'))) === JSON.stringify(ours);
        const why = CROSSPLANE_DIVERGENCES.filter((d) => d.test(text, tokenize(text))).map((d) => d.name);
        if (c.strict) {
          strictCompared++;
          if (why.length) problems.push(`${path}: the strict generator produced ${why.join(', ')}`);
        }
        if (same) agreed++;
        else if (!why.length)
          problems.push(
            `${path}: crossplane reads it differently, and none of the known divergences explains it:\n  crossplane: ${JSON.stringify(theirs)}\n  ours:       ${JSON.stringify(ours)}`,
          );
        else for (const w of why) divergences.set(w, (divergences.get(w) ?? 0) + 1);
      }
    }
    expect(problems.slice(0, 3).join('\n'), `${problems.length} problem(s)`).toBe('');
    expect(strictCompared).toBeGreaterThan(CASES * 0.4);
    expect(agreed).toBeGreaterThan(strictCompared);
    console.log(
      `crossplane: same tokens on ${agreed} files nginx loads; differs (nginx's reading confirmed above) on: ${[...divergences].map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
        `lexes ${refusedButLexed} configs nginx refuses without an error`,
    );
  }, 60_000);
});
