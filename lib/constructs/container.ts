import { k8s } from 'cdk8s-plus-28';

import { HOSTNAME_LABEL, type ProbeTiming, type Resources } from '../config';
import { type PullPolicy, pullPolicyFor } from '../config/images';

/**
 * What every container of the stack sets explicitly instead of inheriting a surprise default: its image with the
 * pull policy that image needs (Always for a moving tag, unless config chose one; config rejects a wrong choice).
 */
export const containerDefaults = (image: string, configured?: PullPolicy) =>
  ({
    image,
    imagePullPolicy: pullPolicyFor(image, configured),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  }) satisfies Partial<k8s.Container>;

const q = (v: string) => k8s.Quantity.fromString(v);

export const resourceRequirements = (r: Resources): k8s.ResourceRequirements => ({
  requests: { cpu: q(r.requests.cpu), memory: q(r.requests.memory), 'ephemeral-storage': q(r.requests.ephemeralStorage) },
  limits: { cpu: q(r.limits.cpu), memory: q(r.limits.memory), 'ephemeral-storage': q(r.limits.ephemeralStorage) },
});

type Action = Pick<k8s.Probe, 'exec' | 'tcpSocket' | 'httpGet'>;

/** A probe from its configured timings; liveness and startup probes must keep successThreshold 1. */
export const probe = (action: Action, t: ProbeTiming): k8s.Probe => ({
  ...action,
  initialDelaySeconds: t.initialDelaySeconds,
  periodSeconds: t.periodSeconds,
  timeoutSeconds: t.timeoutSeconds,
  failureThreshold: t.failureThreshold,
  successThreshold: 1,
});

export const tcp = (port: string | number): Action => ({
  tcpSocket: { port: typeof port === 'number' ? k8s.IntOrString.fromNumber(port) : k8s.IntOrString.fromString(port) },
});

export const httpGet = (path: string, port: string): Action => ({
  httpGet: { path, port: k8s.IntOrString.fromString(port), scheme: 'HTTP' },
});

export const exec = (...command: string[]): Action => ({ exec: { command } });

export const nodePin = (node: string) => ({ [HOSTNAME_LABEL]: node });

/**
 * Container security every workload gets: no escalation, no capabilities, the runtime's seccomp profile. The user
 * is always explicit: a non-zero uid with runAsNonRoot, or 0, which the run-as-non-root exemption requires, so
 * an image's own USER (coturn's `nobody`) can never silently differ from what the exemption claims.
 */
export const restrictedSecurityContext = (opts: {
  readOnlyRootFilesystem: boolean;
  runAsUser: number;
  add?: string[];
}): k8s.SecurityContext => ({
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'], ...(opts.add?.length ? { add: opts.add } : {}) },
  readOnlyRootFilesystem: opts.readOnlyRootFilesystem,
  ...(opts.runAsUser > 0 ? { runAsNonRoot: true } : {}),
  runAsUser: opts.runAsUser,
  runAsGroup: opts.runAsUser,
});

/** uid 0, for images that must run as root; every use carries a run-as-non-root exemption saying why. */
export const ROOT_UID = 0;

/** Pod-level defaults: RuntimeDefault seccomp, and no API token (nothing here talks to the API server). */
export const podDefaults = (fsGroup?: number) =>
  ({
    automountServiceAccountToken: false,
    securityContext: {
      seccompProfile: { type: 'RuntimeDefault' },
      ...(fsGroup !== undefined ? { runAsNonRoot: true, runAsUser: fsGroup, runAsGroup: fsGroup, fsGroup } : {}),
    },
  }) satisfies Partial<k8s.PodSpec>;

/** A writable scratch directory for a read-only root filesystem. */
export const scratch = (name: string, mountPath: string) => ({
  volume: { name, emptyDir: {} } satisfies k8s.Volume,
  mount: { name, mountPath } satisfies k8s.VolumeMount,
});
