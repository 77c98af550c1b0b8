/**
 * Both resources run the same workload: a StatefulSet of engine pods behind two Services. A
 * Workload is what the builders need of either one, with the CRD defaults applied, so that no
 * builder branches on the kind beyond what truly differs (the state machine, the SQL-only knobs).
 */
import type { V1Affinity, V1Toleration, V1TopologySpreadConstraint } from '@kubernetes/client-node';
import { API_VERSION, clusterSpecWithDefaults, topicSpecWithDefaults } from '../api/index.js';
import type { DefaultedWorkloadSpec, EnvVar, ImagePullPolicy, LeviathanResource, ResourceRequirements, ServiceType, UpdateStrategyType, VolumeRetention } from '../api/index.js';

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
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number; readonly snapshotEntries: number };
  readonly resources: ResourceRequirements | null;
  readonly serviceType: ServiceType;
  /** null: the default preferred anti-affinity (pod-template.ts). */
  readonly affinity: V1Affinity | null;
  readonly tolerations: readonly V1Toleration[];
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly topologySpreadConstraints: readonly V1TopologySpreadConstraint[];
  readonly priorityClassName: string | null;
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly podLabels: Readonly<Record<string, string>>;
  /** The user's extra container env (spec.env). */
  readonly env: readonly EnvVar[];
  /** whenDeleted: on the StatefulSet; whenScaled: the planner's Desired.volumeRetention. */
  readonly volumeRetention: { readonly whenDeleted: VolumeRetention; readonly whenScaled: VolumeRetention };
  /** RollingUpdate: the planner rolls pods; OnDelete: it never restarts one for a template change. */
  readonly updateStrategy: UpdateStrategyType;
}

function identity(r: LeviathanResource): { name: string; namespace: string; uid: string } {
  const { name, namespace, uid } = r.metadata;
  if (!name || !namespace || !uid) throw new Error(`${r.kind} without metadata.name, namespace or uid: builders need a stored object`);
  return { name, namespace, uid };
}

type PodFields = Pick<Workload, 'affinity' | 'tolerations' | 'nodeSelector' | 'topologySpreadConstraints' | 'priorityClassName' | 'podAnnotations' | 'podLabels' | 'env' | 'volumeRetention' | 'updateStrategy'>;

function podFields(s: DefaultedWorkloadSpec): PodFields {
  return {
    affinity: s.affinity,
    tolerations: s.tolerations,
    nodeSelector: s.nodeSelector,
    topologySpreadConstraints: s.topologySpreadConstraints,
    priorityClassName: s.priorityClassName,
    podAnnotations: s.podAnnotations,
    podLabels: s.podLabels,
    env: s.env,
    volumeRetention: s.persistentVolumeClaimRetentionPolicy,
    updateStrategy: s.updateStrategy.type,
  };
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
      ...podFields(s),
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
    raft: s.raft,
    resources: s.resources,
    serviceType: s.service.type,
    ...podFields(s),
  };
}
