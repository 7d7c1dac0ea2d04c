import { imagePinning } from '../config/images';
import { EXEMPTION_PREFIX } from '../config/names';
import { type K8sObject, keyOf, podTemplateOf, templatePath } from '../manifest';
import type { Finding, ParsedObject } from './index';
import { containersOf, finding } from './objects';

export interface Exemption {
  readonly object: string;
  readonly file: string;
  readonly check: string;
  readonly reason: string;
}

/**
 * Operational policy, modelled on the default checks of kube-linter, kube-score and Polaris. Rule ids are
 * kube-linter's check names where one exists, so one exemption annotation satisfies both tools.
 */
export const POLICY_CHECKS = {
  'unset-cpu-requirements': 'containers set CPU requests and limits',
  'unset-memory-requirements': 'containers set memory requests and limits',
  'no-readiness-probe': 'long-running containers have a readiness probe',
  'no-liveness-probe': 'long-running containers have a liveness probe',
  'identical-probes': 'readiness and liveness probes use different handlers (kube-score pod-probes-identical)',
  'run-as-non-root': 'pods run as a non-root user (an exemption needs an explicit runAsUser: 0)',
  'no-read-only-root-fs': 'containers have a read-only root filesystem',
  'privilege-escalation-container': 'containers set allowPrivilegeEscalation: false',
  'drop-net-raw-capability': 'containers drop all capabilities (at least NET_RAW)',
  'added-capabilities': 'containers add no capabilities (Checkov CKV_K8S_25)',
  'privileged-ports': 'containers declare no port below 1024',
  'unset-ephemeral-storage-requirements':
    'containers set ephemeral-storage requests and limits (kube-score container-ephemeral-storage-request-and-limit)',
  'env-var-secret': 'no secret-looking literal in an env var (a path such as SECRET_DIR=/etc/x is not one)',
  'read-secret-from-env-var': 'Secrets are mounted as files, not read into env vars (Checkov CKV_K8S_35)',
  'latest-tag': 'images are pinned, not :latest (an exemption needs imagePullPolicy: Always)',
  'floating-tag': 'images name an exact version, not a moving major/minor tag (an exemption needs imagePullPolicy: Always)',
  'host-network': 'pods do not use the host network',
  'exposed-services': 'Services are not NodePort or LoadBalancer',
  'cronjob-starting-deadline': 'CronJobs set startingDeadlineSeconds (kube-score cronjob-has-deadline)',
  'cronjob-job-ttl': 'CronJob job templates have no ttlSecondsAfterFinished (history limits keep failed jobs visible)',
  'pdb-allows-disruption': 'PodDisruptionBudgets can allow at least one disruption (kube-linter pdb-max-unavailable / pdb-min-available)',
  'non-isolated-pod': 'every pod is selected by a NetworkPolicy',
} as const;
export type PolicyCheck = keyof typeof POLICY_CHECKS;

const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** Env var names kube-linter's env-var-secret treats as secrets. */
const SECRET_NAME = /secret|passw(or)?d|token|api_?key|private_?key|credential/i;
/** A value that names where a secret is (a path), not the secret itself. */
const PATH_VALUE = /^\/\S*$/;

/** The action of a probe, without its timings: identical actions are identical probes whatever the thresholds. */
const handler = (p: K8sObject) => JSON.stringify({ exec: p.exec, httpGet: p.httpGet, tcpSocket: p.tcpSocket, grpc: p.grpc });

/**
 * Reports a check's finding unless the object is exempted from it; `voids` says why an exemption cannot be true for
 * this object (its reason claims what the manifest contradicts), which is reported even when exempted.
 */
type Warn = (check: PolicyCheck, path: string, message: string, fix: string, voids?: string) => void;

/** One object under check, with what its rules need of the whole output. */
interface Subject {
  readonly o: K8sObject;
  readonly objects: readonly ParsedObject[];
  readonly policies: readonly K8sObject[];
  readonly warn: Warn;
}

/** One container under check. */
interface ContainerSubject {
  readonly c: K8sObject;
  /** The container's path inside the pod spec (`containers[0]`), and inside the object (`spec.template.spec.containers[0]`). */
  readonly path: string;
  readonly cp: string;
  readonly kind: string;
  readonly spec: K8sObject;
  readonly warn: Warn;
}

