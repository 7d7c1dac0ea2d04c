import { NginxSyntaxError, type Token, tokenize } from '../../../hack/lib/cutover/nginx-config';

// Generated nginx configs and what real nginx must say about them, predicted from our tokenizer alone (no process
// runs here). Each config is a `types { include <dir>/body.conf; }` whose body is random words: inside `types`,
// nginx treats every `;`-terminated line as a content type followed by extensions, and a repeated extension makes
// `nginx -t` warn `duplicate extension "<ext>", content type: "<type>", previous content type: "<earlier type>"`.
// Each body repeats its lines, so nginx's warnings spell out every token it read, with the line it finished on:
// comparing them with the prediction checks token boundaries and values, not only whether the file loads.

/** A small deterministic PRNG (mulberry32), so every run generates the same configs. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)], chance: (p: number) => next() < p };
}

/** Text as nginx reads it: the UTF-8 bytes of `s`, one character per byte (latin1); U+E000 stands for a raw 0xFF byte. */
export const bytes = (s: string) =>
  Buffer.from(s, 'utf8')
    .toString('latin1')
    .replace(/\xee\x80\x80/g, '\xff');

// Word pieces. The first group reads the same in nginx and crossplane; the rest are where they differ.
const PLAIN = ['a', 'B', 'z9', 'x-y', '/p', '.', '=', '~', '!', '(', ')', ':80', 'é', '日本', 'ü', 'A#b', '#', '$v', '$', 'a"b', "c'd"];
const NGINX_ONLY = [
  '}',
  'a}',
  '${v}',
  '${',
  '${a;b}',
  '${ x',
  '\\"',
  "\\'",
  '\\\\',
  '\\t',
  '\\n',
  '\\r',
  '\\;',
  '\\ ',
  '\\{',
  '\\}',
  '\\x',
  '\f',
  '\v',
  '\u00a0',
  '\u2028',
  '\ue000',
];
const QUOTED_PLAIN = ['a b', ';', '{', '}', '#', 'x', 'é', ' ', "'", '$v', '\n', 'A'];
const QUOTED_NGINX_ONLY = ['\\"', "\\'", '\\\\', '\\n', '\r\n', '${', '\\'];
const SPACES = [' ', ' ', ' ', '\t', '\n', '\r\n', '  '];

export interface GeneratedBody {
  /** The body's text as nginx reads it (latin1 of its bytes). */
  readonly text: string;
  /** Files it includes (absolute path -> text), each generated the same way. */
  readonly includes: ReadonlyMap<string, string>;
}

