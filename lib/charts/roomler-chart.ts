import type { Construct } from 'constructs';

import { NAMES, persistentVolumeNames } from '../config';
import { JanusGateway } from '../constructs/janus-gateway';
import { MongoDbBackupCronJobs } from '../constructs/mongodb-backup-cronjobs';
import { MongoDbStatefulSet } from '../constructs/mongodb-statefulset';
import { RoomlerNetworkPolicies } from '../constructs/network-policies';
import { RedisDeployment } from '../constructs/redis-deployment';
import { RoomlerApp } from '../constructs/roomler-app';
import { StaticHostPathVolume } from '../constructs/static-host-path-volume';
import { InstanceChart, type InstanceChartProps } from './instance-chart';

/** One complete copy of the Roomler stack in its own namespace: `dist/<instance>.k8s.yaml`. */
export class RoomlerChart extends InstanceChart {
  constructor(scope: Construct, props: InstanceChartProps) {
    super(scope, props);
    const instance = this.instance;
    const pvNames = persistentVolumeNames(instance);

    const mongoData = new StaticHostPathVolume(this, 'mongodb-data', {
      instance,
      volumeName: pvNames.mongodb,
      claimName: NAMES.mongodbPvc,
      hostPath: instance.mongodb.hostPath,
      node: instance.dataNode,
      storage: instance.mongodb.storage,
      appName: NAMES.mongodb,
    });
    const uploads = new StaticHostPathVolume(this, 'uploads', {
      instance,
      volumeName: pvNames.uploads,
      claimName: NAMES.uploadsPvc,
      hostPath: instance.app.uploads.hostPath,
      node: instance.dataNode,
      storage: instance.app.uploads.storage,
      appName: NAMES.app,
    });

    new MongoDbStatefulSet(this, 'mongodb', { instance, claimName: mongoData.pvc.name });
    new RedisDeployment(this, 'redis', { instance });
    new JanusGateway(this, 'janus', { instance });
    new RoomlerApp(this, 'roomler', { instance, uploadsClaimName: uploads.pvc.name });
    if (instance.backups.enabled) new MongoDbBackupCronJobs(this, 'mongodb-backup', { instance });
    if (instance.security.networkPolicies) new RoomlerNetworkPolicies(this, 'network-policies', { instance });
  }
}
