/**
 * The safety checks, one per step kind: `check(view, step)` says why a step must not be taken now,
 * or null. The planner proposes a step only if its check passes, and a step remembered in status
 * (pendingStep) is resumed only if it still passes; so a stale memory can never push the cluster
 * somewhere unsafe. The checks restate the rules:
 *
 * - after any membership change, the caught-up healthy voters are at least a quorum of the NEW
 *   configuration; a promotion or removal never lowers fault tolerance, except a removal the user
 *   asked for by scaling down;
 * - nothing is changed while a member that stays is unhealthy, except repairs (removing a member
 *   whose volume was lost, removing a departing member that is down, restarting a pod that is
 *   already down on an old template, recreating pods the StatefulSet lost);
 * - a leader is restarted or removed only after leadership moved away, unless it is the only voter;
 * - a restart keeps a quorum of caught-up voters, except in a group that tolerates no failure at
 *   all (one or two voters), where no restart could: there a rollout costs a pause, never data;
 * - a restart during a rollout waits until every voter is caught up, so each restarted member has
 *   caught up before the next one goes down;
 * - a volume is deleted only when the policy says so, its ordinal is beyond both the desired size
 *   and the StatefulSet, its pod is gone, and no group still has a member of that name.
 */
import { podName } from '../resources/index.js';
import { laggingVoters, unhealthy } from './health.js';
import { faultTolerance, quorum } from './quorum.js';
import { bootstrapReplicas, coverage } from './sizes.js';
import type { Step } from './types.js';
import { highestMemberOrdinal, nameIsMember } from './view.js';
import type { GroupState, MemberState, View } from './view.js';

/** Voters and caught-up voters of a group after a change, and its fault tolerance before and after. */
export interface QuorumAfter {
  readonly voters: number;
  readonly caughtUp: number;
  readonly toleranceBefore: number;
  readonly toleranceAfter: number;
}

export interface Change {
  readonly promote?: string;
  readonly remove?: string;
  /** Stays in the configuration but is down for a while (a restart). */
  readonly down?: string;
}

export function quorumAfter(g: GroupState, c: Change): QuorumAfter {
  const votersBefore = g.voters.length;
  const caughtUpBefore = g.voters.filter((m) => m.caughtUp).length;
  const after = g.members.filter((m) => m.id !== c.remove && (m.role === 'voter' || m.id === c.promote));
  const caughtUp = after.filter((m) => m.caughtUp && m.id !== c.down).length;
  return {
    voters: after.length,
    caughtUp,
    toleranceBefore: faultTolerance(votersBefore, caughtUpBefore),
    toleranceAfter: faultTolerance(after.length, caughtUp),
  };
}

/** Failures a group survives when all its voters are up: 0 for one or two voters. */
function tolerance(g: GroupState): number {
  return g.voters.length - quorum(g.voters.length);
}

function belowQuorum(g: GroupState, q: QuorumAfter, what: string): string | null {
  if (q.caughtUp >= quorum(q.voters)) return null;
  return `${what} would leave ${q.caughtUp} caught-up voter(s) in ${g.label}, fewer than a quorum (${quorum(q.voters)}) of ${q.voters}`;
}

const groupOf = (v: View, id: number): GroupState | undefined => v.groups.find((g) => g.groupId === id);
const memberOf = (g: GroupState, id: string): MemberState | undefined => g.members.find((m) => m.id === id);

function checkScale(v: View, to: number): string | null {
  const cur = v.stsReplicas ?? 0;
  const n = v.desired.replicas;
  if (!Number.isInteger(to) || to < 1) return `a StatefulSet of ${to} replicas makes no sense`;
  if (to === cur) return `the StatefulSet already has ${to} replicas`;
  if (!v.memory.bootstrapped) {
    const want = bootstrapReplicas(v);
    return to === want ? null : `until the cluster is founded the StatefulSet has ${want} replica(s), not ${to}`;
  }
  if (to < cur) {
    if (v.group0 === null) return 'no member answers, so nobody can tell which pods are still members';
    if (to < n) return `${to} is below the desired ${n} replicas`;
    const hi = highestMemberOrdinal(v);
    if (hi >= to) return `${podName(v.desired.name, hi)} is still a member: it leaves Raft before its pod goes`;
    return null;
  }
  if (to <= coverage(v)) return null;
  if (v.group0 === null) return 'no member answers';
  if (to > n) return `${to} is beyond the desired ${n} replicas`;
  if (to !== cur + 1) return 'the StatefulSet grows one pod at a time';
  for (let i = 0; i < cur; i++) {
    const name = podName(v.desired.name, i);
    if (!v.group0.voters.some((m) => m.name === name)) return `${name} is not a voter yet`;
  }
  return unhealthy(v);
}

