import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { LoadedConfig } from '../../../lib/config';
import { SYNC_WAVE } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';
import type { Kubectl } from './kubectl';

type Obj = Record<string, any>;
const ROLLOUT_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** dist/ objects grouped by Argo CD sync wave: the dependency order (namespace and storage … CronJobs). */
export function waves(dist: string): [number, Obj[]][] {
  if (!existsSync(dist)) throw new UserError(`${dist} does not exist: run bin/roomler synth first`);
  const objects = readdirSync(dist)
    .filter((f) => f.endsWith('.k8s.yaml') && f !== 'argocd.k8s.yaml')
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dist, f), 'utf8'), { version: '1.1' }).map((d) => d.toJS() as Obj));
  const byWave = new Map<number, Obj[]>();
  for (const o of objects) {
    const w = Number(o.metadata?.annotations?.[SYNC_WAVE] ?? 0);
    byWave.set(w, [...(byWave.get(w) ?? []), o]);
  }
  return [...byWave].sort(([a], [b]) => a - b);
}

/** Secrets each namespace needs before anything is applied, unless a SealedSecret in dist/ provides them. */
export function requiredSecrets(objects: Obj[]): { namespace: string; name: string }[] {
  const sealed = new Set(objects.filter((o) => o.kind === 'SealedSecret').map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
  const needed = new Map<string, { namespace: string; name: string }>();
  for (const o of objects) {
    const spec = o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : o.spec?.template?.spec;
    if (!spec) continue;
    const ns = o.metadata.namespace;
    const names = [
      ...(spec.volumes ?? []).map((v: Obj) => v.secret?.secretName),
      ...[...(spec.containers ?? []), ...(spec.initContainers ?? [])].flatMap((c: Obj) => [
        ...(c.envFrom ?? []).map((e: Obj) => e.secretRef?.name),
        ...(c.env ?? []).map((e: Obj) => e.valueFrom?.secretKeyRef?.name),
      ]),
    ].filter(Boolean);
    for (const name of names) if (!sealed.has(`${ns}/${name}`)) needed.set(`${ns}/${name}`, { namespace: ns, name });
  }
  return [...needed.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export interface DeployOptions {
  readonly dist: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly log: (line: string) => void;
}

/** Server-side apply of dist/ wave by wave, waiting for each wave's workloads; ends with pods and NodePorts. */
export async function deploy(cfg: LoadedConfig, kubectl: Kubectl, o: DeployOptions): Promise<number> {
  const plan = waves(o.dist);
  const all = plan.flatMap(([, objs]) => objs);
  const timeout = cfg.root.deploy.rolloutTimeoutSeconds;
  const namespaces = [...new Set(all.map((x) => (x.kind === 'Namespace' ? x.metadata.name : x.metadata?.namespace)).filter(Boolean))].sort();

  // Reads first (cluster reachable, Secrets present), so a refusal never follows a confirmation.
  const target = await kubectl.connect();
  const missing: string[] = [];
  for (const s of requiredSecrets(all)) {
    const r = await kubectl.run(['get', 'secret', s.name, '-n', s.namespace, '-o', 'name'], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) missing.push(`${s.namespace}/${s.name}`);
  }
  if (missing.length) {
    const tls = cfg.root.coturn.enabled ? `${cfg.root.coturn.namespace}/${cfg.root.coturn.tlsSecretName}` : undefined;
    const hints = [`bin/roomler secrets apply --context ${target.context}`];
    if (tls && missing.includes(tls)) hints.push(`kubectl --context ${target.context} -n ${cfg.root.coturn.namespace} create secret tls ${cfg.root.coturn.tlsSecretName} --cert=fullchain.pem --key=privkey.pem`);
    throw new UserError(`missing Secrets in the cluster: ${missing.join(', ')}; nothing was applied. Create them with: ${hints.join(' and ')}`);
  }
  if (!o.dryRun) await kubectl.confirmChange('deploy', namespaces, o.yes, [`objects:         ${all.length} from ${o.dist}, in ${plan.length} waves`]);

  const started = Date.now();
  const log = (s: string) => o.log(`[${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s] ${s}`);
  for (const [wave, objs] of plan) {
    log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
    const yaml = objs.map((x) => stringify(x, { version: '1.1', lineWidth: 0 })).join('---\n');
    const r = await kubectl.run(['apply', '--server-side', '--field-manager=roomler-deploy', ...(o.dryRun ? ['--dry-run=server'] : []), '-f', '-'], { input: yaml, timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new UserError(`kubectl apply of wave ${wave} failed: ${r.stderr.trim()}`);
    if (o.dryRun) continue;
    for (const x of objs.filter((y) => ROLLOUT_KINDS.has(y.kind))) {
      const what = `${x.kind.toLowerCase()}/${x.metadata.name}`;
      log(`waiting for ${x.metadata.namespace}/${what} (timeout ${timeout} s)`);
      const w = await kubectl.run(['rollout', 'status', what, '-n', x.metadata.namespace, `--timeout=${timeout}s`], { timeoutMs: (timeout + 30) * 1000 });
      if (w.exitCode !== 0) throw new UserError(`${x.metadata.namespace}/${what} did not become ready within ${timeout} s: ${w.stderr.trim().split('\n').pop() || w.stdout.trim().split('\n').pop()}. Inspect: kubectl -n ${x.metadata.namespace} describe ${what}`);
      log(`${x.metadata.namespace}/${what} ready`);
    }
  }
  if (o.dryRun) {
    log('server-side dry run passed for every wave; nothing was changed');
    return 0;
  }

  const rows: string[][] = [['NAMESPACE', 'POD', 'READY', 'RESTARTS']];
  for (const ns of namespaces) {
    const r = await kubectl.run(['get', 'pods', '-n', ns, '-o', 'json'], { timeoutMs: 30_000 });
    for (const p of r.exitCode === 0 ? JSON.parse(r.stdout).items : []) {
      const statuses: Obj[] = p.status?.containerStatuses ?? [];
      rows.push([ns, p.metadata.name, `${statuses.filter((c) => c.ready).length}/${statuses.length}`, String(statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0))]);
    }
  }
  const ports = all.filter((x) => x.kind === 'Service' && x.spec?.type === 'NodePort').flatMap((s) => s.spec.ports.map((p: Obj) => `${s.metadata.namespace}/${s.metadata.name} ${p.name} ${p.port} -> ${p.nodePort}`));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  o.log(rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ')).join('\n') + '\n\nNodePorts:\n' + ports.map((p) => `  ${p}`).join('\n'));
  return 0;
}
