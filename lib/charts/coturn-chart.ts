import { Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import type { Construct } from 'constructs';

import type { CoturnConfig } from '../config/coturn';
import { CoturnWorker } from '../constructs/coturn-worker';

export interface CoturnChartProps {
  readonly coturn: CoturnConfig;
}

/**
 * The `coturn` namespace: one TURN server per WebRTC node (`dist/coturn.k8s.yaml`). No chart namespace: cdk8s would
 * stamp it on the Namespace.
 */
export class CoturnChart extends Chart {
  constructor(scope: Construct, props: CoturnChartProps) {
    super(scope, 'coturn', { disableResourceNameHashes: true });
    const c = props.coturn;
    const labels = (name: string, component: string) => ({
      'app.kubernetes.io/name': name,
      'app.kubernetes.io/instance': 'coturn',
      'app.kubernetes.io/component': component,
      'app.kubernetes.io/part-of': 'roomler',
      'app.kubernetes.io/managed-by': 'cdk8s',
    });
    new k8s.KubeNamespace(this, 'namespace', { metadata: { name: c.namespace, labels: labels('coturn', 'namespace') } });
    for (const worker of c.workers) new CoturnWorker(this, worker.name, { coturn: c, worker, labels });
  }
}
