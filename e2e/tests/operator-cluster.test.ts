/**
 * The operator on a real cluster, LeviathanCluster: every phase runs with client load (a writer
 * inserting rows through the client Service from a pod in the cluster) and ends with a check that
 * every acknowledged insert is still there.
 *
 *   lifecycle: create 3 -> Ready; delete the leader pod (writes resume within 10 s); scale
 *              3 -> 5 -> 3 (removed members' volumes deleted: whenScaled Delete); rolling upgrade
 *              to a new image tag; delete the resource (owned objects gone, volumes kept: Retain)
 *   repairs:   wipe a follower's volume and pod (member replaced); kill the operator in the middle
 *              of a scale-up (it converges); delete the resource (volumes deleted: Delete)
 */
import { describe, expect, it } from 'vitest';
import { apply, getJson, kubectl, kubectlRaw, waitFor } from '../lib/kubectl.js';
import { useNamespace } from '../lib/namespace.js';
import {
  ENGINE_IMAGE_NEXT,
  condition,
  eventReasons,
  getResource,
  killOperator,
  memberPod,
  operatorPods,
  podNames,
  pvcNames,
  sleep,
  sqlLoad,
  startToolbox,
  waitConverged,
} from '../lib/operator.js';
import type { SqlLoadResult } from '../lib/operator.js';

const ns = useNamespace('op-cluster');

function cluster(name: string, replicas: number, whenDeleted: 'Retain' | 'Delete'): string {
  return `apiVersion: leviathan.dev/v1alpha1
kind: LeviathanCluster
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  storage: {size: 256Mi}
  resources:
    requests: {cpu: 50m, memory: 96Mi}
    limits: {memory: 384Mi}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: ${whenDeleted}, whenScaled: Delete}
`;
}

function expectNoLoss(r: SqlLoadResult): void {
  expect(r.acked, 'the load made progress').toBeGreaterThan(10);
  expect(r.missing, 'acknowledged inserts missing').toEqual([]);
  expect(r.missingCount).toBe(0);
}

async function ownedObjects(namespace: string, name: string): Promise<string[]> {
  const out = await kubectl(['-n', namespace, 'get', 'statefulsets,services,configmaps,poddisruptionbudgets', '-l', `app.kubernetes.io/instance=${name}`, '-o', 'name']);
  return out.split('\n').filter((l) => l.trim() !== '');
}

