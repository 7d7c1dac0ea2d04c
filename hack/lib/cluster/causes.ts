import { HOSTNAME_LABEL } from '../../../lib/config';
import type { K8sObject } from '../../../lib/manifest';
import type { Kubectl } from './kubectl';

// Why something in the cluster is not as deploy wants it, named as a cause: the other party (the foreign Pod and its
// ports, the field manager, the missing right, the volume a claim waits for, the failing init container, the node
// that stopped reporting) and what the operator can do. Symptoms (Pending, "Apply failed with 3 conflicts",
// NotFound) are only ever the evidence quoted after the cause.

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';

/** An RBAC refusal from kubectl's stderr: who may not do what, where. */
export interface Refusal {
  readonly user: string;
  readonly verb: string;
  /** resource[.group], as `kubectl auth can-i` takes it. */
  readonly resource: string;
  readonly namespace?: string;
}

const FORBIDDEN =
  /User "([^"]+)" cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)"| at the cluster scope)?/;

export function refusalOf(stderr: string): Refusal | undefined {
  const m = FORBIDDEN.exec(stderr);
  if (!m) return undefined;
  return { user: m[1], verb: m[2], resource: m[4] ? `${m[3]}.${m[4]}` : m[3], namespace: m[5] };
}

export const describeRefusal = (r: Refusal) =>
  `user "${r.user}" lacks the right to ${r.verb} ${r.resource}${r.namespace ? ` in namespace ${r.namespace}` : ' (cluster-wide)'}: ` +
  `a missing RBAC right, not a missing object (kubectl auth can-i ${r.verb} ${r.resource}${r.namespace ? ` -n ${r.namespace}` : ''})`;

/** Whether kubectl's error says the API server did not answer at all (down, unreachable), as opposed to a refusal. */
export const unreachable = (stderr: string) =>
  /connection refused|was refused|no route to host|i\/o timeout|connection reset|Unable to connect to the server/.test(stderr);

/** kubectl's error in the operator's words: an RBAC refusal as the missing right, an outage as such, else its last line. */
export function explainKubectlError(stderr: string): string {
  const refusal = refusalOf(stderr);
  if (refusal) return describeRefusal(refusal);
  const refused = /dial tcp ([^:]+:\d+): connect: connection refused|The connection to the server (\S+) was refused/.exec(stderr);
  if (refused) return `the API server ${refused[1] ?? refused[2]} refused the connection (it is down or unreachable)`;
  return lastLine(stderr)
    .replace(/^error: /, '')
    .replace(/^Error from server \((\w+)\): /, '$1: ');
}

// ---------------------------------------------------------------------------------------------------------------
// Rights, checked before anything changes.

/** One right a command needs: a verb on a resource (plural, API group) in a namespace or cluster-wide. */
export interface Right {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly namespace?: string;
}

/** The REST resource of a kind deploy handles (the kinds synth writes, the history Secrets and the lock). */
export function resourceOf(apiVersion: string, kind: string): { group: string; resource: string } {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  const lower = kind.toLowerCase();
  const plural = lower.endsWith('y') ? `${lower.slice(0, -1)}ies` : lower.endsWith('s') ? `${lower}es` : `${lower}s`;
  return { group, resource: plural };
}

export const describeRight = (r: Right) =>
  `${r.verb} ${r.resource}${r.group ? `.${r.group}` : ''}${r.namespace ? ` in namespace ${r.namespace}` : ' (cluster-wide)'}`;

/**
 * The rights this user lacks, asked of the API server itself (one SelfSubjectAccessReview per right, in one kubectl
 * call): RBAC, webhooks and any other authorizer answer exactly as they would for the real request.
 */
export async function missingRights(kubectl: Kubectl, rights: readonly Right[]): Promise<Right[]> {
  const unique = [...new Map(rights.map((r) => [describeRight(r), r])).values()];
  if (!unique.length) return [];
  const reviews = unique.map((r) => ({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: {
      resourceAttributes: { verb: r.verb, group: r.group, resource: r.resource, ...(r.namespace ? { namespace: r.namespace } : {}) },
    },
  }));
  // kubectl create prints each created object on its own: one answer per line, in order.
  const res = await kubectl.run(['create', '-f', '-', '-o', 'jsonpath={.status.allowed}{"\\n"}'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: reviews }),
    timeoutMs: 60_000,
  });
  const answers = res.stdout.split('\n').filter(Boolean);
  if (res.exitCode !== 0 || answers.length !== unique.length) return []; // no review API: the real requests will say what is refused
  return unique.filter((_, i) => answers[i] !== 'true');
}

