import { type InstanceConfig, JANUS_ADMIN_PORTS, JANUS_API_PORTS, type LoadedConfig, NAMES } from '../../../lib/config';
import type { CutoverRoute } from '../../../lib/config/cutover';
import { UserError } from '../cli';
import { backendValue, type Directive, hostPortAt, PASS_DIRECTIVES, type Replacement, unquote } from './nginx-config';
import { joinHostPort } from './probes';
import { type ConfigFile, countIn, type NginxTree, readTree } from './tree';

// The routes of the cutover: each old backend (`from`) and where it goes, resolved from the same config the manifests
// are synthesized from: a NodePort, a Janus host port, or retired (nginx answers a 4xx itself).

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

export function cutoverInstance(cfg: LoadedConfig): InstanceConfig {
  const name = cfg.root.cutover.instance;
  const instance = name ? cfg.instances.find((i) => i.name === name) : cfg.instances[0];
  if (!instance) throw new UserError(`cutover.instance ${name} names no instance (have: ${cfg.instances.map((i) => i.name).join(', ')})`);
  return instance;
}

export const resolveRoutes = (cfg: LoadedConfig): ResolvedRoute[] => {
  const instance = cutoverInstance(cfg);
  return cfg.root.cutover.routes.map((r, index) => ({ ...r, index, ...resolveRoute(r.to, instance) }));
};

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

/** How many places point at a route's new side (none for a retired route: its locations answer by themselves). */
export const countNew = (tree: NginxTree, r: ResolvedRoute) => (r.retired ? 0 : countIn(tree, r.target));

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