function checkAddLearner(v: View, s: Extract<Step, { kind: 'add-learner' }>): string | null {
  if (!v.memory.bootstrapped) return 'the cluster is not founded yet';
  const g = groupOf(v, s.groupId);
  if (g === undefined || s.groupId !== 0) return 'only group 0 takes learners from the operator (topic nodes join partitions themselves)';
  if (g.leaderId === null) return `${g.label} has no leader`;
  const pod = v.podByName.get(s.podName);
  if (pod === undefined || pod.terminating) return `pod ${s.podName} is gone`;
  if (pod.memberId !== s.memberId) return `pod ${s.podName} now runs ${pod.memberId ?? 'an unknown incarnation'}`;
  if (pod.ordinal >= v.desired.replicas) return `${s.podName} is beyond the desired size`;
  if (memberOf(g, s.memberId) !== undefined) return `${s.memberId} is already a member`;
  const other = g.members.find((m) => m.name === pod.name);
  if (other !== undefined) return `${other.id}, an earlier incarnation of ${pod.name}, must be removed first`;
  return null;
}

function checkPromote(v: View, s: Extract<Step, { kind: 'promote' }>): string | null {
  const g = groupOf(v, s.groupId);
  if (g === undefined) return `group ${s.groupId} is not observed`;
  if (g.leaderId === null) return `${g.label} has no leader`;
  const m = memberOf(g, s.memberId);
  if (m === undefined) return `${s.memberId} is not a member of ${g.label}`;
  if (m.role !== 'learner') return `${s.memberId} is already a voter`;
  if (m.ordinal === null || m.departing) return `${s.memberId} is not wanted as a voter`;
  if (!m.caughtUp) return m.problem ?? `${s.memberId} has not caught up`;
  const blocked = unhealthy(v);
  if (blocked !== null) return blocked;
  const q = quorumAfter(g, { promote: m.id });
  if (q.toleranceAfter < q.toleranceBefore) return `promoting ${m.id} would lower the fault tolerance of ${g.label}`;
  return belowQuorum(g, q, `promoting ${m.id}`);
}

function checkRemove(v: View, s: Extract<Step, { kind: 'remove-member' }>): string | null {
  const g = groupOf(v, s.groupId);
  if (g === undefined) return `group ${s.groupId} is not observed`;
  if (g.leaderId === null) return `${g.label} has no leader`;
  const m = memberOf(g, s.memberId);
  if (m === undefined) return `${s.memberId} is not a member of ${g.label}`;
  if (m.isLeader) return `${m.id} leads ${g.label}: leadership moves away first`;
  if (m.ordinal === null) return `${m.id} is not one of ${v.desired.name}'s pods; the operator leaves it alone`;
  if (!m.replaced && !m.departing) return `${m.id} is wanted: it is neither replaced nor beyond the desired size`;
  if (m.role === 'learner') return null;
  // A voluntary scale-down of a healthy voter waits for the members that stay to be healthy.
  if (!m.replaced && m.healthy) {
    const blocked = unhealthy(v);
    if (blocked !== null) return blocked;
  }
  const q = quorumAfter(g, { remove: m.id });
  if (!m.departing && q.toleranceAfter < q.toleranceBefore) return `removing ${m.id} would lower the fault tolerance of ${g.label}`;
  return belowQuorum(g, q, `removing ${m.id}`);
}

function checkTransfer(v: View, s: Extract<Step, { kind: 'transfer-leadership' }>): string | null {
  const g = groupOf(v, s.groupId);
  if (g === undefined) return `group ${s.groupId} is not observed`;
  if (g.leaderId !== s.from) return `${s.from} no longer leads ${g.label}`;
  const from = memberOf(g, s.from);
  const to = memberOf(g, s.to);
  if (from === undefined) return `${s.from} is not a member of ${g.label}`;
  if (to === undefined || to.role !== 'voter' || to.id === from.id) return `${s.to} is not another voter of ${g.label}`;
  if (!to.caughtUp || to.departing || to.ordinal === null) return `${s.to} cannot take over: ${to.problem ?? 'it is leaving'}`;
  const pod = v.podByName.get(from.name);
  const rolling = v.desired.updateStrategy === 'RollingUpdate' && pod !== undefined && pod.templateHash !== v.desired.templateHash;
  if (!from.departing && !rolling) return `nothing requires ${s.from} to give up leadership`;
  if (!from.departing) {
    const blocked = unhealthy(v);
    if (blocked !== null) return blocked;
  }
  return null;
}

