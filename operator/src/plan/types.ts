/**
 * The planner's input and output. Input: what the spec wants (Desired), what the operator sees
 * (Observed: Kubernetes objects and the engines' own Raft views) and what it wrote down before
 * (PlanMemory, kept in the resource's status). Output: one Decision, either one mutating Step or a
 * reason to do nothing now. Every Decision carries a human-readable `reason`: it becomes the
 * Event and the condition message.
 */
import type { UpdateStrategyType, VolumeRetention } from '../api/index.js';

export type { UpdateStrategyType, VolumeRetention };

export interface Desired {
  /** The resource's name: the StatefulSet's, and the prefix of pod names `<name>-<ordinal>`. */
  readonly name: string;
  /** spec.replicas: the only source of the desired size. */
  readonly replicas: number;
  /** Hash of the pod template the pods should run (resources/template-hash.ts). */
  readonly templateHash: string;
  /**
   * spec.persistentVolumeClaimRetentionPolicy.whenScaled: Delete, the operator deletes a removed
   * member's volume once the member left Raft and its pod is gone; Retain, it keeps it.
   */
  readonly volumeRetention: VolumeRetention;
  /**
   * spec.updateStrategy.type: RollingUpdate, the operator restarts pods on an old template one at
   * a time (rollout.ts); OnDelete, it restarts none for a template change (the user deletes pods).
   */
  readonly updateStrategy: UpdateStrategyType;
  /** A member within this many log entries of the leader counts as caught up. */
  readonly maxLag: number;
}

export interface ObservedPod {
  readonly name: string;
  readonly ordinal: number;
  readonly uid: string;
  /** The pod's Ready condition (the engine's /readyz). */
  readonly ready: boolean;
  /** metadata.deletionTimestamp is set. */
  readonly terminating: boolean;
  /** The pod's template-hash annotation; null when absent. */
  readonly templateHash: string | null;
  /**
   * `name@incarnation` as the engine in the pod reports it (AdminService Status), null when it did
   * not answer. A value other than the member id Raft knows for this name means the pod came back
   * with an empty volume: a new incarnation.
   */
  readonly memberId: string | null;
}

export interface ObservedPvc {
  readonly name: string;
  readonly ordinal: number;
  readonly terminating: boolean;
}

export type MemberRole = 'voter' | 'learner';

export interface ObservedMember {
  /** `name@incarnation`. */
  readonly id: string;
  readonly role: MemberRole;
  /** Entries behind the leader (leader's view only; null when unknown). */
  readonly lag: number | null;
  /** Answered the leader within an election timeout (leader's view only; null when unknown). */
  readonly active: boolean | null;
}

/** One Raft group as its leader reports it (AdminService Status of the leader). */
export interface ObservedGroup {
  readonly groupId: number;
  /** Topics: the partition number of a partition group; null for group 0. */
  readonly partition: number | null;
  /** null when no leader is known. */
  readonly leaderId: string | null;
  readonly members: readonly ObservedMember[];
}

export interface Observed {
  /** null when the StatefulSet does not exist. */
  readonly statefulSet: { readonly replicas: number } | null;
  readonly pods: readonly ObservedPod[];
  readonly pvcs: readonly ObservedPvc[];
  /** Group 0 (the database, or a topic's catalog); null when no member answered. */
  readonly group0: ObservedGroup | null;
  /** Topics: each partition's group. Empty for a LeviathanCluster. */
  readonly partitions: readonly ObservedGroup[];
}

/** What the operator wrote down in status; the planner needs nothing else to resume. */
export interface PlanMemory {
  /** The operator has seen a leader of the cluster it founded (or adopted). Never reset. */
  readonly bootstrapped: boolean;
  /** The step written before it was taken; null when none. */
  readonly pendingStep: Step | null;
}

export type Step =
  /** Set the StatefulSet's replicas (creating it when absent). */
  | { readonly kind: 'scale-statefulset'; readonly replicas: number; readonly reason: string }
  /** Record that the cluster exists; from now on no pod may found one. */
  | { readonly kind: 'mark-bootstrapped'; readonly reason: string }
  /** AdminService.AddLearner: a pod holding a member's data that is not in the configuration. */
  | { readonly kind: 'add-learner'; readonly groupId: number; readonly memberId: string; readonly podName: string; readonly reason: string }
  | { readonly kind: 'promote'; readonly groupId: number; readonly memberId: string; readonly reason: string }
  | { readonly kind: 'remove-member'; readonly groupId: number; readonly memberId: string; readonly reason: string }
  | { readonly kind: 'transfer-leadership'; readonly groupId: number; readonly from: string; readonly to: string; readonly reason: string }
  /** Delete the pod; the StatefulSet (OnDelete) recreates it from the current template. */
  | { readonly kind: 'restart-pod'; readonly podName: string; readonly podUid: string; readonly reason: string }
  | { readonly kind: 'delete-pvc'; readonly pvcName: string; readonly ordinal: number; readonly reason: string };

export type StepKind = Step['kind'];

export type Decision =
  | Step
  /** Nothing safe to do now; the reason says what the operator waits for. */
  | { readonly kind: 'wait'; readonly reason: string }
  /** Something is broken that the operator will not force (lost quorum): say so loudly. */
  | { readonly kind: 'degraded'; readonly reason: string }
  /** Converged: nothing to do. */
  | { readonly kind: 'idle'; readonly reason: string };

const STEP_KINDS: ReadonlySet<string> = new Set<StepKind>([
  'scale-statefulset',
  'mark-bootstrapped',
  'add-learner',
  'promote',
  'remove-member',
  'transfer-leadership',
  'restart-pod',
  'delete-pvc',
]);

/** True for a Decision that changes something (and must be written to status first). */
export function isStep(d: Decision): d is Step {
  return STEP_KINDS.has(d.kind);
}
