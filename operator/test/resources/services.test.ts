import { describe, expect, it } from 'vitest';
import { clientService, peerService, workloadOf } from '../../src/resources/index.js';
import { cluster, topic } from './fixtures.js';

describe('Services', () => {
  it('peers: headless, publishes not-ready pods (a joining pod is not ready yet), gRPC 7400 and HTTP 7401', () => {
    const s = peerService(workloadOf(cluster()));
    expect(s.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(s.spec?.ports?.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['grpc', 7400, 'grpc'],
      ['http', 7401, 'http'],
    ]);
  });

  it('client: ready pods only, of the type the spec asks (ClusterIP by default; topics have no choice)', () => {
    expect(clientService(workloadOf(cluster())).spec?.type).toBe('ClusterIP');
    expect(clientService(workloadOf(cluster())).spec?.publishNotReadyAddresses).toBeUndefined();
    expect(clientService(workloadOf(cluster({ service: { type: 'LoadBalancer' } }))).spec?.type).toBe('LoadBalancer');
    expect(clientService(workloadOf(topic())).spec?.type).toBe('ClusterIP');
  });
});