/** The object's exemption annotations: each one listed, an empty reason an error; returns the exempted checks. */
function exemptionsOf(p: ParsedObject, findings: Finding[], exemptions: Exemption[]): Set<string> {
  const o = p.object;
  const exempted = new Set<string>();
  for (const [k, v] of Object.entries((o.metadata?.annotations ?? {}) as Record<string, string>)) {
    if (!k.startsWith(EXEMPTION_PREFIX)) continue;
    const check = k.slice(EXEMPTION_PREFIX.length);
    exempted.add(check);
    exemptions.push({ object: keyOf(o), file: p.file, check, reason: v });
    if (!String(v).trim())
      findings.push(
        finding(
          'error',
          'exemption',
          o,
          p.file,
          `metadata.annotations["${k}"]`,
          'an exemption must carry its reason as the annotation value',
        ),
      );
  }
  return exempted;
}

function exposedServiceRule({ o, warn }: Subject): void {
  if (o.kind === 'Service' && (o.spec?.type === 'NodePort' || o.spec?.type === 'LoadBalancer'))
    warn('exposed-services', 'spec.type', `${o.spec.type} Service exposes ports on every node`, 'use ClusterIP behind an ingress');
}

function cronJobRules({ o, warn }: Subject): void {
  if (o.kind !== 'CronJob') return;
  if (o.spec?.startingDeadlineSeconds === undefined)
    warn(
      'cronjob-starting-deadline',
      'spec.startingDeadlineSeconds',
      'a missed schedule is started arbitrarily late (or never, after 100 misses)',
      'set startingDeadlineSeconds',
    );
  if (o.spec?.jobTemplate?.spec?.ttlSecondsAfterFinished !== undefined)
    warn(
      'cronjob-job-ttl',
      'spec.jobTemplate.spec.ttlSecondsAfterFinished',
      'finished jobs are deleted, so a failed backup leaves no trace for alerts',
      'remove it and rely on successfulJobsHistoryLimit/failedJobsHistoryLimit',
    );
}

function disruptionBudgetRule({ o, objects, warn }: Subject): void {
  if (o.kind !== 'PodDisruptionBudget') return;
  const s = o.spec ?? {};
  const selected = objects.filter(
    (w) =>
      w.object.metadata?.namespace === o.metadata?.namespace &&
      podTemplateOf(w.object) &&
      Object.entries(s.selector?.matchLabels ?? {}).every(([k, v]) => podTemplateOf(w.object)!.metadata?.labels?.[k] === v),
  );
  const replicas = selected.reduce((n, w) => n + (w.object.spec?.replicas ?? 1), 0);
  if (
    s.maxUnavailable === 0 ||
    s.maxUnavailable === '0%' ||
    (typeof s.minAvailable === 'number' && s.minAvailable >= replicas) ||
    s.minAvailable === '100%'
  ) {
    warn(
      'pdb-allows-disruption',
      'spec',
      `this budget can never allow a disruption (${replicas} replica(s)), so node drains block`,
      'allow at least one disruption or drop the budget',
    );
  }
}

/** A workload's pod: off the host network, selected by a NetworkPolicy, and every container by CONTAINER_RULES. */
function podRules({ o, policies, warn }: Subject): void {
  const tpl = podTemplateOf(o);
  if (!tpl) return;
  const spec = tpl.spec ?? {};
  const tp = `${templatePath(o)}.spec`;
  if (spec.hostNetwork)
    warn(
      'host-network',
      `${tp}.hostNetwork`,
      'the pod shares the node network namespace (and is outside NetworkPolicy)',
      'drop hostNetwork',
    );
  const isolated = policies.some(
    (np) =>
      np.metadata?.namespace === o.metadata?.namespace &&
      Object.entries(np.spec?.podSelector?.matchLabels ?? {}).every(([k, v]) => tpl.metadata?.labels?.[k] === v),
  );
  if (!isolated) warn('non-isolated-pod', tp, 'no NetworkPolicy selects this pod', 'add a NetworkPolicy');
  for (const { c, path } of containersOf(spec)) {
    const subject: ContainerSubject = { c, path, cp: `${tp}.${path}`, kind: o.kind, spec, warn };
    for (const rule of CONTAINER_RULES) rule(subject);
  }
}

