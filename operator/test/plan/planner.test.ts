/**
 * The planner's rules, one scenario per row: given the desired state, what the operator sees and
 * what it remembers, the one decision it must take. Rows are grouped like the rules.
 */
import { describe, expect, it } from 'vitest';
import { bootstrapMember, check, isStep, plan, viewOf } from '../../src/plan/index.js';
import type { Decision, Desired, Observed, PlanMemory } from '../../src/plan/index.js';
import {
  BOOTSTRAPPED,
  FRESH,
  desired,
  edit,
  healthy,
  id,
  partition,
  pending,
  pod,
  podView,
  withLeader,
  withMember,
  withPartitions,
  withPod,
  withPvc,
  withSts,
  withoutGroup0,
  withoutPvcs,
} from './fixtures.js';

interface Row {
  readonly name: string;
  readonly desired: Desired;
  readonly observed: Observed;
  readonly memory: PlanMemory;
  /** The decision's kind and the fields that matter; `reason` is matched as a regular expression. */
  readonly expect: Partial<Record<string, unknown>> & { kind: Decision['kind']; reason?: RegExp };
}

const empty: Observed = { statefulSet: null, pods: [], pvcs: [], group0: null, partitions: [] };

function run(rows: readonly Row[]): void {
  for (const row of rows) {
    it(row.name, () => {
      const d = plan(row.desired, row.observed, row.memory);
      const { reason, ...fields } = row.expect;
      expect(d).toMatchObject(fields);
      if (reason !== undefined) expect(d.reason).toMatch(reason);
      // Every step the planner proposes passes its own safety check.
      if (isStep(d)) expect(check(viewOf(row.desired, row.observed, row.memory), d)).toBeNull();
      // Deterministic: the same input, the same decision.
      expect(plan(row.desired, row.observed, row.memory)).toEqual(d);
    });
  }
}

describe('founding', () => {
  run([
    { name: 'a new resource gets a StatefulSet of one pod', desired: desired(), observed: empty, memory: FRESH, expect: { kind: 'scale-statefulset', replicas: 1, reason: /founding/ } },
    {
      name: 'then waits for ordinal 0 to elect itself',
      desired: desired(),
      observed: edit(empty, withSts(1), withPod(0, { ready: false, memberId: null })),
      memory: FRESH,
      expect: { kind: 'wait', reason: /db-0 to found/ },
    },
    {
      name: 'a leader seen: the cluster is marked bootstrapped before anything grows',
      desired: desired(),
      observed: healthy(1),
      memory: FRESH,
      expect: { kind: 'mark-bootstrapped' },
    },
    {
      name: 'volumes of other ordinals (an earlier cluster) are adopted, not founded over',
      desired: desired(),
      observed: edit(empty, withPvc(0), withPvc(1), withPvc(2)),
      memory: FRESH,
      expect: { kind: 'scale-statefulset', replicas: 3, reason: /adopting/ },
    },
    {
      name: 'adopted members that cannot elect a leader are waited for, never founded over',
      desired: desired(),
      observed: edit(empty, withSts(3), withPvc(1), withPvc(2)),
      memory: FRESH,
      expect: { kind: 'wait', reason: /earlier volumes/ },
    },
  ]);

  it('grants the bootstrap permission to ordinal 0 only while not bootstrapped and without traces of an earlier cluster', () => {
    expect(bootstrapMember(desired(), empty, FRESH)).toBe('db-0');
    expect(bootstrapMember(desired(), edit(empty, withSts(1), withPvc(0)), FRESH)).toBe('db-0');
    expect(bootstrapMember(desired(), healthy(1), FRESH)).toBeNull();
    expect(bootstrapMember(desired(), healthy(1), BOOTSTRAPPED)).toBeNull();
    expect(bootstrapMember(desired(), edit(empty, withPvc(0), withPvc(2)), FRESH)).toBeNull();
    // A pod 0 that lost its volume after founding: the permission is gone for good.
    expect(bootstrapMember(desired(), edit(healthy(3), withPod(0, { ready: false, memberId: 'db-0@new' }), withLeader(null)), BOOTSTRAPPED)).toBeNull();
  });
});

