/** The two custom resources: types mirroring crds/, their defaults, and checks. */
export { API_VERSION, GROUP, VERSION } from './types.js';
export type {
  Condition,
  ConditionStatus,
  DisheapTopic,
  DisheapTopicSpec,
  DisheapTopicStatus,
  EnvVar,
  HeapMode,
  ImagePullPolicy,
  LeviathanCluster,
  LeviathanClusterSpec,
  LeviathanClusterStatus,
  LeviathanResource,
  MemberRoleName,
  MemberStatus,
  PartitionStatus,
  PendingStepStatus,
  PersistentVolumeClaimRetentionPolicy,
  PlanMemoryStatus,
  Quantity,
  ResourceRequirements,
  ServiceType,
  StorageSpec,
  UpdateStrategyType,
  VolumeRetention,
  WorkloadSpec,
} from './types.js';
export { DEFAULTS, clusterSpecWithDefaults, topicSpecWithDefaults, workloadSpecWithDefaults } from './defaults.js';
export type { DefaultedClusterSpec, DefaultedTopicSpec, DefaultedWorkloadSpec } from './defaults.js';
export { parseDurationMs } from './duration.js';
export { MAX_NAME_LENGTH, validateResourceName } from './validation.js';
