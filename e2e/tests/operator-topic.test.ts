/**
 * The operator on a real cluster, DisheapTopic: a 3-pod, 3-partition topic reaches Ready with the
 * topic created in the engines and partition leaders spread over the pods; under producer and
 * consumer load it survives the deletion of a partition leader's pod and grows to 5 partitions
 * online, then scales 3 -> 5 -> 3; no acknowledged enqueue goes undelivered. Then the resource is
 * deleted.
 */
import { describe, expect, it } from 'vitest';
import { apply, kubectl, waitFor } from '../lib/kubectl.js';
import { useNamespace } from '../lib/namespace.js';
import { eventReasons, getResource, memberPod, podNames, sleep, startToolbox, topicLoad, waitConverged } from '../lib/operator.js';
import type { Resource, TopicLoadResult } from '../lib/operator.js';

const ns = useNamespace('op-topic');

const topic = `apiVersion: leviathan.dev/v1alpha1
kind: DisheapTopic
metadata: {name: jobs}
spec:
  replicas: 3
  partitions: 3
  leaseDuration: 30s
  storage: {size: 256Mi}
  resources:
    requests: {cpu: 50m, memory: 96Mi}
    limits: {memory: 384Mi}
`;

function expectNoLoss(r: TopicLoadResult): void {
  expect(r.acked, 'the load made progress').toBeGreaterThan(10);
  expect(r.lost, 'acknowledged enqueues never delivered').toEqual([]);
  expect(r.lostCount).toBe(0);
}

function partitionLeaders(r: Resource): string[] {
  return (r.status?.partitions ?? []).map((p) => (p.leader ? memberPod(p.leader) : ''));
}

describe('operator: DisheapTopic', () => {
  it('creates a 3-partition topic with spread leaders, survives a partition leader pod deletion and adds partitions online', async () => {
    const namespace = ns();
    await apply(topic, namespace);
    await startToolbox(namespace);
    await waitConverged(namespace, 'disheaptopic', 'jobs', 3);
    let r = await waitFor(
      'the topic created with 3 partitions, each led by a different pod',
      async () => {
        const x = await getResource(namespace, 'disheaptopic', 'jobs');
        const leaders = partitionLeaders(x);
        return leaders.length === 3 && leaders.every((l) => l !== '') && new Set(leaders).size === 3 ? x : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 2_000 },
    );
    expect(await eventReasons(namespace, 'jobs')).toContain('TopicCreated');

    // A partition leader's pod is deleted under load.
    const victim = partitionLeaders(r)[0] ?? 'jobs-0';
    const failover = topicLoad(namespace, 'jobs', 30_000);
    await sleep(8_000);
    await kubectl(['-n', namespace, 'delete', 'pod', victim, '--wait=false']);
    const f = await failover;
    expectNoLoss(f);
    expect(f.maxGapMs, 'longest pause of acknowledged enqueues').toBeLessThan(15_000);
    await waitConverged(namespace, 'disheaptopic', 'jobs', 3);

    // Two more partitions, online, under load.
    const grow = topicLoad(namespace, 'jobs', 25_000);
    await kubectl(['-n', namespace, 'patch', 'disheaptopic', 'jobs', '--type=merge', '-p', '{"spec":{"partitions":5}}']);
    r = await waitFor(
      '5 partitions, each with a leader',
      async () => {
        const x = await getResource(namespace, 'disheaptopic', 'jobs');
        const leaders = partitionLeaders(x);
        return leaders.length === 5 && leaders.every((l) => l !== '') ? x : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 2_000 },
    );
    expectNoLoss(await grow);
    expect(await eventReasons(namespace, 'jobs')).toContain('PartitionsAdded');
    // Every pod hosts a replica of every partition, so a fresh load spreads over all five.
    expectNoLoss(await topicLoad(namespace, 'jobs', 5_000));

    // Scale 3 -> 5 -> 3 under load: new pods join the catalog and every partition as learners and
    // are promoted; on the way down each leaves every partition (leadership first), then the catalog.
    const up = topicLoad(namespace, 'jobs', 25_000);
    await kubectl(['-n', namespace, 'scale', 'disheaptopic/jobs', '--replicas=5']);
    expectNoLoss(await up);
    await waitConverged(namespace, 'disheaptopic', 'jobs', 5, 420_000);
    const down = topicLoad(namespace, 'jobs', 25_000);
    await kubectl(['-n', namespace, 'patch', 'disheaptopic', 'jobs', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
    expectNoLoss(await down);
    await waitConverged(namespace, 'disheaptopic', 'jobs', 3, 420_000);
    await waitFor('pods jobs-3 and jobs-4 gone', async () => ((await podNames(namespace, 'jobs')).join() === 'jobs-0,jobs-1,jobs-2' ? true : undefined), { timeoutMs: 180_000 });
    expectNoLoss(await topicLoad(namespace, 'jobs', 5_000));

    await kubectl(['-n', namespace, 'delete', 'disheaptopic', 'jobs', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
    await waitFor('pods gone', async () => ((await podNames(namespace, 'jobs')).length === 0 ? true : undefined), { timeoutMs: 180_000 });
  });
});
