import { relative } from 'node:path';

import type { InstanceConfig, LoadedConfig } from '../../../lib/config';
import { BYTES } from './backups';
import { type Check, checksFor, retiredChecks } from './checks';
import { inventory, type OldTarget, unaccountedProblem, unproxiedValues } from './inventory';
import { applyReplacements, backendValue, type Replacement, unquote, variableValue } from './nginx-config';
import { countNew, cutoverInstance, isAdminRoute, type ResolvedRoute, resolveRoutes, retiredIn } from './routes';
import { type ConfigFile, displayPath, type NginxTree, readTree, targetsIn } from './tree';

// The cutover's plan: from the config and nginx's files, the exact replacements, the requests that verify them before
// and after, every old backend accounted for, and everything that makes apply refuse before it writes a byte.

// What the other commands read of the cutover (doctor: routes, the tree, the inventory), from where it lives.
export { inventory } from './inventory';
export { resolveRoutes, routeStatus } from './routes';
export { readTree } from './tree';

export interface FileChange {
  readonly file: ConfigFile;
  readonly after: string;
  readonly replacements: readonly (Replacement & { readonly from: string; readonly to: string })[];
}

export interface Plan {
  readonly tree: NginxTree;
  readonly routes: readonly ResolvedRoute[];
  /** One route per distinct new host:port: what preflight connects to. */
  readonly targets: readonly ResolvedRoute[];
  /** Files with at least one replacement. */
  readonly changes: readonly FileChange[];
  /** Anything that makes apply abort before writing. */
  readonly problems: readonly string[];
  /** Every backend address on an old host: routed, kept or unaccounted. */
  readonly inventory: readonly OldTarget[];
  /** Worth knowing, not blocking: the old upstream mentioned outside a backend address. */
  readonly notes: readonly string[];
  /** Not blocking, but a risk the operator must act on: locations that keep the Janus admin API public. */
  readonly warnings: readonly string[];
  /** Requests through nginx as the files are now, and as they will be after apply. */
  readonly checks: readonly Check[];
  readonly checksAfter: readonly Check[];
  readonly alreadyDone: boolean;
}

/**
 * The replacements in each file: every proxy target of a route's old backend becomes its new target, and a retired
 * route's `proxy_pass` directives become `return N;` (an upstream server naming it cannot: a problem).
 */
function fileChanges(tree: NginxTree, routes: readonly ResolvedRoute[], problems: string[]): FileChange[] {
  const name = (f: ConfigFile) => displayPath(tree.confDir, f.path);
  return tree.files
    .map((file) => {
      const replacements = routes.flatMap((r) => {
        if (!r.retired) return targetsIn(tree, file, r.from, r.target).map((x) => ({ ...x, from: r.from, to: r.target }));
        const { replacements: retire, stuck } = retiredIn(tree, file, r);
        for (const d of stuck) {
          problems.push(
            `route ${r.from} -> ${r.to} (retired: ${r.retiredWhy}): ${name(file)}:${d.line} names it in upstream ${d.blocks[d.blocks.length - 1].args[0]}, and an upstream server cannot answer by itself; replace the proxy_pass directives that use that upstream with \`return ${r.retired};\` by hand, or route it`,
          );
        }
        return retire.map((x) => ({ ...x, from: r.from, to: r.target }));
      });
      return { file, after: applyReplacements(file.text, replacements), replacements };
    })
    .filter((c) => c.replacements.length);
}

/**
 * How many places point at each route's old backend (`pending`) and new side (`done`) in the whole tree; each route's
 * `expect` checked; and notes for a route that moves nothing and for an old upstream named outside a backend address.
 */
function routeCounts(tree: NginxTree, routes: readonly ResolvedRoute[], problems: string[], notes: string[]) {
  const name = (f: ConfigFile) => displayPath(tree.confDir, f.path);
  let pending = 0;
  let done = 0;
  for (const r of routes) {
    const found = tree.files.map((f) => ({ name: name(f), old: relative(tree.confDir, f.path), n: targetsIn(tree, f, r.from).length }));
    const [old, next] = [found.reduce((a, b) => a + b.n, 0), countNew(tree, r)];
    pending += old;
    done += next;
    for (const [file, n] of Object.entries(r.expect ?? {})) {
      const got = found.find((f) => f.name === file || f.old === file)?.n ?? 0;
      if (got !== n) problems.push(`route ${r.from} -> ${r.to}: expected ${n} match(es) in ${file}, found ${got}`);
    }
    for (const f of found)
      if (r.expect && f.n > 0 && !(f.name in r.expect) && !(f.old in r.expect))
        problems.push(`route ${r.from} -> ${r.to}: unexpected ${f.n} match(es) in ${f.name}`);
    // A route nothing points at moves nothing; a typo in its `from` leaves the real address unaccounted (inventory).
    if (old === 0 && next === 0 && !r.expect)
      notes.push(`route ${r.from} -> ${r.to}: nothing under ${tree.confDir} points at ${r.from} (or at ${r.target}); it moves nothing`);
    // The old upstream elsewhere (an add_header, a return, a comment-like string): never rewritten. Say so.
    for (const f of tree.files)
      for (const d of f.directives) {
        const value = backendValue(d, tree.proxied)?.token ?? variableValue(d)?.token;
        if ([d.name, ...d.args.filter((a) => a !== value).map(unquote)].some((t) => t.includes(r.from)))
          notes.push(
            `${name(f)}:${d.line}: ${r.from} appears in \`${d.name}\` but is not a backend address; left unchanged (if nginx proxies through it, change it by hand)`,
          );
      }
  }
  return { pending, done };
}

/**
 * A confDir that names none of the routes is the wrong directory (or nginx's config is elsewhere), not a cutover
 * with nothing to do: one problem says so, instead of a note per route that it moves nothing.
 */
