import { z } from 'zod';

import { absolutePath, DNS1123_LABEL, DNS1123_SUBDOMAIN, dnsLabel, dnsSubdomain, image, int32, QUANTITY, quantity, url } from './values';

// Kubernetes validation rules, as the API server applies them (apimachinery/pkg/util/validation). The kinds of
// string values live in values.ts; these names stay for the modules that import them from here.
export { absolutePath, DNS1123_LABEL, DNS1123_SUBDOMAIN, dnsLabel, dnsSubdomain, image, QUANTITY, quantity, url };

export const port = z.number().int().min(1, 'must be a port within 1-65535').max(65535, 'must be a port within 1-65535');
export const nodePort = z
  .number()
  .int()
  .min(30000, 'NodePort must be within 30000-32767 (the default service-node-port-range)')
  .max(32767, 'NodePort must be within 30000-32767 (the default service-node-port-range)');

interface ResourceAmounts {
  cpu: string;
  memory: string;
  /** Local disk: the writable root filesystem, logs and emptyDirs. Over the limit, the kubelet evicts the pod. */
  ephemeralStorage: string;
}

export const resources = (def: { requests: ResourceAmounts; limits: ResourceAmounts }) => {
  const amounts = (d: ResourceAmounts) =>
    z
      .object({ cpu: quantity.default(d.cpu), memory: quantity.default(d.memory), ephemeralStorage: quantity.default(d.ephemeralStorage) })
      .strict()
      .prefault({});
  return z
    .object({ requests: amounts(def.requests), limits: amounts(def.limits) })
    .strict()
    .prefault({});
};

const seconds = (d: number) => int32(0).default(d);
const atLeastOne = (d: number) => int32(1).default(d);

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