function cpuMemoryRules({ c, cp, warn }: ContainerSubject): void {
  const r = c.resources ?? {};
  if (!r.requests?.cpu || !r.limits?.cpu)
    warn(
      'unset-cpu-requirements',
      `${cp}.resources`,
      `container "${c.name}" lacks a CPU request or limit`,
      'set resources.requests.cpu and resources.limits.cpu',
    );
  if (!r.requests?.memory || !r.limits?.memory)
    warn(
      'unset-memory-requirements',
      `${cp}.resources`,
      `container "${c.name}" lacks a memory request or limit`,
      'set resources.requests.memory and resources.limits.memory',
    );
}

/** Long-running containers (not init containers, not jobs) have readiness and liveness probes that differ. */
function probeRules({ c, cp, path, kind, warn }: ContainerSubject): void {
  if (!LONG_RUNNING.has(kind) || !path.startsWith('containers')) return;
  if (!c.readinessProbe) warn('no-readiness-probe', `${cp}.readinessProbe`, `container "${c.name}" has no readiness probe`, 'add one');
  if (!c.livenessProbe) warn('no-liveness-probe', `${cp}.livenessProbe`, `container "${c.name}" has no liveness probe`, 'add one');
  if (c.readinessProbe && c.livenessProbe && handler(c.readinessProbe) === handler(c.livenessProbe)) {
    warn(
      'identical-probes',
      `${cp}.livenessProbe`,
      `container "${c.name}" has the same readiness and liveness check: what makes it unready also restarts it`,
      'give readiness a real request and keep liveness a cheap connect',
    );
  }
}

function runAsNonRootRule({ c, cp, spec, warn }: ContainerSubject): void {
  const sc: K8sObject = c.securityContext ?? {};
  const podNonRoot = spec.securityContext?.runAsNonRoot === true || (spec.securityContext?.runAsUser ?? 0) > 0;
  if (sc.runAsNonRoot === true || (sc.runAsUser ?? 0) > 0 || (podNonRoot && sc.runAsUser !== 0)) return;
  const uid = sc.runAsUser ?? spec.securityContext?.runAsUser;
  warn(
    'run-as-non-root',
    `${cp}.securityContext`,
    `container "${c.name}" may run as root`,
    'set runAsNonRoot and a non-zero runAsUser',
    uid !== 0
      ? `runAsUser is ${uid ?? 'unset'}, so the image's USER decides who it runs as; set runAsUser: 0 when it must be root`
      : undefined,
  );
}

/** A read-only root filesystem, no privilege escalation, every capability dropped and none added. */
function securityContextRules({ c, cp, warn }: ContainerSubject): void {
  const sc: K8sObject = c.securityContext ?? {};
  if (sc.readOnlyRootFilesystem !== true)
    warn(
      'no-read-only-root-fs',
      `${cp}.securityContext.readOnlyRootFilesystem`,
      `container "${c.name}" has a writable root filesystem`,
      'set readOnlyRootFilesystem: true with emptyDirs for writable paths',
    );
  if (sc.allowPrivilegeEscalation !== false)
    warn(
      'privilege-escalation-container',
      `${cp}.securityContext.allowPrivilegeEscalation`,
      `container "${c.name}" allows privilege escalation`,
      'set allowPrivilegeEscalation: false',
    );
  const drop: string[] = sc.capabilities?.drop ?? [];
  if (!drop.includes('ALL') && !drop.includes('NET_RAW'))
    warn(
      'drop-net-raw-capability',
      `${cp}.securityContext.capabilities.drop`,
      `container "${c.name}" keeps NET_RAW`,
      'drop ALL capabilities',
    );
  const add: string[] = sc.capabilities?.add ?? [];
  if (add.length)
    warn(
      'added-capabilities',
      `${cp}.securityContext.capabilities.add`,
      `container "${c.name}" adds ${add.join(', ')}`,
      'remove capabilities.add',
    );
}

function privilegedPortRule({ c, cp, warn }: ContainerSubject): void {
  for (const [n, port] of ((c.ports ?? []) as K8sObject[]).entries()) {
    const low = [port.containerPort, port.hostPort].filter((x) => typeof x === 'number' && x < 1024);
    if (low.length)
      warn('privileged-ports', `${cp}.ports[${n}]`, `container "${c.name}" binds privileged port ${low[0]}`, 'use a port of 1024 or above');
  }
}