// ---------------------------------------------------------------------------------------------------------------
// Pods: readiness from the Pod's own Ready condition, init containers, the node's state.

/** Why a node's reports cannot be trusted (not Ready, or its kubelet stopped renewing its heartbeat), if so. */
export function nodeProblem(node: K8sObject | undefined, heartbeat?: K8sObject): string | undefined {
  if (!node) return undefined;
  const ready = (node.status?.conditions ?? []).find((c: K8sObject) => c.type === 'Ready');
  const name = node.metadata.name;
  if (ready && ready.status !== 'True') {
    const state = ready.status === 'Unknown' ? 'unreachable (Ready=Unknown)' : 'NotReady';
    const why = ready.message ? ` (${ready.message})` : '';
    return `node ${name} is ${state} since ${ready.lastTransitionTime}${why}: what its Pods report is stale`;
  }
  if ((node.spec?.taints ?? []).some((t: K8sObject) => t.key === 'node.kubernetes.io/unreachable')) {
    return `node ${name} is tainted unreachable: what its Pods report is stale`;
  }
  const renewed = heartbeat?.spec?.renewTime;
  const grace = 40;
  if (renewed && Date.now() - Date.parse(renewed) > grace * 1000) {
    const seconds = Math.round((Date.now() - Date.parse(renewed)) / 1000);
    const lease = `Lease kube-node-lease/${name}`;
    return `node ${name}'s kubelet has not renewed its heartbeat (${lease}) for ${seconds} s: what its Pods report is stale`;
  }
  return undefined;
}

/** Each node a set of Pods runs on, with what is wrong with it (nodes, and their heartbeats when readable). */
export async function nodeProblems(kubectl: Kubectl, names: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted = [...new Set(names.filter(Boolean))];
  if (!wanted.length) return out;
  const nodes = await kubectl.run(['get', 'nodes', ...wanted, '-o', 'json'], { timeoutMs: 20_000 });
  if (nodes.exitCode !== 0) return out;
  const leases = await kubectl.run(['get', 'leases', '-n', 'kube-node-lease', ...wanted, '-o', 'json'], { timeoutMs: 20_000 });
  const items = (r: { exitCode: number | undefined; stdout: string }) => {
    if (r.exitCode !== 0) return [];
    const v = JSON.parse(r.stdout);
    return (v.kind === 'List' ? v.items : [v]) as K8sObject[];
  };
  const beats = new Map(items(leases).map((l) => [l.metadata.name, l]));
  for (const n of items(nodes)) {
    const problem = nodeProblem(n, beats.get(n.metadata.name));
    if (problem) out.set(n.metadata.name, problem);
  }
  return out;
}

const restartsOf = (c: K8sObject) => (c.restartCount ? `${c.restartCount} restart${c.restartCount === 1 ? '' : 's'}` : '');

/** An init container that keeps the Pod from starting: its name, exit code, restarts and state. */
function initProblem(p: K8sObject): string | undefined {
  for (const c of p.status?.initContainerStatuses ?? []) {
    const done = c.state?.terminated?.exitCode === 0;
    if (done) continue;
    const last = c.state?.terminated ?? c.lastState?.terminated;
    const exit = last ? `exit ${last.exitCode}${last.reason && last.reason !== 'Error' ? ` (${last.reason})` : ''}` : '';
    const facts = [exit, restartsOf(c)].filter(Boolean).join(', ');
    const logs = `kubectl -n ${p.metadata.namespace} logs ${p.metadata.name} -c ${c.name}`;
    const blocks = "the app's containers cannot start until it succeeds";
    const waiting = c.state?.waiting;
    if (waiting && waiting.reason !== 'PodInitializing') {
      const now = `${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`;
      return `init container ${c.name} failed${facts ? `: ${facts}` : ''}, now ${now}; ${blocks} (${logs} --previous)`;
    }
    if (c.state?.terminated) return `init container ${c.name} failed: ${facts}; ${blocks} (${logs})`;
    if (c.state?.running) return `init container ${c.name} is still running${c.restartCount ? ` (${facts})` : ''}; the containers wait`;
  }
  return undefined;
}

/**
 * What one Pod reports, in the operator's words: phase, node, and why it is not ready. Ready means the Pod's own
 * Ready condition, on a node that still reports (`nodes`: node name -> what is wrong with it).
 */
