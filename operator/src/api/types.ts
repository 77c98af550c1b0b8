/**
 * The two custom resources (group leviathan.dev, version v1alpha1) as TypeScript types, field for
 * field as crds/ declares them: the CRDs are the contract, these types only mirror them. A field
 * the operator would like but the CRD lacks is not invented here (the API server would prune it).
 */
import type { V1Affinity, V1EnvVar, V1ObjectMeta, V1Toleration, V1TopologySpreadConstraint } from '@kubernetes/client-node';

export const GROUP = 'leviathan.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';
/** What becomes of a volume: the values of a StatefulSet's persistentVolumeClaimRetentionPolicy. */
export type VolumeRetention = 'Retain' | 'Delete';
export type UpdateStrategyType = 'RollingUpdate' | 'OnDelete';
/** Which messages of a topic pop first: the lowest priority value (MIN) or the highest (MAX). */
export type HeapMode = 'MIN' | 'MAX';

/** A Kubernetes quantity or integer, as in a container's resources. */
export type Quantity = string | number;

export interface ResourceRequirements {
  readonly requests?: Readonly<Record<string, Quantity>>;
  readonly limits?: Readonly<Record<string, Quantity>>;
}

export interface StorageSpec {
  /** A positive quantity such as 1Gi; may grow, never shrink. */
  readonly size?: string;
  /** Empty: the cluster's default class. Immutable. */
  readonly storageClassName?: string;
}

export interface RaftTiming {
  readonly heartbeatMs?: number;
  readonly electionTimeoutMs?: number;
}

/** Named as in a StatefulSet; both default to Retain. */
export interface PersistentVolumeClaimRetentionPolicy {
  /** When the resource is deleted: set on the StatefulSet, Kubernetes deletes the PVCs with it. */
  readonly whenDeleted?: VolumeRetention;
  /** When a scale-down removes a member: the operator deletes its volume itself (plan/). */
  readonly whenScaled?: VolumeRetention;
}

/**
 * An extra environment variable of the engine container: a core/v1 EnvVar (name, and value or
 * valueFrom). The CRD refuses names the operator sets (RESERVED_ENV_NAMES in resources/).
 */
export type EnvVar = V1EnvVar;

/**
 * The fields of the pod and of the StatefulSet both kinds share. The big core types (affinity,
 * tolerations, topology spread constraints, an env var's valueFrom) are kept as the API server
 * stores them (the CRDs preserve their fields without inlining the upstream schema).
 */
export interface WorkloadSpec {
  /** Replaces the default preferred anti-affinity (spread over nodes) when set. */
  readonly affinity?: V1Affinity;
  readonly tolerations?: readonly V1Toleration[];
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** A constraint without a labelSelector gets the pods' selector. */
  readonly topologySpreadConstraints?: readonly V1TopologySpreadConstraint[];
  readonly priorityClassName?: string;
  /** Extra pod annotations. */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** Extra pod labels; the operator's own labels win over the same keys. */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** Extra container env, after the operator's; unique names, none the operator sets. */
  readonly env?: readonly EnvVar[];
  readonly persistentVolumeClaimRetentionPolicy?: PersistentVolumeClaimRetentionPolicy;
  /** RollingUpdate: the operator rolls the pods; OnDelete: it never restarts one for a template change. */
  readonly updateStrategy?: { readonly type?: UpdateStrategyType };
}

export interface LeviathanClusterSpec extends WorkloadSpec {
  /** Voting members, odd, 1..9. */
  readonly replicas?: number;
  readonly image?: string;
  readonly imagePullPolicy?: ImagePullPolicy;
  readonly storage?: StorageSpec;
  readonly raft?: RaftTiming & { readonly snapshotEntries?: number };
  readonly resources?: ResourceRequirements;
  readonly service?: { readonly type?: ServiceType };
}

export interface DisheapTopicSpec extends WorkloadSpec {
  /** Partitions, each a Raft group, 1..256; may grow, never shrink. */
  readonly partitions?: number;
  /** Engine pods, odd, 1..9; every partition has a voting replica on each. */
  readonly replicas?: number;
  /** Immutable; MIN by default. */
  readonly mode?: HeapMode;
  readonly image?: string;
  readonly imagePullPolicy?: ImagePullPolicy;
  /** Default lease of a popped message, a Go-style duration (30s). */
  readonly leaseDuration?: string;
  /** Deliveries before the dead-letter topic. */
  readonly maxDeliveries?: number;
  readonly deadLetterTopic?: string;
  /** Go-style duration (5m). */
  readonly dedupWindow?: string;
  readonly retention?: {
    readonly maxAge?: string;
    readonly maxMessages?: number;
    /** A quantity such as 512Mi. */
    readonly maxBytes?: string;
  };
  readonly storage?: StorageSpec;
  readonly raft?: RaftTiming & { readonly snapshotEntries?: number };
  readonly resources?: ResourceRequirements;
  readonly service?: { readonly type?: ServiceType };
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A status condition, as the CRDs declare them (metav1.Condition's shape). */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly observedGeneration?: number;
  /** RFC 3339. */
  readonly lastTransitionTime: string;
  /** CamelCase. */
  readonly reason: string;
  readonly message: string;
}

export type MemberRoleName = 'Leader' | 'Follower' | 'Learner' | 'Candidate' | 'Unknown';

export interface MemberStatus {
  /** Pod name. */
  readonly name: string;
  /** name@incarnation. */
  readonly id?: string;
  readonly role?: MemberRoleName;
  readonly healthy?: boolean;
  readonly lag?: number;
}

/**
 * The step the operator is taking, as written to status (a plan Step: kind, reason and the step's
 * fields). The CRD keeps it as an opaque object; plan/memory.ts reads it back.
 */
export interface PendingStepStatus {
  readonly kind: string;
  readonly reason?: string;
  readonly [field: string]: unknown;
}

/** What the planner remembers between reconciles (plan/ PlanMemory), as status holds it. */
export interface PlanMemoryStatus {
  /** The operator has seen a leader of the cluster it founded (or adopted). Never reset. */
  readonly bootstrapped?: boolean;
  /** null: no step in flight. */
  readonly pendingStep?: PendingStepStatus | null;
}

export interface LeviathanClusterStatus extends PlanMemoryStatus {
  readonly observedGeneration?: number;
  readonly replicas?: number;
  readonly readyReplicas?: number;
  readonly selector?: string;
  readonly leader?: string;
  readonly members?: readonly MemberStatus[];
  readonly conditions?: readonly Condition[];
}

export interface PartitionStatus {
  /** Partition number, from 0. */
  readonly id: number;
  /** name@incarnation. */
  readonly leader?: string;
  readonly messages?: number;
}

export interface DisheapTopicStatus extends PlanMemoryStatus {
  readonly observedGeneration?: number;
  readonly replicas?: number;
  readonly readyReplicas?: number;
  readonly selector?: string;
  readonly partitions?: readonly PartitionStatus[];
  readonly conditions?: readonly Condition[];
}

export interface LeviathanCluster {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'LeviathanCluster';
  readonly metadata: V1ObjectMeta;
  readonly spec: LeviathanClusterSpec;
  readonly status?: LeviathanClusterStatus;
}

export interface DisheapTopic {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'DisheapTopic';
  readonly metadata: V1ObjectMeta;
  readonly spec: DisheapTopicSpec;
  readonly status?: DisheapTopicStatus;
}

export type LeviathanResource = LeviathanCluster | DisheapTopic;
