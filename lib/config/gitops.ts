import { z } from 'zod';
import { dnsLabel, dnsSubdomain } from './primitives';
import { gitRepoUrl, gitRevision, relativePath, url } from './values';

// The Argo CD Application that syncs dist/ (issue 7).
export const argocdSchema = z
  .object({
    enabled: z.boolean().default(false),
    name: dnsSubdomain('argocd.name').default('roomler'),
    /** Namespace Argo CD runs in. */
    namespace: dnsLabel('argocd.namespace').default('argocd'),
    project: dnsSubdomain('argocd.project').default('default'),
    /** Git repository holding the committed dist/. Required when enabled. */
    repoURL: gitRepoUrl.optional(),
    targetRevision: gitRevision.default('main'),
    path: relativePath.default('dist'),
    server: url(['https', 'http']).default('https://kubernetes.default.svc'),
    automated: z.object({ prune: z.boolean().default(true), selfHeal: z.boolean().default(true) }).strict().prefault({}),
  })
  .strict()
  .refine((a) => !a.enabled || (a.repoURL !== undefined && /^(https?|ssh|git):\/\/|^git@/.test(a.repoURL)), {
    message: 'repoURL (https://, ssh://, git:// or git@…) is required when argocd.enabled is true',
    path: ['repoURL'],
  })
  .prefault({});
