import { Document } from 'yaml';

// Block YAML of plain data (maps, lists, strings, integers, booleans, null) written directly, byte for byte as the
// `yaml` library writes it with dist/'s options (YAML_OPTIONS): that library builds a node for every value and tests
// every string against its schema, which was half of `bin/roomler synth`'s CPU. Only what is certain is written here:
// plain and simply double-quoted strings, literal blocks with one or no final line break; anything else (a string
// that needs escapes, a block with leading or trailing blanks, a non-integer number) makes blockYaml answer undefined,
// and the caller lets the library write that object (test/charts/yaml-block.test.ts holds the two equal).

/** How dist/ is written by the `yaml` library: YAML 1.1 (what kubectl's parser speaks), no line folding, no aliases. */
export const YAML_OPTIONS = { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false } as const;

/** The library's own YAML 1.1 schema: the tags whose tests say what a plain scalar would be read back as. */
const schema = new Document(null, { version: YAML_OPTIONS.version }).schema;
const nonStringTags = [...schema.tags, ...(schema.compat ?? [])].filter(
  (t) => t.default && t.tag !== 'tag:yaml.org,2002:str' && 'test' in t && t.test,
) as { test: RegExp }[];
/** What the library refuses to write plain (its stringifyString's rule), and what it writes double-quoted. */
const NOT_PLAIN = /^[\n\t ,[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$/;
// eslint-disable-next-line no-control-regex -- the library's own rule, character for character
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u{D800}-\u{DFFF}]/u;
const DOCUMENT_MARKER = /^(%|---|\.\.\.)/m;
/** A key longer than this is written as an explicit key (`? key`). */
const MAX_IMPLICIT_KEY = 1024;

const plainCache = new Map<string, boolean>();

/** Whether the library writes `s` as it is (a plain scalar that reads back as this string). */
function isPlain(s: string): boolean {
  let plain = plainCache.get(s);
  if (plain === undefined) {
    plain =
      s.length > 0 &&
      !s.includes('\n') &&
      !CONTROL.test(s) &&
      !NOT_PLAIN.test(s) &&
      !DOCUMENT_MARKER.test(s) &&
      !nonStringTags.some((t) => t.test.test(s));
    plainCache.set(s, plain);
  }
  return plain;
}

class Unsure extends Error {}

/**
 * A string as the library writes it on one line: plain when it reads back as itself, else double-quoted, which (no
 * quote, backslash, tab or line break in it, and no control character: JSON would escape them) is the string between
 * two quotes.
 */
function text(s: string): string {
  // The library writes `<<` as YAML 1.1's merge key, whatever it was meant to be.
  if (s === '<<') throw new Unsure();
  if (isPlain(s)) return s;
  if (/["\\\n\t]/.test(s) || CONTROL.test(s) || DOCUMENT_MARKER.test(s)) throw new Unsure();
  return `"${s}"`;
}

/**
 * A string of several lines as the library writes it, as a literal block whose lines are at `indent` (the key's or
 * the dash's column plus two): `|` when it ends with one line break, `|-` with none; any other start or end (leading
 * blanks or line breaks, trailing blanks, several line breaks) is left to the library.
 */
function block(s: string, indent: string): string {
  if (CONTROL.test(s) || /^[ \n]/.test(s) || /[\t \n]$/.test(s.endsWith('\n') ? s.slice(0, -1) : s)) throw new Unsure();
  const chomp = s.endsWith('\n') ? '' : '-';
  const body = chomp ? s : s.slice(0, -1);
  return `|${chomp}\n${indent}${body.replace(/\n+/g, `$&${indent}`)}`;
}

function scalar(v: unknown, indent?: string): string | undefined {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw new Unsure();
    return String(v);
  }
  if (typeof v === 'string') {
    if (!v.includes('\n')) return text(v);
    if (indent === undefined) throw new Unsure();
    return block(v, indent);
  }
  if (Array.isArray(v)) return v.length ? undefined : '[]';
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v).length ? undefined : '{}';
  throw new Unsure();
}

/** A non-empty map's lines at `indent`; the first line without its indent (the caller puts `- ` there or the indent). */
function map(o: Record<string, unknown>, indent: string, out: string[], first: string): void {
  let lead = first;
  for (const [k, v] of Object.entries(o)) {
    const key = text(k);
    if (v === undefined || key.length > MAX_IMPLICIT_KEY) throw new Unsure();
    const s = scalar(v, `${indent}  `);
    if (s !== undefined) out.push(`${lead}${key}: ${s}`);
    else {
      out.push(`${lead}${key}:`);
      value(v, `${indent}  `, out);
    }
    lead = indent;
  }
}

/** A non-empty list's lines at `indent`; the first line's indent replaced by `first`. */
function list(a: readonly unknown[], indent: string, out: string[], first: string): void {
  let lead = first;
  for (const v of a) {
    const s = scalar(v, `${indent}  `);
    if (s !== undefined) out.push(`${lead}- ${s}`);
    else if (Array.isArray(v)) list(v, `${indent}  `, out, `${lead}- `);
    else map(v as Record<string, unknown>, `${indent}  `, out, `${lead}- `);
    lead = indent;
  }
}

/** A non-empty collection on the lines after its key, at `indent`. */
function value(v: unknown, indent: string, out: string[]): void {
  if (Array.isArray(v)) list(v, indent, out, indent);
  else map(v as Record<string, unknown>, indent, out, indent);
}

/**
 * `value` as the `yaml` library writes it with YAML_OPTIONS, or undefined when it holds anything this writer is not
 * certain of (then the library must write it).
 */
export function blockYaml(v: unknown): string | undefined {
  try {
    const s = scalar(v);
    if (s !== undefined) return `${s}\n`;
    const out: string[] = [];
    value(v, '', out);
    return `${out.join('\n')}\n`;
  } catch (e) {
    if (e instanceof Unsure) return undefined;
    throw e;
  }
}
