import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { nodePin } from './container';
import { type InstanceScope, namespaced, recommendedLabels } from './metadata';

export interface StaticHostPathVolumeProps extends InstanceScope {
  /** PersistentVolume name (cluster-scoped, so unique across instances). */
  readonly volumeName: string;
  /** PersistentVolumeClaim name in the instance namespace. */
  readonly claimName: string;
  /** Directory on the node. */
  readonly hostPath: string;
  /** Node that holds the directory. */
  readonly node: string;
  /** Capacity, e.g. 5Gi. */
  readonly storage: string;
  /** `app.kubernetes.io/name` of the workload that uses it. */
  readonly appName: string;
}

/**
 * A hostPath PersistentVolume pinned to one node and the claim that binds to exactly it: pre-bound from
 * both sides (claimRef and volumeName), no storage class, so no provisioner can hand out another volume,
 * and Retain, so deleting the claim never deletes data.
 */
export class StaticHostPathVolume extends Construct {
  readonly pv: k8s.KubePersistentVolume;
  readonly pvc: k8s.KubePersistentVolumeClaim;

  constructor(scope: Construct, id: string, props: StaticHostPathVolumeProps) {
    super(scope, id);
    const { instance: i } = props;
    const labels = recommendedLabels(i, props.appName, 'storage');
    const capacity = { storage: k8s.Quantity.fromString(props.storage) };

    this.pv = new k8s.KubePersistentVolume(this, 'pv', {
      metadata: { name: props.volumeName, labels },
      spec: {
        capacity,
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        volumeMode: 'Filesystem',
        hostPath: { path: props.hostPath, type: 'DirectoryOrCreate' },
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: i.namespace, name: props.claimName },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: Object.entries(nodePin(props.node)).map(([key, v]) => ({ key, operator: 'In', values: [v] })) },
            ],
          },
        },
      },
    });

    this.pvc = new k8s.KubePersistentVolumeClaim(this, 'pvc', {
      metadata: namespaced(i, props.claimName, labels),
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        volumeMode: 'Filesystem',
        volumeName: props.volumeName,
        resources: { requests: capacity },
      },
    });
  }
}