function wrongDirProblem(tree: NginxTree, routes: readonly ResolvedRoute[], counts: { pending: number; done: number }, notes: string[]) {
  const wrongDir =
    !tree.files.length ||
    (counts.pending === 0 &&
      counts.done === 0 &&
      !routes.some((r) => r.retired && tree.files.some((f) => retiredIn(tree, f, r).replacements.length)));
  if (wrongDir) for (let n = notes.length - 1; n >= 0; n--) if (notes[n].endsWith('; it moves nothing')) notes.splice(n, 1);
  if (!tree.files.length)
    return `cutover.nginx.confDir (NGINX_CONF_DIR) ${tree.confDir} holds no *.conf file: nginx includes its sites from another directory (e.g. /etc/nginx/conf.d or sites-enabled)`;
  if (wrongDir)
    return `nothing under cutover.nginx.confDir (NGINX_CONF_DIR) ${tree.confDir} names any route's old backend (${routes.map((r) => r.from).join(', ')}) or new target: is it the directory nginx includes the production sites from? It holds ${tree.files.map((f) => displayPath(tree.confDir, f.path)).join(', ')}`;
  return undefined;
}

/** Where a retired route's locations are, and what becomes of them. */
const retiredNotes = (routes: readonly ResolvedRoute[], checks: readonly Check[]): string[] =>
  routes
    .filter((x) => x.retired)
    .flatMap((r) => {
      const where = [...new Set(checks.filter((c) => c.route === r).map((c) => `${c.host}${c.path}`))];
      return where.length
        ? [
            `${where.join(', ')}: retired (${r.retiredWhy}): nginx answers ${r.retired} there itself; each \`proxy_pass\` to ${r.from} becomes \`return ${r.retired};\`, and rollback restores it`,
          ]
        : [];
    });

/** `texts`: file contents by real path to plan from instead of the files' (a pending switch's originals). */
export function plan(cfg: LoadedConfig, texts?: ReadonlyMap<string, string>): Plan {
  const routes = resolveRoutes(cfg);
  const tree = readTree(cfg.root.cutover.nginx.confDir, texts);
  const problems: string[] = [];
  const notes: string[] = [];
  const changes = fileChanges(tree, routes, problems);
  const counts = routeCounts(tree, routes, problems, notes);
  notes.push(...unproxiedValues(tree, cfg));
  const wrongDir = wrongDirProblem(tree, routes, counts, notes);
  if (wrongDir) problems.push(wrongDir);
  const targets0 = inventory(tree, routes, cfg);
  const unaccounted = unaccountedProblem(cfg, targets0);
  if (unaccounted) problems.push(unaccounted);
  const { checks, problems: checkProblems } = checksFor(tree, routes);
  const checksAfter = [
    ...checksFor(readTree(tree.confDir, new Map(changes.map((c) => [c.file.real, c.after]))), routes).checks,
    ...retiredChecks(checks),
  ];
  const targets = [...new Map(routes.filter((r) => !r.retired).map((r) => [r.target, r])).values()];
  const warnings = adminWarnings(cutoverInstance(cfg), routes, checks);
  notes.push(...retiredNotes(routes, checks));
  return {
    tree,
    routes,
    targets,
    changes,
    problems: [...problems, ...checkProblems],
    inventory: targets0,
    notes: [...new Set(notes)],
    warnings,
    checks,
    checksAfter,
    alreadyDone: counts.pending === 0 && counts.done > 0,
  };
}

/**
 * The cutover keeps every location nginx has: the admin ones move to where the admin API really is (Janus's node,
 * `janus-host/…`), and stay reachable by anyone who can reach nginx until the operator protects or removes them.
 */
function adminWarnings(i: InstanceConfig, routes: readonly ResolvedRoute[], checks: readonly Check[]): string[] {
  const a = i.janus.admin;
  return routes
    .filter((r) => isAdminRoute(r) && !r.retired)
    .flatMap((r) => {
      const where = [...new Set(checks.filter((c) => c.route === r).map((c) => `${c.host}${c.path}`))];
      if (!where.length) return [];
      const state = a.enabled
        ? `guarded only by Janus's admin_secret and admin_acl (${a.allowFrom.join(', ')}), which admits nginx and so everyone behind it`
        : "which is off (janus.admin.enabled: false): nginx answers 502 there, and apply's preflight cannot connect to it";
      return [
        `${where.join(', ')} ${where.length > 1 ? 'stay' : 'stays'} public in nginx: route ${r.from} -> ${r.to} proxies to the Janus admin API at ${r.target}, ${state}. Restrict them in nginx to the addresses that need them and to this host, whose verification requests must still pass (\`allow 127.0.0.1; allow <admin address>; deny all;\`, or the Docker bridge's gateway instead of 127.0.0.1 when nginx runs in a container), or close them: route them to \`retired\` (nginx answers 403)`,
      ];
    });
}

/** A unified diff (no context) of the changed lines; a CRLF file's \r is not shown as part of a line. */
export function unifiedDiff(c: FileChange, confDir: string): string {
  const [a, b] = [c.file.text, c.after].map((t) =>
    Buffer.from(t, BYTES)
      .toString('utf8')
      .split('\n')
      .map((l) => l.replace(/\r$/, '')),
  );
  const lines = [...new Set(c.replacements.map((r) => r.line))].sort((x, y) => x - y);
  const name = displayPath(confDir, c.file.path);
  return (
    [`--- a/${name}`, `+++ b/${name}`, ...lines.flatMap((l) => [`@@ -${l} +${l} @@`, `-${a[l - 1]}`, `+${b[l - 1]}`])].join('\n') + '\n'
  );
}
