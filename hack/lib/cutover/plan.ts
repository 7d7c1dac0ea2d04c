import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';

import { type InstanceConfig, type LoadedConfig, NAMES } from '../../../lib/config';
import type { CutoverRoute } from '../../../lib/config/cutover';
import { JANUS_ADMIN_PORTS, JANUS_API_PORTS } from '../../../lib/constructs/janus-gateway';
import { UserError } from '../cli';
import { BYTES } from './backups';
import {
  applyReplacements,
  type BackendKind,
  backendValue,
  type Block,
  type Directive,
  directives,
  enclosing,
  hostPortAt,
  isProxyTarget,
  NginxSyntaxError,
  parseBackend,
  PASS_DIRECTIVES,
  proxiedVariables,
  rawSpan,
  type Replacement,
  unquote,
  variablesIn,
  variableValue,
} from './nginx-config';
import { joinHostPort, splitHostPort } from './probes';

export interface ResolvedRoute extends CutoverRoute {
  /** The new host:port, from the same config the manifests are synthesized from; for a retired route, `return N`. */
  readonly target: string;
  /** A retired route: its locations answer this status from nginx itself (no backend). */
  readonly retired?: number;
  /** Why it is retired, for plan. */
  readonly retiredWhy?: string;
  readonly index: number;
}

/** `to` of a route whose locations nginx answers itself: `retired` (403) or `retired/<status>`. */
export const RETIRED = 'retired';

/** `to` of a route to a port Janus binds on its node's host network (the admin API, which has no NodePort). */
export const JANUS_HOST = 'janus-host';

/** Where the Janus admin API listens as the host nginx sees it: its bind address, or the node for a wildcard. */
const janusAdminHost = (i: InstanceConfig) => (i.janus.admin.bindAddress === '0.0.0.0' ? i.nodeAddress : i.janus.admin.bindAddress);

/**
 * Where a route goes: host:port of a synthesized NodePort Service port or of a Janus host port, from the same config
 * the manifests come from; or retired (nginx answers itself): `to: retired[/status]`, and the admin API's routes while
 * `janus.admin.enabled` is false (nothing listens there, and a public admin location is better closed than proxied).
 */
export function resolveRoute(to: string, i: InstanceConfig): { target: string; retired?: number; retiredWhy?: string } {
  const [service, portName] = to.split('/');
  if (service === RETIRED) {
    const status = portName === undefined ? 403 : Number(portName);
    if (!Number.isInteger(status) || status < 400 || status > 499)
      throw new UserError(`cutover.routes: ${to}: a retired route answers a 4xx status, e.g. retired/403 or retired/404`);
    return { target: `return ${status}`, retired: status, retiredWhy: 'retired in the config' };
  }
  if (service === JANUS_HOST && !i.janus.admin.enabled && JANUS_ADMIN_PORTS.some((p) => p.name === portName)) {
    return { target: 'return 403', retired: 403, retiredWhy: 'the Janus admin API is off (janus.admin.enabled: false)' };
  }
  return { target: resolveTarget(to, i) };
}

/** host:port of a synthesized NodePort Service port, or of a Janus host port, from the same config the manifests come from. */
export function resolveTarget(to: string, i: InstanceConfig): string {
  const [service, portName] = to.split('/');
  if (service === NAMES.app && portName === 'http') return joinHostPort(i.nodeAddress, i.app.nodePort);
  const api = JANUS_API_PORTS.find((p) => p.name === portName)?.key;
  if (service === NAMES.janusNodePort && api) return joinHostPort(i.nodeAddress, i.janus.nodePorts[api]);
  const admin = JANUS_ADMIN_PORTS.find((p) => p.name === portName)?.key;
  if (service === JANUS_HOST && admin) return joinHostPort(janusAdminHost(i), i.janus.ports[admin]);
  throw new UserError(
    `cutover.routes: ${to} names no target (use roomler/http, ${NAMES.janusNodePort}/${JANUS_API_PORTS.map((p) => p.name).join('|')}, ${JANUS_HOST}/${JANUS_ADMIN_PORTS.map((p) => p.name).join('|')} or ${RETIRED}[/4xx])`,
  );
}

