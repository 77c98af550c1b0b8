/**
 * Pure planners: from the desired state, the observed state (Kubernetes objects and the engines'
 * Raft views) and the operator's memory, the one next safe step; plus the PDB budget, status and
 * conditions computed from the same view.
 */
export { plan } from './planner.js';
export { DEFAULT_MAX_LAG, desiredFor } from './desired.js';
export { planMemoryOf, planMemoryStatus, stepOf } from './memory.js';
export { bootstrapMember } from './bootstrap.js';
export { check } from './safety.js';
export { isDone } from './pending.js';
export { maxUnavailableFor, pdbMaxUnavailable } from './disruption.js';
export { STEP_REASON, conditions } from './conditions.js';
export type { ConditionInputs } from './conditions.js';
export { clusterStatus, topicStatus } from './status.js';
export type { StatusContext } from './status.js';
export { faultTolerance, quorum } from './quorum.js';
export { memberName, viewOf } from './view.js';
export type { GroupState, MemberState, View } from './view.js';
export { isStep } from './types.js';
export type { Decision, Desired, MemberRole, Observed, ObservedGroup, ObservedMember, ObservedPod, ObservedPvc, PlanMemory, Step, StepKind, UpdateStrategyType, VolumeRetention } from './types.js';
