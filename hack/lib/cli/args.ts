import { parseArgs } from 'node:util';

import { UserError } from './errors';

// The one argument parser of every command in hack/: node:util's parseArgs (strict: unknown options, missing
// values and `--context --yes` style ambiguities are errors) under a declarative spec per command, which also
// renders `--help`. Parsing happens before a command reads its config or talks to any host or cluster, so a bad
// flag changes nothing anywhere.

export interface OptionSpec {
  /** `number` is parsed as a string and checked here. */
  readonly type: 'string' | 'boolean' | 'number';
  readonly description: string;
  /** One letter; only `-h` (help) and `-y` (yes) use one today. */
  readonly short?: string;
  /** Shown in the help; also the value when the option is absent. */
  readonly default?: string | number | boolean;
  /** What the default means when it is not a literal (e.g. "kubectl's current context"). */
  readonly defaultText?: string;
  /** Placeholder in the help, e.g. NAME. */
  readonly value?: string;
  /** Accepted values of a string option. */
  readonly choices?: readonly string[];
  /** May be given more than once; the values are collected in order. */
  readonly multiple?: boolean;
  /** The command cannot run without it. */
  readonly required?: boolean;
}

export type Options = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['multiple'] extends true
  ? string[]
  : S['required'] extends true
    ? S['type'] extends 'number'
      ? number
      : string
    : S['type'] extends 'boolean'
      ? boolean
      : S['type'] extends 'number'
        ? S extends { default: number }
          ? number
          : number | undefined
        : S extends { default: string }
          ? string
          : string | undefined;

export type Values<O extends Options> = { [K in keyof O]: ValueOf<O[K]> };

export interface Positional {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
  readonly variadic?: boolean;
}

export interface Parsed<O extends Options> {
  readonly values: Values<O>;
  readonly positionals: string[];
  /** The command path, e.g. `cutover apply`: for messages. */
  readonly command: string;
}

export interface Command<O extends Options = Options> {
  /** One line. A top-level command's comes from the command table in main.ts (so `--help` loads nothing). */
  readonly summary?: string;
  /** Paragraphs printed under the usage line of `--help`. */
  readonly description?: string;
  readonly options?: O;
  readonly positionals?: readonly Positional[];
  /** At least one, shown in `--help`. */
  readonly examples: readonly string[];
  readonly run: (args: Parsed<O>) => Promise<number | void>;
}

export interface Group {
  /** One line; see Command.summary. */
  readonly summary?: string;
  readonly description?: string;
  readonly subcommands: Record<string, Command<any> | Group>;
  /** The subcommand run when none is named (e.g. `deploy` alone applies). */
  readonly default?: string;
  readonly examples: readonly string[];
}

/** Declares a command; `const` keeps the option literals so `values` is typed. */
export const command = <const O extends Options>(c: Command<O>): Command<O> => c;
export const group = (g: Group): Group => g;
const isGroup = (c: Command<any> | Group): c is Group => 'subcommands' in c;

export const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help and exit' };

/** What a program name looks like in usage lines: the documented entry point. */
export const PROGRAM = 'bin/roomler';

export class UsageError extends UserError {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(`${message}\n\n${help}`, 2);
  }
}

function optionLabel(name: string, o: OptionSpec): string {
  const flag = `--${name}${o.type === 'boolean' ? '' : `${o.choices?.length === 1 ? '=' : ' '}${o.value ?? (o.choices ? o.choices.join('|') : o.type === 'number' ? 'N' : 'VALUE')}`}`;
  return o.short ? `-${o.short}, ${flag}` : `    ${flag}`;
}

function defaultLabel(o: OptionSpec): string {
  if (o.required) return ' (required)';
  if (o.defaultText) return ` (default: ${o.defaultText})`;
  if (o.default === undefined || o.default === false) return o.type === 'boolean' ? ' (default: off)' : ' (default: not set)';
  return ` (default: ${o.default})`;
}

const table = (rows: [string, string][]) => {
  const width = Math.min(34, Math.max(...rows.map(([a]) => a.length)));
  return rows.map(([a, b]) => (a.length > width ? `  ${a}\n  ${''.padEnd(width)}  ${b}` : `  ${a.padEnd(width)}  ${b}`)).join('\n');
};

export function commandHelp(path: string, c: Command<any>, program = PROGRAM): string {
  const options: Options = { ...c.options, help: HELP };
  const pos = (c.positionals ?? []).map((p) => (p.optional ? `[${p.name}${p.variadic ? '…' : ''}]` : `${p.name}${p.variadic ? '…' : ''}`));
  const out = [`usage: ${program} ${path} [options]${pos.length ? ` ${pos.join(' ')}` : ''}`, '', c.summary ?? ''];
  if (c.description) out.push('', c.description);
  if (c.positionals?.length) out.push('', 'arguments:', table(c.positionals.map((p) => [p.name, p.description])));
  out.push(
    '',
    'options:',
    table(Object.entries(options).map(([n, o]) => [optionLabel(n, o), `${o.description}${o === HELP ? '' : defaultLabel(o)}`])),
  );
  out.push('', c.examples.length > 1 ? 'examples:' : 'example:', ...c.examples.map((e) => `  ${e}`));
  return out.join('\n');
}

