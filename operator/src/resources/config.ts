/** What the operator itself is configured with (its flags), as far as the builders need it. */

export type VolumeRetention = 'Retain' | 'Delete';

export interface OperatorConfig {
  /** `--engine-image`: the engine image of a resource that does not name one. */
  readonly engineImage: string;
  /** The cluster's DNS suffix (the kubelet's --cluster-domain), for fully qualified peer names. */
  readonly clusterDomain: string;
  /**
   * What becomes of a member's volume when the member is removed by a scale-down, and of every
   * volume when the resource is deleted. The CRDs have no field for it yet, so it is the
   * operator's; Retain (the default) never loses data by accident.
   */
  readonly volumeRetention: VolumeRetention;
}

export const DEFAULT_OPERATOR_CONFIG: OperatorConfig = {
  engineImage: 'leviathan/engine:dev',
  clusterDomain: 'cluster.local',
  volumeRetention: 'Retain',
};
