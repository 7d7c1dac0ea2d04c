import { z } from 'zod';

import { dnsLabel, dnsSubdomain, image, port, resources } from './primitives';
import { domainName, int32, ipv4, ipv4Cidr, portRange } from './values';

// The coturn namespace: one TURN server per WebRTC node, sharing one auth secret.

const cidr = ipv4Cidr;

const worker = z
  .object({
    /** Suffix of the Deployment name: coturn-<name>. */
    name: dnsLabel('worker name'),
    node: dnsLabel('node name'),
    /** Public address clients reach; with nodeIp it becomes `external-ip=<public>/<node>` behind 1:1 NAT. */
    publicIp: ipv4.optional(),
    /** The node's own address: denied as a peer, and the private side of external-ip. */
    nodeIp: ipv4.optional(),
    /** The worker's own public name, if clients may address it directly. */
    host: domainName.optional(),
  })
  .strict();

export const coturnSchema = z
  .object({
    enabled: z.boolean().default(true),
    namespace: dnsLabel('coturn.namespace').default('coturn'),
    image: image.default('coturn/coturn:4.6.2'),
    realm: domainName.default('roomler.live'),
    /** Public name of the TURN service (DNS to the workers); TURN_URL must point here or at a worker. */
    host: domainName.default('turn.roomler.live'),
    workers: z
      .array(worker)
      .min(1)
      .default([
        { name: 'worker1', node: 'k8s-worker1' },
        { name: 'worker2', node: 'k8s-worker2' },
      ]),
    ports: z
      .object({ listening: port.default(3478), tls: port.default(5349), altTls: port.default(443) })
      .strict()
      .prefault({}),
    /** UDP relay range (min-port / max-port). */
    relayRange: portRange(1024).default('49152-50175'),
    podCidr: cidr.default('10.244.0.0/16'),
    serviceCidr: cidr.default('10.96.0.0/12'),
    /**
     * Extra ranges peers may not be reached at (the defaults already deny loopback, link-local, RFC 1918, CGNAT, the pod
     * and service CIDRs and the node IPs).
     */
    deniedPeers: z.array(cidr).default([]),
    /** Exceptions that must stay reachable through the relay, e.g. the Janus node. */
    allowedPeers: z.array(ipv4).default([]),
    userQuota: int32(1).default(12),
    totalQuota: int32(1).default(1200),
    authSecretName: dnsSubdomain('authSecretName').default('coturn-auth'),
    tlsSecretName: dnsSubdomain('tlsSecretName').default('coturn-tls'),
    // Logs go to stdout (the kubelet counts them as ephemeral storage); the runtime config sits in an emptyDir.
    resources: resources({
      requests: { cpu: '500m', memory: '256Mi', ephemeralStorage: '64Mi' },
      limits: { cpu: '2', memory: '1Gi', ephemeralStorage: '512Mi' },
    }),
  })
  .strict()
  .prefault({});

export type CoturnConfig = z.output<typeof coturnSchema>;
