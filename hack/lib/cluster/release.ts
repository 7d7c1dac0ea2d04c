import type { LoadedConfig } from '../../../lib/config';
import { type K8sObject, keyOf, objectKey, toYaml } from '../../../lib/manifest';
import { UserError } from '../cli/errors';
import type { IO } from '../cli/io';
import { Guard, Interrupted } from '../process/interrupt';
import { conflictAdvice, conflictsOf, explainKubectlError } from './causes';
import type { Kubectl } from './kubectl';
import { existingNamespaces, inNamespace, resourceArg } from './live';
import { ClusterLock } from './lock';
import { actionOf, planRelease, type ReleasePlan, type ReleaseRequest, storageOf, VOLUME_KINDS } from './release-plan';
import {
  createRevision,
  digestOf,
  ensureHistoryNamespace,
  finishRevision,
  gitState,
  listRevisions,
  type Managed,
  type RevisionMeta,
  type RevisionStatus,
  type StoredRevision,
  whoami,
} from './releases';
import { waitForRollout } from './rollout';

// One release to one cluster: plan (reads only) -> confirm -> lock -> pending record -> waves with waits -> prune ->
// the outcome written once -> unlock. Every way it ends (succeeded, failed, interrupted) is recorded and said; a
// record that cannot be written is said too, with what `deploy history` will show instead.

/** The server-side apply field manager of every deploy: `diff --live` dry-runs as the same manager. */
export const FIELD_MANAGER = 'roomler-deploy';

const ROLLOUT_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** A Pod after a release, as its summary lists it. */
export interface PodRow {
  readonly namespace: string;
  readonly pod: string;
  /** ready/all containers, e.g. `1/1`. */
  readonly ready: string;
  readonly restarts: number;
}

/** What a succeeded release leaves: each namespace's Pods and the NodePorts. */
export interface ReleaseSummary {
  readonly pods: readonly PodRow[];
  /** `namespace/service port-name port -> nodePort`. */
  readonly nodePorts: readonly string[];
}

/** A release's output: lines, and the summary after each success (the command prints it as a table). */
export interface ReleaseIO extends IO {
  readonly summary?: (s: ReleaseSummary) => void;
}

/** A release under the lock: what its steps share. */
interface Run {
  readonly cfg: LoadedConfig;
  readonly kubectl: Kubectl;
  readonly req: ReleaseRequest;
  readonly plan: ReleasePlan;
  readonly lock: ClusterLock;
  readonly guard: Guard;
  readonly io: ReleaseIO;
  /** io.out with the seconds since the run started: `[  12 s] wave 3: applying …`. */
  readonly log: (line: string) => void;
  /** Per workload. */
  readonly timeoutSeconds: number;
}

/** How far a run got: what it applied and pruned, where it was, and what stopped it. */
interface Progress {
  readonly applied: Map<string, Managed>;
  readonly pruned: string[];
  step: string;
  failure?: unknown;
}

/**
 * `--force-conflicts` for kubectl: asked for, or implied by --force-with-argo (taking over from Argo CD means owning the
 * fields its server-side apply owns; even an unchanged dist/ conflicts with it on spec.storageClassName otherwise).
 */
const forceConflicts = (req: Pick<ReleaseRequest, 'forceConflicts' | 'forceWithArgo'>) =>
  req.forceConflicts || req.forceWithArgo ? ['--force-conflicts'] : [];

/** `[  12 s] line`: a run's lines carry the seconds since it started. */
const stamped =
  (io: IO, started = Date.now()) =>
  (line: string) =>
    io.out(`[${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s] ${line}`);

/**
 * The plan, confirmed, and the lock taken (into `held`, so that whatever happens next gives it back); planned and
 * confirmed again when another run recorded a revision while this one waited. A dry run stops after the plan.
 */
