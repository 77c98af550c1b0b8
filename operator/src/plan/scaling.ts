/**
 * Scaling, one member at a time, desired size from the spec only.
 *
 * Down: the highest ordinal leaves every group it is in (partitions first, then group 0; a leader
 * hands leadership over first), then the StatefulSet shrinks past it, then the operator waits until
 * the pod is gone, and only then deletes its volume (when the policy says Delete). A volume deleted
 * any earlier could be mounted by a new pod of the same ordinal, which would resume as the old
 * member with data the cluster has moved past.
 *
 * Up: the StatefulSet grows by one pod; the pod joins as a learner by itself (--learner); the
 * operator promotes it once it has caught up; then the next.
 */
import { podName, pvcName } from '../resources/index.js';
import { firstSafe, stepOrBlocked } from './rule.js';
import type { Rule } from './rule.js';
import { transferTarget } from './targets.js';
import type { Step } from './types.js';
import { highestMemberOrdinal, nameIsMember } from './view.js';
import type { GroupState, MemberState } from './view.js';

/** Volumes of removed members, once their pods are gone (policy Delete only). */
export const deleteRemovedVolumes: Rule = (v) => {
  if (v.desired.volumeRetention !== 'Delete' || v.stsReplicas === null) return null;
  const floor = Math.max(v.desired.replicas, v.stsReplicas);
  return firstSafe(
    v,
    v.observed.pvcs
      .filter((p) => p.ordinal >= floor && !p.terminating && !v.podByName.has(podName(v.desired.name, p.ordinal)) && !nameIsMember(v, podName(v.desired.name, p.ordinal)))
      .sort((a, b) => b.ordinal - a.ordinal)
      .map((p): Step => ({ kind: 'delete-pvc', pvcName: p.name, ordinal: p.ordinal, reason: `${podName(v.desired.name, p.ordinal)} left the cluster and its pod is gone: deleting its volume ${pvcName(v.desired.name, p.ordinal)} (volume retention Delete)` })),
  );
};

/** Shrink the StatefulSet past members that already left Raft. */
export const shrinkStatefulSet: Rule = (v) => {
  if (v.stsReplicas === null) return null;
  const target = Math.max(v.desired.replicas, highestMemberOrdinal(v) + 1);
  if (v.stsReplicas <= target) return null;
  return firstSafe(v, [{ kind: 'scale-statefulset', replicas: target, reason: `members beyond ordinal ${target - 1} have left Raft: shrinking the StatefulSet to ${target}` }]);
};

interface Departure {
  readonly g: GroupState;
  readonly m: MemberState;
}

/** Remove the highest departing member, from partitions before group 0, moving leadership first. */
export const removeDepartingMembers: Rule = (v) => {
  // Highest ordinal first; for one pod, learners before voters and partitions before group 0.
  const rank = (d: Departure): number => (d.m.role === 'learner' ? 0 : 2) + (d.g.partition === null ? 1 : 0);
  const departures: Departure[] = v.groups
    .flatMap((g) => g.members.filter((m) => m.departing).map((m) => ({ g, m })))
    .sort((a, b) => (b.m.ordinal ?? 0) - (a.m.ordinal ?? 0) || rank(a) - rank(b));
  const first = departures[0];
  if (first === undefined) return null;
  const { g, m } = first;
  const goal = `scaling down to ${v.desired.replicas}`;
  if (m.isLeader) {
    const to = transferTarget(v, g);
    if (to === null) return { kind: 'blocked', reason: `${goal}: ${m.id} leads ${g.label} and no caught-up voter that stays can take over yet` };
    return stepOrBlocked(v, { kind: 'transfer-leadership', groupId: g.groupId, from: m.id, to: to.id, reason: `${goal}: ${m.id} leads ${g.label}; handing leadership to ${to.id} before removing it` }, goal);
  }
  return stepOrBlocked(v, { kind: 'remove-member', groupId: g.groupId, memberId: m.id, reason: `${goal}: removing ${m.id} from ${g.label}` }, goal);
};

/** Promote caught-up learners that are wanted; otherwise say who is catching up. */
export const promoteLearners: Rule = (v) => {
  const wanted = v.groups.flatMap((g) => g.learners.filter((m) => !m.departing && !m.replaced && m.ordinal !== null).map((m) => ({ g, m })));
  if (wanted.length === 0) return null;
  const ready = firstSafe(
    v,
    wanted.filter(({ m }) => m.caughtUp).map(({ g, m }): Step => ({ kind: 'promote', groupId: g.groupId, memberId: m.id, reason: `${m.id} has caught up (lag ${m.lag ?? 0}): promoting it to voter in ${g.label}` })),
  );
  if (ready !== null) return ready;
  const first = wanted[0];
  if (first === undefined) return null;
  return { kind: 'blocked', reason: `learner ${first.m.id} is catching up in ${first.g.label}: ${first.m.problem ?? 'not promotable yet'}` };
};

/** Grow the StatefulSet by one pod once every current pod is a voter. */
export const growStatefulSet: Rule = (v) => {
  const g = v.group0;
  if (g === null || v.stsReplicas === null) return null;
  const n = v.desired.replicas;
  const voters = g.voters.filter((m) => !m.departing).length;
  if (voters >= n) return null;
  if (v.stsReplicas < n) {
    return stepOrBlocked(v, { kind: 'scale-statefulset', replicas: v.stsReplicas + 1, reason: `scaling up to ${n}: adding ${podName(v.desired.name, v.stsReplicas)}, which joins as a learner` }, `scaling up to ${n}`);
  }
  for (let i = 0; i < n; i++) {
    const name = podName(v.desired.name, i);
    if (!g.voters.some((m) => m.name === name)) return { kind: 'blocked', reason: `scaling up to ${n}: waiting for ${name} to join group 0` };
  }
  return null;
};
