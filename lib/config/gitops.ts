import { z } from 'zod';

import type { CoturnConfig } from './coturn';
import type { Locate } from './cross-instance';
import type { InstanceConfig } from './instance';
import { dnsLabel, dnsSubdomain } from './primitives';
import { gitRepoUrl, gitRevision, relativePath, url } from './values';

/** The Application's default name: never an instance's `app.kubernetes.io/instance` value (see gitopsIssues). */
export const DEFAULT_APPLICATION_NAME = 'roomler-gitops';

// The Argo CD Application that syncs dist/.
export const argocdSchema = z
  .object({
    enabled: z.boolean().default(false),
    name: dnsSubdomain('argocd.name').default(DEFAULT_APPLICATION_NAME),
    /** Namespace Argo CD runs in. */
    namespace: dnsLabel('argocd.namespace').default('argocd'),
    project: dnsSubdomain('argocd.project').default('default'),
    /** Git repository holding the committed dist/. Required when enabled. */
    repoURL: gitRepoUrl.optional(),
    targetRevision: gitRevision.default('main'),
    path: relativePath.default('dist'),
    server: url(['https', 'http']).default('https://kubernetes.default.svc'),
    automated: z
      .object({ prune: z.boolean().default(true), selfHeal: z.boolean().default(true) })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((a) => !a.enabled || (a.repoURL !== undefined && /^(https?|ssh|git):\/\/|^git@/.test(a.repoURL)), {
    message: 'repoURL (https://, ssh://, git:// or git@…) is required when argocd.enabled is true',
    path: ['repoURL'],
  })
  .prefault({});

/** The `app.kubernetes.io/instance` values this project's objects carry: one per instance, and coturn's. */
export const instanceLabelValues = (instances: readonly Pick<InstanceConfig, 'name'>[], coturn: Pick<CoturnConfig, 'enabled'>) => [
  ...instances.map((i) => i.name),
  ...(coturn.enabled ? ['coturn'] : []),
];

/**
 * What ties the Application to the instances:
 * - Its name is never an `app.kubernetes.io/instance` value of ours. Argo CD 2.x tracks by that label, set to the
 *   Application's name: with a name equal to an instance's, the Secrets `secrets apply` labels for that instance are
 *   listed as "requiresPruning" and deleted by automated prune within seconds.
 * - One Application has one destination cluster: instances sent to different kubectl contexts cannot share it.
 */
export function gitopsIssues(
  argocd: z.output<typeof argocdSchema>,
  coturn: Pick<CoturnConfig, 'enabled'>,
  instances: readonly InstanceConfig[],
  locate: Locate,
  where: (path: string) => string,
): string[] {
  if (!argocd.enabled) return [];
  const problems: string[] = [];
  if (instanceLabelValues(instances, coturn).includes(argocd.name)) {
    const coturnOnly = argocd.name === 'coturn' && !instances.some((i) => i.name === 'coturn');
    const owner = coturnOnly ? 'the coturn namespace' : `instance ${argocd.name}`;
    problems.push(
      `${where('argocd.name')}: "${argocd.name}" is also the app.kubernetes.io/instance label of ${owner}'s objects and of the Secrets ` +
        'bin/roomler secrets apply makes for it; Argo CD tracks by that label unless application.resourceTrackingMethod is annotation, ' +
        `and would adopt and prune them. Choose another name (the default is ${DEFAULT_APPLICATION_NAME})`,
    );
  }
  const contexts = new Map<string, number>();
  instances.forEach((i, index) => {
    const key = i.context ?? "kubectl's current context";
    if (!contexts.has(key)) contexts.set(key, index);
  });
  if (contexts.size > 1) {
    const list = [...contexts].map(([context, n]) => `${instances[n].name} -> ${context} (${locate(n, ['context'])})`).join('; ');
    problems.push(
      `${where('argocd.enabled')}: one Argo CD Application syncs to one cluster (argocd.server), ` +
        `but the instances go to ${contexts.size} ` +
        `kubectl contexts: ${list}. Keep one config (and one GitOps repository path) per cluster, or give every instance the same context`,
    );
  }
  return problems;
}