/** The routes to the Janus admin API: nginx keeps those locations public, whatever Janus does. */
export const isAdminRoute = (r: Pick<CutoverRoute, 'to'>) => r.to.startsWith(`${JANUS_HOST}/`);

function cutoverInstance(cfg: LoadedConfig): InstanceConfig {
  const name = cfg.root.cutover.instance;
  const instance = name ? cfg.instances.find((i) => i.name === name) : cfg.instances[0];
  if (!instance) throw new UserError(`cutover.instance ${name} names no instance (have: ${cfg.instances.map((i) => i.name).join(', ')})`);
  return instance;
}

export const resolveRoutes = (cfg: LoadedConfig): ResolvedRoute[] => {
  const instance = cutoverInstance(cfg);
  return cfg.root.cutover.routes.map((r, index) => ({ ...r, index, ...resolveRoute(r.to, instance) }));
};

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
 * The `proxy_pass` directives of a retired route in one file, each replaced whole by `return N;` (no comment: one
 * would swallow whatever follows on the line, a `}` included); the rest of the file is unchanged. An upstream
 * `server` line cannot answer by itself: `stuck` lists them.
 */
export function retiredIn(
  tree: Pick<NginxTree, 'proxied'>,
  file: ConfigFile,
  r: ResolvedRoute,
): { replacements: Replacement[]; stuck: Directive[] } {
  const replacements: Replacement[] = [];
  const stuck: Directive[] = [];
  for (const d of file.directives) {
    const backend = backendValue(d, tree.proxied);
    if (
      !backend ||
      (!PASS_DIRECTIVES.has(backend.kind) && backend.kind !== 'upstream') ||
      hostPortAt(unquote(backend.token), r.from) === undefined
    )
      continue;
    if (backend.kind === 'upstream') stuck.push(d);
    else replacements.push({ start: d.start, end: d.end, text: `return ${r.retired};`, line: d.line });
  }
  return { replacements, stuck };
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
const countIn = (tree: NginxTree, hostPort: string) => tree.files.reduce((n, f) => n + targetsIn(tree, f, hostPort).length, 0);
/** How many places point at a route's new side (none for a retired route: its locations answer by themselves). */
const countNew = (tree: NginxTree, r: ResolvedRoute) => (r.retired ? 0 : countIn(tree, r.target));

/** One request through nginx that proves a route works. */
export interface Check {
  readonly route: ResolvedRoute;
  readonly websocket: boolean;
  readonly host: string;
  readonly path: string;
  readonly address: { readonly host: string; readonly port: number };
  readonly tls: boolean;
  /** Expected status; undefined means any status below 500 (nginx reached a backend). */
  readonly status?: number;
  /** Response headers that must be present (the maintenance answer's Retry-After). */
  readonly headers?: readonly string[];
  readonly protocol?: string;
  /** Where the check comes from: a location in a file, or the route's `verify`. */
  readonly source: string;
  /** The backend (host:port) the files send this request to now: the old upstream, or the new target. */
  readonly current: string;
}

export const describeCheck = (c: Check) =>
  `${c.websocket ? 'WebSocket' : 'GET'} ${c.websocket ? (c.tls ? 'wss' : 'ws') : c.tls ? 'https' : 'http'}://${c.host}${c.path} via ${joinHostPort(c.address.host, c.address.port)}` +
  `${c.protocol ? ` (${c.protocol})` : ''} expects ${c.status ?? (c.websocket ? 101 : '< 500')}${c.headers?.length ? ` with ${c.headers.join(', ')}` : ''} [${c.source}]`;

const WEBSOCKET_PROTOCOLS: Record<string, string> = {
  [`${NAMES.janusNodePort}/websocket`]: 'janus-protocol',
  [`${JANUS_HOST}/admin-websocket`]: 'janus-admin-protocol',
};

/** nginx's `listen` as a place to connect to: a wildcard becomes loopback; UNIX sockets and QUIC are skipped. */
export function listenAddress(args: readonly string[]): { host: string; port: number; tls: boolean } | undefined {
  const [addr, ...flags] = args;
  if (!addr || addr.startsWith('unix:') || flags.includes('quic')) return undefined;
  const tls = flags.includes('ssl');
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(addr);
  if (!m) return undefined;
  let host = m[1] ?? m[2];
  let port = m[3] ? Number(m[3]) : 80;
  if (!m[1] && /^\d+$/.test(host)) [host, port] = ['127.0.0.1', Number(host)];
  if (host === '*' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { host, port, tls };
}

const blockKey = (b: Block) => `${b.file}:${b.start}`;

/** Where a server block can be reached (its first TCP `listen`, default *:80) and its first usable server_name. */
function serverInfo(server: Block, inBlock: ReadonlyMap<string, readonly Directive[]>) {
  const own = inBlock.get(blockKey(server)) ?? [];
  const listens = own.filter((x) => x.name === 'listen');
  const listen = listens.length
    ? listens.map((x) => listenAddress(x.args.map(unquote))).find((x) => x)
    : { host: '127.0.0.1', port: 80, tls: false };
  const name = own
    .flatMap((x) => (x.name === 'server_name' ? x.args.map(unquote) : []))
    .find((n) => n && n !== '_' && !n.startsWith('~') && !n.includes('*'));
  return { listen, host: name ?? listen?.host };
}

/** Default checks (one per location that proxies to a route) or the route's own `verify`, plus problems. */
export function checksFor(tree: NginxTree, routes: readonly ResolvedRoute[]): { checks: Check[]; problems: string[] } {
  const problems: string[] = [];
  // Where a proxy target points for a route now: its old upstream, its new target, or neither.
  const side = (value: string, r: ResolvedRoute) =>
    hostPortAt(value, r.from) !== undefined ? r.from : hostPortAt(value, r.target) !== undefined ? r.target : undefined;
  // Upstream blocks by name -> the routes their servers belong to, and where they point.
  const upstreams = new Map<string, Map<ResolvedRoute, string>>();
  const inBlock = new Map<string, Directive[]>();
  for (const d of tree.all) {
    const inner = d.blocks[d.blocks.length - 1];
    if (inner) inBlock.set(blockKey(inner), [...(inBlock.get(blockKey(inner)) ?? []), d]);
    if (isProxyTarget(d) && d.name === 'server') {
      const name = inner.args[0];
      for (const r of routes) {
        const now = side(unquote(d.args[0]), r);
        if (now) upstreams.set(name, new Map([...(upstreams.get(name) ?? []), [r, now]]));
      }
    }
  }
  const derived = new Map<ResolvedRoute, Check[]>(routes.map((r) => [r, []]));
  const servers = new Map<ResolvedRoute, Pick<Check, 'address' | 'tls' | 'host'>>();
  // The values each variable can take (set, map), for a proxy_pass that goes through one.
  const valuesOf = new Map<string, string[]>();
  for (const d of tree.all) {
    const v = variableValue(d);
    if (v) valuesOf.set(v.variable, [...(valuesOf.get(v.variable) ?? []), unquote(v.token)]);
  }
  const expand = (value: string, depth = 0): string[] =>
    depth > 4
      ? [value]
      : [
          value,
          ...variablesIn(value).flatMap((name) =>
            (valuesOf.get(name) ?? []).flatMap((x) =>
              expand(
                value.replace(new RegExp(`\\$(\\{${name}\\}|${name}(?![A-Za-z0-9_]))`), () => x),
                depth + 1,
              ),
            ),
          ),
        ].slice(0, 256);
  for (const d of tree.all.filter((x) => x.name === 'proxy_pass' && x.args.length)) {
    const candidates = expand(unquote(d.args[0]));
    const pointing = new Map(
      routes.flatMap((r) => {
        const now = candidates
          .map((value) => side(value, r) ?? upstreams.get(value.replace(/^[a-z]+:\/\//i, '').split(/[/?]/)[0])?.get(r))
          .find((x) => x);
        return now ? [[r, now] as const] : [];
      }),
    );
    const hit = [...pointing.keys()];
    const location = enclosing(d, 'location');
    const server = enclosing(d, 'server');
    if (!hit.length || !location || !server) continue;
    const where = `${displayPath(tree.confDir, d.file)}:${d.line} location ${location.args.join(' ')}`;
    const [modifier, path] = location.args.length > 1 ? location.args : ['', location.args[0] ?? ''];
    const { listen, host } = serverInfo(server, inBlock);
    for (const r of hit) {
      if (listen && !servers.has(r)) servers.set(r, { address: listen, tls: listen.tls, host: host! });
      if (r.verify) continue;
      const usable = (modifier === '' || modifier === '=' || modifier === '^~') && path.startsWith('/');
      if (!usable || !listen) {
        problems.push(
          `route ${r.from} -> ${r.to}: ${where} cannot be requested by default (${!listen ? 'no TCP listen' : 'a regex or named location'}); give the route a verify list`,
        );
        continue;
      }
      const websocket = r.to in WEBSOCKET_PROTOCOLS;
      derived.get(r)!.push({
        route: r,
        websocket,
        protocol: WEBSOCKET_PROTOCOLS[r.to],
        host: host!,
        path,
        address: listen,
        tls: listen.tls,
        source: where,
        current: pointing.get(r)!,
      });
    }
  }
  const checks: Check[] = [];
  // One request per location and kind: two routes may share a new target (janus_r:8088 and :8080 both move to the
  // HTTP API NodePort), and once moved both claim its locations.
  const seen = new Set<string>();
  for (const r of routes) {
    const found = derived.get(r)!;
    if (r.verify) {
      r.verify.forEach((v, n) => {
        const base = found[0] ?? servers.get(r);
        const address = v.address ? splitHostPort(v.address) : base?.address;
        const host = v.host ?? base?.host;
        if (!address || !host) {
          problems.push(
            `cutover.routes[${r.index}].verify[${n}]: give host and address (no server block proxies to ${r.from} or ${r.target})`,
          );
          return;
        }
        const websocket = v.websocket ?? r.to in WEBSOCKET_PROTOCOLS;
        const current = tree.files.some((f) => targetsIn(tree, f, r.from).length) ? r.from : r.target;
        checks.push({
          route: r,
          websocket,
          protocol: v.protocol ?? (websocket ? WEBSOCKET_PROTOCOLS[r.to] : undefined),
          host,
          path: v.path,
          address,
          tls: v.tls ?? base?.tls ?? false,
          status: v.status,
          source: `cutover.routes[${r.index}].verify[${n}]`,
          current,
        });
      });
    } else {
      for (const c of found) {
        const key = `${c.websocket}|${c.address.host}|${c.address.port}|${c.host}|${c.path}`;
        if (!seen.has(key)) checks.push(c);
        seen.add(key);
      }
      const present = tree.files.some((f) => targetsIn(tree, f, r.from).length || targetsIn(tree, f, r.target).length);
      if (present && !found.length && !problems.some((p) => p.startsWith(`route ${r.from} `)))
        problems.push(`route ${r.from} -> ${r.to}: no location proxies to it, so nothing would verify it; give the route a verify list`);
    }
  }
  return { checks, problems };
}

/** A backend address on a host of the old stack, and what the cutover does with it. */
export interface OldTarget {
  /** As nginx includes the file. */
  readonly file: string;
  readonly line: number;
  readonly kind: BackendKind;
  readonly hostPort: string;
  readonly host: string;
  /** routed: a route moves it; kept: listed in cutover.kept; unaccounted: neither (apply refuses). */
  readonly disposition: 'routed' | 'kept' | 'unaccounted';
  readonly route?: ResolvedRoute;
  readonly reason?: string;
}

/** The old stack's hosts: the routes' hosts and cutover.oldHosts. */
export const oldHostsOf = (cfg: LoadedConfig): string[] => [
  ...new Set([...cfg.root.cutover.routes.map((r) => splitHostPort(r.from).host), ...cfg.root.cutover.oldHosts]),
];

/**
 * Every backend address in the tree (proxy_pass, upstream servers, set and map values) on a host of the old stack,
 * sorted into routed, kept and unaccounted. Once those hosts are gone, an address nginx still names makes `nginx -t`
 * fail ("host not found in upstream"), and every later reload or restart with it.
 */
export function inventory(tree: NginxTree, routes: readonly ResolvedRoute[], cfg: LoadedConfig): OldTarget[] {
  const hosts = new Set(oldHostsOf(cfg));
  const upstreamNames = new Set(tree.all.filter((d) => d.name === 'upstream').map((d) => d.args.map(unquote)[0]));
  for (const d of tree.all) for (const b of d.blocks) if (b.name === 'upstream') upstreamNames.add(b.args[0]);
  const out: OldTarget[] = [];
  const seen = new Set<string>();
  for (const f of tree.files) {
    for (const d of f.directives) {
      const backend = backendValue(d, tree.proxied);
      const parsed = backend && parseBackend(unquote(backend.token));
      if (!backend || !parsed || !hosts.has(parsed.host) || (PASS_DIRECTIVES.has(backend.kind) && upstreamNames.has(parsed.host))) continue;
      const hostPort = joinHostPort(parsed.host, parsed.port);
      const file = displayPath(tree.confDir, f.path);
      const key = `${f.real}:${backend.token.start}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const route = routes.find((r) => r.from === hostPort);
      const kept = cfg.root.cutover.kept.find((k) => k.target === hostPort || k.target === parsed.host);
      out.push({
        file,
        line: d.line,
        kind: backend.kind,
        hostPort,
        host: parsed.host,
        disposition: route ? 'routed' : kept ? 'kept' : 'unaccounted',
        route,
        reason: kept?.reason,
      });
    }
  }
  return out;
}

/**
 * `set` and `map` values that name an address on an old host while no proxy_pass or grpc_pass uses their variable:
 * nginx never connects to them, so they are reported and left as they are.
 */
export function unproxiedValues(tree: NginxTree, cfg: LoadedConfig): string[] {
  const hosts = new Set(oldHostsOf(cfg));
  return tree.files.flatMap((f) =>
    f.directives.flatMap((d) => {
      const v = variableValue(d);
      const parsed = v && !tree.proxied.has(v.variable) ? parseBackend(unquote(v.token)) : undefined;
      if (!v || !parsed || !hosts.has(parsed.host)) return [];
      return [
        `${displayPath(tree.confDir, f.path)}:${d.line}: \`${v.kind}\` gives $${v.variable} the old backend ${joinHostPort(parsed.host, parsed.port)}, but no proxy_pass or grpc_pass uses $${v.variable}: not a backend, left unchanged`,
      ];
    }),
  );
}

/** What would account for unaccounted targets: the routes list with one entry more each, or a kept entry. */
export function accountFor(cfg: LoadedConfig, unaccounted: readonly OldTarget[]): string {
  const quote = (s: string) => JSON.stringify(s);
  const targets = [...new Set(unaccounted.map((t) => t.hostPort))];
  const routes = cfg.root.cutover.routes.map(
    (r) => `      - { from: ${quote(r.from)}, to: ${r.to}${r.baseline ? '' : ', baseline: false'} }`,
  );
  return [
    'Either route each to a synthesized port (the list replaces the defaults, so it repeats them):',
    '  cutover:',
    '    routes:',
    ...routes,
    ...targets.map((t) => `      - { from: ${quote(t)}, to: <roomler/http | janus-nodeport/http | janus-nodeport/websocket> }`),
    'or keep it where it is on purpose (its host must then keep running after the move):',
    '  cutover:',
    '    kept:',
    ...targets.map((t) => `      - { target: ${quote(t)}, reason: "<why it stays>" }`),
  ].join('\n');
}

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

/** After the change, a retired route's locations answer its status from nginx itself: a GET each, no upgrade. */
const retiredChecks = (before: readonly Check[]): Check[] =>
  before
    .filter((c) => c.route.retired)
    .map((c) => ({ ...c, websocket: false, protocol: undefined, status: c.route.retired, current: c.route.target }));

/** Checks that can judge: a route with `baseline: false` (already broken on its old backend) only once moved. */
export const judged = (checks: readonly Check[]): Check[] => checks.filter((c) => c.route.baseline || c.current !== c.route.from);

/** The unaccounted targets as apply's refusal: each with file:line, then the config that would fix it. */
export function unaccountedProblem(cfg: LoadedConfig, targets: readonly OldTarget[]): string | undefined {
  const open = targets.filter((t) => t.disposition === 'unaccounted');
  if (!open.length) return undefined;
  return `${open.length} backend address(es) on the old hosts are neither routed nor kept; once those containers stop, nginx -t fails ("host not found in upstream") and every later reload with it:\n${open
    .map((t) => `    ${t.file}:${t.line}: ${t.kind} ${t.hostPort}`)
    .join('\n')}\n  ${accountFor(cfg, open).split('\n').join('\n  ')}`;
}

/** `texts`: file contents by real path to plan from instead of the files' (a pending switch's originals). */
export function plan(cfg: LoadedConfig, texts?: ReadonlyMap<string, string>): Plan {
  const routes = resolveRoutes(cfg);
  const tree = readTree(cfg.root.cutover.nginx.confDir, texts);
  const problems: string[] = [];
  const notes: string[] = [];
  const name = (f: ConfigFile) => displayPath(tree.confDir, f.path);
  const changes = tree.files
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
    // A route nothing points at moves nothing; a typo in its `from` leaves the real address unaccounted (below).
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
  notes.push(...unproxiedValues(tree, cfg));
  // A confDir that names none of the routes is the wrong directory (or nginx's config is elsewhere), not a cutover
  // with nothing to do: say so instead of moving nothing.
  const wrongDir =
    !tree.files.length ||
    (pending === 0 && done === 0 && !routes.some((r) => r.retired && tree.files.some((f) => retiredIn(tree, f, r).replacements.length)));
  // One problem instead of a note per route.
  if (wrongDir) for (let n = notes.length - 1; n >= 0; n--) if (notes[n].endsWith('; it moves nothing')) notes.splice(n, 1);
  if (!tree.files.length)
    problems.push(
      `cutover.nginx.confDir (NGINX_CONF_DIR) ${tree.confDir} holds no *.conf file: nginx includes its sites from another directory (e.g. /etc/nginx/conf.d or sites-enabled)`,
    );
  else if (wrongDir) {
    problems.push(
      `nothing under cutover.nginx.confDir (NGINX_CONF_DIR) ${tree.confDir} names any route's old backend (${routes.map((r) => r.from).join(', ')}) or new target: is it the directory nginx includes the production sites from? It holds ${tree.files.map((f) => name(f)).join(', ')}`,
    );
  }
  const targets0 = inventory(tree, routes, cfg);
  const unaccounted = unaccountedProblem(cfg, targets0);
  if (unaccounted) problems.push(unaccounted);
  const { checks, problems: checkProblems } = checksFor(tree, routes);
  const checksAfter = [
    ...checksFor(readTree(tree.confDir, new Map(changes.map((c) => [c.file.real, c.after]))), routes).checks,
    ...retiredChecks(checks),
  ];
  const targets = [...new Map(routes.filter((r) => !r.retired).map((r) => [r.target, r])).values()];
  const instance = cutoverInstance(cfg);
  const warnings = adminWarnings(instance, routes, checks);
  for (const r of routes.filter((x) => x.retired)) {
    const where = [...new Set(checks.filter((c) => c.route === r).map((c) => `${c.host}${c.path}`))];
    if (where.length)
      notes.push(
        `${where.join(', ')}: retired (${r.retiredWhy}): nginx answers ${r.retired} there itself; each \`proxy_pass\` to ${r.from} becomes \`return ${r.retired};\`, and rollback restores it`,
      );
  }
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
    alreadyDone: pending === 0 && done > 0,
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

export type RouteState = 'old' | 'new' | 'MIXED' | 'absent';

/** Where each route points now, by the files: old, new, MIXED or absent, with counts. */
export function routeStatus(cfg: LoadedConfig): { route: ResolvedRoute; state: RouteState; line: string }[] {
  const tree = readTree(cfg.root.cutover.nginx.confDir);
  return resolveRoutes(cfg).map((route) => {
    const [old, next] = [countIn(tree, route.from), countNew(tree, route)];
    const state: RouteState = old && next ? 'MIXED' : next ? 'new' : old ? 'old' : 'absent';
    return { route, state, line: `${route.from} -> ${route.to} (${route.target}): ${old} old, ${next} new` };
  });
}
