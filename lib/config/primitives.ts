import { z } from 'zod';

// Kubernetes validation rules, as the API server applies them (apimachinery/pkg/util/validation).
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

export const dnsLabel = (what: string) =>
  z
    .string()
    .max(63, `${what} must be at most 63 characters`)
    .regex(DNS1123_LABEL, `${what} must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending alphanumeric)`);

export const dnsSubdomain = (what: string) =>
  z
    .string()
    .max(253, `${what} must be at most 253 characters`)
    .regex(DNS1123_SUBDOMAIN, `${what} must be a DNS-1123 subdomain`);

export const quantity = z
  .string()
  .regex(QUANTITY, 'must be a Kubernetes quantity such as 250m, 1, 512Mi or 5Gi')
  .refine((q) => !Number.isNaN(parseFloat(q)) && parseFloat(q) > 0, 'must be a positive quantity');

export const port = z.number().int().min(1).max(65535);
export const nodePort = z
  .number()
  .int()
  .min(30000, 'NodePort must be within 30000-32767 (the default service-node-port-range)')
  .max(32767, 'NodePort must be within 30000-32767 (the default service-node-port-range)');

export const absolutePath = z
  .string()
  .regex(/^\/.*/, 'must be an absolute path')
  .refine((p) => p.replace(/\/+$/, '') !== '', 'must not be /');

export const url = (schemes: string[]) =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return schemes.includes(u.protocol.replace(/:$/, '')) && (u.hostname !== '' || u.protocol.startsWith('turn'));
    } catch {
      return false;
    }
  }, `must be a valid URL with scheme ${schemes.join(' or ')}`);

export const image = z
  .string()
  .regex(/^[a-z0-9]+([._\/:@-][a-zA-Z0-9_.-]+)*$/, 'must be a container image reference such as mongo:7');

interface ResourceAmounts {
  cpu: string;
  memory: string;
  /** Local disk: the writable root filesystem, logs and emptyDirs. Over the limit, the kubelet evicts the pod. */
  ephemeralStorage: string;
}

export const resources = (def: { requests: ResourceAmounts; limits: ResourceAmounts }) => {
  const amounts = (d: ResourceAmounts) =>
    z.object({ cpu: quantity.default(d.cpu), memory: quantity.default(d.memory), ephemeralStorage: quantity.default(d.ephemeralStorage) }).strict().prefault({});
  return z.object({ requests: amounts(def.requests), limits: amounts(def.limits) }).strict().prefault({});
};

const seconds = (d: number) => z.number().int().min(0, 'must not be negative').default(d);
const atLeastOne = (d: number) => z.number().int().min(1, 'must be at least 1').default(d);

export interface ProbeTimingDefaults {
  initialDelaySeconds?: number;
  periodSeconds: number;
  timeoutSeconds?: number;
  failureThreshold: number;
}

/** Probe timings; the probe's action (exec, tcp, http) is fixed by the construct. */
export const probeTiming = (d: ProbeTimingDefaults) =>
  z
    .object({
      initialDelaySeconds: seconds(d.initialDelaySeconds ?? 0),
      periodSeconds: atLeastOne(d.periodSeconds),
      timeoutSeconds: atLeastOne(d.timeoutSeconds ?? 1),
      failureThreshold: atLeastOne(d.failureThreshold),
    })
    .strict()
    .prefault({});

export type ProbeTiming = z.infer<ReturnType<typeof probeTiming>>;
export type Resources = z.infer<ReturnType<typeof resources>>;
