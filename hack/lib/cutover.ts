import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { NAMES, type InstanceConfig, type LoadedConfig } from '../../lib/config';
import { JANUS_PORTS } from '../../lib/constructs/janus-gateway';
import { UserError } from './cli';
import { applyReplacements, directives, targetsOf, unquote, type Replacement } from './nginx-config';

/** host:port of a synthesized Service port, from the same config the manifests come from. */
export function resolveTarget(to: string, i: InstanceConfig): string {
  const [service, portName] = to.split('/');
  let port: number | undefined;
  if (service === NAMES.app && portName === 'http') port = i.app.nodePort;
  if (service === NAMES.janusNodePort) {
    const key = JANUS_PORTS.find((p) => p.name === portName)?.key;
    if (key) port = i.janus.nodePorts[key];
  }
  if (port === undefined) throw new UserError(`cutover.routes: ${to} names no NodePort Service port (use roomler/http or janus-nodeport/${JANUS_PORTS.map((p) => p.name).join('|')})`);
  return `${i.nodeAddress}:${port}`;
}

/** The config files nginx reads from confDir (*.conf, as its include glob) plus the files they include. */
export function configFiles(confDir: string): string[] {
  if (!existsSync(confDir)) throw new UserError(`cutover.nginx.confDir (NGINX_CONF_DIR) ${confDir} does not exist`);
  const seen = new Set<string>();
  const glob = (pattern: string) => {
    const dir = dirname(pattern);
    const re = new RegExp(`^${basename(pattern).replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`);
    return existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f) && !f.startsWith('.')).sort().map((f) => join(dir, f)) : [];
  };
  const visit = (file: string) => {
    if (seen.has(file) || !statSync(file).isFile()) return;
    seen.add(file);
    for (const d of directives(readFileSync(file, 'utf8')).filter((x) => x.name === 'include' && x.args.length)) {
      const p = unquote(d.args[0]);
      for (const f of glob(isAbsolute(p) ? p : join(dirname(confDir), p))) visit(f);
    }
  };
  for (const f of glob(join(confDir, '*.conf'))) visit(f);
  return [...seen];
}

export interface Planned {
  readonly file: string;
  readonly before: string;
  readonly after: string;
  readonly replacements: (Replacement & { from: string; to: string })[];
}

export function plan(cfg: LoadedConfig): { planned: Planned[]; problems: string[]; alreadyDone: boolean } {
  const c = cfg.root.cutover;
  const instance = c.instance ? cfg.instances.find((i) => i.name === c.instance) : cfg.instances[0];
  if (!instance) throw new UserError(`cutover.instance ${c.instance} names no instance`);
  const confDir = c.nginx.confDir;
  const files = configFiles(confDir);
  const problems: string[] = [];
  const routes = c.routes.map((r) => ({ ...r, target: resolveTarget(r.to, instance) }));
  const planned: Planned[] = files.map((file) => {
    const before = readFileSync(file, 'utf8');
    const replacements = routes.flatMap((r) => targetsOf(before, r.from, r.target).map((x) => ({ ...x, from: r.from, to: r.target })));
    return { file, before, after: applyReplacements(before, replacements), replacements };
  });
  let pending = 0;
  let done = 0;
  for (const r of routes) {
    const found = planned.map((p) => ({ name: relative(confDir, p.file), n: p.replacements.filter((x) => x.from === r.from).length }));
    const total = found.reduce((a, b) => a + b.n, 0);
    pending += total;
    done += planned.reduce((a, p) => a + targetsOf(p.before, r.target, r.target).length, 0);
    for (const [name, n] of Object.entries(r.expect ?? {})) {
      const got = found.find((f) => f.name === name)?.n ?? 0;
      if (got !== n) problems.push(`route ${r.from} -> ${r.to}: expected ${n} match(es) in ${name}, found ${got}`);
    }
    for (const f of found) if (r.expect && f.n > 0 && !(f.name in r.expect)) problems.push(`route ${r.from} -> ${r.to}: unexpected ${f.n} match(es) in ${f.name}`);
    if (total === 0 && !r.expect) problems.push(`route ${r.from} -> ${r.to}: no proxy_pass or upstream server points at ${r.from} in ${files.length} file(s) under ${confDir}`);
  }
  return { planned, problems, alreadyDone: pending === 0 && done > 0 };
}

/** A unified diff (no context) of the changed lines. */
export function unifiedDiff(p: Planned, base: string): string {
  const a = p.before.split('\n');
  const b = p.after.split('\n');
  const lines = [...new Set(p.replacements.map((r) => r.line))].sort((x, y) => x - y);
  if (!lines.length) return '';
  const name = relative(base, p.file);
  return [`--- a/${name}`, `+++ b/${name}`, ...lines.flatMap((l) => [`@@ -${l} +${l} @@`, `-${a[l - 1]}`, `+${b[l - 1]}`])].join('\n') + '\n';
}

/** Where each route points now: old, new, MIXED or absent, with counts. */
export function routeStatus(cfg: LoadedConfig): { state: 'old' | 'new' | 'MIXED' | 'absent'; line: string }[] {
  const c = cfg.root.cutover;
  const instance = (c.instance ? cfg.instances.find((i) => i.name === c.instance) : cfg.instances[0])!;
  const files = configFiles(c.nginx.confDir);
  return c.routes.map((r) => {
    const target = resolveTarget(r.to, instance);
    const count = (hp: string) => files.reduce((n, f) => n + targetsOf(readFileSync(f, 'utf8'), hp, hp).length, 0);
    const [old, next] = [count(r.from), count(target)];
    const state = old && next ? 'MIXED' : next ? 'new' : old ? 'old' : 'absent';
    return { state, line: `${r.from} -> ${r.to} (${target}): ${old} old, ${next} new` };
  });
}
