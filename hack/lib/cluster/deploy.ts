import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { LoadedConfig } from '../../../lib/config';
import { SYNC_WAVE } from '../../../lib/sync-waves';
import { UserError } from '../cli/errors';
import { refuseArgoManaged } from './argocd';
import { clusterTargets, Kubectl } from './kubectl';
import { digestOf, ensureHistoryNamespace, gitState, keyOf, listRevisions, manifestsText, objectKey, recordRevision, whoami, type Managed, type Revision } from './releases';
import { waitForRollout } from './rollout';

type Obj = Record<string, any>;
type Log = (line: string) => void;
const ROLLOUT_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
/** Never deleted by pruning unless --prune-data names them: their deletion can take data with it. */
const DATA_KINDS = new Set(['PersistentVolume', 'PersistentVolumeClaim', 'Namespace']);

const waveOf = (o: Obj) => Number(o.metadata?.annotations?.[SYNC_WAVE] ?? 0);

/** The server-side apply field manager of every deploy: `diff --live` dry-runs as the same manager. */
export const FIELD_MANAGER = 'roomler-deploy';

/** Manifests as kubectl reads them on stdin (YAML 1.1). */
export const toYaml = manifestsText;

/** The names of the namespaces the cluster has now. */
export async function existingNamespaces(kubectl: Kubectl): Promise<Set<string>> {
  const r = await kubectl.must('listing namespaces', ['get', 'namespaces', '-o', 'name']);
  return new Set(r.stdout.split('\n').filter(Boolean).map((n) => n.replace(/^namespace\//, '')));
}

/** dist/'s objects (not the Argo CD Application), file by file. */
export function readDist(dist: string): Obj[] {
  if (!existsSync(dist)) throw new UserError(`${dist} does not exist: run bin/roomler synth first`);
  return readdirSync(dist)
    .filter((f) => f.endsWith('.k8s.yaml') && f !== 'argocd.k8s.yaml')
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dist, f), 'utf8'), { version: '1.1' }).map((d) => d.toJS() as Obj));
}

/** Objects grouped by Argo CD sync wave: the dependency order (namespace and storage … CronJobs). */
export function byWave(objects: readonly Obj[]): [number, Obj[]][] {
  const waves = new Map<number, Obj[]>();
  for (const o of objects) waves.set(waveOf(o), [...(waves.get(waveOf(o)) ?? []), o]);
  return [...waves].sort(([a], [b]) => a - b);
}

/** dist/ objects grouped by sync wave. */
export const waves = (dist: string) => byWave(readDist(dist));

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
  readonly projectDir: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  /** `--context`: every object to this context, whatever the instances say. */
  readonly context?: string;
  /** Per workload; default deploy.rolloutTimeoutSeconds. */
  readonly timeoutSeconds?: number;
  /** Data objects pruning may delete: kind/[namespace/]name (pvc/roomler/mongodb-backup, pv/x, namespace/x) or "all". */
  readonly pruneData: readonly string[];
  /** `--force-with-argo`: deploy into namespaces an Argo CD Application manages. */
  readonly forceWithArgo?: boolean;
  readonly log: Log;
}

/** `deploy`: every cluster the objects go to, each with its own confirmation, apply, waits, prune and revision. */
export async function deploy(cfg: LoadedConfig, o: DeployOptions): Promise<number> {
  const targets = clusterTargets(cfg, readDist(o.dist), o.context);
  for (const t of targets) {
    if (targets.length > 1) o.log(`deploy: ${t.objects.length} object(s) for context ${t.context ?? "(kubectl's current)"}`);
    await release(cfg, new Kubectl(t.context), t.objects, { ...o, source: `dist/ (${o.dist})` });
  }
  return 0;
}

