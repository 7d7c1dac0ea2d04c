// A small, exact reader of nginx configuration text: tokens with their byte offsets, and the directives they
// form with their enclosing blocks. No npm nginx parser round-trips a config (one reorders sibling directives and
// drops comments, another breaks `!=` and quoted braces: docs/reference-topology.md), so the cutover rewrites the
// argument tokens it must change in place and leaves every other byte alone.

/** One token of an nginx config, with nginx's value of it and where it stands in the text. */
export interface Token {
  readonly type: 'word' | 'string' | 'comment' | 'open' | 'close' | 'semicolon';
  /** The token's text as written, quotes and backslashes included. */
  readonly text: string;
  /**
   * What nginx makes of it: quotes removed; backslash-quote, -apostrophe, -backslash, -t, -r and -n unescaped (the last
   * three to TAB, CR and LF), any other backslash kept.
   * A comment's value is its text.
   */
  readonly value: string;
  readonly start: number;
  readonly end: number;
  /** The line the token starts on (nginx counts LF only). */
  readonly line: number;
}

/** A config that nginx refuses to read, with nginx's own message and the line it names. */
export class NginxSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    /** The tokens read before the error (nginx has acted on the directives they complete). */
    readonly tokens: readonly Token[] = [],
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'NginxSyntaxError';
  }
}

/** nginx reads a config in buffers of this many bytes; a token that fills one is "too long" (NGX_CONF_BUFFER). */
export const NGX_CONF_BUFFER = 4096;

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/**
 * nginx's value of a word or a quoted string's inside (ngx_conf_read_token's copy loop), and for each character of
 * it the offset of the raw character it came from.
 */
export function unescape(raw: string, offset = 0): { value: string; at: number[] } {
  let value = '';
  const at: number[] = [];
  for (let i = 0; i < raw.length;) {
    if (raw[i] === '\\') {
      const next = raw[i + 1];
      if (next === '"' || next === "'" || next === '\\') {
        value += next;
        at.push(offset + i);
        i += 2;
        continue;
      }
      const control = next === 't' ? '\t' : next === 'r' ? '\r' : next === 'n' ? '\n' : undefined;
      if (control) {
        value += control;
        at.push(offset + i);
        i += 2;
        continue;
      }
    }
    value += raw[i];
    at.push(offset + i);
    i++;
  }
  return { value, at };
}

/**
 * The tokens of a config text (one byte per character: read it as latin1), as nginx's ngx_conf_read_token reads
 * them: words end at a space, tab, CR, LF, `;` or `{` (not at `}`: `a}` is one word); `#` starts a comment only
 * where a word could start; a backslash takes the next character into the word; `$` lets a following `{` stay in
 * the word (`${var}`); a quoted string must be followed by a space, `;`, `{` or `)`; a token of 4096 bytes or more
 * that does not end the file is too long. Anything nginx refuses throws NginxSyntaxError with nginx's message and
 * line. One pass, no backtracking: every input ends.
 */
export function tokenize(text: string): Token[] {
  return new Tokenizer(text).run();
}

/** ngx_conf_read_token as a state machine over one text: one method per state it can be in at a character. */
class Tokenizer {
  readonly tokens: Token[] = [];
  private line = 1;
  // ngx_conf_read_token's state, reset at the start of every directive (after `;`, `{` and `}`).
  private start = 0;
  private startLine = 1;
  private lastSpace = true;
  private needSpace = false;
  private sharpComment = false;
  private variable = false;
  private quoted = false;
  private sQuoted = false;
  private dQuoted = false;
  private args = 0;
  private bufferEnd = 0;
  // The token being read (for offsets and comments; nginx itself keeps only `start`).
  private tokenStart = 0;
  private commentStart = -1;
  private commentLine = 1;

  constructor(private readonly text: string) {}

  run(): Token[] {
    for (let at = 0; ; at++) {
      if (at >= this.bufferEnd && this.endOfBuffer(at)) return this.tokens;
      this.read(at);
    }
  }