async function confirmAndLock(
  cfg: LoadedConfig,
  kubectl: Kubectl,
  req: ReleaseRequest,
  io: IO,
  guard: Guard,
  held: { lock?: ClusterLock },
): Promise<ReleasePlan> {
  const historyNs = cfg.root.deploy.historyNamespace;
  let plan = await planRelease(cfg, kubectl, req, io);
  guard.check();
  if (req.dryRun) return plan;
  await kubectl.confirmChange(actionOf(req), plan.namespaces, req.yes, plan.lines, plan.target);
  guard.check();
  // A recorded history means the namespace exists; the first run creates it.
  if (!plan.history.length) await ensureHistoryNamespace(kubectl, historyNs);
  const how = { operation: actionOf(req), waitSeconds: req.waitLockSeconds, forceUnlock: req.forceUnlock, io, guard };
  held.lock = await ClusterLock.acquire(kubectl, historyNs, how);
  // What was confirmed was read before the lock: if another run recorded a revision since, plan again from it.
  const now = await listRevisions(kubectl, historyNs);
  const versions = (h: readonly StoredRevision[]) => h.map((r) => `${r.meta.revision}:${r.resourceVersion}`).join();
  if (versions(now) !== versions(plan.history)) {
    io.out(`lock: another run recorded revision ${now.at(-1)?.meta.revision} while this one waited: planned again from it`);
    plan = await planRelease(cfg, kubectl, req, io);
    await kubectl.confirmChange(actionOf(req), plan.namespaces, req.yes, plan.lines, plan.target);
    guard.check();
  }
  return plan;
}

/** A release to one cluster (see the top of this file). */
export async function release(cfg: LoadedConfig, kubectl: Kubectl, req: ReleaseRequest, io: ReleaseIO): Promise<number> {
  // From the first line of output: a reader that goes away (`deploy | head`) or a signal is an interruption.
  const guard = new Guard((line) => io.out(line));
  const held: { lock?: ClusterLock } = {};
  let outcome: unknown;
  try {
    const plan = await confirmAndLock(cfg, kubectl, req, io, guard, held);
    if (req.dryRun) return await dryRun(kubectl, plan, io, guard, forceConflicts(req));
    const timeoutSeconds = req.timeoutSeconds ?? cfg.root.deploy.rolloutTimeoutSeconds;
    return await runRelease({ cfg, kubectl, req, plan, lock: held.lock!, guard, io, log: stamped(io), timeoutSeconds });
  } catch (e) {
    const early =
      e instanceof Interrupted ? `${actionOf(req)} ${e.message} before it changed anything: nothing was applied or recorded` : '';
    outcome = e instanceof Interrupted ? new UserError(early, e.exitCode) : e;
    throw outcome;
  } finally {
    const note = held.lock ? await held.lock.release() : undefined;
    guard.dispose();
    if (note && outcome instanceof UserError) outcome.message += `\n  ${note}`;
    else if (note) io.out(note);
  }
}

/** The part of a release that changes the cluster, under the lock, ending in exactly one recorded outcome. */
async function runRelease(run: Run): Promise<number> {
  const pending = await recordPending(run);
  const progress = await applyAndPrune(run);
  const ending = await recordOutcome(run, pending, progress);
  return finish(run, pending, progress, ending);
}

/** A run's pending record: its revision number, and what its outcome is written over. */
interface Pending {
  readonly revision: number;
  readonly resourceVersion: string;
  readonly base: Omit<RevisionMeta, 'revision'>;
  readonly objects: K8sObject[];
}