export function describePod(p: K8sObject, nodes: ReadonlyMap<string, string> = new Map()): string {
  const name = p.metadata.name;
  const node = p.spec?.nodeName ? ` on ${p.spec.nodeName}` : '';
  const conditions: K8sObject[] = p.status?.conditions ?? [];
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  if (p.status?.phase === 'Pending' && scheduled?.status === 'False') {
    return `${name} Pending, not scheduled: ${explainScheduling(scheduled.message ?? scheduled.reason ?? '')}`;
  }
  const phase = `${name} ${p.status?.phase ?? 'Unknown'}${node}`;
  const nodeIssue = p.spec?.nodeName ? nodes.get(p.spec.nodeName) : undefined;
  const init = initProblem(p);
  if (init) return `${phase}: ${init}${nodeIssue ? `; ${nodeIssue}` : ''}`;
  const ready = conditions.find((c) => c.type === 'Ready');
  const statuses: K8sObject[] = p.status?.containerStatuses ?? [];
  const problems = statuses.flatMap((c) => {
    const waiting = c.state?.waiting;
    if (waiting) {
      const lastExit = c.lastState?.terminated ? `, last exit ${c.lastState.terminated.exitCode}` : '';
      const restarts = c.restartCount ? ` (${restartsOf(c)}${lastExit})` : '';
      return [`container ${c.name} ${waiting.reason}${restarts}${waiting.message ? `: ${waiting.message}` : ''}`];
    }
    const ended = c.state?.terminated;
    if (ended) return [`container ${c.name} terminated (exit ${ended.exitCode}${ended.reason ? `, ${ended.reason}` : ''})`];
    if (!c.ready) return [`container ${c.name} running but not Ready (its readiness probe fails)`];
    return [];
  });
  if (nodeIssue) problems.push(nodeIssue);
  if (ready?.status === 'True' && !problems.length) return `${phase}, Ready`;
  if (!problems.length && !ready) problems.push('no Ready condition yet');
  else if (!problems.length) {
    const why = [ready!.reason, ready!.message].filter(Boolean).join(': ');
    problems.push(`not Ready${why ? ` (${why})` : ''}`);
  }
  return `${phase}: ${problems.join('; ')}`;
}

/** Whether a Pod counts as ready: its Ready condition, on a node that still reports. */
export const podReady = (p: K8sObject, nodes: ReadonlyMap<string, string> = new Map()) =>
  (p.status?.conditions ?? []).some((c: K8sObject) => c.type === 'Ready' && c.status === 'True') &&
  !(p.spec?.nodeName && nodes.has(p.spec.nodeName));

/** The scheduler's message, with the cause spelled out where the stack is known to hit it. */
export function explainScheduling(message: string): string {
  const hints: [RegExp, string][] = [
    [
      /didn't have free ports for the requested pod ports/,
      'HOST PORT CLASH: the node already runs a Pod that uses the same host ports ' +
        '(hostNetwork pods claim every container port on their node)',
    ],
    [/unbound immediate PersistentVolumeClaims/, 'its PersistentVolumeClaim is not bound'],
    [
      /didn't match Pod's node affinity\/selector|node affinity/,
      'no node matches its node selector or affinity: is the pinned node in the cluster and labelled kubernetes.io/hostname?',
    ],
    [/volume node affinity conflict/, 'its PersistentVolume is pinned to another node than the Pod'],
    [/untolerated taint/, 'the nodes are tainted (not ready, or cordoned)'],
    [/Insufficient (cpu|memory|ephemeral-storage)/, 'no node has enough free CPU, memory or ephemeral storage for its requests'],
  ];
  const hint = hints.find(([re]) => re.test(message));
  return hint ? `${hint[1]} (scheduler: ${message.trim()})` : message.trim();
}

// ---------------------------------------------------------------------------------------------------------------
// Host ports: the foreign Pod.

/** protocol/port pairs a Pod takes on its node: hostPorts, and every container port of a hostNetwork Pod. */
export function hostPortsOf(p: K8sObject): string[] {
  const spec = p.spec ?? {};
  return [...(spec.containers ?? []), ...(spec.initContainers ?? [])].flatMap((c: K8sObject) =>
    (c.ports ?? []).flatMap((port: K8sObject) => {
      const host = port.hostPort ?? (spec.hostNetwork ? port.containerPort : undefined);
      return host ? [`${port.protocol ?? 'TCP'} ${host}`] : [];
    }),
  );
}

