export { defaultKubeConfig } from './config.js';
export type { KubernetesObject } from '@kubernetes/client-node';
export { ApiError, FIELD_MANAGER, isConflict, isGone, isNotFound, kubeClient, pathFor } from './client.js';
export type { CallOptions, DeleteOptions, KubeClient, ListOptions, WatchEvent, WatchEventType, WatchOptions } from './client.js';
export { realClock, type Clock } from './clock.js';
export { EventRecorder, type EventRegarding } from './events.js';
export { Informer, backoffDelay, isGoneStatus, objectKey, relistDiff, type InformerEventType, type InformerLike, type InformerOptions, type InformerStats, type RelistDiff } from './informer.js';
export { LeaderElector, leaseDecision, microTime, type Lease, type LeaseDecision, type LeaderElectorOptions, type LeaseSpec } from './leader-election.js';
export { WorkQueue } from './work-queue.js';
