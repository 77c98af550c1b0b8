/**
 * Pure builders: a resource (and the operator's configuration, and what the planner decided)
 * in, Kubernetes objects out. No I/O; the controller applies what they return.
 */
export type { OperatorConfig, VolumeRetention } from './config.js';
export { DEFAULT_OPERATOR_CONFIG } from './config.js';
export * from './constants.js';
export { workloadOf } from './workload.js';
export type { Workload, WorkloadKind } from './workload.js';
export { clientServiceName, configMapName, ordinalOf, pdbName, peerServiceName, podName, pvcName, statefulSetName } from './names.js';
export { commonLabels, selectorLabels, selectorString } from './labels.js';
export { ownerReference } from './owner.js';
export { BOOTSTRAP_MEMBER_ENV } from './bootstrap.js';
export { PARTITION_HOSTING_ENV, RESERVED_ENV_NAMES, advertiseAddress, engineEnv, joinDns, shutdownHandoverMs, terminationGracePeriodSeconds } from './engine-settings.js';
export { engineImage, podTemplate } from './pod-template.js';
export { templateHash } from './template-hash.js';
export { desiredTemplateHash, statefulSet } from './statefulset.js';
export type { StatefulSetOptions } from './statefulset.js';
export { clientService, peerService } from './services.js';
export { podDisruptionBudget } from './pdb.js';
export type { PdbOptions } from './pdb.js';
export { configMap } from './configmap.js';
export type { ConfigMapOptions } from './configmap.js';
export { desiredHeapConfig } from './heap-config.js';
export type { DesiredHeapConfig, DlqPolicyFields, MakeHeapFields, UnsupportedSetting, UpdateHeapConfigFields } from './heap-config.js';