export function groupHelp(path: string, g: Group, program = PROGRAM): string {
  const out = [`usage: ${program} ${path} <command> [options]`, '', g.summary ?? ''];
  if (g.description) out.push('', g.description);
  out.push(
    '',
    'commands:',
    table(Object.entries(g.subcommands).map(([n, c]) => [n, `${c.summary}${g.default === n ? ' (the default)' : ''}`])),
  );
  out.push('', 'options:', table([[optionLabel('help', HELP), HELP.description]]));
  out.push('', `Run \`${program} ${path} <command> --help\` for a command's options.`);
  out.push('', g.examples.length > 1 ? 'examples:' : 'example:', ...g.examples.map((e) => `  ${e}`));
  return out.join('\n');
}

const wantsHelp = (argv: readonly string[]) => {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '-h' || a === '--help');
};

/**
 * Resolves `argv` against a command or group: prints help (exit 0) when asked, throws UsageError (exit 2) on
 * anything it does not understand, and otherwise runs the command. Nothing else happens before this returns.
 */
export async function dispatch(
  path: string,
  c: Command<any> | Group,
  argv: readonly string[],
  write: (s: string) => void,
  program = PROGRAM,
): Promise<number> {
  if (isGroup(c)) {
    const [first, ...rest] = argv;
    if (first !== undefined && Object.hasOwn(c.subcommands, first))
      return dispatch(`${path} ${first}`, c.subcommands[first], rest, write, program);
    if (wantsHelp(argv) && (first === undefined || first.startsWith('-'))) {
      const d = c.default ? c.subcommands[c.default] : undefined;
      // `deploy --help` is what people type: show what `deploy` alone does, too.
      write(
        groupHelp(path, c, program) +
          (d && !isGroup(d)
            ? `\n\n\`${path}\` alone runs \`${path} ${c.default}\`:\n\n${commandHelp(`${path} ${c.default}`, d, program)}`
            : '') +
          '\n',
      );
      return 0;
    }
    if (c.default && (first === undefined || first.startsWith('-')))
      return dispatch(`${path} ${c.default}`, c.subcommands[c.default], argv, write, program);
    const names = Object.keys(c.subcommands).join(', ');
    throw new UsageError(
      first === undefined ? `${path}: a command is needed (${names})` : `${path}: unknown command "${first}" (one of: ${names})`,
      groupHelp(path, c, program),
    );
  }
  const help = commandHelp(path, c, program);
  if (wantsHelp(argv)) {
    write(help + '\n');
    return 0;
  }
  return (await c.run(parse(path, c, argv, help))) ?? 0;
}

/** Strict parse of one command's argv; exported for tests of the parser itself. */
export function parse<O extends Options>(path: string, c: Command<O>, argv: readonly string[], help = commandHelp(path, c)): Parsed<O> {
  const specs: Options = c.options ?? {};
  const config = Object.fromEntries(
    Object.entries(specs).map(([name, o]) => [
      name,
      { type: o.type === 'number' ? 'string' : o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  ) as Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    throw new UsageError(`${path}: ${cleanParseError((e as Error).message)}`, help);
  }
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(specs)) {
    let v = parsed.values[name];
    if (v === undefined && o.required) throw new UsageError(`${path}: --${name} is required`, help);
    if (v === undefined) v = o.multiple ? [] : (o.default ?? (o.type === 'boolean' ? false : undefined));
    else if (o.type !== 'boolean' && (o.multiple ? (v as string[]) : [v as string]).some((x) => x === '')) {
      throw new UsageError(`${path}: --${name} needs a value, got an empty one`, help);
    } else if (o.type === 'number') {
      const n = Number(v);
      if (!/^\d+(\.\d+)?$/.test(String(v)) || !Number.isFinite(n))
        throw new UsageError(`${path}: --${name} must be a number, got "${v}"`, help);
      v = n;
    } else if (o.choices && !(o.multiple ? (v as string[]) : [v as string]).every((x) => o.choices!.includes(x))) {
      throw new UsageError(`${path}: --${name} must be ${o.choices.map((x) => `"${x}"`).join(' or ')}, got "${v}"`, help);
    }
    values[name] = v;
  }
  const allowed = c.positionals ?? [];
  const max = allowed.some((p) => p.variadic) ? Infinity : allowed.length;
  const min = allowed.filter((p) => !p.optional).length;
  if (parsed.positionals.length > max) throw new UsageError(`${path}: unexpected argument "${parsed.positionals[max]}"`, help);
  if (parsed.positionals.length < min) throw new UsageError(`${path}: ${allowed[parsed.positionals.length].name} is required`, help);
  return { values: values as Values<O>, positionals: parsed.positionals, command: path };
}

/** parseArgs' messages mention its own API ("To specify an option argument starting with a dash use…"): keep the first sentence. */
function cleanParseError(message: string): string {
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(message);
  if (ambiguous) return `${ambiguous[1]} needs a value (write ${ambiguous[1]}=VALUE for a value that starts with a dash)`;
  const unexpected = /Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(message);
  if (unexpected) return `${unexpected[1]} takes no value`;
  return message.split('\n')[0];
}
