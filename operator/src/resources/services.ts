/**
 * The two Services.
 *
 * - peers (headless): gives every pod a stable DNS name (`<pod>.<name>-peers.<ns>.svc`, the engine's
 *   advertised address) and is what --join-dns resolves. It publishes not-ready addresses because
 *   a pod is ready only once it is a member with a leader: peers must reach it before that, or a
 *   joining pod, and a cluster that lost its leader, could never become ready.
 * - client: ready pods only; any member serves (followers forward writes to the leader).
 */
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { GRPC_PORT, HTTP_PORT } from './constants.js';
import { selectorLabels } from './labels.js';
import { clientServiceName, peerServiceName } from './names.js';
import { ownedMeta } from './owner.js';
import type { Workload } from './workload.js';

function ports(): V1ServicePort[] {
  return [
    { name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
    { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
  ];
}

export function peerService(w: Workload): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(w, peerServiceName(w.name)),
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: selectorLabels(w), ports: ports() },
  };
}

export function clientService(w: Workload): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(w, clientServiceName(w.name)),
    spec: { type: w.serviceType, selector: selectorLabels(w), ports: ports() },
  };
}
