/**
 * Status conditions, from the same view the planner used and the decision it took:
 *
 * - QuorumAvailable: every group has a leader and a quorum of caught-up voters (writes commit).
 * - Ready: quorum, and every desired member is a healthy voter (full redundancy).
 * - Progressing: the operator has work to do (a step, or a wait for one); False when converged or
 *   blocked.
 * - Degraded: quorum lost, the cluster cannot be seen, or a member that stays is unhealthy or
 *   lost its volume.
 *
 * lastTransitionTime changes only when a condition's status does.
 */
import type { Condition, ConditionStatus } from '../api/index.js';
import { podName } from '../resources/index.js';
import { quorum } from './quorum.js';
import { blockers } from './health.js';
import type { Decision, Desired, Observed, PlanMemory, StepKind } from './types.js';
import { viewOf } from './view.js';
import type { View } from './view.js';

export interface ConditionInputs {
  readonly desired: Desired;
  readonly observed: Observed;
  readonly memory: PlanMemory;
  readonly decision: Decision;
  /** metadata.generation. */
  readonly generation: number;
  /** The conditions in status now, for their transition times. */
  readonly previous: readonly Condition[];
  /** RFC 3339 time of this reconcile (the caller's clock: this module reads none). */
  readonly now: string;
}

interface Verdict {
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/** CamelCase reason of each step: the Progressing condition's reason and the step's Event reason. */
export const STEP_REASON: Readonly<Record<StepKind, string>> = {
  'scale-statefulset': 'ScalingStatefulSet',
  'mark-bootstrapped': 'Bootstrapped',
  'add-learner': 'AddingLearner',
  promote: 'PromotingMember',
  'remove-member': 'RemovingMember',
  'transfer-leadership': 'TransferringLeadership',
  'restart-pod': 'RestartingPod',
  'delete-pvc': 'DeletingVolume',
};

function quorumAvailable(v: View): Verdict {
  if (!v.memory.bootstrapped && !v.group0?.leaderId) return { status: 'False', reason: 'Bootstrapping', message: 'the cluster is being founded' };
  if (v.group0 === null) return { status: 'False', reason: 'NoMemberAnswers', message: 'no member answers the operator' };
  for (const g of v.groups) {
    if (g.leaderId === null) return { status: 'False', reason: 'NoLeader', message: `${g.label} has no leader` };
    const caughtUp = g.voters.filter((m) => m.caughtUp).length;
    if (caughtUp < quorum(g.voters.length)) {
      return { status: 'False', reason: 'QuorumLost', message: `${g.label}: ${caughtUp} of ${g.voters.length} voters caught up, a quorum is ${quorum(g.voters.length)}` };
    }
  }
  const g0 = v.group0;
  return { status: 'True', reason: 'QuorumAvailable', message: `leader ${g0.leaderId ?? '?'}; ${g0.voters.filter((m) => m.caughtUp).length} of ${g0.voters.length} voters caught up` };
}

function ready(v: View, q: Verdict): Verdict {
  if (q.status !== 'True') return { status: 'False', reason: q.reason, message: q.message };
  const g0 = v.group0;
  const missing: string[] = [];
  for (let i = 0; i < v.desired.replicas; i++) {
    const name = podName(v.desired.name, i);
    const m = g0?.voters.find((x) => x.name === name);
    if (m === undefined || !m.healthy) missing.push(name);
  }
  if (missing.length > 0) return { status: 'False', reason: 'MembersNotReady', message: `not healthy voters yet: ${missing.join(', ')}` };
  return { status: 'True', reason: 'AllMembersReady', message: `${v.desired.replicas} of ${v.desired.replicas} members are healthy voters` };
}

function progressing(d: Decision): Verdict {
  switch (d.kind) {
    case 'idle':
      return { status: 'False', reason: 'Converged', message: d.reason };
    case 'degraded':
      return { status: 'False', reason: 'Blocked', message: d.reason };
    case 'wait':
      return { status: 'True', reason: 'Waiting', message: d.reason };
    default:
      return { status: 'True', reason: STEP_REASON[d.kind], message: d.reason };
  }
}

function degraded(v: View, d: Decision, q: Verdict): Verdict {
  if (d.kind === 'degraded') return { status: 'True', reason: q.reason === 'QuorumAvailable' ? 'Unobservable' : q.reason, message: d.reason };
  if (q.status === 'False' && q.reason !== 'Bootstrapping') return { status: 'True', reason: q.reason, message: q.message };
  const lost = v.groups.flatMap((g) => g.members.filter((m) => m.replaced));
  if (lost.length > 0) return { status: 'True', reason: 'MemberVolumeLost', message: lost.map((m) => m.problem ?? m.id).join('; ') };
  const b = v.memory.bootstrapped ? blockers(v) : [];
  if (b.length > 0) return { status: 'True', reason: 'MembersUnhealthy', message: b.join('; ') };
  return { status: 'False', reason: 'Healthy', message: 'every member is healthy' };
}

export function conditions(i: ConditionInputs): Condition[] {
  const v = viewOf(i.desired, i.observed, i.memory);
  const q = quorumAvailable(v);
  const verdicts: [string, Verdict][] = [
    ['Ready', ready(v, q)],
    ['Progressing', progressing(i.decision)],
    ['Degraded', degraded(v, i.decision, q)],
    ['QuorumAvailable', q],
  ];
  return verdicts.map(([type, verdict]) => {
    const prev = i.previous.find((c) => c.type === type);
    return {
      type,
      status: verdict.status,
      observedGeneration: i.generation,
      lastTransitionTime: prev !== undefined && prev.status === verdict.status ? prev.lastTransitionTime : i.now,
      reason: verdict.reason,
      message: verdict.message,
    };
  });
}
