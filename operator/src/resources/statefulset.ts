/**
 * The StatefulSet of engine pods.
 *
 * - replicas: chosen by the planner, not copied from the spec: the operator grows and shrinks the
 *   StatefulSet one member at a time, around the Raft membership changes (plan/).
 * - podManagementPolicy Parallel. The planner already orders growth (one pod, which joins as a
 *   learner and is promoted, then the next), so OrderedReady would add no safety, and it would
 *   deadlock recovery: after every pod is gone (a node restart, a namespace-wide disruption)
 *   OrderedReady recreates pod 0 alone and waits for it to be Ready, but readiness needs a leader,
 *   which needs a quorum of the other pods it will not create. Parallel also lets a lost pod of
 *   any ordinal come back while a lower one is unhealthy.
 * - updateStrategy OnDelete, whatever spec.updateStrategy says: a changed template restarts nothing
 *   by itself. Under spec.updateStrategy RollingUpdate the planner restarts pods one by one,
 *   followers first, the leader last after a leadership transfer; under OnDelete it restarts none
 *   and a pod takes the new template when someone deletes it.
 * - PVC retention: whenScaled always Retain, because the operator deletes a removed member's volume
 *   itself (spec whenScaled Delete), only after the member left Raft and its pod is gone;
 *   whenDeleted is spec.persistentVolumeClaimRetentionPolicy.whenDeleted (Retain by default), so
 *   that with Delete Kubernetes deletes the PVCs with the StatefulSet, which the garbage collector
 *   deletes with the resource. (A StatefulSet deleted with propagation Orphan, as when re-creating
 *   it, orphans its PVCs instead: they survive.)
 * - volumeClaimTemplates are immutable in a StatefulSet: a grown storage.size is applied by the
 *   controller to the existing PVCs (and by re-creating the StatefulSet with orphaned pods), never
 *   by an update of this object.
 */
import type { V1PersistentVolumeClaim, V1StatefulSet } from '@kubernetes/client-node';
import type { OperatorConfig } from './config.js';
import { DATA_VOLUME, TEMPLATE_HASH_ANNOTATION } from './constants.js';
import { selectorLabels } from './labels.js';
import { peerServiceName, statefulSetName } from './names.js';
import { ownedMeta } from './owner.js';
import { podTemplate } from './pod-template.js';
import type { Workload } from './workload.js';

function dataClaimTemplate(w: Workload): V1PersistentVolumeClaim {
  return {
    metadata: { name: DATA_VOLUME, labels: selectorLabels(w) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(w.storage.storageClassName === null ? {} : { storageClassName: w.storage.storageClassName }),
      resources: { requests: { storage: w.storage.size } },
    },
  };
}

export interface StatefulSetOptions {
  /** What the planner wants now (observed spec.replicas, or a scale-statefulset step's target). */
  readonly replicas: number;
}

export function statefulSet(w: Workload, cfg: OperatorConfig, opts: StatefulSetOptions): V1StatefulSet {
  const template = podTemplate(w, cfg);
  const hash = template.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION] ?? '';
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMeta(w, statefulSetName(w.name), { [TEMPLATE_HASH_ANNOTATION]: hash }),
    spec: {
      replicas: opts.replicas,
      serviceName: peerServiceName(w.name),
      selector: { matchLabels: selectorLabels(w) },
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Retain', whenDeleted: w.volumeRetention.whenDeleted },
      revisionHistoryLimit: 5,
      template,
      volumeClaimTemplates: [dataClaimTemplate(w)],
    },
  };
}

/** The desired template hash: what every pod's annotation must equal once a rollout is done. */
export function desiredTemplateHash(w: Workload, cfg: OperatorConfig): string {
  return podTemplate(w, cfg).metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION] ?? '';
}
