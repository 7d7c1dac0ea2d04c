import type { k8s } from 'cdk8s-plus-28';

import { EXEMPTION_PREFIX, type InstanceConfig } from '../config';
import { imagePinning } from '../config/images';

/** The parts of an instance every construct labels and places its objects with. */
export interface InstanceScope {
  readonly instance: InstanceConfig;
}

/**
 * Selector labels: the only labels a selector may use. They derive from the config, never from construct
 * paths, so a refactor can never change an immutable selector.
 */
export const selectorLabels = (i: InstanceConfig, name: string) => ({
  'app.kubernetes.io/name': name,
  'app.kubernetes.io/instance': i.name,
});

/** The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels). */
export const recommendedLabels = (i: InstanceConfig, name: string, component: string) => ({
  ...selectorLabels(i, name),
  'app.kubernetes.io/component': component,
  'app.kubernetes.io/part-of': i.partOf,
  'app.kubernetes.io/managed-by': 'cdk8s',
});

/** Exemptions every workload of an instance carries because of an instance-wide choice. */
export const instanceExemptions = (i: InstanceConfig) =>
  i.security.networkPolicies ? {} : exemptions({ 'non-isolated-pod': i.security.networkPoliciesOffReason });

/** Metadata of a namespaced object of this instance. */
export const namespaced = (
  i: InstanceConfig,
  name: string,
  labels: Record<string, string>,
  annotations?: Record<string, string>,
): k8s.ObjectMeta => ({ name, namespace: i.namespace, labels, ...(annotations ? { annotations } : {}) });

/** Exemptions from a policy check, with the reason as the value (kube-linter's own annotation key). */
export const exemptions = (reasons: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(reasons)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([check, reason]) => [`${EXEMPTION_PREFIX}${check}`, reason]),
  );

/** The latest-tag exemption for an image that is `:latest` (the reason from config), none for a pinned one. */
export const latestTagReason = (image: string, reason: string) => (imagePinning(image) === 'latest' ? reason : undefined);

/**
 * Pod-template annotation: a hash of the configuration a workload reads at start (its ConfigMap data, the names of
 * the Secret keys it reads), so a change of either replaces its pods. Secret values are never in dist/: a rotated
 * value is rolled out by `bin/roomler secrets apply` (docs/security.md).
 */
export const CONFIG_HASH_ANNOTATION = 'roomler.io/config-sha256';
