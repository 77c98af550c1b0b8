/**
 * Observing one resource: its Kubernetes objects from the informers' caches, and the Raft view of
 * its groups from the engines in its pods (AdminService Status, in parallel, each with a
 * deadline). The result is the planner's `Observed`.
 */
import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { Observed, ObservedPod, ObservedPvc } from '../plan/index.js';
import { GRPC_PORT, TEMPLATE_HASH_ANNOTATION, ordinalOf, selectorLabels } from '../resources/index.js';
import type { Workload } from '../resources/index.js';
import type { EngineClients, StatusResponse } from './engine-client.js';
import { engineView } from './engine-view.js';
import type { PodAnswer } from './engine-view.js';

export interface KubeSnapshot {
  readonly statefulSet: V1StatefulSet | undefined;
  readonly pods: readonly V1Pod[];
  readonly pvcs: readonly V1PersistentVolumeClaim[];
}

function matches(labels: Record<string, string> | undefined, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

/** The resource's pods (by selector and name) and volumes (by name) among a namespace's objects. */
export function selectOwned(w: Workload, sts: V1StatefulSet | undefined, pods: readonly V1Pod[], pvcs: readonly V1PersistentVolumeClaim[]): KubeSnapshot {
  const sel = selectorLabels(w);
  return {
    statefulSet: sts,
    pods: pods.filter((p) => matches(p.metadata?.labels, sel) && ordinalOf(w.name, p.metadata?.name ?? '') !== null && !(p.metadata?.name ?? '').startsWith('data-')),
    pvcs: pvcs.filter((p) => (p.metadata?.name ?? '').startsWith(`data-${w.name}-`) && ordinalOf(w.name, p.metadata?.name ?? '') !== null),
  };
}

function podReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Where the engine in a pod answers gRPC; null while the pod has no IP or is going away. */
export function engineAddress(p: V1Pod): string | null {
  const ip = p.status?.podIP;
  if (!ip || p.metadata?.deletionTimestamp) return null;
  return ip.includes(':') ? `[${ip}]:${GRPC_PORT}` : `${ip}:${GRPC_PORT}`;
}

export interface ObservedResource {
  readonly observed: Observed;
  /** Pod name → engine address, for the pods that answered. */
  readonly addresses: ReadonlyMap<string, string>;
  /** Raw answers, for the status of topics. */
  readonly answers: readonly PodAnswer[];
}

export async function observe(w: Workload, k: KubeSnapshot, engines: EngineClients, onError: (pod: string, err: Error) => void): Promise<ObservedResource> {
  const answers = await Promise.all(
    k.pods.map(async (p): Promise<PodAnswer> => {
      const pod = p.metadata?.name ?? '';
      const address = engineAddress(p);
      if (address === null) return { pod, status: null };
      try {
        return { pod, status: await engines.status(address) };
      } catch (err) {
        onError(pod, err as Error);
        return { pod, status: null };
      }
    }),
  );
  const view = engineView(answers, w.kind === 'DisheapTopic' ? w.name : null);
  const pods = k.pods.map(
    (p): ObservedPod => ({
      name: p.metadata?.name ?? '',
      ordinal: ordinalOf(w.name, p.metadata?.name ?? '') ?? -1,
      uid: p.metadata?.uid ?? '',
      ready: podReady(p),
      terminating: p.metadata?.deletionTimestamp !== undefined && p.metadata?.deletionTimestamp !== null,
      templateHash: p.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION] ?? null,
      memberId: view.memberIds.get(p.metadata?.name ?? '') ?? null,
    }),
  );
  const pvcs = k.pvcs.map(
    (c): ObservedPvc => ({
      name: c.metadata?.name ?? '',
      ordinal: ordinalOf(w.name, c.metadata?.name ?? '') ?? -1,
      terminating: c.metadata?.deletionTimestamp !== undefined && c.metadata?.deletionTimestamp !== null,
    }),
  );
  const addresses = new Map<string, string>();
  for (const p of k.pods) {
    const a = engineAddress(p);
    const name = p.metadata?.name ?? '';
    if (a !== null && answers.some((x) => x.pod === name && x.status !== null)) addresses.set(name, a);
  }
  return {
    observed: {
      statefulSet: k.statefulSet === undefined ? null : { replicas: k.statefulSet.spec?.replicas ?? 0 },
      pods,
      pvcs,
      group0: view.group0,
      partitions: view.partitions,
    },
    addresses,
    answers,
  };
}

export type { StatusResponse };