/** `deploy rollback [REVISION]`: a recorded revision's manifests (data volumes excepted) through the same steps. */
export async function rollback(cfg: LoadedConfig, o: Omit<DeployOptions, 'dist' | 'dryRun' | 'pruneData'> & { revision?: number }): Promise<number> {
  const kubectl = new Kubectl(o.context ?? cfg.root.context);
  await kubectl.connect();
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const ok = history.filter((r) => r.meta.ok);
  const target = o.revision !== undefined ? history.find((r) => r.meta.revision === o.revision) : ok.length > 1 ? ok[ok.length - 2] : undefined;
  if (!target) {
    const have = history.map((r) => `${r.meta.revision} (${r.meta.outcome})`).join(', ') || 'none';
    throw new UserError(o.revision !== undefined ? `no revision ${o.revision} in namespace ${cfg.root.deploy.historyNamespace} (have: ${have})` : `no earlier successful revision to roll back to (have: ${have})`);
  }
  if (!target.meta.ok) throw new UserError(`revision ${target.meta.revision} did not deploy (${target.meta.outcome}); roll back to one that did`);
  // Data volumes are never rolled back: the claims and volumes stay as they are now (so does the data on them).
  const objects = target.objects.filter((x) => x.kind !== 'PersistentVolume' && x.kind !== 'PersistentVolumeClaim');
  o.log(`rollback: to revision ${target.meta.revision} (${target.meta.finishedAt}, ${describeGit(target.meta.git)}, ${objects.length} objects; volumes and claims stay as they are)`);
  return release(cfg, kubectl, objects, { ...o, dryRun: false, pruneData: [], keepKinds: ['PersistentVolume', 'PersistentVolumeClaim'], source: `rollback to revision ${target.meta.revision}` });
}

export const describeGit = (g: Revision['meta']['git']) => (g.commit ? `${g.commit.slice(0, 12)}${g.dirty ? ' (dirty)' : ''}` : (g.note ?? 'no git'));

/** What pruning would do: delete, keep with the data it holds, or leave alone (gone, or re-created by someone else). */
interface PrunePlan {
  readonly remove: Managed[];
  /** The live objects of `remove`, as the cluster holds them. */
  readonly live: Map<string, Obj>;
  readonly keep: { readonly managed: Managed; readonly data: string }[];
  readonly notOurs: Managed[];
}

/** kubectl's TYPE.VERSION.GROUP for an object; a core kind alone (`configmap.v1` would read as group "v1"). */
const resourceArg = (m: Pick<Managed, 'apiVersion' | 'kind'>) => {
  if (!m.apiVersion.includes('/')) return m.kind.toLowerCase();
  const [group, version] = m.apiVersion.split('/');
  return `${m.kind.toLowerCase()}.${version}.${group}`;
};
const inNamespace = (m: Pick<Managed, 'namespace'>) => (m.namespace ? ['-n', m.namespace] : []);

/** Whether --prune-data names this object: pvc/<ns>/<name>, pv/<name>, namespace/<name>, or "all". */
function pruneDataNames(list: readonly string[], m: Managed): boolean {
  const short: Record<string, string> = { PersistentVolumeClaim: 'pvc', PersistentVolume: 'pv', Namespace: 'namespace' };
  const key = [short[m.kind], m.namespace, m.name].filter(Boolean).join('/');
  return list.includes('all') || list.includes(key);
}

/** The data a protected object carries, in words: what would go with it. */
async function dataOf(kubectl: Kubectl, m: Managed, live: Obj): Promise<string> {
  const volume = async (pvName?: string): Promise<string> => {
    if (!pvName) return 'no volume bound';
    const r = await kubectl.run(['get', 'pv', pvName, '-o', 'json'], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) return `volume ${pvName}`;
    const pv = JSON.parse(r.stdout);
    const node = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
    const where = pv.spec?.hostPath ? `hostPath ${pv.spec.hostPath.path}${node ? ` on ${node}` : ''}` : 'its storage';
    return `volume ${pvName}: ${where}, reclaim ${pv.spec?.persistentVolumeReclaimPolicy}${pv.spec?.persistentVolumeReclaimPolicy === 'Retain' ? ' (the files stay on the node)' : ' (THE DATA IS DELETED)'}`;
  };
  if (m.kind === 'PersistentVolumeClaim') return volume(live.spec?.volumeName);
  if (m.kind === 'PersistentVolume') return (await volume(m.name)).replace(/^volume \S+: /, '');
  return 'every object in it, whoever created it';
}