/** The pending record takes the revision number, create-only: two runs can never record the same number. */
async function recordPending({ cfg, kubectl, req, plan, lock, log }: Run): Promise<Pending> {
  const historyNs = cfg.root.deploy.historyNamespace;
  const objects = plan.waves.flatMap(([, objs]) => objs);
  const base: Omit<RevisionMeta, 'revision'> = {
    kind: req.kind,
    status: 'pending',
    digest: digestOf(objects),
    git: await gitState(req.projectDir),
    by: whoami(),
    startedAt: new Date().toISOString(),
    finishedAt: '',
    outcome: 'pending',
    ok: false,
    source: req.source,
    pruned: [],
  };
  let revision = Math.max(0, ...plan.history.map((h) => h.meta.revision)) + 1;
  let resourceVersion: string | undefined;
  for (let tries = 0; resourceVersion === undefined; tries++, revision++) {
    if (tries === 5) {
      const taken = `revisions ${revision - 5}-${revision - 1}`;
      throw new UserError(`${taken} were all taken by other runs while this one tried to record; nothing was applied`);
    }
    resourceVersion = await createRevision(kubectl, historyNs, { meta: { ...base, revision }, inventory: plan.previous, objects });
    if (resourceVersion !== undefined) break;
  }
  await lock.setRevision(revision);
  log(`revision ${revision}: recorded as pending in namespace ${historyNs}; applying`);
  return { revision, resourceVersion, base, objects };
}

/** The waves, then the pruning; stops at the first failure or interruption, which it keeps for the record. */
async function applyAndPrune(run: Run): Promise<Progress> {
  const { kubectl, plan, lock, guard, log, timeoutSeconds: timeout } = run;
  const p: Progress = { applied: new Map(), pruned: [], step: `before wave ${plan.waves[0]?.[0] ?? 0}` };
  try {
    for (const [wave, objs] of plan.waves) {
      guard.check();
      lock.assertHeld();
      p.step = `during wave ${wave}`;
      await applyWave(run, wave, objs, p);
    }
    for (const m of plan.prune.remove) {
      guard.check();
      lock.assertHeld();
      p.step = `while pruning ${objectKey(m)}`;
      log(`prune: deleting ${objectKey(m)}`);
      await kubectl.must(
        `deleting ${objectKey(m)}`,
        ['delete', resourceArg(m), m.name, ...inNamespace(m), '--wait=true', `--timeout=${timeout}s`],
        { timeoutMs: (timeout + 30) * 1000 },
      );
      p.pruned.push(objectKey(m));
    }
  } catch (e) {
    p.failure = e;
  }
  return p;
}

/** How a run ended, as recorded. */
interface Ending {
  readonly status: Exclude<RevisionStatus, 'pending'>;
  readonly interrupted?: Interrupted;
  readonly cause: string;
  /** Set when the record could not be written: what `deploy history` shows instead. */
  readonly noRecord?: string;
}

/** The outcome, written once into the pending record. Signals wait until it is written. */
async function recordOutcome({ cfg, kubectl, plan, lock, guard }: Run, pending: Pending, p: Progress): Promise<Ending> {
  guard.holdForRestore('writing the record of this run');
  const interrupted = p.failure instanceof Interrupted ? p.failure : undefined;
  const status = p.failure === undefined ? 'succeeded' : interrupted ? 'interrupted' : 'failed';
  const cause =
    p.failure === undefined ? '' : interrupted ? `${interrupted.message} ${p.step}` : (p.failure as Error).message.split('\n')[0];
  const outcome = status === 'succeeded' ? 'succeeded' : status === 'interrupted' ? cause : `failed: ${cause}`;
  const kept = new Map(plan.previous.map((m) => [objectKey(m), m] as const));
  const applied = [...p.applied.values()];
  const inventory =
    status === 'succeeded'
      ? [...applied, ...plan.prune.keep.map((k) => k.managed), ...plan.untouched.flatMap((o) => kept.get(keyOf(o)) ?? [])]
      : // Nothing was pruned (or only part): everything deploy ever made stays managed.
        [...new Map([...kept, ...p.applied]).values()].filter((m) => !p.pruned.includes(objectKey(m)));
  const { revision, base } = pending;
  const meta: RevisionMeta = {
    ...base,
    revision,
    status,
    outcome,
    ok: status === 'succeeded',
    finishedAt: new Date().toISOString(),
    pruned: p.pruned,
  };
  const historyNs = cfg.root.deploy.historyNamespace;
  let noRecord: string | undefined;
  try {
    const rev = { meta, inventory, objects: pending.objects };
    await finishRevision(kubectl, historyNs, rev, pending.resourceVersion, cfg.root.deploy.historyLimit, plan.history);
  } catch (e) {
    noRecord =
      `no record of this outcome could be written (${(e as Error).message}): ` +
      `\`bin/roomler deploy history\` will list revision ${revision} as in progress until its lock expires ` +
      `at ${lock.expiresAt.toISOString()}, ` +
      `then as unfinished (started ${base.startedAt} by ${base.by}), not as ${status}`;
  }
  guard.endHold();
  return { status, interrupted, cause, noRecord };
}