function checkRestart(v: View, s: Extract<Step, { kind: 'restart-pod' }>): string | null {
  const pod = v.podByName.get(s.podName);
  if (pod === undefined || pod.uid !== s.podUid) return `pod ${s.podName} was already replaced`;
  if (pod.terminating) return `pod ${s.podName} is already terminating`;
  if (pod.templateHash === v.desired.templateHash) return `pod ${s.podName} already runs the desired template`;
  if (v.desired.updateStrategy === 'OnDelete') return `updateStrategy is OnDelete: pod ${s.podName} takes the new template when someone deletes it`;
  if (v.stsReplicas === null || pod.ordinal >= v.stsReplicas) return `pod ${s.podName} is being removed, not restarted`;
  if (v.group0 === null) return 'no member answers, so nobody can tell what a restart would cost';
  for (const g of v.groups) {
    const m = g.members.find((x) => x.name === pod.name && !x.replaced && x.role === 'voter');
    if (m === undefined) continue;
    // The only voter may restart: nothing else could take over, and the rollout must finish.
    if (g.voters.length === 1) continue;
    if (m.isLeader) return `${m.id} leads ${g.label}: leadership moves away first`;
    // Already not counted (down or behind): restarting it cannot lower what the group has.
    if (!m.caughtUp) continue;
    // Two voters tolerate no failure: no restart keeps a quorum, so the rollout accepts a pause
    // in commits (never a loss: the member keeps its volume). Found by the property test.
    if (tolerance(g) === 0) continue;
    const q = quorumAfter(g, { down: m.id });
    const low = belowQuorum(g, q, `restarting ${pod.name}`);
    if (low !== null) return low;
  }
  // A pod that is already down costs nothing to restart: that repairs a rollout stuck on a bad
  // template. A serving pod goes down only when everything else is healthy and caught up.
  if (!pod.ready) return null;
  const blocked = unhealthy(v);
  if (blocked !== null) return blocked;
  const lagging = laggingVoters(v);
  if (lagging.length > 0) return `waiting for ${lagging.map((m) => m.id).join(', ')} to catch up before the next restart`;
  return null;
}

function checkDeletePvc(v: View, s: Extract<Step, { kind: 'delete-pvc' }>): string | null {
  if (v.desired.volumeRetention !== 'Delete') return 'volumes of removed members are retained';
  const pvc = v.observed.pvcs.find((p) => p.name === s.pvcName);
  if (pvc === undefined || pvc.terminating) return `${s.pvcName} is already gone`;
  if (pvc.ordinal < v.desired.replicas) return `${s.pvcName} belongs to a wanted ordinal`;
  if (v.stsReplicas === null || pvc.ordinal < v.stsReplicas) return `the StatefulSet still covers ordinal ${pvc.ordinal}`;
  const name = podName(v.desired.name, pvc.ordinal);
  if (v.podByName.has(name)) return `pod ${name} still exists`;
  if (v.group0 === null) return 'no member answers, so nobody can tell whether the member left';
  if (nameIsMember(v, name)) return `${name} is still a member`;
  return null;
}

/** Why `step` must not be taken now, or null when it is safe and still wanted. */
export function check(v: View, step: Step): string | null {
  switch (step.kind) {
    case 'mark-bootstrapped':
      if (v.memory.bootstrapped) return 'already bootstrapped';
      return v.group0?.leaderId ? null : 'no leader seen yet';
    case 'scale-statefulset':
      return checkScale(v, step.replicas);
    case 'add-learner':
      return checkAddLearner(v, step);
    case 'promote':
      return checkPromote(v, step);
    case 'remove-member':
      return checkRemove(v, step);
    case 'transfer-leadership':
      return checkTransfer(v, step);
    case 'restart-pod':
      return checkRestart(v, step);
    case 'delete-pvc':
      return checkDeletePvc(v, step);
    default: {
      const never: never = step;
      throw new Error(`unknown step ${JSON.stringify(never)}`);
    }
  }
}