async function planPrune(kubectl: Kubectl, previous: readonly Managed[], desired: ReadonlySet<string>, pruneData: readonly string[], keepKinds: readonly string[]): Promise<PrunePlan> {
  const plan: PrunePlan = { remove: [], live: new Map(), keep: [], notOurs: [] };
  for (const m of previous) {
    if (desired.has(objectKey(m)) || keepKinds.includes(m.kind)) continue;
    const r = await kubectl.run(['get', resourceArg(m), m.name, ...inNamespace(m), '-o', 'json'], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) continue; // already gone
    const live = JSON.parse(r.stdout);
    if (live.metadata?.uid !== m.uid) {
      plan.notOurs.push(m); // deleted and re-created by someone else since: not ours to delete
      continue;
    }
    if (DATA_KINDS.has(m.kind) && !pruneDataNames(pruneData, m)) plan.keep.push({ managed: m, data: await dataOf(kubectl, m, live) });
    else {
      plan.remove.push(m);
      plan.live.set(objectKey(m), live);
    }
  }
  // Reverse wave order: CronJobs and the app first, claims, volumes and namespaces last.
  plan.remove.sort((a, b) => (b.wave ?? 0) - (a.wave ?? 0));
  return plan;
}

/**
 * Static PersistentVolumes that are Released: their claim was deleted (a deleted namespace, `kubectl delete -f`),
 * the Retain policy kept the data, and the old claim's uid in claimRef refuses every new claim ("already bound to
 * a different claim"): MongoDB would never start although its data is right there.
 */
