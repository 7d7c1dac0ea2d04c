import { NAMES } from '../../../lib/config';
import { type Block, type Directive, enclosing, hostPortAt, isProxyTarget, unquote, variablesIn, variableValue } from './nginx-config';
import { joinHostPort, splitHostPort } from './probes';
import { JANUS_HOST, type ResolvedRoute } from './routes';
import { displayPath, type NginxTree, targetsIn } from './tree';

// The requests through nginx that prove each route: by default one per location that proxies to it (found through
// upstreams and variables, requested at the server block's listen address with its server_name), or the route's own
// `verify` list; before a change they prove the old side, after it the new one.

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

/** Where a proxy target points for a route now: its old upstream, its new target, or neither. */
const side = (value: string, r: ResolvedRoute) =>
  hostPortAt(value, r.from) !== undefined ? r.from : hostPortAt(value, r.target) !== undefined ? r.target : undefined;

/**
 * The directives of each block (by blockKey), and the upstream blocks by name -> the routes their servers belong to,
 * and where they point.
 */
function indexTree(tree: NginxTree, routes: readonly ResolvedRoute[]) {
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
  return { upstreams, inBlock };
}

/** A value with the values each of its variables can take (set, map) substituted, for a proxy_pass that uses one. */
function expander(tree: NginxTree): (value: string) => string[] {
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
  return (value) => expand(value);
}

type Reachable = Pick<Check, 'address' | 'tls' | 'host'>;

/**
 * One check per location whose proxy_pass reaches a route (directly, through an upstream or a variable), for the
 * routes without a `verify` list; and per route, the first server block that proxies to it.
 */
function locationChecks(tree: NginxTree, routes: readonly ResolvedRoute[], problems: string[]) {
  const { upstreams, inBlock } = indexTree(tree, routes);
  const expand = expander(tree);
  const derived = new Map<ResolvedRoute, Check[]>(routes.map((r) => [r, []]));
  const servers = new Map<ResolvedRoute, Reachable>();
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
      const check = { route: r, websocket, protocol: WEBSOCKET_PROTOCOLS[r.to], host: host!, path, address: listen, tls: listen.tls };
      derived.get(r)!.push({ ...check, source: where, current: pointing.get(r)! });
    }
  }
  return { derived, servers };
}

/** The checks of a route's own `verify` list, completed from the first location or server block that proxies to it. */
function verifyChecks(tree: NginxTree, r: ResolvedRoute, base: Reachable | undefined, problems: string[]): Check[] {
  return (r.verify ?? []).flatMap((v, n) => {
    const address = v.address ? splitHostPort(v.address) : base?.address;
    const host = v.host ?? base?.host;
    if (!address || !host) {
      problems.push(`cutover.routes[${r.index}].verify[${n}]: give host and address (no server block proxies to ${r.from} or ${r.target})`);
      return [];
    }
    const websocket = v.websocket ?? r.to in WEBSOCKET_PROTOCOLS;
    const current = tree.files.some((f) => targetsIn(tree, f, r.from).length) ? r.from : r.target;
    return [
      {
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
      },
    ];
  });
}

/** Default checks (one per location that proxies to a route) or the route's own `verify`, plus problems. */
export function checksFor(tree: NginxTree, routes: readonly ResolvedRoute[]): { checks: Check[]; problems: string[] } {
  const problems: string[] = [];
  const { derived, servers } = locationChecks(tree, routes, problems);
  const checks: Check[] = [];
  // One request per location and kind: two routes may share a new target (janus_r:8088 and :8080 both move to the
  // HTTP API NodePort), and once moved both claim its locations.
  const seen = new Set<string>();
  for (const r of routes) {
    const found = derived.get(r)!;
    if (r.verify) {
      checks.push(...verifyChecks(tree, r, found[0] ?? servers.get(r), problems));
      continue;
    }
    for (const c of found) {
      const key = `${c.websocket}|${c.address.host}|${c.address.port}|${c.host}|${c.path}`;
      if (!seen.has(key)) checks.push(c);
      seen.add(key);
    }
    const present = tree.files.some((f) => targetsIn(tree, f, r.from).length || targetsIn(tree, f, r.target).length);
    if (present && !found.length && !problems.some((p) => p.startsWith(`route ${r.from} `)))
      problems.push(`route ${r.from} -> ${r.to}: no location proxies to it, so nothing would verify it; give the route a verify list`);
  }
  return { checks, problems };
}

/** After the change, a retired route's locations answer its status from nginx itself: a GET each, no upgrade. */
export const retiredChecks = (before: readonly Check[]): Check[] =>
  before
    .filter((c) => c.route.retired)
    .map((c) => ({ ...c, websocket: false, protocol: undefined, status: c.route.retired, current: c.route.target }));

/** Checks that can judge: a route with `baseline: false` (already broken on its old backend) only once moved. */
export const judged = (checks: readonly Check[]): Check[] => checks.filter((c) => c.route.baseline || c.current !== c.route.from);
