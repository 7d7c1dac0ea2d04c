import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { MONGODB_CLIENT_LABEL, NAMES } from '../config';
import { type InstanceScope, namespaced, recommendedLabels, selectorLabels } from './metadata';

export type RoomlerNetworkPoliciesProps = InstanceScope;

const port = (p: number | string, protocol = 'TCP') => ({
  port: typeof p === 'number' ? k8s.IntOrString.fromNumber(p) : k8s.IntOrString.fromString(p),
  protocol,
});

/**
 * Default-deny for the namespace, then only the flows the stack uses. Janus runs on the host network and
 * so is outside NetworkPolicy; the host nginx reaches the app through its NodePort, whose source address
 * depends on the CNI, so the app accepts its HTTP port from anywhere.
 */
export class RoomlerNetworkPolicies extends Construct {
  constructor(scope: Construct, id: string, props: RoomlerNetworkPoliciesProps) {
    super(scope, id);
    const { instance: i } = props;
    const labels = recommendedLabels(i, i.partOf, 'network-policy');
    const pods = (name: string) => ({ podSelector: { matchLabels: selectorLabels(i, name) } });
    const policy = (name: string, spec: k8s.NetworkPolicySpec) =>
      new k8s.KubeNetworkPolicy(this, name, { metadata: namespaced(i, name, labels), spec });

    policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    policy('allow-dns', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [port(53, 'UDP'), port(53, 'TCP')] }] });
    policy('mongodb', {
      ...pods(NAMES.mongodb),
      policyTypes: ['Ingress'],
      // The app, and any job of this instance labelled as a MongoDB client (the backup CronJobs).
      ingress: [
        {
          from: [pods(NAMES.app), { podSelector: { matchLabels: { [MONGODB_CLIENT_LABEL]: 'true' } } }],
          ports: [port(i.mongodb.port)],
        },
      ],
    });
    policy('mongodb-clients', {
      podSelector: { matchLabels: { [MONGODB_CLIENT_LABEL]: 'true' } },
      policyTypes: ['Egress'],
      egress: [{ to: [pods(NAMES.mongodb)], ports: [port(i.mongodb.port)] }],
    });
    policy('redis', {
      ...pods(NAMES.redis),
      policyTypes: ['Ingress'],
      ingress: [{ from: [pods(NAMES.app)], ports: [port(i.redis.port)] }],
    });
    policy('roomler', {
      ...pods(NAMES.app),
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [port(i.app.port)] }],
      egress: [
        { to: [pods(NAMES.mongodb)], ports: [port(i.mongodb.port)] },
        { to: [pods(NAMES.redis)], ports: [port(i.redis.port)] },
        // OAuth providers, SendGrid, Giphy, TURN and the Janus node: all outside the cluster network.
        { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }] },
      ],
    });
  }
}