async function releasedVolumes(kubectl: Kubectl, objects: readonly Obj[]): Promise<{ name: string; claim: string }[]> {
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

/** One release to one cluster: checks, confirmation, waves with waits, prune, and the revision record. */
async function release(cfg: LoadedConfig, kubectl: Kubectl, objects: Obj[], o: Omit<DeployOptions, 'dist' | 'context'> & { source: string; keepKinds?: readonly string[] }): Promise<number> {
  const plan = byWave(objects);
  const timeout = o.timeoutSeconds ?? cfg.root.deploy.rolloutTimeoutSeconds;
  const historyNs = cfg.root.deploy.historyNamespace;
  const namespaces = [...new Set(objects.map((x) => (x.kind === 'Namespace' ? x.metadata.name : x.metadata?.namespace)).filter(Boolean))].sort();

  // Reads first (cluster reachable, Secrets present, history), so a refusal never follows a confirmation.
  const target = await kubectl.connect();
  await refuseArgoManaged(kubectl, namespaces, target.server, { force: o.forceWithArgo ?? false, dryRun: o.dryRun, log: o.log });
  // Taking over from Argo CD: own the fields its server-side apply owns (they conflict otherwise: spec.storageClassName).
  const takeOver = o.forceWithArgo ? ['--force-conflicts'] : [];
  const missing: string[] = [];
  for (const s of requiredSecrets(objects)) {
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
  const history = await listRevisions(kubectl, historyNs);
  const previous = history.at(-1)?.inventory ?? [];
  const desired = new Set(objects.map(keyOf));
  const prune = await planPrune(kubectl, previous, desired, o.pruneData, o.keepKinds ?? []);
  const rebind = await releasedVolumes(kubectl, objects);
  const changes = [
    `objects:         ${objects.length} from ${o.source}, in ${plan.length} waves`,
    ...rebind.map((v) => `re-bind:         PersistentVolume ${v.name} (Released: its claim was deleted, the data is retained) to the new claim ${v.claim}`),
    ...prune.remove.map((m) => `delete:          ${objectKey(m)} (deployed before, no longer in ${o.source.startsWith('rollback') ? 'that revision' : 'dist/'})`),
    ...prune.keep.map((k) => `keep:            ${objectKey(k.managed)}, no longer deployed but it holds data: ${k.data}; delete it with --prune-data ${[{ PersistentVolumeClaim: 'pvc', PersistentVolume: 'pv', Namespace: 'namespace' }[k.managed.kind], k.managed.namespace, k.managed.name].filter(Boolean).join('/')}`),
    ...prune.notOurs.map((m) => `leave alone:     ${objectKey(m)} (re-created by someone else since deploy made it)`),
    `history:         revision ${(history.at(-1)?.meta.revision ?? 0) + 1} in namespace ${historyNs}`,
  ];
  if (o.dryRun) {
    for (const v of rebind) o.log(`dry run: a real deploy would re-bind the Released PersistentVolume ${v.name} (data retained) to ${v.claim}`);
    for (const m of prune.remove) o.log(`dry run: a real deploy would delete ${objectKey(m)} after applying`);
    for (const k of prune.keep) o.log(`dry run: ${objectKey(k.managed)} is no longer deployed but holds data (${k.data}): kept`);
  } else {
    await kubectl.confirmChange(o.source.startsWith('rollback') ? 'deploy rollback' : 'deploy', namespaces, o.yes, changes);
  }

  const started = Date.now();
  const startedAt = new Date().toISOString();
  const log = (s: string) => o.log(`[${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s] ${s}`);
  const existing = o.dryRun ? await existingNamespaces(kubectl) : new Set<string>();
  const applied = new Map<string, Managed>();
  const meta = async (outcome: string, ok: boolean, pruned: string[] = []) => ({
    revision: (history.at(-1)?.meta.revision ?? 0) + 1,
    digest: digestOf(objects),
    git: await gitState(o.projectDir),
    by: whoami(),
    startedAt,
    finishedAt: new Date().toISOString(),
    outcome,
    ok,
    source: o.source,
    pruned,
  });
  if (!o.dryRun) await ensureHistoryNamespace(kubectl, historyNs);
  try {
    for (const [wave, objs] of plan) {
      log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
      if (o.dryRun) {
        // A server-side dry run cannot create the namespaces it would create, and the API server refuses objects in a
        // namespace that does not exist: those are checked against the server's schema instead (client dry run).
        const server = objs.filter((x) => !x.metadata?.namespace || existing.has(x.metadata.namespace));
        const client = objs.filter((x) => !server.includes(x));
        if (server.length) await kubectl.must(`server-side dry run of wave ${wave}`, ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...takeOver, '--dry-run=server', '-f', '-'], { input: manifestsText(server), timeoutMs: 120_000 });
        if (client.length) {
          await kubectl.must(`schema check of wave ${wave}`, ['apply', '--dry-run=client', '--validate=strict', '-f', '-'], { input: manifestsText(client), timeoutMs: 120_000 });
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
      const r = await kubectl.run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...takeOver, '-o', 'json', '-f', '-'], { input: manifestsText(objs), timeoutMs: 120_000 });
      if (r.exitCode !== 0) throw new UserError(`kubectl apply of wave ${wave} failed; waves before it are applied, nothing after it:\n${r.stderr.trim()}`);
      const out = JSON.parse(r.stdout);
      for (const x of out.kind === 'List' ? out.items : [out]) {
        applied.set(keyOf(x), { apiVersion: x.apiVersion, kind: x.kind, namespace: x.metadata.namespace, name: x.metadata.name, uid: x.metadata.uid, wave });
      }
      for (const x of objs.filter((y) => ROLLOUT_KINDS.has(y.kind))) {
        log(`waiting for ${x.metadata.namespace}/${x.kind.toLowerCase()}/${x.metadata.name} (timeout ${timeout} s)`);
        await waitForRollout(kubectl, x, timeout, log);
        log(`${x.metadata.namespace}/${x.kind.toLowerCase()}/${x.metadata.name} ready`);
      }
    }
  } catch (e) {
    if (!o.dryRun) {
      // Nothing is pruned after a failure; everything deploy ever made stays managed.
      const inventory = [...new Map([...previous.map((m) => [objectKey(m), m] as const), ...applied]).values()];
      const why = (e as Error).message.split('\n')[0];
      await recordRevision(kubectl, historyNs, { meta: await meta(`failed: ${why}`, false), inventory, objects }, cfg.root.deploy.historyLimit, history).catch((r: Error) => log(`could not record the failed revision: ${r.message}`));
      log(`recorded revision ${(history.at(-1)?.meta.revision ?? 0) + 1} as failed; nothing was pruned`);
    }
    throw e;
  }
  if (o.dryRun) {
    log('server-side dry run passed for every wave; nothing was changed');
    return 0;
  }

  const pruned: string[] = [];
  for (const m of prune.remove) {
    log(`prune: deleting ${objectKey(m)}`);
    await kubectl.must(`deleting ${objectKey(m)}`, ['delete', resourceArg(m), m.name, ...inNamespace(m), '--wait=true', `--timeout=${timeout}s`], { timeoutMs: (timeout + 30) * 1000 });
    pruned.push(objectKey(m));
  }
  const inventory = [...applied.values(), ...prune.keep.map((k) => k.managed), ...previous.filter((m) => (o.keepKinds ?? []).includes(m.kind) && !applied.has(objectKey(m)))];
  const m = await meta(o.source.startsWith('rollback') ? `deployed (${o.source})` : 'deployed', true, pruned);
  await recordRevision(kubectl, historyNs, { meta: m, inventory, objects }, cfg.root.deploy.historyLimit, history);
  log(`recorded revision ${m.revision}${pruned.length ? `; pruned ${pruned.length} object(s)` : ''}`);

  const rows: string[][] = [['NAMESPACE', 'POD', 'READY', 'RESTARTS']];
  for (const ns of namespaces) {
    const r = await kubectl.run(['get', 'pods', '-n', ns, '-o', 'json'], { timeoutMs: 30_000 });
    for (const p of r.exitCode === 0 ? JSON.parse(r.stdout).items : []) {
      const statuses: Obj[] = p.status?.containerStatuses ?? [];
      rows.push([ns, p.metadata.name, `${statuses.filter((c) => c.ready).length}/${statuses.length}`, String(statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0))]);
    }
  }
  const ports = objects.filter((x) => x.kind === 'Service' && x.spec?.type === 'NodePort').flatMap((s) => s.spec.ports.map((p: Obj) => `${s.metadata.namespace}/${s.metadata.name} ${p.name} ${p.port} -> ${p.nodePort}`));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  o.log(rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n\nNodePorts:\n' + ports.map((p) => `  ${p}`).join('\n'));
  return 0;
}

/**
 * What the next deploy would delete in this cluster (the objects it manages that `objects` no longer has), as the
 * cluster holds them, and the data objects it would keep: for `deploy diff` / `diff --live`.
 */
export async function prunePreview(cfg: LoadedConfig, kubectl: Kubectl, objects: readonly Obj[]): Promise<{ remove: Obj[]; keep: string[] }> {
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const plan = await planPrune(kubectl, history.at(-1)?.inventory ?? [], new Set(objects.map(keyOf)), [], []);
  return { remove: [...plan.live.values()], keep: plan.keep.map((k) => `${objectKey(k.managed)} is no longer in dist/ but holds data (${k.data}): deploy keeps it unless --prune-data names it`) };
}

/** `deploy history`: the recorded revisions, newest last. */
export async function history(cfg: LoadedConfig, kubectl: Kubectl, log: Log): Promise<number> {
  await kubectl.connect();
  const revisions = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  if (!revisions.length) {
    log(`no revisions in namespace ${cfg.root.deploy.historyNamespace}: nothing was deployed here with bin/roomler deploy`);
    return 0;
  }
  const rows = [['REVISION', 'FINISHED', 'OUTCOME', 'DIGEST', 'GIT', 'BY', 'SOURCE'], ...revisions.map((r) => [String(r.meta.revision), r.meta.finishedAt, r.meta.outcome.slice(0, 60), r.meta.digest.slice(0, 12), describeGit(r.meta.git), r.meta.by, r.meta.source])];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  log(rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd()).join('\n'));
  return 0;
}
