import type { LoadedConfig } from '../../../lib/config';
import { type BackendKind, backendValue, parseBackend, PASS_DIRECTIVES, unquote, variableValue } from './nginx-config';
import { joinHostPort, splitHostPort } from './probes';
import type { ResolvedRoute } from './routes';
import { displayPath, type NginxTree } from './tree';

// The old stack's backends: every address in nginx's config on a host of the old stack, and what the cutover does
// with each (routed, kept on purpose, or unaccounted). Once those hosts are gone, an address nginx still names makes
// `nginx -t` fail, and every later reload or restart with it.

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

/** The unaccounted targets as apply's refusal: each with file:line, then the config that would fix it. */
export function unaccountedProblem(cfg: LoadedConfig, targets: readonly OldTarget[]): string | undefined {
  const open = targets.filter((t) => t.disposition === 'unaccounted');
  if (!open.length) return undefined;
  return `${open.length} backend address(es) on the old hosts are neither routed nor kept; once those containers stop, nginx -t fails ("host not found in upstream") and every later reload with it:\n${open
    .map((t) => `    ${t.file}:${t.line}: ${t.kind} ${t.hostPort}`)
    .join('\n')}\n  ${accountFor(cfg, open).split('\n').join('\n  ')}`;
}
