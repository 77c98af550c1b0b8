/** What the operator itself is configured with (its flags), as far as the builders need it. */
import type { VolumeRetention } from '../api/index.js';

/**
 * Retain or Delete. Volume retention is per resource now (spec.persistentVolumeClaimRetentionPolicy,
 * whenDeleted on the StatefulSet, whenScaled for the planner); the operator has no knob for it.
 */
export type { VolumeRetention };

export interface OperatorConfig {
  /** `--engine-image`: the engine image of a resource that does not name one. */
  readonly engineImage: string;
  /** The cluster's DNS suffix (the kubelet's --cluster-domain), for fully qualified peer names. */
  readonly clusterDomain: string;
}

export const DEFAULT_OPERATOR_CONFIG: OperatorConfig = {
  engineImage: 'leviathan/engine:dev',
  clusterDomain: 'cluster.local',
};
