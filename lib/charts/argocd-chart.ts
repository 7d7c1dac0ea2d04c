import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';

import { Application } from '../../imports/argoproj.io';
import type { RootConfig } from '../config';

export interface ArgoCdChartProps {
  /** The `argocd:` section of the config: where the Application lives and which repository and path it syncs. */
  readonly argocd: RootConfig['argocd'];
}

/**
 * The Argo CD `Application` (argoproj.io/v1alpha1) that syncs the committed dist/: `dist/argocd.k8s.yaml`.
 * Data volumes are protected by their own `Prune=false,Delete=false` sync options, not by turning prune off.
 * Built with the class `cdk8s import` generated from the vendored CRD (imports/), so a misspelt field fails `tsc`;
 * its toJson writes the fields in the CRD schema's order.
 */
export class ArgoCdChart extends Chart {
  constructor(scope: Construct, props: ArgoCdChartProps) {
    super(scope, 'argocd', { disableResourceNameHashes: true });
    const a = props.argocd;
    new Application(this, 'application', {
      metadata: {
        name: a.name,
        namespace: a.namespace,
        labels: { 'app.kubernetes.io/part-of': 'roomler', 'app.kubernetes.io/managed-by': 'cdk8s' },
      },
      spec: {
        project: a.project,
        // The Application itself is applied once by hand (kubectl apply -f dist/argocd.k8s.yaml), not by its own sync.
        source: {
          repoUrl: a.repoURL!,
          targetRevision: a.targetRevision,
          path: a.path,
          directory: { recurse: false, exclude: 'argocd.k8s.yaml' },
        },
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
