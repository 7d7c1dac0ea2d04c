import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { LoadedConfig } from '../../../lib/config';
import { SYNC_WAVE } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';
import type { Kubectl } from './kubectl';
import { waitForRollout } from './rollout';

type Obj = Record<string, any>;
const ROLLOUT_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** The server-side apply field manager of every deploy: `diff --live` dry-runs as the same manager. */
export const FIELD_MANAGER = 'roomler-deploy';

/** Manifests as kubectl reads them on stdin (YAML 1.1). */
export const toYaml = (list: readonly Obj[]) => list.map((x) => stringify(x, { version: '1.1', lineWidth: 0 })).join('---\n');

/** The names of the namespaces the cluster has now. */
export async function existingNamespaces(kubectl: Kubectl): Promise<Set<string>> {
  const r = await kubectl.must('listing namespaces', ['get', 'namespaces', '-o', 'name']);
  return new Set(r.stdout.split('\n').filter(Boolean).map((n) => n.replace(/^namespace\//, '')));
}

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

/**
 * Static PersistentVolumes of dist/ that are Released: their claim was deleted (a deleted namespace, `kubectl delete -f`),
 * the Retain policy kept the data, and the old claim's uid in claimRef refuses every new claim ("already bound to
 * a different claim"): MongoDB would never start although its data is right there.
 */
async function releasedVolumes(kubectl: Kubectl, objects: Obj[]): Promise<{ name: string; claim: string }[]> {
  const out: { name: string; claim: string }[] = [];
  for (const pv of objects.filter((x) => x.kind === 'PersistentVolume' && x.spec?.claimRef)) {
    const r = await kubectl.run(['get', 'pv', pv.metadata.name, '-o', 'json'], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) continue;
    const live = JSON.parse(r.stdout);
    const ref = live.spec?.claimRef ?? {};
    if (live.status?.phase === 'Released' && ref.uid && ref.namespace === pv.spec.claimRef.namespace && ref.name === pv.spec.claimRef.name) out.push({ name: pv.metadata.name, claim: `${ref.namespace}/${ref.name}` });
  }
  return out;
}

export interface DeployOptions {
  readonly dist: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  /** Per workload; default deploy.rolloutTimeoutSeconds. */
  readonly timeoutSeconds?: number;
  readonly log: (line: string) => void;
}

/** Server-side apply of dist/ wave by wave, waiting for each wave's workloads; ends with pods and NodePorts. */
export async function deploy(cfg: LoadedConfig, kubectl: Kubectl, o: DeployOptions): Promise<number> {
  const plan = waves(o.dist);
  const all = plan.flatMap(([, objs]) => objs);
  const timeout = o.timeoutSeconds ?? cfg.root.deploy.rolloutTimeoutSeconds;
  const namespaces = [...new Set(all.map((x) => (x.kind === 'Namespace' ? x.metadata.name : x.metadata?.namespace)).filter(Boolean))].sort();

  // Reads first (cluster reachable, Secrets present), so a refusal never follows a confirmation.
  const target = await kubectl.connect();
  const missing: string[] = [];
  for (const s of requiredSecrets(all)) {
    const r = await kubectl.run(['get', 'secret', s.name, '-n', s.namespace, '-o', 'name'], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) missing.push(`${s.namespace}/${s.name}`);
  }
  if (missing.length && o.dryRun) {
    o.log(`dry run: a real deploy would refuse now: missing Secrets ${missing.join(', ')} (bin/roomler secrets apply creates them)`);
  } else if (missing.length) {
    const tls = cfg.root.coturn.enabled ? `${cfg.root.coturn.namespace}/${cfg.root.coturn.tlsSecretName}` : undefined;
    const hints = [`bin/roomler secrets apply --context ${target.context}`];
    if (tls && missing.includes(tls)) hints.push(`kubectl --context ${target.context} -n ${cfg.root.coturn.namespace} create secret tls ${cfg.root.coturn.tlsSecretName} --cert=fullchain.pem --key=privkey.pem`);
    throw new UserError(`missing Secrets in the cluster: ${missing.join(', ')}; nothing was applied. Create them with: ${hints.join(' and ')}`);
  }
  const rebind = await releasedVolumes(kubectl, all);
  if (!o.dryRun) {
    await kubectl.confirmChange('deploy', namespaces, o.yes, [
      `objects:         ${all.length} from ${o.dist}, in ${plan.length} waves`,
      ...rebind.map((v) => `re-bind:         PersistentVolume ${v.name} (Released: its claim was deleted, the data is retained) to the new claim ${v.claim}`),
    ]);
  } else {
    for (const v of rebind) o.log(`dry run: a real deploy would re-bind the Released PersistentVolume ${v.name} (data retained) to ${v.claim}`);
  }

  const existing = o.dryRun ? await existingNamespaces(kubectl) : new Set<string>();
  const started = Date.now();
  const log = (s: string) => o.log(`[${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s] ${s}`);
  for (const [wave, objs] of plan) {
    log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
    if (o.dryRun) {
      // A server-side dry run cannot create the namespaces it would create, and the API server refuses objects in a
      // namespace that does not exist: those are checked against the server's schema instead (client dry run).
      const server = objs.filter((x) => !x.metadata?.namespace || existing.has(x.metadata.namespace));
      const client = objs.filter((x) => !server.includes(x));
      if (server.length) await kubectl.must(`server-side dry run of wave ${wave}`, ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--dry-run=server', '-f', '-'], { input: toYaml(server), timeoutMs: 120_000 });
      if (client.length) {
        await kubectl.must(`schema check of wave ${wave}`, ['apply', '--dry-run=client', '--validate=strict', '-f', '-'], { input: toYaml(client), timeoutMs: 120_000 });
        log(`  ${client.length} object(s) in namespaces that do not exist yet (${[...new Set(client.map((x) => x.metadata.namespace))].join(', ')}): checked against the server's schema only; the API server checks them when deploy creates the namespace`);
      }
      continue;
    }
    if (objs.some((x) => x.kind === 'PersistentVolume')) {
      for (const v of rebind) {
        // The stale uid is what keeps a Released volume from its new claim; name and namespace stay as synthesized.
        await kubectl.must(`re-binding PersistentVolume ${v.name}`, ['patch', 'pv', v.name, '--type=json', '-p', '[{"op":"remove","path":"/spec/claimRef/uid"},{"op":"remove","path":"/spec/claimRef/resourceVersion"}]']);
        log(`PersistentVolume ${v.name}: cleared the deleted claim's uid, so ${v.claim} binds to the retained data`);
      }
    }
    const r = await kubectl.run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], { input: toYaml(objs), timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new UserError(`kubectl apply of wave ${wave} failed; waves before it are applied, nothing after it:\n${r.stderr.trim()}`);
    for (const x of objs.filter((y) => ROLLOUT_KINDS.has(y.kind))) {
      log(`waiting for ${x.metadata.namespace}/${x.kind.toLowerCase()}/${x.metadata.name} (timeout ${timeout} s)`);
      await waitForRollout(kubectl, x, timeout, log);
      log(`${x.metadata.namespace}/${x.kind.toLowerCase()}/${x.metadata.name} ready`);
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
  o.log(rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n\nNodePorts:\n' + ports.map((p) => `  ${p}`).join('\n'));
  return 0;
}
