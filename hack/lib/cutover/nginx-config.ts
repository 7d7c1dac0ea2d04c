// A small, exact reader of nginx configuration text: tokens with their byte offsets, and the directives they
// form with their enclosing blocks. No npm nginx parser round-trips a config (FIELD-NOTES: one reorders
// sibling directives and drops comments, another breaks `!=` and quoted braces), so the cutover rewrites the
// argument tokens it must change in place and leaves every other byte alone.

export interface Token {
  readonly type: 'word' | 'string' | 'comment' | 'open' | 'close' | 'semicolon';
  /** The token's text as written, quotes included. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? text.length : end;
      tokens.push({ type: 'comment', text: text.slice(i, stop), start: i, end: stop });
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw new Error(`unterminated ${c} string at offset ${i}`);
      tokens.push({ type: 'string', text: text.slice(i, j + 1), start: i, end: j + 1 });
      i = j + 1;
    } else if (c === '{' || c === '}' || c === ';') {
      tokens.push({ type: c === '{' ? 'open' : c === '}' ? 'close' : 'semicolon', text: c, start: i, end: i + 1 });
      i++;
    } else {
      let j = i;
      // A word runs to whitespace or a delimiter; `${var}` keeps its braces inside the word.
      while (j < text.length && !/[\s;{}#"']/.test(text[j])) j += text[j] === '\\' ? 2 : text[j] === '$' && text[j + 1] === '{' ? text.indexOf('}', j) - j + 1 : 1;
      tokens.push({ type: 'word', text: text.slice(i, j), start: i, end: j });
      i = j;
    }
  }
  return tokens;
}

/** An enclosing block: `server`, `location = /x`, `upstream name`, `if (...)`, … */
export interface Block {
  readonly name: string;
  /** Unquoted arguments (`location`'s modifier and path, `upstream`'s name). */
  readonly args: readonly string[];
  /** File and byte offset of the block's name: identifies one block across included files. */
  readonly file: string;
  readonly start: number;
}

export interface Directive {
  readonly name: string;
  readonly args: readonly Token[];
  /** Enclosing blocks, outermost first, including those of the files that include this one. */
  readonly blocks: readonly Block[];
  readonly file: string;
  readonly line: number;
  /** Byte offsets of the directive's name and just past its closing `;` (or of its last token, before a block). */
  readonly start: number;
  readonly end: number;
}

/** The directives of a config, each with its argument tokens and enclosing blocks (`outer`: the includer's). */
export function directives(text: string, file = '', outer: readonly Block[] = []): Directive[] {
  const out: Directive[] = [];
  const stack: Block[] = [...outer];
  let current: Token[] = [];
  let line = 1;
  let pos = 0;
  const lineOf = (offset: number) => {
    for (; pos < offset; pos++) if (text.charCodeAt(pos) === 10) line++;
    return line;
  };
  const emit = (end: number) => {
    if (current.length) out.push({ name: current[0].text, args: current.slice(1), blocks: [...stack], file, line: lineOf(current[0].start), start: current[0].start, end });
  };
  for (const t of tokenize(text)) {
    if (t.type === 'comment') continue;
    if (t.type === 'semicolon') {
      emit(t.end);
      current = [];
    } else if (t.type === 'open') {
      emit(current.length ? current[current.length - 1].end : t.start);
      stack.push({ name: current[0]?.text ?? '', args: current.slice(1).map(unquote), file, start: current[0]?.start ?? t.start });
      current = [];
    } else if (t.type === 'close') {
      if (stack.length > outer.length) stack.pop();
      current = [];
    } else current.push(t);
  }
  return out;
}

/** The innermost enclosing block called `name`. */
export const enclosing = (d: Directive, name: string): Block | undefined => [...d.blocks].reverse().find((b) => b.name === name);

/** The unquoted value of an argument token. */
export const unquote = (t: Token) => (t.type === 'string' ? t.text.slice(1, -1) : t.text);

/** Where `host:port` stands inside a proxy target (`http://host:port/uri`, or `host:port` in an upstream). */
export function hostPortAt(value: string, hostPort: string): number | undefined {
  const afterScheme = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const offset = value.length - afterScheme.length;
  if (!afterScheme.startsWith(hostPort)) return undefined;
  const next = afterScheme[hostPort.length];
  return next === undefined || next === '/' || next === '?' ? offset : undefined;
}

export interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly line: number;
}

/** `proxy_pass`, or a `server` line of an `upstream` block: the directives whose first argument is a backend. */
export const isProxyTarget = (d: Directive) => (d.name === 'proxy_pass' || (d.name === 'server' && d.blocks[d.blocks.length - 1]?.name === 'upstream')) && d.args.length > 0;

/** What kind of place a backend address can stand in: a proxy target, or a value nginx may proxy through. */
export type BackendKind = 'proxy_pass' | 'upstream' | 'set' | 'map';

/**
 * The token of a directive that may hold a backend address, and where it stands: `proxy_pass X`, an upstream's
 * `server X`, `set $var X` and a `map` entry's value (both may feed a `proxy_pass $var`).
 */
export function backendValue(d: Directive): { token: Token; kind: BackendKind } | undefined {
  if (d.name === 'proxy_pass' && d.args.length) return { token: d.args[0], kind: 'proxy_pass' };
  const block = d.blocks[d.blocks.length - 1]?.name;
  if (d.name === 'server' && block === 'upstream' && d.args.length) return { token: d.args[0], kind: 'upstream' };
  if (d.name === 'set' && d.args.length === 2) return { token: d.args[1], kind: 'set' };
  if (block === 'map' && d.args.length === 1 && !['hostnames', 'volatile', 'include'].includes(d.name)) return { token: d.args[0], kind: 'map' };
  return undefined;
}

/**
 * The host and port a backend value names (`http://host:port/uri`, `host:port`, `host`), with nginx's default
 * ports; undefined for values with variables or anything else that is not an address.
 */
export function parseBackend(value: string): { host: string; port: number } | undefined {
  if (value.includes('$')) return undefined;
  const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?(?:[/?].*)?$/.exec(value);
  if (!m) return undefined;
  const port = m[3] ? Number(m[3]) : m[1]?.toLowerCase() === 'https' ? 443 : 80;
  return { host: m[2], port };
}

/** Applies replacements (non-overlapping) to the text; every other byte is unchanged. */
export function applyReplacements(text: string, replacements: readonly Replacement[]): string {
  let out = '';
  let pos = 0;
  for (const r of [...replacements].sort((a, b) => a.start - b.start)) {
    out += text.slice(pos, r.start) + r.text;
    pos = r.end;
  }
  return out + text.slice(pos);
}