/** Says how the run ended: the summary after a success; otherwise a UserError (after --atomic's rollback, if asked). */
async function finish(run: Run, pending: Pending, p: Progress, end: Ending): Promise<number> {
  const { req, log } = run;
  const { revision } = pending;
  const { status, interrupted, noRecord } = end;
  if (status === 'succeeded') {
    if (noRecord) throw new UserError(`${req.kind} succeeded, but ${noRecord}`);
    log(`recorded revision ${revision}: succeeded${p.pruned.length ? `; pruned ${p.pruned.length} object(s)` : ''}`);
    if (run.io.summary) run.io.summary(await podSummary(run.kubectl, run.plan, pending.objects));
    return 0;
  }
  const prunedWords = p.pruned.length ? `${p.pruned.length} object(s) pruned before it stopped` : 'nothing was pruned';
  const where = `; ${status === 'interrupted' ? `${p.applied.size} object(s) were applied before it stopped, ` : ''}${prunedWords}`;
  const said = noRecord === undefined ? `recorded revision ${revision} as ${status}${where}` : `${status}${where}; ${noRecord}`;
  log(said);
  const message = interrupted ? `${req.kind} ${end.cause}: ${said}` : `${(p.failure as Error).message}\n  ${said}`;
  const atomic = status === 'failed' && req.atomic && noRecord === undefined ? await atomicRollback(run, revision) : '';
  const code = interrupted ? interrupted.exitCode : p.failure instanceof UserError ? Math.max(1, p.failure.exitCode) : 1;
  throw new UserError(message + atomic, code);
}

/** `--atomic`: after a recorded failure, a rollback to the last successful revision, under the same lock. */
async function atomicRollback(run: Run, failed: number): Promise<string> {
  const { cfg, kubectl, req, io, log } = run;
  const history = await listRevisions(kubectl, cfg.root.deploy.historyNamespace);
  const target = history.filter((r) => r.meta.ok && r.meta.revision < failed).at(-1);
  if (!target) return `\n  --atomic: no successful revision before ${failed} to roll back to; the cluster stays as ${failed} left it`;
  log(`--atomic: revision ${failed} failed; rolling back to revision ${target.meta.revision}`);
  const source = `rollback to revision ${target.meta.revision} (--atomic, after revision ${failed} failed)`;
  const rb: ReleaseRequest = { ...req, kind: 'rollback', objects: target.objects, source, pruneData: [], atomic: false };
  try {
    const plan = await planRelease(cfg, kubectl, rb, io);
    for (const l of plan.lines) io.out(`  ${l}`);
    await runRelease({ ...run, req: rb, plan, log: stamped(io) });
    return `\n  --atomic: rolled back to revision ${target.meta.revision} (recorded as revision ${failed + 1}); the deploy itself failed`;
  } catch (e) {
    return `\n  --atomic: the rollback to revision ${target.meta.revision} failed too: ${(e as Error).message.split('\n').join('\n  ')}`;
  }
}

/** Right before a wave's first claim or volume: Released volumes get their stale claim uid cleared. */
async function rebindVolumes({ kubectl, plan, log }: Run, wave: number, objs: readonly K8sObject[]): Promise<void> {
  const firstVolumeWave = plan.waves.find(([, o]) => o.some((x) => VOLUME_KINDS.has(x.kind)))?.[0];
  if (!objs.some((x) => VOLUME_KINDS.has(x.kind)) || firstVolumeWave !== wave) return;
  for (const v of plan.rebind) {
    // The stale uid is what keeps a Released volume from its new claim; name and namespace stay as synthesized.
    await kubectl.must(`re-binding PersistentVolume ${v.name}`, [
      'patch',
      'pv',
      v.name,
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/claimRef/uid"},{"op":"remove","path":"/spec/claimRef/resourceVersion"}]',
    ]);
    log(`PersistentVolume ${v.name}: cleared the deleted claim's uid, so ${v.claim} binds to the retained data`);
  }
}

