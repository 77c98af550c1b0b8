/**
 * The CRDs on a real API server: served, documented for `kubectl explain`, defaulted, and
 * guarded by their CEL rules — an invalid resource is refused with the rule's own message.
 */
import { describe, expect, it } from 'vitest';
import { apply, getJson, kubectl, kubectlRaw } from '../lib/kubectl.js';
import { useNamespace } from '../lib/namespace.js';

const ns = useNamespace('crds');

const lvc = (name: string, spec: string): string => `apiVersion: leviathan.dev/v1alpha1
kind: LeviathanCluster
metadata: {name: ${name}}
spec: ${spec}
`;
const topic = (name: string, spec: string): string => `apiVersion: leviathan.dev/v1alpha1
kind: DisheapTopic
metadata: {name: ${name}}
spec: ${spec}
`;

/** Applies a manifest that must be refused; returns the API server's message. */
async function refused(manifest: string): Promise<string> {
  const res = await kubectlRaw(['apply', '--server-side', '--field-manager=leviathan-e2e', '-n', ns(), '-f', '-'], { input: manifest });
  expect(res.code, `should have been refused:\n${manifest}`).not.toBe(0);
  return res.stderr;
}

describe('CRDs', () => {
  it('are served under leviathan.dev/v1alpha1 with short names and the leviathan category', async () => {
    const resources = await kubectl(['api-resources', '--api-group=leviathan.dev', '-o', 'wide']);
    expect(resources).toMatch(/leviathanclusters\s+lvc\s+leviathan\.dev\/v1alpha1\s+true\s+LeviathanCluster/);
    expect(resources).toMatch(/disheaptopics\s+dht\s+leviathan\.dev\/v1alpha1\s+true\s+DisheapTopic/);
    await apply(lvc('people', '{}'), ns());
    expect(await kubectl(['get', 'leviathan', '-n', ns()])).toContain('leviathancluster.leviathan.dev/people');
  });

  it('teach through kubectl explain', async () => {
    const cluster = await kubectl(['explain', 'leviathancluster']);
    expect(cluster).toContain('replicated SQLite database');
    const replicas = await kubectl(['explain', 'leviathancluster.spec.replicas']);
    expect(replicas).toContain('Number of voting members');
    expect(replicas).toContain('Odd, from 1 to 9');
    const partitions = await kubectl(['explain', 'disheaptopic.spec.partitions']);
    expect(partitions).toContain('May grow but never shrink');
    const recursive = await kubectl(['explain', 'disheaptopic.spec', '--recursive']);
    for (const field of ['leaseDuration', 'maxDeliveries', 'deadLetterTopic', 'dedupWindow', 'retention', 'maxAge', 'storageClassName', 'electionTimeoutMs']) {
      expect(recursive).toContain(field);
    }
  });

  it('fill in defaults and show printer columns', async () => {
    await apply(lvc('people', '{}') + '---\n' + topic('jobs', '{}'), ns());
    const got = await getJson<{ spec: Record<string, unknown> }>(['get', 'lvc/people', '-n', ns()]);
    expect(got.spec).toMatchObject({ replicas: 3, imagePullPolicy: 'IfNotPresent', storage: { size: '1Gi' }, raft: { heartbeatMs: 100, electionTimeoutMs: 1000 }, service: { type: 'ClusterIP' } });
    const t = await getJson<{ spec: Record<string, unknown> }>(['get', 'dht/jobs', '-n', ns()]);
    expect(t.spec).toMatchObject({ partitions: 1, replicas: 3, leaseDuration: '30s', maxDeliveries: 5, dedupWindow: '1h', retention: { maxAge: '168h' } });
    const table = await kubectl(['get', 'lvc', '-n', ns()]);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+REPLICAS\s+READY\s+LEADER\s+STATUS\s+AGE$/);
    expect((await kubectl(['get', 'dht', '-n', ns()])).split('\n')[0]).toMatch(/^NAME\s+PARTITIONS\s+REPLICAS\s+READY\s+STATUS\s+AGE$/);
  });

  it('refuse invalid resources with the CEL rule\'s message', async () => {
    expect(await refused(lvc('even', '{replicas: 4}'))).toContain('replicas must be odd (1, 3, 5, 7 or 9): an even number of members tolerates no more failures than one fewer');
    expect(await refused(lvc('big', '{replicas: 11}'))).toContain('should be less than or equal to 9');
    expect(await refused(lvc('timing', '{raft: {heartbeatMs: 500, electionTimeoutMs: 1000}}'))).toContain(
      'raft.electionTimeoutMs must be at least 3 times raft.heartbeatMs',
    );
    expect(await refused(lvc('size', '{storage: {size: lots}}'))).toContain('storage.size must be a positive quantity');
    expect(await refused(topic('loop', '{deadLetterTopic: loop}'))).toContain('spec.deadLetterTopic must name another topic, not this one');
    expect(await refused(topic('lease', '{leaseDuration: 24h}'))).toContain('leaseDuration must be a duration between 100ms and 12h');
  });

  it('refuse updates that shrink partitions or storage, or change the storage class', async () => {
    await apply(topic('jobs', '{partitions: 4, storage: {size: 2Gi, storageClassName: standard}}'), ns());
    await apply(topic('jobs', '{partitions: 6, storage: {size: 2Gi, storageClassName: standard}}'), ns());
    expect(await refused(topic('jobs', '{partitions: 2, storage: {size: 2Gi, storageClassName: standard}}'))).toContain('partitions may grow but never shrink');
    expect(await refused(topic('jobs', '{partitions: 6, storage: {size: 1Gi, storageClassName: standard}}'))).toContain('storage.size may grow but never shrink');
    expect(await refused(topic('jobs', '{partitions: 6, storage: {size: 2Gi, storageClassName: fast}}'))).toContain('storage.storageClassName is immutable');
    await apply(topic('jobs', '{partitions: 6, storage: {size: 3Gi, storageClassName: standard}}'), ns());
  });

  it('scale through the scale subresource, within the rules', async () => {
    await apply(lvc('people', '{replicas: 3}'), ns());
    await kubectl(['scale', 'lvc/people', '--replicas=5', '-n', ns()]);
    expect((await getJson<{ spec: { replicas: number } }>(['get', 'lvc/people', '-n', ns()])).spec.replicas).toBe(5);
    const res = await kubectlRaw(['scale', 'lvc/people', '--replicas=4', '-n', ns()]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('replicas must be odd');
  });
});
