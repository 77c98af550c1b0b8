/** The two custom resources: types mirroring crds/, their defaults, and checks. */
export { API_VERSION, GROUP, VERSION } from './types.js';
export type {
  Condition,
  ConditionStatus,
  DisheapTopic,
  DisheapTopicSpec,
  DisheapTopicStatus,
  ImagePullPolicy,
  LeviathanCluster,
  LeviathanClusterSpec,
  LeviathanClusterStatus,
  LeviathanResource,
  MemberRoleName,
  MemberStatus,
  PartitionStatus,
  Quantity,
  ResourceRequirements,
  ServiceType,
  StorageSpec,
} from './types.js';
export { DEFAULTS, clusterSpecWithDefaults, topicSpecWithDefaults } from './defaults.js';
export type { DefaultedClusterSpec, DefaultedTopicSpec } from './defaults.js';
export { parseDurationMs } from './duration.js';
export { MAX_NAME_LENGTH, validateResourceName } from './validation.js';