/**
 * Server-side apply of a wave (deploy's field manager); records what was applied and returns the workloads that
 * served before: apply answers with the status the controllers last wrote, from before this change took effect.
 */
async function applyObjects({ kubectl, req }: Run, wave: number, objs: readonly K8sObject[], p: Progress): Promise<Set<string>> {
  const args = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...forceConflicts(req), '-o', 'json', '-f', '-'];
  const r = await kubectl.run(args, { input: toYaml(objs), timeoutMs: 120_000 });
  if (r.exitCode !== 0) {
    const why = await explainApplyFailure(kubectl, objs, r.stderr);
    throw new UserError(`kubectl apply of wave ${wave} failed; waves before it are applied, nothing after it:\n${why}`);
  }
  const out = JSON.parse(r.stdout);
  const serving = new Set<string>();
  for (const x of out.kind === 'List' ? out.items : [out]) {
    const { namespace, name, uid } = x.metadata;
    p.applied.set(keyOf(x), { apiVersion: x.apiVersion, kind: x.kind, namespace, name, uid, wave });
    if (ROLLOUT_KINDS.has(x.kind) && (x.status?.readyReplicas ?? x.status?.numberReady ?? 0) > 0) serving.add(keyOf(x));
  }
  return serving;
}

/** One wave: apply, then wait for each workload in it. One that served and has no ready Pod after a failed rollout is an outage. */
async function applyWave(run: Run, wave: number, objs: readonly K8sObject[], p: Progress): Promise<void> {
  const { kubectl, plan, log, guard, timeoutSeconds: timeout } = run;
  log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  await rebindVolumes(run, wave, objs);
  for (const r of plan.recreate.filter((x) => objs.includes(x.object))) {
    log(`recreate: ${keyOf(r.object)}, pruned since that revision${storageOf(r)}`);
  }
  const appliedAt = new Date();
  const serving = await applyObjects(run, wave, objs, p);
  for (const x of objs.filter((y) => ROLLOUT_KINDS.has(y.kind))) {
    const id = `${x.metadata.namespace}/${x.kind.toLowerCase()}/${x.metadata.name}`;
    p.step = `during wave ${wave} (waiting for ${id})`;
    log(`waiting for ${id} (timeout ${timeout} s)`);
    const servingUntil = serving.has(keyOf(x)) ? appliedAt : undefined;
    await waitForRollout(kubectl, x, { timeoutSeconds: timeout, log, guard, servingUntil });
    log(`${id} ready`);
  }
}

/**
 * Why a wave's apply failed, object by object: for conflicts each object is dry-run on its own, so the message names
 * the object, the fields and the field manager that holds them, and what the operator can do.
 */
async function explainApplyFailure(kubectl: Kubectl, objs: readonly K8sObject[], stderr: string): Promise<string> {
  if (!/conflict/i.test(stderr))
    return stderr
      .trim()
      .split('\n')
      .map((l) => `  ${explainKubectlError(l)}`)
      .join('\n');
  const lines: string[] = [];
  for (const o of objs) {
    const dry = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--dry-run=server', '-f', '-'];
    const r = await kubectl.run(dry, { input: toYaml([o]), timeoutMs: 60_000 });
    if (r.exitCode === 0) continue;
    const conflicts = conflictsOf(r.stderr);
    if (!conflicts.length) {
      lines.push(`  ${keyOf(o)}: ${explainKubectlError(r.stderr)}`);
      continue;
    }
    const fields = conflicts.flatMap((c) => c.fields);
    const through = (c: { subresource?: string }) => (c.subresource ? ` (through the ${c.subresource} subresource)` : '');
    const managers = conflicts.map((c) => `field manager "${c.manager}"${through(c)}`);
    const by = [...new Set(managers)].join(' and ');
    lines.push(`  ${keyOf(o)}: ${fields.length} field(s) set to other values by ${by}: ${fields.join(', ')}`);
    lines.push(`    what to do: ${conflictAdvice(o, [...new Set(conflicts.map((c) => c.manager))])}`);
  }
  return lines.length ? lines.join('\n') : `  ${explainKubectlError(stderr)}`;
}

