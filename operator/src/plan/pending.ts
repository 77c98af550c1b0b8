/**
 * Resuming the step written to status before it was taken (pendingStep). An operator restarted
 * between writing the intent and seeing its effect picks the same step again, rather than a
 * different one, so that at most one change is ever in flight; but only if the step is not done
 * yet and its safety check still passes on what is observed now. A stale or lost memory is thus
 * harmless: the fresh plan takes over.
 */
import { check } from './safety.js';
import type { Step } from './types.js';
import type { View } from './view.js';

/** Whether the effect of `step` is visible in the observed state. */
export function isDone(v: View, step: Step): boolean {
  const group = (id: number) => v.groups.find((g) => g.groupId === id);
  switch (step.kind) {
    case 'scale-statefulset':
      return v.stsReplicas === step.replicas;
    case 'mark-bootstrapped':
      return v.memory.bootstrapped;
    case 'add-learner':
      return group(step.groupId)?.members.some((m) => m.id === step.memberId) ?? false;
    case 'promote':
      return !(group(step.groupId)?.members.some((m) => m.id === step.memberId && m.role === 'learner') ?? false);
    case 'remove-member':
      return !(group(step.groupId)?.members.some((m) => m.id === step.memberId) ?? false);
    case 'transfer-leadership':
      return group(step.groupId)?.leaderId !== step.from;
    case 'restart-pod':
      return v.podByName.get(step.podName)?.uid !== step.podUid;
    case 'delete-pvc':
      return !v.observed.pvcs.some((p) => p.name === step.pvcName && !p.terminating);
    default: {
      const never: never = step;
      throw new Error(`unknown step ${JSON.stringify(never)}`);
    }
  }
}

const RESUMING = 'resuming: ';

/** The pending step, to be taken again, or null when it is done, unsafe or no longer wanted. */
export function resumable(v: View, pending: Step | null): Step | null {
  if (pending === null || isDone(v, pending) || check(v, pending) !== null) return null;
  return { ...pending, reason: pending.reason.startsWith(RESUMING) ? pending.reason : `${RESUMING}${pending.reason}` };
}