  private fail(reason: string, line = this.line): never {
    throw new NginxSyntaxError(reason, line, this.tokens);
  }

  private reset(pos: number): void {
    this.start = pos;
    this.startLine = this.line;
    this.lastSpace = true;
    this.needSpace = this.sharpComment = this.variable = this.quoted = this.sQuoted = this.dQuoted = false;
    this.args = 0;
  }

  private push(type: Token['type'], from: number, to: number, value?: string): void {
    const raw = this.text.slice(from, to);
    const line = type === 'word' || type === 'string' ? this.startLine : this.line;
    this.tokens.push({ type, text: raw, value: value ?? raw, start: from, end: to, line });
  }

  /** `;`, `{` at `at`: the directive ends (or its block opens), and nginx's state is reset after it. */
  private endDirective(c: string, at: number): void {
    this.push(c === '{' ? 'open' : 'semicolon', at, at + 1);
    this.reset(at + 1);
  }

  private endComment(to: number): void {
    if (this.commentStart < 0) return;
    const raw = this.text.slice(this.commentStart, to);
    this.tokens.push({ type: 'comment', text: raw, value: raw, start: this.commentStart, end: to, line: this.commentLine });
    this.commentStart = -1;
  }

  /** Where nginx's buffer ends: at the end of the text (true), at a token that fills it (throws), or it reads on. */
  private endOfBuffer(at: number): boolean {
    const n = this.text.length;
    if (at >= n) {
      this.endComment(n);
      if (this.args > 0 || !this.lastSpace) this.fail('unexpected end of file, expecting ";" or "}"');
      return true;
    }
    if (at - this.start === NGX_CONF_BUFFER) {
      const quote = this.dQuoted ? '"' : this.sQuoted ? "'" : undefined;
      this.fail(
        quote
          ? `too long parameter, probably missing terminating "${quote}" character`
          : `too long parameter "${this.text.slice(this.start, this.start + 10)}..." started`,
        this.startLine,
      );
    }
    this.bufferEnd = Math.min(this.start + NGX_CONF_BUFFER, n);
    return false;
  }

  /** The character at `at`. */
  private read(at: number): void {
    const ch = this.text.charCodeAt(at);
    const c = this.text[at];
    if (ch === 0x0a) {
      this.line++;
      if (this.sharpComment) {
        this.sharpComment = false;
        this.endComment(at);
      }
    }
    if (this.sharpComment) return;
    if (this.quoted) {
      this.quoted = false;
      return;
    }
    if (this.needSpace && this.afterQuote(c, ch, at)) return;
    if (this.lastSpace) this.betweenTokens(c, ch, at);
    else this.inToken(c, ch, at);
  }

  /** Right after a closing quote: a space, `;` or `{` (taken here: true), or `)` (read on); anything else fails. */
  private afterQuote(c: string, ch: number, at: number): boolean {
    if (isSpace(ch)) {
      this.lastSpace = true;
      this.needSpace = false;
      return true;
    }
    if (c === ';' || c === '{') {
      this.endDirective(c, at);
      return true;
    }
    if (c !== ')') this.fail(`unexpected "${c}"`);
    this.lastSpace = true;
    this.needSpace = false;
    return false;
  }

  /** Where a token may start: a space, the end of a directive or block, a comment, or a token's first character. */
  private betweenTokens(c: string, ch: number, at: number): void {
    this.start = at;
    this.startLine = this.line;
    if (isSpace(ch)) return;
    this.tokenStart = at;
    if (c === ';' || c === '{') {
      if (this.args === 0) this.fail(`unexpected "${c}"`);
      this.endDirective(c, at);
    } else if (c === '}') {
      if (this.args !== 0) this.fail('unexpected "}"');
      this.push('close', at, at + 1);
      this.reset(at + 1);
    } else if (c === '#') {
      this.sharpComment = true;
      this.commentStart = at;
      this.commentLine = this.line;
    } else {
      this.lastSpace = false;
      if (c === '\\') this.quoted = true;
      else if (c === '$') this.variable = true;
      else if (c === '"' || c === "'") {
        this.start++;
        if (c === '"') this.dQuoted = true;
        else this.sQuoted = true;
      }
    }
  }