function ephemeralStorageRule({ c, cp, warn }: ContainerSubject): void {
  const r = c.resources ?? {};
  if (!r.requests?.['ephemeral-storage'] || !r.limits?.['ephemeral-storage']) {
    warn(
      'unset-ephemeral-storage-requirements',
      `${cp}.resources`,
      `container "${c.name}" lacks an ephemeral-storage request or limit: logs and writes can fill the node's disk`,
      'set resources.requests and resources.limits ephemeral-storage',
    );
  }
}

/** No secret-looking literal in env, and no Secret read into env vars (one key or all). */
function secretEnvRules({ c, cp, warn }: ContainerSubject): void {
  for (const [n, e] of ((c.env ?? []) as K8sObject[]).entries()) {
    if (typeof e.value === 'string' && e.value !== '' && SECRET_NAME.test(e.name) && !PATH_VALUE.test(e.value)) {
      warn(
        'env-var-secret',
        `${cp}.env[${n}]`,
        `env var ${e.name} of container "${c.name}" holds a literal that looks like a secret`,
        'move it into a Secret mounted as a file',
      );
    }
    if (e.valueFrom?.secretKeyRef)
      warn(
        'read-secret-from-env-var',
        `${cp}.env[${n}]`,
        `env var ${e.name} of container "${c.name}" reads Secret ${e.valueFrom.secretKeyRef.name}: env vars leak into crash dumps, child processes and logs`,
        "mount the Secret as files (e.g. the image's _FILE variables)",
      );
  }
  for (const [n, e] of ((c.envFrom ?? []) as K8sObject[]).entries()) {
    if (e.secretRef)
      warn(
        'read-secret-from-env-var',
        `${cp}.envFrom[${n}]`,
        `container "${c.name}" reads every key of Secret ${e.secretRef.name} into env vars`,
        'mount the Secret as files',
      );
  }
}

/** Images name an exact version; an exemption for a moving one holds only with imagePullPolicy Always. */
function imageTagRules({ c, cp, warn }: ContainerSubject): void {
  if (typeof c.image !== 'string') return;
  const pinning = imagePinning(c.image);
  // The API server's default: Always for :latest or no tag, IfNotPresent otherwise.
  const policy = c.imagePullPolicy ?? (pinning === 'latest' ? 'Always' : 'IfNotPresent');
  const voids = policy !== 'Always' ? `imagePullPolicy is ${policy}: a node that has an older copy never pulls the new one` : undefined;
  if (pinning === 'latest')
    warn(
      'latest-tag',
      `${cp}.image`,
      `image "${c.image}" is not pinned: every pull may run different code`,
      'pin a version tag or digest',
      voids,
    );
  if (pinning === 'floating')
    warn(
      'floating-tag',
      `${cp}.image`,
      `image "${c.image}" names a moving version: the publisher re-points it at every release`,
      'pin the exact version (major.minor.patch) or a digest',
      voids,
    );
}

/** Every container rule, in the order their findings are reported. */
const CONTAINER_RULES: readonly ((s: ContainerSubject) => void)[] = [
  cpuMemoryRules,
  probeRules,
  runAsNonRootRule,
  securityContextRules,
  privilegedPortRule,
  ephemeralStorageRule,
  secretEnvRules,
  imageTagRules,
];

/** Every object rule, in the order their findings are reported. */
const OBJECT_RULES: readonly ((s: Subject) => void)[] = [exposedServiceRule, cronJobRules, disruptionBudgetRule, podRules];

export function policyRules(objects: readonly ParsedObject[]): { findings: Finding[]; exemptions: Exemption[] } {
  const findings: Finding[] = [];
  const exemptions: Exemption[] = [];
  const policies = objects.filter((p) => p.object.kind === 'NetworkPolicy').map((p) => p.object);
  for (const p of objects) {
    const o = p.object;
    const exempted = exemptionsOf(p, findings, exemptions);
    const warn: Warn = (check, path, message, fix, voids) => {
      if (!exempted.has(check))
        findings.push(finding('warning', check, o, p.file, path, message, `${fix}, or annotate ${EXEMPTION_PREFIX}${check}: "<reason>"`));
      else if (voids) findings.push(finding('warning', check, o, p.file, path, `${message}; the exemption does not hold: ${voids}`, fix));
    };
    for (const rule of OBJECT_RULES) rule({ o, objects, policies, warn });
  }
  return { findings, exemptions };
}
