/**
 * The CRDs' defaults, applied again here. The API server fills them in on admission, but the
 * builders must not depend on that: an object read from a cache, built by a test, or created
 * before a default was added may lack them. Values must equal the CRDs' `default:` entries.
 */
import type { DisheapTopicSpec, ImagePullPolicy, LeviathanClusterSpec, ResourceRequirements, ServiceType } from './types.js';

export const DEFAULTS = {
  replicas: 3,
  imagePullPolicy: 'IfNotPresent' as ImagePullPolicy,
  storageSize: '1Gi',
  heartbeatMs: 100,
  electionTimeoutMs: 1000,
  snapshotEntries: 10_000,
  serviceType: 'ClusterIP' as ServiceType,
  partitions: 1,
  leaseDuration: '30s',
  maxDeliveries: 5,
  dedupWindow: '5m',
  retentionMaxAge: '168h',
} as const;

export interface DefaultedClusterSpec {
  readonly replicas: number;
  readonly image: string | null;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly storage: { readonly size: string; readonly storageClassName: string | null };
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number; readonly snapshotEntries: number };
  readonly resources: ResourceRequirements | null;
  readonly service: { readonly type: ServiceType };
}

export interface DefaultedTopicSpec {
  readonly partitions: number;
  readonly replicas: number;
  readonly image: string | null;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly leaseDuration: string;
  readonly maxDeliveries: number;
  readonly deadLetterTopic: string | null;
  readonly dedupWindow: string;
  readonly retention: { readonly maxAge: string; readonly maxMessages: number | null; readonly maxBytes: string | null };
  readonly storage: { readonly size: string; readonly storageClassName: string | null };
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number };
  readonly resources: ResourceRequirements | null;
}

const nonEmpty = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

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
  };
}

export function topicSpecWithDefaults(s: DisheapTopicSpec): DefaultedTopicSpec {
  return {
    partitions: s.partitions ?? DEFAULTS.partitions,
    replicas: s.replicas ?? DEFAULTS.replicas,
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
    },
    resources: s.resources ?? null,
  };
}
