import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';

import { UserError } from '../cli';
import { BYTES } from './backups';
import {
  backendValue,
  type Block,
  type Directive,
  directives,
  hostPortAt,
  NginxSyntaxError,
  proxiedVariables,
  rawSpan,
  type Replacement,
  unquote,
} from './nginx-config';

// The configuration nginx loads, as files: confDir/*.conf and what they include, each read once, every directive in
// the context of the blocks that include it; and where an address stands in it as a backend.

export interface ConfigFile {
  /** The path as nginx reaches it (through the include glob). */
  readonly path: string;
  /** Where the bytes live (a sites-enabled symlink is written through, never replaced by a copy). */
  readonly real: string;
  readonly text: string;
  /** Its directives in the context of its first include. */
  readonly directives: readonly Directive[];
}

export interface NginxTree {
  readonly confDir: string;
  /** Each file nginx reads from confDir/*.conf and their includes, once, in include order. */
  readonly files: readonly ConfigFile[];
  /** Every directive in include context: a file included from two server blocks appears under both. */
  readonly all: readonly Directive[];
  /** Directories that include globs read from: backups must stay out of them. */
  readonly includeDirs: readonly string[];
  /** Variables (without `$`) a proxy_pass or grpc_pass sends requests to: their `set`/`map` values are backends. */
  readonly proxied: ReadonlySet<string>;
}

/**
 * A config file's name as nginx includes it: relative to the directory relative includes resolve against
 * (confDir's parent, e.g. /etc/nginx): conf.d/roomler.live.conf, snippets/janus-admin.conf.
 */
export const displayPath = (confDir: string, path: string) => relative(dirname(confDir), path);

/** Files matching an nginx include glob (`*`, `?`), sorted as nginx's glob(3) returns them. */
function glob(pattern: string): string[] {
  const dir = dirname(pattern);
  const re = new RegExp(
    `^${basename(pattern)
      .replace(/[.+^$()|[\]\\{}]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '.')}$`,
  );
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => re.test(f) && !f.startsWith('.'))
        .sort()
        .map((f) => join(dir, f))
    : [];
}

/**
 * Reads the config nginx loads from `confDir/*.conf`, following `include` (relative to confDir's parent).
 * `texts` stands in for files' contents by real path: the tree as it will be after a change.
 */
export function readTree(confDir: string, texts: ReadonlyMap<string, string> = new Map()): NginxTree {
  if (!existsSync(confDir)) throw new UserError(`cutover.nginx.confDir (NGINX_CONF_DIR) ${confDir} does not exist`);
  if (!statSync(confDir).isDirectory())
    throw new UserError(`cutover.nginx.confDir (NGINX_CONF_DIR) ${confDir} is not a directory (nginx includes ${confDir}/*.conf)`);
  const files = new Map<string, ConfigFile>();
  const all: Directive[] = [];
  const includeDirs = new Set<string>([confDir]);
  const visit = (path: string, outer: readonly Block[], chain: readonly string[]) => {
    let real: string;
    let text: string;
    try {
      if (!statSync(path).isFile()) return;
      real = realpathSync(path);
      if (chain.includes(real)) return;
      text = texts.get(real) ?? files.get(real)?.text ?? readFileSync(path, BYTES);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'is a dangling symlink'
          : code === 'ELOOP'
            ? 'is a symlink loop'
            : code === 'EACCES'
              ? 'is not readable (permission denied)'
              : (e as Error).message;
      throw new UserError(`${path}: ${why} (nginx includes it)`);
    }
    let ds: Directive[];
    try {
      ds = directives(text, path, outer);
    } catch (e) {
      if (e instanceof NginxSyntaxError) throw new UserError(`${path}:${e.line}: ${e.reason} (nginx -t would refuse this file too)`);
      throw e;
    }
    if (!files.has(real)) files.set(real, { path, real, text, directives: ds });
    for (const d of ds) {
      all.push(d);
      if (d.name !== 'include' || !d.args.length) continue;
      const p = unquote(d.args[0]);
      const pattern = isAbsolute(p) ? p : join(dirname(confDir), p);
      includeDirs.add(dirname(pattern));
      for (const f of glob(pattern)) visit(f, d.blocks, [...chain, real]);
    }
  };
  for (const f of glob(join(confDir, '*.conf'))) visit(f, [], []);
  return { confDir, files: [...files.values()], all, includeDirs: [...includeDirs], proxied: proxiedVariables(all) };
}

/**
 * Where `hostPort` is a backend in one file's directives: a proxy target, or the `set`/`map` value of a variable a
 * proxy target uses. A match whose characters are escaped in the file (nginx's value differs from the bytes) is
 * left alone: the bytes that would change are not `hostPort` as written.
 */
export function targetsIn(tree: Pick<NginxTree, 'proxied'>, file: ConfigFile, hostPort: string, to = hostPort): Replacement[] {
  const out: Replacement[] = [];
  for (const d of file.directives) {
    const backend = backendValue(d, tree.proxied);
    if (!backend) continue;
    const arg = backend.token;
    const at = hostPortAt(unquote(arg), hostPort);
    const span = at === undefined ? undefined : rawSpan(arg, at, at + hostPort.length);
    if (!span || file.text.slice(span.start, span.end) !== hostPort) continue;
    out.push({ start: span.start, end: span.end, text: to, line: file.text.slice(0, span.start).split('\n').length });
  }
  return out;
}

/** How many proxy targets in the whole tree point at `hostPort`. */
export const countIn = (tree: NginxTree, hostPort: string) => tree.files.reduce((n, f) => n + targetsIn(tree, f, hostPort).length, 0);
