/**
 * Founding the cluster, the planner's half of the bootstrap rule (the whole rule is in
 * resources/bootstrap.ts). Until the operator has seen a leader (memory.bootstrapped), the
 * StatefulSet has one pod, ordinal 0, and the ConfigMap names it as the one pod allowed to found
 * the cluster, if its volume is empty. Traces of an earlier cluster (a volume or pod of another
 * ordinal, e.g. a resource deleted with retained volumes and created again) switch founding off:
 * those members resume from their volumes and elect a leader, and the operator adopts them.
 */
import { podName } from '../resources/index.js';
import { requireLeader } from './repair.js';
import { check } from './safety.js';
import { bootstrapReplicas, leftoverOrdinals } from './sizes.js';
import type { Decision, Desired, Observed, PlanMemory, Step } from './types.js';
import { viewOf } from './view.js';
import type { View } from './view.js';

/**
 * The pod allowed to found the cluster (the ConfigMap's `bootstrap-member`), or null. Non-null
 * only before the operator has seen a leader, and only without traces of an earlier cluster.
 */
export function bootstrapMember(desired: Desired, observed: Observed, memory: PlanMemory): string | null {
  if (memory.bootstrapped) return null;
  const v = viewOf(desired, observed, memory);
  if (v.group0?.leaderId) return null;
  if (leftoverOrdinals(v).length > 0) return null;
  return podName(desired.name, 0);
}

function orWait(v: View, step: Step): Decision {
  const why = check(v, step);
  return why === null ? step : { kind: 'wait', reason: why };
}

/** The plan while the cluster is not founded yet. */
export function planBootstrap(v: View): Decision {
  const first = podName(v.desired.name, 0);
  const leader = v.group0?.leaderId;
  if (leader) {
    return orWait(v, { kind: 'mark-bootstrapped', reason: `${leader} leads group 0: the cluster exists, and from now on no pod may found another` });
  }
  const leftovers = leftoverOrdinals(v);
  const traces = leftovers.map((o) => podName(v.desired.name, o)).join(', ');
  const want = bootstrapReplicas(v);
  if (v.stsReplicas !== want) {
    const reason =
      leftovers.length > 0
        ? `adopting an earlier cluster (volumes or pods of ${traces} exist): ${want} pod(s) resume from their volumes and elect a leader; nothing is founded`
        : `founding: ${first} starts alone and bootstraps as the single voter`;
    return orWait(v, { kind: 'scale-statefulset', replicas: want, reason });
  }
  if (leftovers.length > 0) {
    // The adopted members run but a quorum of them is gone: say so; never found over them.
    const loud = v.group0 === null ? null : requireLeader(v);
    if (loud?.kind === 'degraded') return { kind: 'degraded', reason: `adopting an earlier cluster: ${loud.reason}; or delete its PVCs to found a new one` };
    const answering = v.observed.pods.filter((p) => p.ordinal < want && !p.terminating && p.memberId !== null).length;
    if (v.group0 === null && answering === want) {
      return {
        kind: 'degraded',
        reason: `adopting an earlier cluster: all ${want} pods run, but none is a member of a cluster that can elect a leader (the data of its quorum is gone). The operator will not found a new cluster over volumes that hold data (${traces}); delete those PVCs to start afresh`,
      };
    }
    return {
      kind: 'wait',
      reason: `waiting for the members on earlier volumes (${traces}) to elect a leader; if their data is gone they never will, and deleting those PVCs lets ${first} found a new cluster`,
    };
  }
  return {
    kind: 'wait',
    reason: `waiting for ${first} to found the cluster and elect itself leader (a ${first} holding data of an earlier cluster whose other members are gone never will: delete its PVC to start afresh)`,
  };
}
