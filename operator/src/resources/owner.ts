/**
 * Owner references: every owned object names the resource as its controller, so the garbage
 * collector deletes it with the resource, and blockOwnerDeletion keeps a foreground deletion of
 * the resource waiting until it is gone.
 */
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { commonLabels } from './labels.js';
import type { Workload } from './workload.js';

export function ownerReference(w: Workload): V1OwnerReference {
  return { apiVersion: w.apiVersion, kind: w.kind, name: w.name, uid: w.uid, controller: true, blockOwnerDeletion: true };
}

/** Metadata of an owned object: its name, the resource's namespace, labels and owner. */
export function ownedMeta(w: Workload, name: string, annotations?: Record<string, string>): V1ObjectMeta {
  return {
    name,
    namespace: w.namespace,
    labels: commonLabels(w),
    ...(annotations === undefined ? {} : { annotations }),
    ownerReferences: [ownerReference(w)],
  };
}
