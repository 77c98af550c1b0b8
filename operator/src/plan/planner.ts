/**
 * plan(): the one next step, from the desired state, the observed state and the operator's memory.
 * Pure and deterministic: the same input gives the same decision, so a restarted operator (or a
 * second one, after a leader-election handover) carries on where the first stopped.
 *
 * Rules, in order; the first that decides wins (a rule that is merely blocked lets later ones
 * try, see rule.ts):
 *   founding            until a leader is seen (bootstrap.ts)
 *   loud failures       no member answers, or a group lost its quorum: degraded, nothing forced
 *   resume              the step written to status, if not done and still safe (pending.ts)
 *   repairs             re-create a missing StatefulSet or grow it back over members' pods;
 *                       remove members whose volume was lost; restart pods stuck on an old
 *                       template; remove departing members that are down; re-add stranded ones
 *   health gate         nothing else while a member that stays is unhealthy
 *   scale down          delete removed members' volumes, shrink past removed members, remove the
 *                       next member (leadership first)
 *   scale up            promote caught-up learners, grow the StatefulSet by one
 *   rolling upgrade     followers first, the leader last (rollout.ts); none under OnDelete
 *   idle
 * Every step proposed passes its check in safety.ts, which holds the safety rules.
 */
import { planBootstrap } from './bootstrap.js';
import { resumable } from './pending.js';
import { addStrandedMembers, coverMembers, recreateStatefulSet, removeDownDepartingMembers, removeReplacedMembers, requireLeader, restartStuckPods } from './repair.js';
import type { Rule } from './rule.js';
import { rollPods } from './rollout.js';
import { blockers } from './health.js';
import { check } from './safety.js';
import { deleteRemovedVolumes, growStatefulSet, promoteLearners, removeDepartingMembers, shrinkStatefulSet } from './scaling.js';
import { isStep } from './types.js';
import type { Decision, Desired, Observed, PlanMemory } from './types.js';
import { viewOf } from './view.js';
import type { View } from './view.js';

const healthGate: Rule = (v) => {
  const b = blockers(v);
  return b.length === 0 ? null : { kind: 'wait', reason: `waiting for the cluster to be healthy: ${b.join('; ')}` };
};

const idle: Rule = (v) => {
  const leader = v.group0?.leaderId ?? '?';
  const stale = v.observed.pods.filter((p) => !p.terminating && p.templateHash !== v.desired.templateHash).map((p) => p.name);
  const templates =
    v.desired.updateStrategy === 'OnDelete' && stale.length > 0 ? `updateStrategy OnDelete: ${stale.join(', ')} keep(s) an old template until deleted` : 'every pod on the current template';
  return { kind: 'idle', reason: `${v.desired.replicas} voter(s) healthy and caught up, leader ${leader}, ${templates}` };
};

const RULES: readonly Rule[] = [
  recreateStatefulSet,
  coverMembers,
  removeReplacedMembers,
  restartStuckPods,
  removeDownDepartingMembers,
  addStrandedMembers,
  healthGate,
  deleteRemovedVolumes,
  shrinkStatefulSet,
  removeDepartingMembers,
  promoteLearners,
  growStatefulSet,
  rollPods,
  idle,
];

function planFresh(v: View): Decision {
  // The first rule that is blocked explains the wait, unless a later rule can act.
  let blocked: string | null = null;
  for (const rule of RULES) {
    const d = rule(v);
    if (d === null) continue;
    if (d.kind === 'blocked') {
      blocked ??= d.reason;
      continue;
    }
    if (d.kind === 'idle' && blocked !== null) return { kind: 'wait', reason: blocked };
    // Defence in depth: a rule's step must pass its safety check, or it becomes a wait.
    if (isStep(d)) {
      const why = check(v, d);
      if (why !== null) return { kind: 'wait', reason: why };
    }
    return d;
  }
  throw new Error('unreachable: idle always decides');
}

export function plan(desired: Desired, observed: Observed, memory: PlanMemory): Decision {
  const v = viewOf(desired, observed, memory);
  if (!memory.bootstrapped) return resumable(v, memory.pendingStep) ?? planBootstrap(v);
  // The StatefulSet comes first: without it there are no pods, and no leader to ask.
  const sts = recreateStatefulSet(v);
  if (sts !== null && sts.kind !== 'blocked') return sts;
  const loud = requireLeader(v);
  if (loud !== null) return loud;
  return resumable(v, memory.pendingStep) ?? planFresh(v);
}
