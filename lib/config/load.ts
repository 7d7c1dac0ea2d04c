import { isAbsolute, resolve } from 'node:path';

import { parse as parseDotenv } from 'dotenv';
import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';

import { coturnIssues } from './coturn-checks';
import { crossInstanceIssues } from './cross-instance';
import { ENV_ALSO, ENV_PATHS } from './env';
import { exists, FileProblem, readUtf8 } from './files';
import { gitopsIssues } from './gitops';
import { pullPolicyIssues } from './images';
import { type InstanceConfig, instanceSchema, resolveInstance } from './instance';
import { sizeIssues } from './limits';
import { INSTANCE_KEYS, type RootConfig, rootSchema } from './schema';

type Path = readonly (string | number)[];
type Plain = Record<string, unknown>;

export interface LoadOptions {
  /** Directory holding `roomler.yaml` and `.env`. @default process.cwd() */
  readonly cwd?: string;
  /** Variables consulted for ROOMLER_CONFIG and the operator's names. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  /** The config file read, if any. */
  readonly file?: string;
  /** The `.env` file read, if any. */
  readonly envFile?: string;
  readonly root: RootConfig;
  readonly instances: readonly InstanceConfig[];
}

/** Bad configuration: every problem found, each naming its key path and where the value came from. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `app.env.URL`, `cutover.routes[0].expect["site.conf"]`: a key that is not a plain name is quoted, on one line. */
const showPath = (p: Path) =>
  p.reduce<string>(
    (s, k) => (typeof k === 'number' ? `${s}[${k}]` : !/^[A-Za-z0-9_$-]+$/.test(k) ? `${s}[${JSON.stringify(k)}]` : s ? `${s}.${k}` : k),
    '',
  ) || '(root)';

/** Where each overridden value came from, so an error can name the file (and line) or the variable. */
class Provenance {
  private readonly env = new Map<string, string>();
  /** Every path a variable sets: one bad value of K8S_WORKER1_IP is one problem naming nodeAddress and ssh.host. */
  private readonly targets = new Map<string, string[]>();
  constructor(
    private readonly file?: string,
    private readonly doc?: { contents: unknown },
    private readonly lines?: LineCounter,
    private readonly envFile?: string,
  ) {}

  setFromEnv(path: Path, variable: string, fromDotenv: boolean) {
    const origin = fromDotenv ? `${this.envFile}: ${variable}` : `environment variable ${variable}`;
    this.env.set(showPath(path), origin);
    this.targets.set(origin, [...(this.targets.get(origin) ?? []), showPath(path)]);
  }

  describe(path: Path): string {
    for (let n = path.length; n > 0; n--) {
      const origin = this.env.get(showPath(path.slice(0, n)));
      if (!origin) continue;
      const all = this.targets.get(origin) ?? [];
      return `${origin} (${n === path.length && all.includes(showPath(path)) ? all.join(', ') : showPath(path)})`;
    }
    if (this.file && this.doc) {
      const node = nodeAt(this.doc.contents, path);
      if (node) {
        const pos = node.range && this.lines ? this.lines.linePos(node.range[0]) : undefined;
        return `${this.file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${showPath(path)}`;
      }
    }
    return `${showPath(path)} (default)`;
  }
}

/** The YAML node at exactly `path`, if the file sets it. */
function nodeAt(contents: unknown, path: Path): Node | undefined {
  let node = contents as Node | undefined;
  for (const key of path) {
    if (!isMap(node) && !isSeq(node)) return undefined;
    node = (node as any).get(key, true) as Node | undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlain(base) || !isPlain(over)) return over === undefined ? base : over;
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function setPath(obj: Plain, path: Path, value: unknown) {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (!isPlain(cur[key as string])) cur[key as string] = {};
    cur = cur[key as string] as Plain;
  }
  cur[path[path.length - 1] as string] = value;
}

function hasPath(obj: unknown, path: Path): boolean {
  let cur = obj;
  for (const key of path) {
    if (!isPlain(cur) && !Array.isArray(cur)) return false;
    if (!(key in (cur as Plain))) return false;
    cur = (cur as Plain)[key as string];
  }
  return true;
}

/** A value from the environment, typed as the schema wants it (numbers stay numbers). */
function envValue(raw: string, path: Path): unknown {
  const numeric = path[0] === 'ssh' && path[1] === 'port';
  return numeric && /^\d+$/.test(raw) ? Number(raw) : raw;
}

/** One problem per value: a value that breaks several rules is reported by the first (one located line each). */
function issuesToProblems(issues: readonly z.core.$ZodIssue[], prefix: Path, where: (p: Path) => string): string[] {
  const seen = new Set<string>();
  const firstAt = (i: z.core.$ZodIssue) => !seen.has(showPath(i.path as Path)) && !!seen.add(showPath(i.path as Path));
  const first = issues.filter((i) => i.code === 'unrecognized_keys' || firstAt(i));
  // A rule across fields (gracePeriodSeconds > preStopSeconds) says nothing new while one of the fields is itself wrong.
  const within = (inner: Path, outer: Path) => inner.length > outer.length && outer.every((k, n) => inner[n] === k);
  const own = first.filter((i) => i.code !== 'custom' || !first.some((j) => j !== i && within(j.path as Path, i.path as Path)));
  return own.map((i) => {
    const path: Path = [...prefix, ...(i.path as (string | number)[])];
    let message = i.message;
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => `${where([...path, k])}: unknown key ${JSON.stringify(k)}`).join('\n  - ');
    }
    if (i.code === 'invalid_key') message = `key ${JSON.stringify(path[path.length - 1])}: ${i.issues[0]?.message ?? message}`;
    if (i.code === 'invalid_type')
      message = `expected ${i.expected}${message.includes('received') ? `, ${message.split(', ').pop()}` : ''}`;
    return `${where(path)}: ${message}`;
  });
}

