import { describe, expect, it } from 'vitest';

import { applyReplacements, directives, NginxSyntaxError, proxiedVariables, tokenize } from '../../hack/lib/cutover/nginx-config';
import { type ConfigFile, targetsIn } from '../../hack/lib/cutover/tree';
import { bytes, generateBody, predictTypes, prng } from './support/nginx-fuzz';

// The tokenizer's rules, each as ngx_conf_read_token (src/core/ngx_conf_file.c) applies it. No process runs here:
// nginx-differential.test.ts checks the same rules against real nginx and crossplane.

const read = (text: string) => {
  try {
    return tokenize(text).map((t) => `${t.type === 'word' ? '' : `${t.type}:`}${t.value}@${t.line}`);
  } catch (e) {
    if (e instanceof NginxSyntaxError) return `error: ${e.reason} @${e.line}`;
    throw e;
  }
};

describe('tokenize: nginx rules', () => {
  it.each([
    // # starts a comment only where a word could start.
    [
      'add_header X-Hash-Route /#/home;\nproxy_pass http://a:1;',
      ['add_header@1', 'X-Hash-Route@1', '/#/home@1', 'semicolon:;@1', 'proxy_pass@2', 'http://a:1@2', 'semicolon:;@2'],
    ],
    ['a b#c # comment ; {\nd;', ['a@1', 'b#c@1', 'comment:# comment ; {@1', 'd@2', 'semicolon:;@2']],
    // Words end at space, tab, CR, LF, ; and { — not at }.
    ['a b}c;', ['a@1', 'b}c@1', 'semicolon:;@1']],
    ['a\tb\rc\r\nd;', ['a@1', 'b@1', 'c@1', 'd@2', 'semicolon:;@2']],
    ['s { a; }', ['s@1', 'open:{@1', 'a@1', 'semicolon:;@1', 'close:}@1']],
    // Only space, tab, CR and LF separate words: a form feed, NBSP (UTF-8 C2 A0) or U+2028 is part of one.
    [bytes('a\fb\u00a0c\u2028d;'), [bytes('a\fb\u00a0c\u2028d@1'), 'semicolon:;@1']],
    // ${ keeps the { inside the word; nothing looks for the closing brace.
    ['return 200 ${a}b;', ['return@1', '200@1', '${a}b@1', 'semicolon:;@1']],
    ['set $x ${unclosed rest;', ['set@1', '$x@1', '${unclosed@1', 'rest@1', 'semicolon:;@1']],
    ['a ${{{;', ['a@1', '${{{@1', 'semicolon:;@1']],
    ['a b${;', ['a@1', 'b${@1', 'semicolon:;@1']],
    // A backslash takes the next character into the word; \" \' \\ \t \r \n are unescaped, others kept.
    ['a b\\;c\\ d\\{;', ['a@1', 'b\\;c\\ d\\{@1', 'semicolon:;@1']],
    ['a \\"x\\\\y\\tz\\q;', ['a@1', '"x\\y\tz\\q@1', 'semicolon:;@1']],
    ['a "q\\"\\n\\x";', ['a@1', 'string:q"\n\\x@1', 'semicolon:;@1']],
    // Quotes: only at the start of a word; inside one they are characters.
    ['a b"c d;', ['a@1', 'b"c@1', 'd@1', 'semicolon:;@1']],
    ['a \'x y;{}#\' "";', ['a@1', 'string:x y;{}#@1', 'string:@1', 'semicolon:;@1']],
    ['if ($a = "b") {', ['if@1', '($a@1', '=@1', 'string:b@1', ')@1', 'open:{@1']],
    ['if ($a = "b") { }', ['if@1', '($a@1', '=@1', 'string:b@1', ')@1', 'open:{@1', 'close:}@1']],
    ['a "multi\nline";', ['a@1', 'string:multi\nline@1', 'semicolon:;@2']],
    // What nginx refuses, with its message and line.
    ['a "b"c;', 'error: unexpected "c" @1'],
    ['a "b"#c;', 'error: unexpected "#" @1'],
    ['a "b"};', 'error: unexpected "}" @1'],
    ['a;\n;', 'error: unexpected ";" @2'],
    ['{', 'error: unexpected "{" @1'],
    ['a }', 'error: unexpected "}" @1'],
    ['a "unclosed;\n\n', 'error: unexpected end of file, expecting ";" or "}" @3'],
    ["a 'unclosed", 'error: unexpected end of file, expecting ";" or "}" @1'],
    ['a b', 'error: unexpected end of file, expecting ";" or "}" @1'],
    ['a\\', 'error: unexpected end of file, expecting ";" or "}" @1'],
    ['# only a comment', ['comment:# only a comment@1']],
    [`a ${'x'.repeat(4095)};`, ['a@1', `${'x'.repeat(4095)}@1`, 'semicolon:;@1']],
    [`\n\na ${'x'.repeat(4096)};`, 'error: too long parameter "xxxxxxxxxx..." started @3'],
    [`a "${'x'.repeat(5000)}`, 'error: too long parameter, probably missing terminating """ character @1'],
    [`#${'c'.repeat(5000)}\na;`, 'error: too long parameter "#ccccccccc..." started @1'],
  ])('%j', (text, expected) => {
    expect(read(text)).toEqual(expected);
  });

  it('a file must close its own blocks: a stray } or a missing one is located', () => {
    expect(() => directives('a;\n}\n')).toThrow(new NginxSyntaxError('unexpected "}"', 2));
    expect(() => directives('s {\n a;\n')).toThrow(new NginxSyntaxError('unexpected end of file, expecting "}"', 3));
    expect(directives('"set" $x 1;').map((d) => d.name)).toEqual(['set']);
  });

  it('ends on hostile input in bounded time, with a located error', () => {
    const started = Date.now();
    const inputs = [
      '${'.repeat(200_000),
      `a "${'\\"'.repeat(300_000)}`,
      `a ${'\\'.repeat(1_000_001)}`,
      's {'.repeat(100_000),
      `a ${"'".repeat(1_000_000)}`,
      '#'.repeat(1_000_000),
    ];
    const results = inputs.map((text) => {
      try {
        directives(text);
        return 'read';
      } catch (e) {
        return `error: ${(e as NginxSyntaxError).reason}`;
      }
    });
    expect(Date.now() - started).toBeLessThan(3000);
    for (const r of results) expect(r).toMatch(/^error: (unexpected|too long|blocks nested more than 100 deep)/);
  }, 10_000);
});

