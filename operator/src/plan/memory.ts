/**
 * The planner's memory (PlanMemory) as the resource's status holds it: `status.bootstrapped` and
 * `status.pendingStep`. The CRDs keep pendingStep as an opaque object, so reading it back checks
 * its shape: anything that is not a well-formed Step reads as no pending step, which is harmless
 * (pending.ts: a lost memory only means the fresh plan takes over).
 */
import type { PendingStepStatus, PlanMemoryStatus } from '../api/index.js';
import type { PlanMemory, Step } from './types.js';

type Fields = Readonly<Record<string, unknown>>;

const str = (o: Fields, k: string): boolean => typeof o[k] === 'string';
const int = (o: Fields, k: string): boolean => Number.isInteger(o[k]);

/** The fields each kind of step needs besides `kind` and `reason`. */
const SHAPES: Readonly<Record<Step['kind'], (o: Fields) => boolean>> = {
  'scale-statefulset': (o) => int(o, 'replicas'),
  'mark-bootstrapped': () => true,
  'add-learner': (o) => int(o, 'groupId') && str(o, 'memberId') && str(o, 'podName'),
  promote: (o) => int(o, 'groupId') && str(o, 'memberId'),
  'remove-member': (o) => int(o, 'groupId') && str(o, 'memberId'),
  'transfer-leadership': (o) => int(o, 'groupId') && str(o, 'from') && str(o, 'to'),
  'restart-pod': (o) => str(o, 'podName') && str(o, 'podUid'),
  'delete-pvc': (o) => str(o, 'pvcName') && int(o, 'ordinal'),
};

/** A Step from status.pendingStep, or null when absent or not a well-formed step. */
export function stepOf(value: unknown): Step | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const o = value as Fields;
  const kind = o.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(SHAPES, kind) || !str(o, 'reason')) return null;
  const shape = SHAPES[kind as Step['kind']];
  return shape(o) ? (o as unknown as Step) : null;
}

/** PlanMemory from a resource's status (absent status: not bootstrapped, nothing pending). */
export function planMemoryOf(status: PlanMemoryStatus | undefined): PlanMemory {
  return { bootstrapped: status?.bootstrapped === true, pendingStep: stepOf(status?.pendingStep) };
}

/** The status fields that hold `memory`, to write with the rest of the status. */
export function planMemoryStatus(memory: PlanMemory): { bootstrapped: boolean; pendingStep: PendingStepStatus | null } {
  return { bootstrapped: memory.bootstrapped, pendingStep: memory.pendingStep === null ? null : { ...memory.pendingStep } };
}