/** The node names a Pod may run on by its node selector / required affinity on kubernetes.io/hostname (undefined: any). */
function pinnedNodes(p: K8sObject): string[] | undefined {
  const byLabel = p.spec?.nodeSelector?.[HOSTNAME_LABEL];
  if (byLabel) return [byLabel];
  const terms: K8sObject[] = p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const byHostname = (e: K8sObject) => e.key === HOSTNAME_LABEL && e.operator === 'In';
  const values = terms.flatMap((t) => (t.matchExpressions ?? []).filter(byHostname).flatMap((e: K8sObject) => e.values));
  return values.length ? values : undefined;
}

/** The Pods on this Pod's node(s) that hold the host ports it needs: namespace/name, node, ports, owner. */
export async function hostPortClash(kubectl: Kubectl, p: K8sObject): Promise<string> {
  const wanted = new Set(hostPortsOf(p));
  if (!wanted.size) return '';
  const r = await kubectl.run(['get', 'pods', '--all-namespaces', '-o', 'json'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) return `; the Pod holding the ports cannot be named: ${explainKubectlError(r.stderr)}`;
  const nodes = pinnedNodes(p);
  const holders = (JSON.parse(r.stdout).items as K8sObject[]).filter(
    (o) =>
      o.metadata.uid !== p.metadata.uid &&
      o.spec?.nodeName &&
      (!nodes || nodes.includes(o.spec.nodeName)) &&
      !['Succeeded', 'Failed'].includes(o.status?.phase) &&
      hostPortsOf(o).some((x) => wanted.has(x)),
  );
  if (!holders.length) return '; no running Pod holds those ports now (the clash may have just cleared)';
  return holders
    .map((o) => {
      const owner = o.metadata.ownerReferences?.[0];
      const ports = hostPortsOf(o).filter((x) => wanted.has(x));
      const id = `${o.metadata.namespace}/${o.metadata.name}`;
      const by = owner ? `, owned by ${owner.kind} ${o.metadata.namespace}/${owner.name}` : '';
      const how = `${o.spec.hostNetwork ? ' (hostNetwork)' : ''}${by}`;
      const fix = 'stop or move that Pod, or give this one other ports or another node';
      return `; Pod ${id} on ${o.spec.nodeName} holds ${ports.join(', ')}${how}: ${fix}`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Claims: why one cannot bind.

const quantity = (q: string | undefined): number => {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]i?)?$/.exec(q ?? '');
  if (!m) return NaN;
  const units: Record<string, number> = { K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  for (const [i, u] of ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'].entries()) units[u] = 2 ** (10 * (i + 1));
  return Number(m[1]) * (m[2] ? units[m[2]] : 1);
};

/** Why the claim `namespace/name` is not Bound, from the claim and the volume it names ('' when it is Bound). */
export async function claimProblem(kubectl: Kubectl, namespace: string, name: string): Promise<string> {
  const c = await kubectl.run(['get', 'pvc', name, '-n', namespace, '-o', 'json'], { timeoutMs: 15_000 });
  const id = `PersistentVolumeClaim ${namespace}/${name}`;
  if (c.exitCode !== 0) return /NotFound|not found/.test(c.stderr) ? `${id} does not exist` : `${id}: ${explainKubectlError(c.stderr)}`;
  const claim = JSON.parse(c.stdout);
  const phase = claim.status?.phase ?? 'Pending';
  if (phase === 'Bound') return '';
  const what = `PVC ${name} is ${phase}`;
  const volume = claim.spec?.volumeName;
  const wants = {
    size: claim.spec?.resources?.requests?.storage,
    modes: (claim.spec?.accessModes ?? []) as string[],
    cls: claim.spec?.storageClassName ?? '',
  };
  if (phase === 'Lost') {
    const fix = 're-create the volume (bin/roomler deploy applies it from dist/; with Retain the files are still on the node)';
    return `${what}: its PersistentVolume ${volume} was deleted while bound; ${fix}`;
  }
  if (!volume) {
    const matching = `class "${wants.cls}", ${wants.size}, ${wants.modes.join(',')}`;
    return `${what}: no PersistentVolume matches it (${matching})${await lastEvent(kubectl, namespace, name)}`;
  }
  const v = await kubectl.run(['get', 'pv', volume, '-o', 'json'], { timeoutMs: 15_000 });
  if (v.exitCode !== 0 && /NotFound|not found/.test(v.stderr)) {
    const fix = 'bin/roomler deploy re-creates it when dist/ has it, with the same hostPath (Retain kept the files)';
    return `${what}: its PersistentVolume ${volume} does not exist (deleted?); ${fix}`;
  }
  if (v.exitCode !== 0) return `${what}: its PersistentVolume ${volume} cannot be read: ${explainKubectlError(v.stderr)}`;
  const pv = JSON.parse(v.stdout);
  const offers = {
    size: pv.spec?.capacity?.storage,
    modes: (pv.spec?.accessModes ?? []) as string[],
    cls: pv.spec?.storageClassName ?? '',
  };
  const ref = pv.spec?.claimRef;
  const pvIs = `PersistentVolume ${volume}`;
  if (pv.metadata.deletionTimestamp) return `${what}: its ${pvIs} is being deleted (since ${pv.metadata.deletionTimestamp})`;
  if (ref && (ref.namespace !== namespace || ref.name !== name)) {
    const state = pv.status?.phase ? ` (volume ${pv.status.phase})` : '';
    return `${what}: ${pvIs} is bound to another claim, ${ref.namespace}/${ref.name}${state}${await lastEvent(kubectl, namespace, name)}`;
  }
  if (ref?.uid && ref.uid !== claim.metadata.uid) {
    const state = `uid ${ref.uid}, volume ${pv.status?.phase}`;
    return `${what}: ${pvIs} still names a deleted claim of the same name (${state}); bin/roomler deploy re-binds such a Released volume`;
  }
  if (quantity(offers.size) < quantity(wants.size)) return `${what}: ${pvIs} offers ${offers.size}, the claim requests ${wants.size}`;
  if (!wants.modes.every((m) => offers.modes.includes(m))) {
    return `${what}: ${pvIs} offers access modes ${offers.modes.join(',')}, the claim asks for ${wants.modes.join(',')}`;
  }
  if (offers.cls !== wants.cls) return `${what}: ${pvIs} has storageClassName "${offers.cls}", the claim "${wants.cls}"`;
  return `${what}${await lastEvent(kubectl, namespace, name)}`;
}

async function lastEvent(kubectl: Kubectl, namespace: string, name: string): Promise<string> {
  const selector = `involvedObject.kind=PersistentVolumeClaim,involvedObject.name=${name}`;
  const ev = await kubectl.run(['get', 'events', '-n', namespace, '--field-selector', selector, '-o', 'json'], { timeoutMs: 15_000 });
  const events: K8sObject[] = ev.exitCode === 0 ? JSON.parse(ev.stdout).items : [];
  const last = events.sort((a, b) => String(a.lastTimestamp ?? a.eventTime).localeCompare(String(b.lastTimestamp ?? b.eventTime))).pop();
  return last ? ` (volume controller: ${last.message})` : '';
}

// ---------------------------------------------------------------------------------------------------------------
// Server-side apply conflicts: the object, the fields, the other manager, and what to do.

/**
 * kubectl's server-side apply conflict (`Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale"
 * using apps/v1: .spec.replicas`, or one field per `- .path` line) -> each other manager and its fields.
 */
export function conflictsOf(stderr: string): { manager: string; subresource?: string; fields: string[] }[] {
  const text = stderr.replace(/\nPlease review the fields above[\s\S]*$/, '');
  const each = /conflicts? with "([^"]+)"(?: with subresource "([^"]+)")?(?: using [^\s:]+)?:([\s\S]*?)(?=conflicts? with "|$)/g;
  return [...text.matchAll(each)].map((m) => ({
    manager: m[1],
    ...(m[2] ? { subresource: m[2] } : {}),
    fields: [...m[3].matchAll(/(?:^|[\s-])(\.[^\s,]+)/g)].map((f) => f[1]),
  }));
}

/** What the operator can do about a conflict on this object. */
export function conflictAdvice(o: K8sObject, managers: readonly string[]): string {
  const who = managers.map((m) => `"${m}"`).join(', ');
  if (o.kind === 'PersistentVolume') {
    return (
      `the volume exists with other values, set by ${who}: if it belongs to another installation, give this instance other volume names ` +
      "and paths (its name:, storage paths); if it is this stack's volume changed by hand, make roomler.yaml match it. " +
      "A volume's source and capacity cannot be taken over in place"
    );
  }
  return (
    `if ${who} changed it on purpose, put that change into roomler.yaml (and synth) so deploy applies it; ` +
    "to overwrite it with dist/'s values, re-run deploy with --force-conflicts"
  );
}