/** `--dry-run=server`: every wave through the API server's validation; nothing changes, nothing is recorded. */
async function dryRun(kubectl: Kubectl, plan: ReleasePlan, io: IO, guard: Guard, force: readonly string[]): Promise<number> {
  const log = (line: string) => io.out(line);
  if (plan.missingSecrets.length)
    log(
      `dry run: a real deploy would refuse now: missing Secrets ${plan.missingSecrets.join(', ')} (bin/roomler secrets apply creates them)`,
    );
  for (const v of plan.rebind)
    log(`dry run: a real deploy would re-bind the Released PersistentVolume ${v.name} (data retained) to ${v.claim}`);
  for (const m of plan.prune.remove) log(`dry run: a real deploy would delete ${objectKey(m)} after applying`);
  for (const k of plan.prune.keep) log(`dry run: ${objectKey(k.managed)} is no longer deployed but holds data (${k.data}): kept`);
  const existing = await existingNamespaces(kubectl);
  for (const [wave, objs] of plan.waves) {
    guard.check();
    log(`wave ${wave}: applying ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
    // A server-side dry run cannot create the namespaces it would create, and the API server refuses objects in a
    // namespace that does not exist: those are checked against the server's schema instead (client dry run).
    const server = objs.filter((x) => !x.metadata?.namespace || existing.has(x.metadata.namespace));
    const client = objs.filter((x) => !server.includes(x));
    if (server.length)
      await kubectl.must(
        `server-side dry run of wave ${wave}`,
        ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...force, '--dry-run=server', '-f', '-'],
        { input: toYaml(server), timeoutMs: 120_000 },
      );
    if (client.length) {
      await kubectl.must(`schema check of wave ${wave}`, ['apply', '--dry-run=client', '--validate=strict', '-f', '-'], {
        input: toYaml(client),
        timeoutMs: 120_000,
      });
      log(
        `  ${client.length} object(s) in namespaces that do not exist yet (${[...new Set(client.map((x) => x.metadata.namespace))].join(', ')}): checked against the server's schema only; the API server checks them when deploy creates the namespace`,
      );
    }
  }
  log('server-side dry run passed for every wave; nothing was changed');
  return 0;
}

/** After a success: each namespace's Pods (ready, restarts) and the NodePorts. */
async function podSummary(kubectl: Kubectl, plan: ReleasePlan, objects: readonly K8sObject[]): Promise<ReleaseSummary> {
  const pods: PodRow[] = [];
  for (const ns of plan.namespaces) {
    const r = await kubectl.run(['get', 'pods', '-n', ns, '-o', 'json'], { timeoutMs: 30_000 });
    for (const p of r.exitCode === 0 ? JSON.parse(r.stdout).items : []) {
      const statuses: K8sObject[] = p.status?.containerStatuses ?? [];
      const ready = `${statuses.filter((c) => c.ready).length}/${statuses.length}`;
      pods.push({ namespace: ns, pod: p.metadata.name, ready, restarts: statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0) });
    }
  }
  const nodePorts = objects
    .filter((x) => x.kind === 'Service' && x.spec?.type === 'NodePort')
    .flatMap((s) => s.spec.ports.map((p: K8sObject) => `${s.metadata.namespace}/${s.metadata.name} ${p.name} ${p.port} -> ${p.nodePort}`));
  return { pods, nodePorts };
}
