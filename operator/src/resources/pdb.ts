/**
 * The PodDisruptionBudget. Its maxUnavailable is computed by the planner from the live Raft voter
 * set (plan/disruption.ts) and rewritten every reconcile: a static number would be wrong while a
 * member is down or a learner is catching up. IfHealthyBudget (the default, spelled out): a pod
 * that is running but not ready may be a voter still catching up, so it is evicted only when the
 * budget is healthy too.
 */
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { selectorLabels } from './labels.js';
import { pdbName } from './names.js';
import { ownedMeta } from './owner.js';
import type { Workload } from './workload.js';

export interface PdbOptions {
  /** Pods that voluntary evictions may take down at once; 0 blocks them all. */
  readonly maxUnavailable: number;
}

export function podDisruptionBudget(w: Workload, opts: PdbOptions): V1PodDisruptionBudget {
  if (!Number.isInteger(opts.maxUnavailable) || opts.maxUnavailable < 0) throw new Error(`maxUnavailable must be a non-negative integer, got ${opts.maxUnavailable}`);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMeta(w, pdbName(w.name)),
    spec: { selector: { matchLabels: selectorLabels(w) }, maxUnavailable: opts.maxUnavailable, unhealthyPodEvictionPolicy: 'IfHealthyBudget' },
  };
}
