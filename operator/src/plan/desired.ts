/**
 * desiredFor(): the planner's Desired of a resource, from its spec (with the CRD defaults) and the
 * operator's configuration. Pure; the controller calls it every reconcile.
 *
 * - replicas: spec.replicas;
 * - templateHash: the hash of the pod template the builders produce now (resources/);
 * - volumeRetention: spec.persistentVolumeClaimRetentionPolicy.whenScaled (whenDeleted goes to the
 *   StatefulSet, not to the planner);
 * - updateStrategy: spec.updateStrategy.type;
 * - maxLag: DEFAULT_MAX_LAG.
 */
import type { LeviathanResource } from '../api/index.js';
import { desiredTemplateHash, workloadOf } from '../resources/index.js';
import type { OperatorConfig } from '../resources/index.js';
import type { Desired } from './types.js';

/**
 * A member within this many log entries of the leader's commit index counts as caught up: it may
 * be promoted, and a rollout or scale-down may count it in a quorum. 1000 entries are well under a
 * second of replication at the engine's batch sizes, yet tolerate a member that is merely behind
 * by the writes in flight on a busy cluster (a bound of 0 would never let a rollout proceed under
 * load). It is an entry count, independent of raft.snapshotEntries: a member further behind than a
 * snapshot catches up from the snapshot, and is still not caught up until within this bound.
 */
export const DEFAULT_MAX_LAG = 1000;

export function desiredFor(resource: LeviathanResource, cfg: OperatorConfig): Desired {
  const w = workloadOf(resource);
  return {
    name: w.name,
    replicas: w.replicas,
    templateHash: desiredTemplateHash(w, cfg),
    volumeRetention: w.volumeRetention.whenScaled,
    updateStrategy: w.updateStrategy,
    maxLag: DEFAULT_MAX_LAG,
  };
}
