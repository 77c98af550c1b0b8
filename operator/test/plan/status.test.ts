/** The PDB budget, status and conditions, computed from the same view as the plan. */
import { describe, expect, it } from 'vitest';
import { clusterStatus, conditions, maxUnavailableFor, pdbMaxUnavailable, plan, topicStatus } from '../../src/plan/index.js';
import type { Condition } from '../../src/api/index.js';
import type { Decision, Observed } from '../../src/plan/index.js';
import { BOOTSTRAPPED, FRESH, desired, edit, healthy, id, partition, withLeader, withMember, withPartitions, withPod } from './fixtures.js';

describe('PDB maxUnavailable from the live voter set', () => {
  it.each([
    // voters, healthy caught-up voters, anything unhealthy, allowed
    [1, 1, false, 0],
    [2, 2, false, 0],
    [3, 3, false, 1],
    [3, 2, false, 0],
    [4, 4, false, 1],
    [5, 5, false, 2],
    [5, 4, false, 1],
    [5, 3, false, 0],
    [7, 7, false, 3],
    [9, 9, false, 4],
    [3, 3, true, 0],
    [5, 5, true, 0],
    [0, 0, false, 0],
  ])('%i voters, %i healthy, unhealthy=%s: %i', (v, h, bad, allowed) => {
    expect(maxUnavailableFor(v, h, bad)).toBe(allowed);
  });

  it('reads the cluster: healthy, a pod down, a lagging voter, nobody answering, a partition', () => {
    expect(pdbMaxUnavailable(desired(), healthy(3))).toBe(1);
    expect(pdbMaxUnavailable(desired({ replicas: 5 }), healthy(5))).toBe(2);
    expect(pdbMaxUnavailable(desired(), edit(healthy(3), withPod(2, { ready: false })))).toBe(0);
    expect(pdbMaxUnavailable(desired(), edit(healthy(3), withMember(id(2), { lag: 999 })))).toBe(0);
    expect(pdbMaxUnavailable(desired(), edit(healthy(3), withLeader(null)))).toBe(0);
    expect(pdbMaxUnavailable(desired(), { ...healthy(3), group0: null })).toBe(0);
    // The tightest group decides: a partition on only three of five pods.
    expect(pdbMaxUnavailable(desired({ replicas: 5 }), edit(healthy(5), withPartitions(partition(0, [0, 1, 2], 0))))).toBe(1);
  });
});

describe('status', () => {
  const ctx = { generation: 7, selector: 'app.kubernetes.io/instance=db' };

  it('reports sizes, the leader and each member\'s role, health and lag', () => {
    const o = edit(healthy(3, 1), withPod(3, {}), withMember(id(3), { role: 'learner', lag: 40 }), withPod(2, { ready: false }));
    expect(clusterStatus(desired(), o, ctx)).toEqual({
      observedGeneration: 7,
      replicas: 4,
      readyReplicas: 2,
      selector: ctx.selector,
      leader: id(1),
      members: [
        { name: 'db-0', id: id(0), role: 'Follower', healthy: true, lag: 0 },
        { name: 'db-1', id: id(1), role: 'Leader', healthy: true, lag: 0 },
        { name: 'db-2', id: id(2), role: 'Follower', healthy: false, lag: 0 },
        { name: 'db-3', id: id(3), role: 'Learner', healthy: true, lag: 40 },
      ],
    });
  });

  it('reports each partition\'s leader for topics, and counts pods caught up everywhere', () => {
    const o = edit(healthy(3), withPartitions(partition(1, [0, 1, 2], 2), { ...partition(0, [0, 1, 2], 1), members: [...partition(0, [0, 1, 2], 1).members.slice(0, 2), { id: id(2), role: 'voter', lag: 500, active: true }] }));
    expect(topicStatus(desired(), o, ctx)).toEqual({
      observedGeneration: 7,
      replicas: 3,
      readyReplicas: 2,
      selector: ctx.selector,
      partitions: [
        { id: 0, leader: id(1) },
        { id: 1, leader: id(2) },
      ],
    });
  });
});

describe('conditions', () => {
  const NOW = '2026-03-01T10:00:00Z';
  const of = (o: Observed, decision: Decision, previous: Condition[] = [], memory = BOOTSTRAPPED): Record<string, Condition> =>
    Object.fromEntries(conditions({ desired: desired(), observed: o, memory, decision, generation: 3, previous, now: NOW }).map((c) => [c.type, c]));

  it('converged: Ready, QuorumAvailable, not Progressing, not Degraded', () => {
    const c = of(healthy(3), plan(desired(), healthy(3), BOOTSTRAPPED));
    expect(c.Ready).toMatchObject({ status: 'True', reason: 'AllMembersReady', observedGeneration: 3, lastTransitionTime: NOW });
    expect(c.QuorumAvailable).toMatchObject({ status: 'True', reason: 'QuorumAvailable' });
    expect(c.Progressing).toMatchObject({ status: 'False', reason: 'Converged' });
    expect(c.Degraded).toMatchObject({ status: 'False', reason: 'Healthy' });
  });

  it('a step in flight is Progressing with the step as reason and its explanation as message', () => {
    const o = healthy(1);
    const d = plan(desired(), o, BOOTSTRAPPED);
    const c = of(o, d);
    expect(c.Progressing).toMatchObject({ status: 'True', reason: 'ScalingStatefulSet', message: d.reason });
    expect(c.Ready).toMatchObject({ status: 'False', reason: 'MembersNotReady', message: 'not healthy voters yet: db-1, db-2' });
  });

  it('quorum lost: Degraded and not QuorumAvailable, loudly', () => {
    const o = edit(healthy(3), withLeader(null), withPod(1, { ready: false, memberId: null }), withPod(2, null));
    const d = plan(desired(), o, BOOTSTRAPPED);
    const c = of(o, d);
    expect(c.QuorumAvailable).toMatchObject({ status: 'False', reason: 'NoLeader' });
    expect(c.Degraded).toMatchObject({ status: 'True', message: expect.stringMatching(/QUORUM LOST/) });
    expect(c.Progressing).toMatchObject({ status: 'False', reason: 'Blocked' });
  });

  it('a lost volume is Degraded until the member is replaced', () => {
    const o = edit(healthy(3), withPod(2, { ready: false, memberId: 'db-2@new' }), withMember(id(2), { active: false }));
    expect(of(o, plan(desired(), o, BOOTSTRAPPED)).Degraded).toMatchObject({ status: 'True', reason: 'MemberVolumeLost' });
  });

  it('while founding: Bootstrapping, not Degraded', () => {
    const o: Observed = { statefulSet: null, pods: [], pvcs: [], group0: null, partitions: [] };
    const c = of(o, plan(desired(), o, FRESH), [], FRESH);
    expect(c.QuorumAvailable).toMatchObject({ status: 'False', reason: 'Bootstrapping' });
    expect(c.Degraded).toMatchObject({ status: 'False' });
  });

  it('keeps lastTransitionTime while a status holds, and moves it when the status changes', () => {
    const before: Condition[] = [
      { type: 'Ready', status: 'True', reason: 'AllMembersReady', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
      { type: 'Degraded', status: 'True', reason: 'MembersUnhealthy', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ];
    const c = of(healthy(3), { kind: 'idle', reason: 'ok' }, before);
    expect(c.Ready?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(c.Degraded?.lastTransitionTime).toBe(NOW);
  });
});