describe('predictTypes: the nginx -t output the differential test expects', () => {
  it('matches what nginx 1.22 printed for a known body (types lines, a duplicate within a line, a quoted type)', () => {
    const body = 'A a b A;\nB\tb "x y";\n"C" a;\n';
    expect(predictTypes('/b.conf', new Map([['/b.conf', body]]))).toEqual({
      ok: true,
      messages: [
        { level: 'warn', text: 'duplicate extension "a", content type: "A", previous content type: "A" in /b.conf:1' },
        { level: 'warn', text: 'duplicate extension "b", content type: "B", previous content type: "A" in /b.conf:2' },
        { level: 'warn', text: 'duplicate extension "a", content type: "C", previous content type: "A" in /b.conf:3' },
      ],
    });
    expect(predictTypes('/b.conf', new Map([['/b.conf', 'A a;\n}\n']]))).toEqual({
      ok: false,
      messages: [{ level: 'emerg', text: 'unexpected "}" in /b.conf:2' }],
    });
  });
});

describe('the rewrite changes only the proxy targets, byte for byte', () => {
  it('on generated configs with proxy targets among hostile words, quotes, escapes, comments and CRLF', () => {
    const r = prng(7);
    let rewritten = 0;
    for (let i = 0; i < 300; i++) {
      const noise = generateBody(r, i % 2 === 0, '/nonexistent').text;
      const eol = r.pick(['\n', '\r\n']);
      const target = r.pick([
        'proxy_pass http://old:3000/x;',
        'proxy_pass "http://old:3000";',
        "grpc_pass 'old:3000';",
        'proxy_pass http://\\old:3000;',
        'set $b old:3000;',
        'set $b old:3000; proxy_pass http://$b;',
      ]);
      const text = `server {${eol}location / { ${target} }${eol}}${eol}# proxy_pass http://old:3000;${eol}`;
      const full = r.chance(0.5) ? `${noise}${eol}${text}` : text;
      let ds;
      try {
        ds = directives(full);
      } catch (e) {
        expect(e).toBeInstanceOf(NginxSyntaxError);
        continue;
      }
      const file: ConfigFile = { path: '/f', real: '/f', text: full, directives: ds };
      const reps = targetsIn({ proxied: proxiedVariables(ds) }, file, 'old:3000', 'new-host:31000');
      const after = applyReplacements(full, reps);
      // Every byte outside the replaced spans is unchanged, and each span held exactly the old host:port.
      let pos = 0;
      let rebuilt = '';
      for (const x of [...reps].sort((a, b) => a.start - b.start)) {
        expect(full.slice(x.start, x.end)).toBe('old:3000');
        rebuilt += full.slice(pos, x.start) + 'new-host:31000';
        pos = x.end;
      }
      expect(after).toBe(rebuilt + full.slice(pos));
      // The escaped one (\old) and a set no proxy_pass uses are not backends as written; the rest move.
      const expected = target.includes('\\old') || target === 'set $b old:3000;' ? 0 : 1;
      expect(reps.length, target).toBe(expected);
      rewritten += reps.length;
      // Re-read: the same tokens; only those that held a replaced span have the new value (the comment keeps the old).
      const moved = (t: { start: number; end: number }) => reps.some((x) => x.start >= t.start && x.end <= t.end);
      const before = tokenize(full).map((t) => (moved(t) ? t.value.replace('old:3000', 'new-host:31000') : t.value));
      expect(tokenize(after).map((t) => t.value)).toEqual(before);
    }
    expect(rewritten).toBeGreaterThan(100);
  });
});
