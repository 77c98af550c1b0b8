/**
 * The CRDs' defaults, applied again here. The API server fills them in on admission, but the
 * builders must not depend on that: an object read from a cache, built by a test, or created
 * before a default was added may lack them. Values must equal the CRDs' `default:` entries.
 */
import type { V1Affinity, V1Toleration, V1TopologySpreadConstraint } from '@kubernetes/client-node';
import type {
  DisheapTopicSpec,
  EnvVar,
  HeapMode,
  ImagePullPolicy,
  LeviathanClusterSpec,
  ResourceRequirements,
  ServiceType,
  UpdateStrategyType,
  VolumeRetention,
  WorkloadSpec,
} from './types.js';

export const DEFAULTS = {
  replicas: 3,
  imagePullPolicy: 'IfNotPresent' as ImagePullPolicy,
  storageSize: '1Gi',
  heartbeatMs: 100,
  electionTimeoutMs: 1000,
  snapshotEntries: 10_000,
  serviceType: 'ClusterIP' as ServiceType,
  volumeRetention: 'Retain' as VolumeRetention,
  updateStrategy: 'RollingUpdate' as UpdateStrategyType,
  partitions: 1,
  mode: 'MIN' as HeapMode,
  leaseDuration: '30s',
  maxDeliveries: 5,
  dedupWindow: '1h',
  retentionMaxAge: '168h',
} as const;

/** The fields both kinds share (WorkloadSpec), defaulted: absent lists and maps are empty. */
export interface DefaultedWorkloadSpec {
  /** null: the operator's default (a preferred anti-affinity that spreads pods over nodes). */
  readonly affinity: V1Affinity | null;
  readonly tolerations: readonly V1Toleration[];
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly topologySpreadConstraints: readonly V1TopologySpreadConstraint[];
  readonly priorityClassName: string | null;
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly env: readonly EnvVar[];
  readonly persistentVolumeClaimRetentionPolicy: { readonly whenDeleted: VolumeRetention; readonly whenScaled: VolumeRetention };
  readonly updateStrategy: { readonly type: UpdateStrategyType };
}

export interface DefaultedClusterSpec extends DefaultedWorkloadSpec {
  readonly replicas: number;
  readonly image: string | null;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly storage: { readonly size: string; readonly storageClassName: string | null };
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number; readonly snapshotEntries: number };
  readonly resources: ResourceRequirements | null;
  readonly service: { readonly type: ServiceType };
}

export interface DefaultedTopicSpec extends DefaultedWorkloadSpec {
  readonly partitions: number;
  readonly replicas: number;
  readonly mode: HeapMode;
  readonly image: string | null;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly leaseDuration: string;
  readonly maxDeliveries: number;
  readonly deadLetterTopic: string | null;
  readonly dedupWindow: string;
  readonly retention: { readonly maxAge: string; readonly maxMessages: number | null; readonly maxBytes: string | null };
  readonly storage: { readonly size: string; readonly storageClassName: string | null };
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number; readonly snapshotEntries: number };
  readonly resources: ResourceRequirements | null;
  readonly service: { readonly type: ServiceType };
}

const nonEmpty = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

export function workloadSpecWithDefaults(s: WorkloadSpec): DefaultedWorkloadSpec {
  return {
    affinity: s.affinity ?? null,
    tolerations: s.tolerations ?? [],
    nodeSelector: s.nodeSelector ?? {},
    topologySpreadConstraints: s.topologySpreadConstraints ?? [],
    priorityClassName: nonEmpty(s.priorityClassName),
    podAnnotations: s.podAnnotations ?? {},
    podLabels: s.podLabels ?? {},
    env: s.env ?? [],
    persistentVolumeClaimRetentionPolicy: {
      whenDeleted: s.persistentVolumeClaimRetentionPolicy?.whenDeleted ?? DEFAULTS.volumeRetention,
      whenScaled: s.persistentVolumeClaimRetentionPolicy?.whenScaled ?? DEFAULTS.volumeRetention,
    },
    updateStrategy: { type: s.updateStrategy?.type ?? DEFAULTS.updateStrategy },
  };
}

export function clusterSpecWithDefaults(s: LeviathanClusterSpec): DefaultedClusterSpec {
  return {
    replicas: s.replicas ?? DEFAULTS.replicas,
    image: nonEmpty(s.image),
    imagePullPolicy: s.imagePullPolicy ?? DEFAULTS.imagePullPolicy,
    storage: { size: s.storage?.size ?? DEFAULTS.storageSize, storageClassName: nonEmpty(s.storage?.storageClassName) },
    raft: {
      heartbeatMs: s.raft?.heartbeatMs ?? DEFAULTS.heartbeatMs,
      electionTimeoutMs: s.raft?.electionTimeoutMs ?? DEFAULTS.electionTimeoutMs,
      snapshotEntries: s.raft?.snapshotEntries ?? DEFAULTS.snapshotEntries,
    },
    resources: s.resources ?? null,
    service: { type: s.service?.type ?? DEFAULTS.serviceType },
    ...workloadSpecWithDefaults(s),
  };
}

export function topicSpecWithDefaults(s: DisheapTopicSpec): DefaultedTopicSpec {
  return {
    partitions: s.partitions ?? DEFAULTS.partitions,
    replicas: s.replicas ?? DEFAULTS.replicas,
    mode: s.mode ?? DEFAULTS.mode,
    image: nonEmpty(s.image),
    imagePullPolicy: s.imagePullPolicy ?? DEFAULTS.imagePullPolicy,
    leaseDuration: s.leaseDuration ?? DEFAULTS.leaseDuration,
    maxDeliveries: s.maxDeliveries ?? DEFAULTS.maxDeliveries,
    deadLetterTopic: nonEmpty(s.deadLetterTopic),
    dedupWindow: s.dedupWindow ?? DEFAULTS.dedupWindow,
    retention: {
      maxAge: s.retention?.maxAge ?? DEFAULTS.retentionMaxAge,
      maxMessages: s.retention?.maxMessages ?? null,
      maxBytes: nonEmpty(s.retention?.maxBytes),
    },
    storage: { size: s.storage?.size ?? DEFAULTS.storageSize, storageClassName: nonEmpty(s.storage?.storageClassName) },
    raft: {
      heartbeatMs: s.raft?.heartbeatMs ?? DEFAULTS.heartbeatMs,
      electionTimeoutMs: s.raft?.electionTimeoutMs ?? DEFAULTS.electionTimeoutMs,
      snapshotEntries: s.raft?.snapshotEntries ?? DEFAULTS.snapshotEntries,
    },
    resources: s.resources ?? null,
    service: { type: s.service?.type ?? DEFAULTS.serviceType },
    ...workloadSpecWithDefaults(s),
  };
}
