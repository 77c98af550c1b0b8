/**
 * The owned ConfigMap: it carries the permission to found the cluster (`bootstrap-member`) while,
 * and only while, the planner grants it. See bootstrap.ts for the rule.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import { BOOTSTRAP_MEMBER_KEY } from './constants.js';
import { configMapName } from './names.js';
import { ownedMeta } from './owner.js';
import type { Workload } from './workload.js';

export interface ConfigMapOptions {
  /** The pod allowed to found the cluster (plan/bootstrap.ts: bootstrapMember), or null. */
  readonly bootstrapMember: string | null;
}

export function configMap(w: Workload, opts: ConfigMapOptions): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(w, configMapName(w.name)),
    data: opts.bootstrapMember === null ? {} : { [BOOTSTRAP_MEMBER_KEY]: opts.bootstrapMember },
  };
}