/** A config or .env file's text: a regular, readable, UTF-8 file, else a ConfigError naming it (never "absent"). */
function readText(file: string, what: string): string {
  try {
    return readUtf8(file);
  } catch (e) {
    if (e instanceof FileProblem) throw new ConfigError([`${what}: ${e.message}`]);
    throw e;
  }
}

/** Whether the operator's file is there in any form; a dangling or looping symlink counts (and fails on reading). */
function present(file: string, what: string): boolean {
  try {
    return exists(file);
  } catch (e) {
    if (e instanceof FileProblem) throw new ConfigError([`${what}: ${e.message}`]);
    throw e;
  }
}

/** Aliases a config may expand to: real configs use a handful; a "billion laughs" file expands to millions. */
export const MAX_ALIAS_COUNT = 100;

/** Reads defaults < config file < `.env` < environment, validates everything, and resolves the instances. */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;

  const explicit = env.ROOMLER_CONFIG;
  const file = explicit ? (isAbsolute(explicit) ? explicit : resolve(cwd, explicit)) : resolve(cwd, 'roomler.yaml');
  let raw: Plain = {};
  let doc: ReturnType<typeof parseDocument> | undefined;
  const lines = new LineCounter();
  const what = explicit ? 'ROOMLER_CONFIG' : 'config file';
  const fileUsed = present(file, what) ? file : undefined;
  if (explicit && !fileUsed) throw new ConfigError([`ROOMLER_CONFIG: config file ${file} does not exist`]);
  if (fileUsed) {
    doc = parseDocument(readText(fileUsed, what), { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) {
      throw new ConfigError(
        doc.errors.map((e) => `${fileUsed}:${e.linePos?.[0].line ?? '?'}:${e.linePos?.[0].col ?? '?'}: YAML ${e.message.split('\n')[0]}`),
      );
    }
    let contents: unknown;
    try {
      // The conversion after parsing resolves aliases: an unknown anchor or an alias bomb fails here, not above.
      contents = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
    } catch (e) {
      const message = (e as Error).message.split('\n')[0];
      const hint = /alias count/i.test(message)
        ? ` (at most ${MAX_ALIAS_COUNT} alias expansions; this file expands more, as a "billion laughs" file does)`
        : '';
      throw new ConfigError([`${fileUsed}: YAML ${message}${hint}`]);
    }
    if (!isPlain(contents)) throw new ConfigError([`${fileUsed}: the config file must be a YAML mapping`]);
    raw = contents;
  }

  const envFile = resolve(cwd, '.env');
  const envFileUsed = present(envFile, '.env') ? envFile : undefined;
  const dotenv = envFileUsed ? parseDotenv(readText(envFileUsed, '.env')) : {};
  const provenance = new Provenance(fileUsed, doc, lines, envFileUsed);

  for (const [name, path] of Object.entries(ENV_PATHS)) {
    const fromEnv = env[name];
    const value = fromEnv !== undefined && fromEnv !== '' ? fromEnv : dotenv[name];
    if (value === undefined || value === '') continue;
    const fromDotenv = !(fromEnv !== undefined && fromEnv !== '');
    for (const target of [path, ...(ENV_ALSO[name] ?? [])]) {
      setPath(raw, target, envValue(value, target));
      provenance.setFromEnv(target, name, fromDotenv);
    }
  }

  const problems: string[] = [];
  const rootResult = rootSchema.safeParse(raw);
  if (!rootResult.success) problems.push(...issuesToProblems(rootResult.error.issues, [], (p) => provenance.describe(p)));

  const defaults: Plain = Object.fromEntries(Object.entries(raw).filter(([k]) => INSTANCE_KEYS.has(k)));
  const overrides: unknown[] = Array.isArray(raw.instances) ? raw.instances : [{}];
  const instances: InstanceConfig[] = [];
  overrides.forEach((override, index) => {
    if (!isPlain(override)) return; // reported by the root schema
    const merged = deepMerge(defaults, override);
    const result = instanceSchema.safeParse(merged);
    if (result.success) {
      instances.push(resolveInstance(result.data));
      return;
    }
    // A problem in an inherited value is already reported at the top level; report only the instance's own.
    const own = result.error.issues.filter((i) => raw.instances && hasPath(override, i.path as Path));
    problems.push(...issuesToProblems(own, ['instances', index], (p) => provenance.describe(p)));
  });

  if (problems.length === 0) {
    const fileOf = (index: number, path: Path) => {
      if (!raw.instances) return provenance.describe(path);
      if (hasPath(overrides[index], path)) return provenance.describe(['instances', index, ...path]);
      return `${provenance.describe(path)}, inherited by instances[${index}] (${instances[index].name})`;
    };
    problems.push(...crossInstanceIssues(instances, fileOf));
    problems.push(...pullPolicyIssues(instances, fileOf));
    problems.push(...sizeIssues(instances, fileOf));
    problems.push(...coturnIssues(rootResult.data!.coturn, instances, fileOf, (p) => provenance.describe(p.split('.'))));
    const root = rootResult.data!;
    problems.push(...gitopsIssues(root.argocd, root.coturn, instances, fileOf, (p) => provenance.describe(p.split('.'))));
  }
  if (problems.length) throw new ConfigError([...new Set(problems)]);
  return { file: fileUsed, envFile: envFileUsed, root: rootResult.data!, instances };
}
