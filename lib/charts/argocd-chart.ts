import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { RootConfig } from '../config';

export interface ArgoCdChartProps {
  readonly argocd: RootConfig['argocd'];
}

/**
 * The Argo CD `Application` (argoproj.io/v1alpha1) that syncs the committed dist/: `dist/argocd.k8s.yaml`.
 * Data volumes are protected by their own `Prune=false,Delete=false` sync options, not by turning prune off.
 */
export class ArgoCdChart extends Chart {
  constructor(scope: Construct, props: ArgoCdChartProps) {
    super(scope, 'argocd', { disableResourceNameHashes: true });
    const a = props.argocd;
    new ApiObject(this, 'application', {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: a.name, namespace: a.namespace, labels: { 'app.kubernetes.io/part-of': 'roomler', 'app.kubernetes.io/managed-by': 'cdk8s' } },
      spec: {
        project: a.project,
        // The Application itself is applied once by hand (kubectl apply -f dist/argocd.k8s.yaml), not by its own sync.
        source: { repoURL: a.repoURL!, targetRevision: a.targetRevision, path: a.path, directory: { recurse: false, exclude: 'argocd.k8s.yaml' } },
        destination: { server: a.server },
        syncPolicy: {
          automated: { prune: a.automated.prune, selfHeal: a.automated.selfHeal },
          syncOptions: ['ServerSideApply=true', 'PrunePropagationPolicy=foreground', 'PruneLast=true'],
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        },
      },
    });
  }
}