/** One random word (or quoted string) built from pieces; `strict` keeps to pieces both readers agree on. */
function word(r: ReturnType<typeof prng>, strict: boolean): string {
  const quote = r.chance(0.2) ? r.pick(['"', "'"]) : undefined;
  const parts: string[] = [];
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    if (quote) parts.push(!strict && r.chance(0.25) ? r.pick(QUOTED_NGINX_ONLY) : r.pick(QUOTED_PLAIN).replace(quote, ''));
    else parts.push(!strict && r.chance(0.25) ? r.pick(NGINX_ONLY) : r.pick(PLAIN));
  }
  let w = parts.join('');
  // A word cannot start with what nginx treats as the start of a comment or a string in the plain set.
  if (!quote && strict && /^[#"']/.test(w)) w = `w${w}`;
  if (quote) return `${quote}${w}${quote}${!strict && r.chance(0.05) ? r.pick(['x', '#', '}']) : ''}`;
  return w || 'w';
}

/**
 * A body of `types` lines: each line's words twice (so nginx names every token in a warning), comments, CRLF, and
 * (unless `strict`) every construct where nginx and crossplane part ways, plus malformed endings: an unclosed quote,
 * a stray `{` or `}`, a missing `;`, a token too long for nginx's buffer.
 */
export function generateBody(r: ReturnType<typeof prng>, strict: boolean, dir: string, depth = 0): GeneratedBody {
  let text = '';
  const includes = new Map<string, string>();
  const lines = 1 + r.int(6);
  for (let l = 0; l < lines; l++) {
    if (r.chance(0.15)) text += `${r.chance(0.5) ? '  ' : ''}#${r.pick(['', ' a comment; {', ' é "', '#'])}${r.pick(['\n', '\r\n'])}`;
    if (depth === 0 && r.chance(0.1)) {
      const path = `${dir}/sub${includes.size}.conf`;
      includes.set(path, generateBody(r, strict, dir, 1).text);
      text += `include ${path};\n`;
      continue;
    }
    const words = Array.from({ length: 1 + r.int(4) }, () => word(r, strict));
    const sep = () => r.pick(SPACES);
    const line = `${r.pick(['T', 'text/x', '"q t"'])}${sep()}${words.join(sep())}`;
    const end = !strict && r.chance(0.04) ? r.pick(['{', '}', '', ' }']) : r.pick([';', ' ;', ';']);
    text += `${line}${end}${sep()}`;
    text += `U${sep()}${words.join(' ')};\n`;
  }
  if (!strict && r.chance(0.03))
    text += r.pick(['"unclosed', "x 'unclosed\n", 'tail', '\\', `T ${'x'.repeat(4100)};\n`, `# ${'c'.repeat(5000)}\nT y;\n`]);
  return { text: bytes(text), includes: new Map([...includes].map(([p, t]) => [p, t])) };
}

/** The `nginx -t` messages (level, text, file:line) for a types body, in nginx's order, or the first error. */
export interface NginxMessage {
  readonly level: 'warn' | 'emerg';
  readonly text: string;
}

const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * What `nginx -t` prints for `types { include <file>; }` with these file contents, predicted from our tokenizer:
 * the duplicate-extension warnings in order, then the first error if any. `ok` says whether the test passes.
 */
export function predictTypes(file: string, files: ReadonlyMap<string, string>): { messages: NginxMessage[]; ok: boolean } {
  const messages: NginxMessage[] = [];
  const seen = new Map<string, string>();
  class Stop extends Error {}
  const emerg = (text: string, path: string, line: number): never => {
    messages.push({ level: 'emerg', text: `${text} in ${path}:${line}` });
    throw new Stop();
  };
  const parseFile = (path: string) => {
    const text = files.get(path);
    if (text === undefined) emerg(`open() "${path}" failed (2: No such file or directory)`, path, 0);
    let tokens: readonly Token[];
    let error: NginxSyntaxError | undefined;
    try {
      tokens = tokenize(text!);
    } catch (e) {
      if (!(e instanceof NginxSyntaxError)) throw e;
      error = e;
      tokens = e.tokens;
    }
    let args: string[] = [];
    for (const t of tokens) {
      if (t.type === 'comment') continue;
      if (t.type === 'word' || t.type === 'string') args.push(t.value);
      else if (t.type === 'open') emerg('unexpected "{"', path, t.line);
      else if (t.type === 'close') emerg('unexpected "}"', path, t.line);
      else {
        directive(args, path, t.line);
        args = [];
      }
    }
    if (error) emerg(error.reason, path, error.line);
  };
  const directive = (args: string[], path: string, line: number) => {
    if (args[0] === 'include') {
      if (args.length !== 2) emerg('invalid number of arguments in "include" directive', path, line);
      parseFile(args[1]);
      return;
    }
    for (const ext of args.slice(1).map(asciiLower)) {
      const previous = seen.get(ext);
      if (previous !== undefined)
        messages.push({
          level: 'warn',
          text: `duplicate extension "${ext}", content type: "${args[0]}", previous content type: "${previous}" in ${path}:${line}`,
        });
      seen.set(ext, args[0]);
    }
  };
  try {
    parseFile(file);
    return { messages, ok: true };
  } catch (e) {
    if (e instanceof Stop) return { messages, ok: false };
    throw e;
  }
}

/** `nginx -t`'s stderr (read as latin1) as messages, without time stamps and pids, and whether the test passed. */
export function parseNginxTest(stderr: string): { messages: NginxMessage[]; ok: boolean } {
  const head = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: /gm;
  const starts = [...stderr.matchAll(head)];
  const tail = stderr.search(/^nginx: (the )?configuration file /m);
  const messages = starts.map((m, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].index! : tail >= 0 ? tail : stderr.length;
    return { level: m[1] as NginxMessage['level'], text: stderr.slice(m.index! + m[0].length, end).replace(/\n$/, '') };
  });
  return { messages, ok: /test is successful/.test(stderr) };
}

/** Constructs where crossplane 0.5.8 reads differently from nginx (its lexer, crossplane/lexer.py), by name. */
export const CROSSPLANE_DIVERGENCES: readonly {
  readonly name: string;
  readonly test: (raw: string, tokens: readonly Token[]) => boolean;
}[] = [
  // nginx ends a word only at a space, `;` or `{`; crossplane also at `}`.
  { name: '} inside a word', test: (_, ts) => ts.some((t) => t.type === 'word' && t.text.includes('}')) },
  // nginx unescapes \" \' \\ \t \r \n in words and strings; crossplane only the string's own quote.
  { name: 'backslash escapes', test: (raw) => raw.includes('\\') },
  // nginx lets `{` follow `$` inside a word and nothing more; crossplane reads `${` on to the next `}`.
  { name: '${ in a word', test: (raw) => raw.includes('${') },
  // nginx's whitespace is space, tab, CR and LF; crossplane's is Python's str.isspace (form feed, NBSP, U+2028, …).
  {
    name: 'other Unicode whitespace',
    test: (raw) =>
      // eslint-disable-next-line no-control-regex -- the separators U+001C..U+001F are the point
      /[\f\v\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(Buffer.from(raw, 'latin1').toString('utf8')),
  },
  // crossplane opens files with universal newlines: CR LF inside a string becomes LF, a lone CR a line break.
  {
    name: 'CR inside a string, or a lone CR',
    test: (raw, ts) => /\r(?!\n)/.test(raw) || ts.some((t) => t.type === 'string' && t.text.includes('\r')),
  },
  // crossplane decodes UTF-8 with errors=replace.
  {
    name: 'bytes that are not UTF-8',
    test: (raw) => !Buffer.from(Buffer.from(raw, 'latin1').toString('utf8'), 'utf8').equals(Buffer.from(raw, 'latin1')),
  },
];

/** Our token stream in crossplane's form: (value, line, quoted), comments left out, values as UTF-8 text. */
export const crossplaneForm = (tokens: readonly Token[]): [string, number, boolean][] =>
  tokens.filter((t) => t.type !== 'comment').map((t) => [Buffer.from(t.value, 'latin1').toString('utf8'), t.line, t.type === 'string']);
