/**
 * Repairs: steps allowed while the cluster is unhealthy, because each one can only restore what
 * was lost, never take away more (their checks in safety.ts make sure).
 */
import { podName } from '../resources/index.js';
import { quorum } from './quorum.js';
import { coverage } from './sizes.js';
import { firstSafe } from './rule.js';
import type { Rule } from './rule.js';
import type { Decision, Step } from './types.js';
import type { View } from './view.js';

/** The StatefulSet is gone (deleted, or being re-created to grow volumes): bring every member back. */
export const recreateStatefulSet: Rule = (v) => {
  if (v.stsReplicas !== null) return null;
  const n = coverage(v);
  return firstSafe(v, [{ kind: 'scale-statefulset', replicas: n, reason: `the StatefulSet is missing: re-creating it with ${n} replica(s), one for every member` }]);
};

/** Without a leader nothing can change membership; say whether it is an election or a lost quorum. */
export const requireLeader = (v: View): Decision | null => {
  const g = v.group0;
  if (g === null) {
    const ready = v.observed.pods.filter((p) => p.ready).length;
    return { kind: 'degraded', reason: `no member of ${v.desired.name} answers (${ready} of ${v.observed.pods.length} pods ready): the operator cannot see the cluster and changes nothing` };
  }
  for (const grp of v.groups) {
    if (grp.leaderId !== null) continue;
    // Up = its pod answers as this incarnation. Not "ready": readiness needs a leader, so during
    // an election no pod is ready.
    const up = grp.voters.filter((m) => {
      const pod = v.podByName.get(m.name);
      return pod !== undefined && !pod.terminating && pod.memberId === m.id;
    });
    if (up.length >= quorum(grp.voters.length)) return { kind: 'wait', reason: `${grp.label} has no leader yet; ${up.length} of ${grp.voters.length} voters are up, an election should end soon` };
    const down = grp.voters.filter((m) => !up.includes(m)).map((m) => m.id);
    return {
      kind: 'degraded',
      reason: `QUORUM LOST in ${grp.label}: only ${up.length} of ${grp.voters.length} voters are up (down: ${down.join(', ')}). The operator will not force a new configuration, which could lose acknowledged writes; bring back the missing members' pods and volumes`,
    };
  }
  return null;
};

/** Members whose pods the StatefulSet does not run (someone shrank it): grow it back. */
export const coverMembers: Rule = (v) => {
  const n = coverage(v);
  if (v.stsReplicas === null || v.stsReplicas >= n) return null;
  return firstSafe(v, [{ kind: 'scale-statefulset', replicas: n, reason: `members up to ${podName(v.desired.name, n - 1)} have no pod: growing the StatefulSet back to ${n}` }]);
};

/** A pod came back with an empty volume: its earlier incarnation leaves the configuration. */
export const removeReplacedMembers: Rule = (v) =>
  firstSafe(
    v,
    v.groups.flatMap((g) =>
      g.members
        .filter((m) => m.replaced)
        .map((m): Step => ({
          kind: 'remove-member',
          groupId: g.groupId,
          memberId: m.id,
          reason: `${m.id} lost its volume (its pod now runs ${v.podByName.get(m.name)?.memberId ?? '?'}): removing it from ${g.label}; the new incarnation is promoted once caught up`,
        })),
    ),
  );

/**
 * A pod on an old template that is not ready anyway (a rollout stuck on a bad image): restart it.
 * Not under updateStrategy OnDelete, where the operator restarts no pod for a template change.
 */
export const restartStuckPods: Rule = (v) => {
  if (v.desired.updateStrategy === 'OnDelete') return null;
  return firstSafe(
    v,
    v.observed.pods
      .filter((p) => !p.ready && !p.terminating && p.templateHash !== v.desired.templateHash && v.stsReplicas !== null && p.ordinal < v.stsReplicas)
      .sort((a, b) => b.ordinal - a.ordinal)
      .map((p): Step => ({ kind: 'restart-pod', podName: p.name, podUid: p.uid, reason: `${p.name} is not ready and runs an old template: restarting it on the current one costs nothing` })),
  );
};

/** A member beyond the desired size that is down anyway: removing it first only helps. */
export const removeDownDepartingMembers: Rule = (v) =>
  firstSafe(
    v,
    v.groups.flatMap((g) =>
      g.members
        .filter((m) => m.departing && !m.healthy && !m.isLeader)
        .sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0))
        .map((m): Step => ({ kind: 'remove-member', groupId: g.groupId, memberId: m.id, reason: `scaling down to ${v.desired.replicas}: removing ${m.id} from ${g.label} (${m.problem ?? 'down'})` })),
    ),
  );

/**
 * A pod holds a member's data but is in no configuration (e.g. a volume retained by a scale-down
 * and used again by a scale-up): add it back as a learner; it is promoted once caught up. (A pod
 * with an empty volume asks the same itself; the call is idempotent.)
 */
export const addStrandedMembers: Rule = (v) => {
  const g = v.group0;
  if (g === null) return null;
  return firstSafe(
    v,
    v.observed.pods
      .filter((p) => p.memberId !== null && !p.terminating && p.ordinal < v.desired.replicas && !g.members.some((m) => m.id === p.memberId))
      .sort((a, b) => a.ordinal - b.ordinal)
      .map((p): Step => ({ kind: 'add-learner', groupId: 0, memberId: p.memberId ?? '', podName: p.name, reason: `${p.memberId} runs in ${p.name} but is in no configuration: adding it to group 0 as a learner` })),
  );
};
