import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { MONGODB_CREDENTIALS, NAMES } from '../config';
import {
  containerDefaults,
  exec,
  nodePin,
  podDefaults,
  probe,
  resourceRequirements,
  restrictedSecurityContext,
  scratch,
  tcp,
} from './container';
import { instanceExemptions, type InstanceScope, namespaced, recommendedLabels, selectorLabels } from './metadata';

export interface MongoDbStatefulSetProps extends InstanceScope {
  /** Claim holding /data/db (a static PVC bound to the data node's hostPath PV). */
  readonly claimName: string;
}

/** The image's mongodb user and group. */
export const MONGODB_UID = 999;

/** The Secret mounted as MONGODB_CREDENTIALS says; 0400, readable by uid 999 through the pod's fsGroup. */
export const mongoCredentials = (secretName: string) => ({
  volume: { name: 'credentials', secret: { secretName, defaultMode: 0o400 } } satisfies k8s.Volume,
  mount: { name: 'credentials', mountPath: MONGODB_CREDENTIALS.dir, readOnly: true } satisfies k8s.VolumeMount,
});

const ping = ['mongosh', '--quiet', '--norc', '--eval', 'db.runCommand({ping:1}).ok'];

/** MongoDB as StatefulSet `mongodb` (pod `mongodb-0`) behind the headless Service `mongodb`. */
export class MongoDbStatefulSet extends Construct {
  readonly service: k8s.KubeService;
  readonly statefulSet: k8s.KubeStatefulSet;

  constructor(scope: Construct, id: string, props: MongoDbStatefulSetProps) {
    super(scope, id);
    const { instance: i } = props;
    const m = i.mongodb;
    const labels = recommendedLabels(i, NAMES.mongodb, 'database');
    const selector = selectorLabels(i, NAMES.mongodb);

    this.service = new k8s.KubeService(this, 'service', {
      metadata: namespaced(i, NAMES.mongodb, labels),
      spec: {
        clusterIp: 'None',
        selector,
        ports: [{ name: 'mongodb', port: m.port, targetPort: k8s.IntOrString.fromString('mongodb'), protocol: 'TCP' }],
      },
    });

    // The root filesystem is read-only; mongod needs /tmp for its socket and the image declares /data/configdb.
    const tmp = scratch('tmp', '/tmp');
    const configdb = scratch('configdb', '/data/configdb');
    const credentials = mongoCredentials(m.secretName);
    this.statefulSet = new k8s.KubeStatefulSet(this, 'statefulset', {
      metadata: namespaced(i, NAMES.mongodb, labels, instanceExemptions(i)),
      spec: {
        serviceName: NAMES.mongodb,
        replicas: 1,
        podManagementPolicy: 'OrderedReady',
        updateStrategy: { type: 'RollingUpdate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: nodePin(i.dataNode),
            // mongod flushes and closes its journal on SIGTERM; give it time before SIGKILL.
            terminationGracePeriodSeconds: 60,
            ...podDefaults(MONGODB_UID),
            containers: [
              {
                name: 'mongodb',
                ...containerDefaults(m.image, i.imagePullPolicy),
                args: ['--bind_ip_all', '--auth'],
                securityContext: restrictedSecurityContext({ readOnlyRootFilesystem: true, runAsUser: MONGODB_UID }),
                ports: [{ name: 'mongodb', containerPort: m.port, protocol: 'TCP' }],
                // The credentials as files (MONGODB_CREDENTIALS): the entrypoint reads the _FILE variants at first init.
                env: [
                  { name: 'MONGO_INITDB_ROOT_USERNAME_FILE', value: `${MONGODB_CREDENTIALS.dir}/${MONGODB_CREDENTIALS.username}` },
                  { name: 'MONGO_INITDB_ROOT_PASSWORD_FILE', value: `${MONGODB_CREDENTIALS.dir}/${MONGODB_CREDENTIALS.password}` },
                  { name: 'MONGO_INITDB_DATABASE', value: m.database },
                  { name: MONGODB_CREDENTIALS.dirEnv, value: MONGODB_CREDENTIALS.dir },
                ],
                resources: resourceRequirements(m.resources),
                startupProbe: probe(exec(...ping), m.startupProbe),
                readinessProbe: probe(exec(...ping), m.readinessProbe),
                // Liveness only asks whether mongod still accepts connections: no mongosh process per check.
                livenessProbe: probe(tcp('mongodb'), m.livenessProbe),
                volumeMounts: [{ name: 'data', mountPath: '/data/db' }, tmp.mount, configdb.mount, credentials.mount],
              },
            ],
            volumes: [
              { name: 'data', persistentVolumeClaim: { claimName: props.claimName } },
              tmp.volume,
              configdb.volume,
              credentials.volume,
            ],
          },
        },
      },
    });
  }
}
