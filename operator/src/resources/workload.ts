/**
 * Both resources run the same workload: a StatefulSet of engine pods behind two Services. A
 * Workload is what the builders need of either one, with the CRD defaults applied, so that no
 * builder branches on the kind beyond what truly differs (the state machine, the SQL-only knobs).
 */
import { API_VERSION, clusterSpecWithDefaults, topicSpecWithDefaults } from '../api/index.js';
import type { ImagePullPolicy, LeviathanResource, ResourceRequirements, ServiceType } from '../api/index.js';

export type WorkloadKind = LeviathanResource['kind'];

export interface Workload {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** `app.kubernetes.io/component`. */
  readonly component: 'database' | 'topic';
  /** Engine --state-machine. */
  readonly stateMachine: 'sql' | 'topic';
  /** Desired members (spec.replicas). */
  readonly replicas: number;
  /** null: the operator's --engine-image. */
  readonly image: string | null;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly storage: { readonly size: string; readonly storageClassName: string | null };
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number; readonly snapshotEntries: number | null };
  readonly resources: ResourceRequirements | null;
  readonly serviceType: ServiceType;
}

function identity(r: LeviathanResource): { name: string; namespace: string; uid: string } {
  const { name, namespace, uid } = r.metadata;
  if (!name || !namespace || !uid) throw new Error(`${r.kind} without metadata.name, namespace or uid: builders need a stored object`);
  return { name, namespace, uid };
}

export function workloadOf(r: LeviathanResource): Workload {
  const id = identity(r);
  if (r.kind === 'LeviathanCluster') {
    const s = clusterSpecWithDefaults(r.spec);
    return {
      apiVersion: API_VERSION,
      kind: r.kind,
      ...id,
      component: 'database',
      stateMachine: 'sql',
      replicas: s.replicas,
      image: s.image,
      imagePullPolicy: s.imagePullPolicy,
      storage: s.storage,
      raft: s.raft,
      resources: s.resources,
      serviceType: s.service.type,
    };
  }
  const s = topicSpecWithDefaults(r.spec);
  return {
    apiVersion: API_VERSION,
    kind: r.kind,
    ...id,
    component: 'topic',
    stateMachine: 'topic',
    replicas: s.replicas,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    storage: s.storage,
    // The topic CRD has no snapshotEntries: the engine's default applies.
    raft: { ...s.raft, snapshotEntries: null },
    resources: s.resources,
    serviceType: 'ClusterIP',
  };
}