  /** Inside a word or a quoted string: escapes, variables, and where it ends. */
  private inToken(c: string, ch: number, at: number): void {
    if (c === '{' && this.variable) return;
    this.variable = false;
    if (c === '\\') {
      this.quoted = true;
      return;
    }
    if (c === '$') {
      this.variable = true;
      return;
    }
    let found = false;
    if (this.dQuoted) {
      if (c === '"') {
        this.dQuoted = false;
        this.needSpace = found = true;
      }
    } else if (this.sQuoted) {
      if (c === "'") {
        this.sQuoted = false;
        this.needSpace = found = true;
      }
    } else if (isSpace(ch) || c === ';' || c === '{') {
      this.lastSpace = found = true;
    }
    if (!found) return;
    this.args++;
    const value = unescape(this.text.slice(this.start, at), this.start).value;
    if (this.needSpace) this.push('string', this.tokenStart, at + 1, value);
    else this.push('word', this.tokenStart, at, value);
    if (c === ';' || c === '{') this.endDirective(c, at);
  }
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

/**
 * The directives of a config, each with its argument tokens and enclosing blocks (`outer`: the includer's). As in
 * nginx, a file's blocks must close within it: a `}` with no open block, or a file that ends inside one, throws
 * NginxSyntaxError.
 */
export function directives(text: string, file = '', outer: readonly Block[] = []): Directive[] {
  const out: Directive[] = [];
  const stack: Block[] = [...outer];
  // One copy of the stack per change, shared by the directives in between: linear in the file's size.
  let snapshot: readonly Block[] = [...stack];
  let current: Token[] = [];
  const emit = (end: number) => {
    if (current.length)
      out.push({
        name: current[0].value,
        args: current.slice(1),
        blocks: snapshot,
        file,
        line: current[0].line,
        start: current[0].start,
        end,
      });
  };
  for (const t of tokenize(text)) {
    if (t.type === 'comment') continue;
    if (t.type === 'semicolon') {
      emit(t.end);
      current = [];
    } else if (t.type === 'open') {
      emit(current.length ? current[current.length - 1].end : t.start);
      if (!current.length) throw new NginxSyntaxError('unexpected "{"', t.line);
      if (stack.length - outer.length >= MAX_NESTING)
        throw new NginxSyntaxError(`blocks nested more than ${MAX_NESTING} deep: not a config this tool reads`, t.line);
      stack.push({ name: current[0].value, args: current.slice(1).map(unquote), file, start: current[0].start });
      snapshot = [...stack];
      current = [];
    } else if (t.type === 'close') {
      if (stack.length === outer.length) throw new NginxSyntaxError('unexpected "}"', t.line);
      stack.pop();
      snapshot = [...stack];
      current = [];
    } else current.push(t);
  }
  if (stack.length > outer.length) throw new NginxSyntaxError('unexpected end of file, expecting "}"', lineCount(text));
  return out;
}

/** Deeper than any real nginx config nests (http > server > location > location > if); bounds the work per file. */
export const MAX_NESTING = 100;

/** The line nginx is on at the end of a text: one more than its LFs. */
const lineCount = (text: string) => {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
};

/** The innermost enclosing block called `name`. */
export const enclosing = (d: Directive, name: string): Block | undefined => [...d.blocks].reverse().find((b) => b.name === name);

/** nginx's value of an argument token: unquoted and unescaped. */
export const unquote = (t: Token) => t.value;

/**
 * Where `value[from, to)` of a token stands in the text, when those characters are written there as they are (no
 * quote or escape among them); undefined otherwise.
 */
export function rawSpan(t: Token, from: number, to: number): { start: number; end: number } | undefined {
  if (t.type !== 'word' && t.type !== 'string') return undefined;
  const inner = t.type === 'string' ? 1 : 0;
  const { value, at } = unescape(t.text.slice(inner, t.text.length - inner), t.start + inner);
  if (to > value.length || from >= to) return undefined;
  const start = at[from];
  const end = at[to - 1] + 1;
  return end - start === to - from ? { start, end } : undefined;
}

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

/** The directives whose first argument is where nginx sends a request: a URL or `host:port`, or variables. */
export const PASS_DIRECTIVES: ReadonlySet<string> = new Set(['proxy_pass', 'grpc_pass']);

/** `proxy_pass`, `grpc_pass`, or a `server` line of an `upstream` block: the directives whose first argument is a backend. */
export const isProxyTarget = (d: Directive) =>
  (PASS_DIRECTIVES.has(d.name) || (d.name === 'server' && d.blocks[d.blocks.length - 1]?.name === 'upstream')) && d.args.length > 0;

/** What kind of place a backend address can stand in: a proxy target, or a variable a proxy target uses. */
export type BackendKind = 'proxy_pass' | 'grpc_pass' | 'upstream' | 'set' | 'map';

/** The variables a value refers to (`$name`, `${name}`). */
export const variablesIn = (value: string): string[] =>
  [...value.matchAll(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g)].map((m) => m[1] ?? m[2]);

/**
 * A value a variable gets: `set $var X`, or a `map … $var { key X; }` entry. The variable's name without `$`.
 */
export function variableValue(d: Directive): { variable: string; token: Token; kind: 'set' | 'map' } | undefined {
  const block = d.blocks[d.blocks.length - 1];
  if (d.name === 'set' && d.args.length === 2 && d.args[0].value.startsWith('$'))
    return { variable: d.args[0].value.slice(1), token: d.args[1], kind: 'set' };
  if (block?.name === 'map' && block.args.length === 2 && d.args.length === 1 && !['hostnames', 'volatile', 'include'].includes(d.name)) {
    return { variable: block.args[1].replace(/^\$/, ''), token: d.args[0], kind: 'map' };
  }
  return undefined;
}

/**
 * The variables nginx may send a request to: those a proxy_pass or grpc_pass uses, and, through `set` and `map`,
 * the variables their values are made of. Variables are global by name in nginx, so this is across the whole tree.
 */
export function proxiedVariables(all: readonly Directive[]): Set<string> {
  const used = new Set(all.filter((d) => PASS_DIRECTIVES.has(d.name) && d.args.length).flatMap((d) => variablesIn(d.args[0].value)));
  const values = all.flatMap((d) => variableValue(d) ?? []);
  for (let grew = true; grew;) {
    grew = false;
    for (const v of values) {
      if (!used.has(v.variable)) continue;
      for (const x of variablesIn(v.token.value)) if (!used.has(x)) grew = !!used.add(x);
    }
  }
  return used;
}

/**
 * The token of a directive that holds a backend address, and where it stands: `proxy_pass X`, `grpc_pass X`, an
 * upstream's `server X`, and a `set`/`map` value of a variable in `proxied` (one that a proxy_pass or grpc_pass
 * uses). A `set`/`map` value no proxy target uses is not a backend: nginx never connects to it.
 */
export function backendValue(
  d: Directive,
  proxied: ReadonlySet<string>,
): { token: Token; kind: BackendKind; variable?: string } | undefined {
  if (PASS_DIRECTIVES.has(d.name) && d.args.length) return { token: d.args[0], kind: d.name as 'proxy_pass' | 'grpc_pass' };
  const block = d.blocks[d.blocks.length - 1]?.name;
  if (d.name === 'server' && block === 'upstream' && d.args.length) return { token: d.args[0], kind: 'upstream' };
  const v = variableValue(d);
  return v && proxied.has(v.variable) ? v : undefined;
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
