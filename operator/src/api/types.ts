/**
 * The two custom resources (group leviathan.dev, version v1alpha1) as TypeScript types, field for
 * field as crds/ declares them: the CRDs are the contract, these types only mirror them. A field
 * the operator would like but the CRD lacks is not invented here (the API server would prune it).
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'leviathan.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

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

export interface LeviathanClusterSpec {
  /** Voting members, odd, 1..9. */
  readonly replicas?: number;
  readonly image?: string;
  readonly imagePullPolicy?: ImagePullPolicy;
  readonly storage?: StorageSpec;
  readonly raft?: RaftTiming & { readonly snapshotEntries?: number };
  readonly resources?: ResourceRequirements;
  readonly service?: { readonly type?: ServiceType };
}

export interface DisheapTopicSpec {
  /** Partitions, each a Raft group, 1..256; may grow, never shrink. */
  readonly partitions?: number;
  /** Engine pods, odd, 1..9; every partition has a voting replica on each. */
  readonly replicas?: number;
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
  readonly raft?: RaftTiming;
  readonly resources?: ResourceRequirements;
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

export interface LeviathanClusterStatus {
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

export interface DisheapTopicStatus {
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