async function podImages(namespace: string, name: string): Promise<string[]> {
  const pods = await getJson<{ items: { spec: { containers: { image: string }[] } }[] }>(['-n', namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${name}`]);
  return pods.items.map((p) => p.spec.containers[0]?.image ?? '');
}

describe('operator: LeviathanCluster', () => {
  it('creates, fails over, scales 3 -> 5 -> 3, rolls to a new image and deletes, losing no acknowledged write', async () => {
    const namespace = ns();
    await apply(cluster('db', 3, 'Retain'), namespace);
    await startToolbox(namespace);
    let r = await waitConverged(namespace, 'leviathancluster', 'db', 3);
    expect(r.status?.members?.map((m) => [m.name, m.role === 'Learner' ? 'learner' : 'voter'])).toEqual([
      ['db-0', 'voter'],
      ['db-1', 'voter'],
      ['db-2', 'voter'],
    ]);
    expect(condition(r, 'QuorumAvailable')?.status).toBe('True');
    expect(await eventReasons(namespace, 'db')).toEqual(expect.arrayContaining(['ScalingStatefulSet', 'Bootstrapped', 'PromotingMember']));
    const pdb = await getJson<{ spec: { maxUnavailable: number } }>(['-n', namespace, 'get', 'pdb', 'db']);
    expect(pdb.spec.maxUnavailable).toBe(1);
    // An owned object deleted by hand comes back at once (its watch enqueues the resource; the
    // periodic look at a converged resource is 30 s away).
    const before = await getJson<{ metadata: { uid: string } }>(['-n', namespace, 'get', 'service', 'db']);
    await kubectl(['-n', namespace, 'delete', 'service', 'db']);
    await waitFor(
      'the client Service re-created',
      async () => {
        const res = await kubectlRaw(['-n', namespace, 'get', 'service', 'db', '-o', 'jsonpath={.metadata.uid}']);
        return res.code === 0 && res.stdout !== '' && res.stdout !== before.metadata.uid ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );

    // Failover: the leader pod is deleted (SIGTERM: it hands leadership over, then the pod comes
    // back); the writer must be acknowledged again within 10 s.
    const leader = memberPod(r.status?.leader ?? '');
    expect(leader).toMatch(/^db-\d$/);
    const failover = sqlLoad(namespace, 'db', 30_000);
    await sleep(8_000);
    await kubectl(['-n', namespace, 'delete', 'pod', leader, '--wait=false']);
    const f = await failover;
    expectNoLoss(f);
    expect(f.maxGapMs, 'longest pause of acknowledged writes around the leader pod deletion').toBeLessThan(10_000);
    r = await waitConverged(namespace, 'leviathancluster', 'db', 3);

    // Scale up through the scale subresource, then down, under load.
    const up = sqlLoad(namespace, 'db', 25_000);
    await kubectl(['-n', namespace, 'scale', 'leviathancluster/db', '--replicas=5']);
    expectNoLoss(await up);
    r = await waitConverged(namespace, 'leviathancluster', 'db', 5, 420_000);
    expect(r.status?.members?.filter((m) => m.role !== 'Learner').length).toBe(5);
    const down = sqlLoad(namespace, 'db', 25_000);
    await kubectl(['-n', namespace, 'patch', 'leviathancluster', 'db', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
    expectNoLoss(await down);
    r = await waitConverged(namespace, 'leviathancluster', 'db', 3, 420_000);
    expect(r.status?.members?.map((m) => m.name)).toEqual(['db-0', 'db-1', 'db-2']);
    await waitFor('pods db-3 and db-4 gone and their volumes deleted (whenScaled: Delete)', async () => {
      const pods = await podNames(namespace, 'db');
      const pvcs = await pvcNames(namespace, 'db');
      return pods.join() === 'db-0,db-1,db-2' && pvcs.join() === 'data-db-0,data-db-1,data-db-2' ? true : undefined;
    });
    expect(await eventReasons(namespace, 'db')).toEqual(expect.arrayContaining(['RemovingMember', 'DeletingVolume']));

    // Rolling upgrade to a new image tag: pod by pod, leader last.
    const upgrade = sqlLoad(namespace, 'db', 30_000);
    await kubectl(['-n', namespace, 'patch', 'leviathancluster', 'db', '--type=merge', '-p', JSON.stringify({ spec: { image: ENGINE_IMAGE_NEXT } })]);
    const u = await upgrade;
    expectNoLoss(u);
    await waitFor(
      'every pod on the new image',
      async () => {
        const images = await podImages(namespace, 'db');
        return images.length === 3 && images.every((i) => i === ENGINE_IMAGE_NEXT) ? true : undefined;
      },
      { timeoutMs: 420_000, intervalMs: 3_000 },
    );
    r = await waitConverged(namespace, 'leviathancluster', 'db', 3, 300_000);
    expect(await eventReasons(namespace, 'db')).toEqual(expect.arrayContaining(['RestartingPod', 'TransferringLeadership']));
    expectNoLoss(await sqlLoad(namespace, 'db', 5_000));

    // Delete: owned objects go with the resource; with whenDeleted Retain the volumes stay.
    await kubectl(['-n', namespace, 'delete', 'leviathancluster', 'db', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
    await waitFor('owned objects garbage-collected', async () => ((await ownedObjects(namespace, 'db')).length === 0 ? true : undefined));
    await waitFor('pods gone', async () => ((await podNames(namespace, 'db')).length === 0 ? true : undefined), { timeoutMs: 180_000 });
    expect(await pvcNames(namespace, 'db')).toEqual(['data-db-0', 'data-db-1', 'data-db-2']);
  });

  it("replaces a member whose volume was wiped, converges after the operator is killed mid scale-up, and deletes volumes with whenDeleted: Delete", async () => {
    const namespace = ns();
    await apply(cluster('db', 3, 'Delete'), namespace);
    await startToolbox(namespace);
    let r = await waitConverged(namespace, 'leviathancluster', 'db', 3);

    // Wipe a follower: its volume and its pod. It comes back empty, as a new incarnation.
    const leader = memberPod(r.status?.leader ?? '');
    const victim = ['db-1', 'db-2', 'db-0'].find((p) => p !== leader) ?? 'db-1';
    const oldId = r.status?.members?.find((m) => m.name === victim)?.id;
    const wipe = sqlLoad(namespace, 'db', 30_000);
    await sleep(5_000);
    await kubectl(['-n', namespace, 'delete', 'pvc', `data-${victim}`, '--wait=false']);
    await kubectl(['-n', namespace, 'delete', 'pod', victim, '--wait=false']);
    expectNoLoss(await wipe);
    r = await waitFor(
      `${victim} back as a new incarnation and the cluster Ready`,
      async () => {
        const x = await getResource(namespace, 'leviathancluster', 'db');
        const m = x.status?.members?.find((y) => y.name === victim);
        return m && m.id !== oldId && condition(x, 'Ready')?.status === 'True' && x.status?.members?.length === 3 ? x : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 2_000 },
    );
    r = await waitConverged(namespace, 'leviathancluster', 'db', 3);
    expect(r.status?.members?.map((m) => m.id)).not.toContain(oldId);

    // Kill the operator right after it took the first step of a scale-up.
    const scale = sqlLoad(namespace, 'db', 40_000);
    await kubectl(['-n', namespace, 'patch', 'leviathancluster', 'db', '--type=merge', '-p', '{"spec":{"replicas":5}}']);
    await waitFor('the first scale-up step', async () => {
      const sts = await getJson<{ spec: { replicas: number } }>(['-n', namespace, 'get', 'statefulset', 'db']);
      return sts.spec.replicas >= 4 ? true : undefined;
    });
    const killed = await killOperator();
    await waitFor('a new operator pod', async () => {
      const now = await operatorPods();
      return now.some((p) => !killed.includes(p)) ? true : undefined;
    });
    expectNoLoss(await scale);
    r = await waitConverged(namespace, 'leviathancluster', 'db', 5, 420_000);
    const ids = r.status?.members?.map((m) => m.name) ?? [];
    expect(new Set(ids).size).toBe(5);

    // Delete with whenDeleted: Delete: the volumes go too.
    await kubectl(['-n', namespace, 'delete', 'leviathancluster', 'db', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
    await waitFor('owned objects and volumes gone', async () => {
      const left = [...(await ownedObjects(namespace, 'db')), ...(await podNames(namespace, 'db')), ...(await pvcNames(namespace, 'db'))];
      return left.length === 0 ? true : undefined;
    }, { timeoutMs: 240_000, intervalMs: 3_000 });
    const rest = await kubectlRaw(['-n', namespace, 'get', 'leviathancluster', 'db']);
    expect(rest.code).not.toBe(0);
  });
});
