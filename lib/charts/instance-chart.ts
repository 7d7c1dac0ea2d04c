import { Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import type { Construct } from 'constructs';

import type { InstanceConfig } from '../config';
import { recommendedLabels } from '../constructs/metadata';

export interface InstanceChartProps {
  readonly instance: InstanceConfig;
}

/**
 * Base chart of one instance: owns its Namespace and its labels. The chart itself has no namespace because
 * cdk8s would stamp it onto cluster-scoped objects (Namespace, PersistentVolume); namespaced constructs set
 * `metadata.namespace` themselves.
 */
export abstract class InstanceChart extends Chart {
  readonly instance: InstanceConfig;
  readonly namespaceObject: k8s.KubeNamespace;

  protected constructor(scope: Construct, props: InstanceChartProps) {
    super(scope, props.instance.name, { disableResourceNameHashes: true });
    this.instance = props.instance;
    this.namespaceObject = new k8s.KubeNamespace(this, 'namespace', {
      metadata: { name: props.instance.namespace, labels: recommendedLabels(props.instance, props.instance.partOf, 'namespace') },
    });
  }
}