describe('scale up: one pod at a time, joined as a learner, promoted when caught up', () => {
  run([
    { name: 'a single voter grows the StatefulSet by one', desired: desired(), observed: healthy(1), memory: BOOTSTRAPPED, expect: { kind: 'scale-statefulset', replicas: 2 } },
    {
      name: 'the new pod has not joined yet: wait (it asks to join by itself)',
      desired: desired(),
      observed: edit(healthy(1), withSts(2), withPod(1, { ready: false, memberId: null })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /db-1 is not ready/ },
    },
    {
      name: 'a lagging learner is not promoted',
      desired: desired(),
      observed: edit(healthy(1), withSts(2), withPod(1, {}), withMember(id(1), { role: 'learner', lag: 500 })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /catching up.*500 entries/ },
    },
    {
      name: 'a caught-up learner is promoted',
      desired: desired(),
      observed: edit(healthy(1), withSts(2), withPod(1, {}), withMember(id(1), { role: 'learner', lag: 3 })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'promote', groupId: 0, memberId: id(1) },
    },
    {
      name: 'no promotion while another member is unhealthy',
      desired: desired({ replicas: 5 }),
      observed: edit(healthy(3), withSts(4), withPod(3, {}), withMember(id(3), { role: 'learner', lag: 0 }), withPod(1, { ready: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /db-1 is not ready/ },
    },
    { name: 'converged: idle', desired: desired(), observed: healthy(3), memory: BOOTSTRAPPED, expect: { kind: 'idle' } },
  ]);
});

describe('scale down: leave Raft, shrink, wait for the pod, then the volume', () => {
  const five = healthy(5);
  run([
    { name: 'the highest ordinal leaves Raft first', desired: desired(), observed: five, memory: BOOTSTRAPPED, expect: { kind: 'remove-member', memberId: id(4) } },
    {
      name: 'a leading member hands leadership over first, to a caught-up voter that stays',
      desired: desired(),
      observed: edit(five, withLeader(id(4)), withMember(id(0), { lag: 50 })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'transfer-leadership', from: id(4), to: id(1) },
    },
    {
      name: 'no caught-up voter that stays: the leader keeps leading and nothing is removed',
      desired: desired({ replicas: 1 }),
      observed: edit(healthy(2), withLeader(id(1)), withMember(id(0), { lag: 50 })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /no caught-up voter that stays/ },
    },
    {
      name: 'leadership goes to the lowest caught-up ordinal that stays',
      desired: desired(),
      observed: edit(five, withLeader(id(4))),
      memory: BOOTSTRAPPED,
      expect: { kind: 'transfer-leadership', from: id(4), to: id(0) },
    },
    {
      name: 'once it left Raft, the StatefulSet shrinks past it',
      desired: desired(),
      observed: edit(five, withMember(id(4), null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'scale-statefulset', replicas: 4 },
    },
    {
      name: 'the next member waits until the pod is gone',
      desired: desired(),
      observed: edit(five, withMember(id(4), null), withSts(4), withPod(4, { terminating: true, ready: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /db-4 is being removed/ },
    },
    {
      name: 'pod gone, volume retention Delete: the volume goes',
      desired: desired({ volumeRetention: 'Delete' }),
      observed: edit(five, withMember(id(4), null), withSts(4), withPod(4, null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'delete-pvc', pvcName: 'data-db-4', ordinal: 4 },
    },
    {
      name: 'pod gone, volume retention Retain: the volume stays and the next member leaves',
      desired: desired(),
      observed: edit(five, withMember(id(4), null), withSts(4), withPod(4, null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'remove-member', memberId: id(3) },
    },
    {
      name: 'a healthy member is not removed when the rest could not make a quorum of the new configuration',
      desired: desired({ replicas: 1 }),
      observed: edit(healthy(3), withMember(id(1), { lag: 999 })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /would leave 1 caught-up voter.*fewer than a quorum \(2\) of 2/ },
    },
    {
      name: 'a departing member that is down is removed first, even while unhealthy',
      desired: desired({ replicas: 1 }),
      observed: edit(healthy(3), withPod(1, { ready: false }), withMember(id(1), { active: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'remove-member', memberId: id(1) },
    },
    {
      name: 'no voluntary removal while a member that stays is unhealthy',
      desired: desired(),
      observed: edit(five, withPod(1, { ready: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /db-1 is not ready/ },
    },
  ]);

  it('never deletes a volume whose pod still exists or whose member is still in Raft', () => {
    const d = desired({ volumeRetention: 'Delete' });
    const podLeft = edit(healthy(5), withMember(id(4), null), withSts(4));
    const v1 = viewOf(d, podLeft, BOOTSTRAPPED);
    expect(check(v1, { kind: 'delete-pvc', pvcName: 'data-db-4', ordinal: 4, reason: '' })).toMatch(/pod db-4 still exists/);
    const stillMember = edit(healthy(5), withSts(4), withPod(4, null));
    const v2 = viewOf(d, stillMember, BOOTSTRAPPED);
    expect(check(v2, { kind: 'delete-pvc', pvcName: 'data-db-4', ordinal: 4, reason: '' })).toMatch(/still a member/);
  });
});

describe('failover: lost volumes, lost quorum', () => {
  const wiped = edit(healthy(3), withPod(2, { ready: false, memberId: 'db-2@new' }), withMember(id(2), { active: false }));
  run([
    {
      name: 'a pod back with an empty volume: its earlier incarnation is removed, though the cluster is unhealthy',
      desired: desired(),
      observed: wiped,
      memory: BOOTSTRAPPED,
      expect: { kind: 'remove-member', memberId: id(2), reason: /lost its volume/ },
    },
    {
      name: 'then the new incarnation is added as a learner if it has not joined by itself',
      desired: desired(),
      observed: edit(wiped, withMember(id(2), null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'add-learner', memberId: 'db-2@new', podName: pod(2) },
    },
    {
      name: 'and promoted once caught up',
      desired: desired(),
      observed: edit(wiped, withMember(id(2), null), withPod(2, { ready: true }), withMember('db-2@new', { role: 'learner', lag: 0, active: true })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'promote', memberId: 'db-2@new' },
    },
    {
      name: 'a lost leader with a quorum still up: wait for the election',
      desired: desired(),
      observed: edit(healthy(3), withLeader(null), withPod(0, { ready: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /election/ },
    },
    {
      name: 'two of three voters down: quorum lost, reported loudly, nothing forced',
      desired: desired(),
      observed: edit(healthy(3), withLeader(null), withPod(1, { ready: false, memberId: null }), withPod(2, null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'degraded', reason: /QUORUM LOST in group 0: only 1 of 3/ },
    },
    {
      name: 'during an election no pod is ready (readiness needs a leader), yet the quorum is up: wait',
      desired: desired(),
      observed: edit(healthy(3), withLeader(null), withPod(0, { ready: false }), withPod(1, { ready: false }), withPod(2, { ready: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /election/ },
    },
    {
      name: 'adopted members that run but lost their quorum: degraded, never founded over',
      desired: desired(),
      observed: edit(healthy(3), withLeader(null), withPod(0, null), withPod(1, null), withoutPvcs(0, 1)),
      memory: FRESH,
      expect: { kind: 'degraded', reason: /adopting an earlier cluster: QUORUM LOST/ },
    },
    {
      name: 'nobody answers: degraded',
      desired: desired(),
      observed: edit(healthy(3), withoutGroup0),
      memory: BOOTSTRAPPED,
      expect: { kind: 'degraded', reason: /no member/ },
    },
    {
      name: 'a pod holding a retained volume of a removed member is added back as a learner',
      desired: desired(),
      observed: edit(healthy(2), withSts(3), withPod(2, { ready: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'add-learner', memberId: id(2) },
    },
    {
      name: 'a StatefulSet shrunk under its members grows back over them',
      desired: desired(),
      observed: edit(healthy(3), withSts(1), withPod(1, null), withPod(2, null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'scale-statefulset', replicas: 3 },
    },
    {
      name: 'a deleted StatefulSet is re-created over every member',
      desired: desired(),
      observed: edit(healthy(3), withSts(null)),
      memory: BOOTSTRAPPED,
      expect: { kind: 'scale-statefulset', replicas: 3, reason: /missing/ },
    },
  ]);
});

describe('rolling upgrade: followers first, highest ordinal first, the leader last', () => {
  const d2 = desired({ templateHash: 'h2' });
  run([
    { name: 'the highest follower restarts first', desired: d2, observed: healthy(3), memory: BOOTSTRAPPED, expect: { kind: 'restart-pod', podName: pod(2), podUid: 'uid-2' } },
    { name: 'the leader is skipped while followers are left', desired: d2, observed: healthy(3, 2), memory: BOOTSTRAPPED, expect: { kind: 'restart-pod', podName: pod(1) } },
    {
      name: 'a restarted member catches up before the next restart',
      desired: d2,
      observed: edit(healthy(3), withPod(2, { templateHash: 'h2' }), withMember(id(2), { lag: 400 })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /catch up/ },
    },
    {
      name: 'only the leader left: leadership moves to a member on the new template',
      desired: d2,
      observed: edit(healthy(3), withPod(1, { templateHash: 'h2' }), withPod(2, { templateHash: 'h2' })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'transfer-leadership', from: id(0), to: id(1) },
    },
    {
      name: 'then the former leader restarts',
      desired: d2,
      observed: edit(healthy(3, 1), withPod(1, { templateHash: 'h2' }), withPod(2, { templateHash: 'h2' })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'restart-pod', podName: pod(0) },
    },
    { name: 'a single voter restarts anyway (nobody to hand over to)', desired: desired({ replicas: 1, templateHash: 'h2' }), observed: healthy(1), memory: BOOTSTRAPPED, expect: { kind: 'restart-pod', podName: pod(0), reason: /only voter/ } },
    {
      name: 'a pod stuck on a bad old template is restarted even while the cluster is unhealthy',
      desired: d2,
      observed: edit(healthy(3), withPod(1, { templateHash: 'h0', ready: false }), withMember(id(1), { active: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'restart-pod', podName: pod(1) },
    },
  ]);
});

describe('updateStrategy OnDelete: the operator restarts no pod for a template change', () => {
  const d2 = desired({ templateHash: 'h2', updateStrategy: 'OnDelete' });
  run([
    { name: 'pods on an old template are left alone: idle, saying so', desired: d2, observed: healthy(3), memory: BOOTSTRAPPED, expect: { kind: 'idle', reason: /OnDelete: db-0, db-1, db-2 keep\(s\) an old template until deleted/ } },
    {
      name: 'a pod the user deleted comes back on the new template; the rest stay',
      desired: d2,
      observed: edit(healthy(3), withPod(2, { templateHash: 'h2', uid: 'uid-2b' })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'idle', reason: /db-0, db-1 keep/ },
    },
    {
      name: 'the leader keeps its leadership (no transfer for a rollout)',
      desired: d2,
      observed: edit(healthy(3), withPod(1, { templateHash: 'h2' }), withPod(2, { templateHash: 'h2' })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'idle' },
    },
    {
      name: 'a pod stuck on an old template is not restarted either',
      desired: d2,
      observed: edit(healthy(3), withPod(1, { templateHash: 'h0', ready: false }), withMember(id(1), { active: false })),
      memory: BOOTSTRAPPED,
      expect: { kind: 'wait', reason: /db-1/ },
    },
    {
      name: 'a restart written to status under RollingUpdate is not resumed after the switch',
      desired: d2,
      observed: healthy(3),
      memory: pending({ kind: 'restart-pod', podName: pod(2), podUid: 'uid-2', reason: 'rolling upgrade' }),
      expect: { kind: 'idle' },
    },
    {
      name: 'scaling still works',
      desired: desired({ replicas: 5, templateHash: 'h2', updateStrategy: 'OnDelete' }),
      observed: healthy(3),
      memory: BOOTSTRAPPED,
      expect: { kind: 'scale-statefulset', replicas: 4 },
    },
  ]);

  it('the safety check refuses restarts and rollout transfers under OnDelete', () => {
    const v = viewOf(d2, healthy(3), BOOTSTRAPPED);
    expect(check(v, { kind: 'restart-pod', podName: pod(2), podUid: 'uid-2', reason: '' })).toMatch(/OnDelete/);
    expect(check(v, { kind: 'transfer-leadership', groupId: 0, from: id(0), to: id(1), reason: '' })).toMatch(/nothing requires/);
    // The same under RollingUpdate: allowed.
    const r = viewOf(desired({ templateHash: 'h2' }), healthy(3), BOOTSTRAPPED);
    expect(check(r, { kind: 'restart-pod', podName: pod(2), podUid: 'uid-2', reason: '' })).toBeNull();
  });
});

describe('memory: the step written to status is resumed only while still safe and wanted', () => {
  const learnerUp = edit(healthy(2), withSts(3), withPod(2, {}), withMember(id(2), { role: 'learner', lag: 0 }));
  run([
    {
      name: 'an unfinished promotion is resumed',
      desired: desired(),
      observed: learnerUp,
      memory: pending({ kind: 'promote', groupId: 0, memberId: id(2), reason: 'db-2 has caught up' }),
      expect: { kind: 'promote', memberId: id(2), reason: /^resuming: db-2 has caught up/ },
    },
    {
      name: 'a stale removal of a member that is wanted again is dropped',
      desired: desired(),
      observed: healthy(3),
      memory: pending({ kind: 'remove-member', groupId: 0, memberId: id(2), reason: 'scaling down to 1' }),
      expect: { kind: 'idle' },
    },
    {
      name: 'a finished step is not repeated',
      desired: desired(),
      observed: healthy(3),
      memory: pending({ kind: 'scale-statefulset', replicas: 3, reason: 'scaling up' }),
      expect: { kind: 'idle' },
    },
  ]);
});

describe('topics: partitions are groups too', () => {
  run([
    {
      name: 'a departing pod leaves its partitions before group 0, handing over partition leadership first',
      desired: desired(),
      observed: edit(healthy(4), withPartitions(partition(0, [0, 1, 2, 3], 3), partition(1, [0, 1, 2, 3], 1))),
      memory: BOOTSTRAPPED,
      expect: { kind: 'transfer-leadership', groupId: 100, from: id(3), to: id(0) },
    },
    {
      name: 'then is removed from the partitions',
      desired: desired(),
      observed: edit(healthy(4), withPartitions(partition(0, [0, 1, 2, 3], 0), partition(1, [0, 1, 2, 3], 1))),
      memory: BOOTSTRAPPED,
      expect: { kind: 'remove-member', groupId: 100, memberId: id(3) },
    },
    {
      name: 'a partition that lost its quorum is reported loudly',
      desired: desired(),
      observed: edit(healthy(3), withPartitions(partition(0, [0, 3, 4], null))),
      memory: BOOTSTRAPPED,
      expect: { kind: 'degraded', reason: /QUORUM LOST in partition 0/ },
    },
    {
      name: 'a rollout moves partition leadership away before restarting a pod that leads one',
      desired: desired({ replicas: 2, templateHash: 'h2' }),
      observed: edit(healthy(2), withPod(1, { templateHash: 'h2' }), withPartitions(partition(0, [0, 1], 0))),
      memory: BOOTSTRAPPED,
      expect: { kind: 'transfer-leadership', groupId: 0, from: id(0), to: id(1) },
    },
  ]);
});

it('podView fixture stays in step with healthy()', () => {
  expect(healthy(1).pods[0]).toEqual(podView(0));
});
