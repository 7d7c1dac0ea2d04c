import { k8s } from 'cdk8s-plus-28';
import type { InstanceConfig, ProbeTiming, Resources } from '../config';

/** What every container of the stack sets explicitly instead of inheriting a surprise default. */
export const containerDefaults = (i: InstanceConfig) =>
  ({
    imagePullPolicy: i.imagePullPolicy,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  }) satisfies Partial<k8s.Container>;

const q = (v: string) => k8s.Quantity.fromString(v);

export const resourceRequirements = (r: Resources): k8s.ResourceRequirements => ({
  requests: { cpu: q(r.requests.cpu), memory: q(r.requests.memory) },
  limits: { cpu: q(r.limits.cpu), memory: q(r.limits.memory) },
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

export const nodePin = (node: string) => ({ 'kubernetes.io/hostname': node });

/** Container security every workload gets: no escalation, no capabilities, the runtime's seccomp profile. */
export const restrictedSecurityContext = (opts: { readOnlyRootFilesystem: boolean; runAsUser?: number }): k8s.SecurityContext => ({
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  readOnlyRootFilesystem: opts.readOnlyRootFilesystem,
  ...(opts.runAsUser !== undefined ? { runAsNonRoot: true, runAsUser: opts.runAsUser, runAsGroup: opts.runAsUser } : {}),
});

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
