/**
 * One reconcile of one resource, level-triggered: observe everything afresh, plan one step, and
 * bring the owned objects and the status up to date. Nothing is remembered between reconciles
 * except what is in the resource's status (bootstrapped, pendingStep), so any reconcile, by any
 * operator replica that holds the lease, continues where the last one stopped.
 *
 *   1. observe: caches (StatefulSet, pods, PVCs) + AdminService Status of every pod
 *   2. plan(desired, observed, memory) -> one Decision
 *   3. apply the owned objects that carry no decision (Services, ConfigMap with the bootstrap
 *      permission, PDB from the live voter set, the StatefulSet's template at its current size)
 *   4. a step: write it to status as pendingStep FIRST, then emit an Event and take it
 *   5. topics, once converged: create the topic, add partitions, apply settings
 *   6. write the status (only when it changed) and say when to look again
 */
import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type pino from 'pino';
import type { Condition, DisheapTopic, LeviathanResource, PartitionStatus } from '../api/index.js';
import type { EventRecorder, KubeClient } from '../kube/index.js';
import { pathFor } from '../kube/index.js';
import { STEP_REASON, bootstrapMember, clusterStatus, conditions, desiredFor, isStep, pdbMaxUnavailable, plan, planMemoryOf, topicStatus } from '../plan/index.js';
import type { Decision, Desired, Observed, PlanMemory, Step } from '../plan/index.js';
import {
  clientService,
  configMap,
  desiredHeapConfig,
  peerService,
  peerServiceName,
  podDisruptionBudget,
  selectorString,
  statefulSet,
  workloadOf,
} from '../resources/index.js';
import type { OperatorConfig, Workload } from '../resources/index.js';
import type { EngineClients } from './engine-client.js';
import { msOf } from './engine-client.js';
import type { OperatorMetrics } from './metrics.js';
import { observe, selectOwned } from './observe.js';
import type { ObservedResource } from './observe.js';

/** What a reconcile reads of an informer: its cache. */
export interface Cache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): T[];
}

export interface Caches {
  readonly clusters: Cache<LeviathanResource>;
  readonly topics: Cache<LeviathanResource>;
  readonly statefulSets: Cache<V1StatefulSet>;
  readonly pods: Cache<V1Pod>;
  readonly pvcs: Cache<V1PersistentVolumeClaim>;
}

export interface ReconcilerDeps {
  readonly client: KubeClient;
  readonly caches: Caches;
  readonly engines: EngineClients;
  readonly events: EventRecorder;
  readonly log: pino.Logger;
  readonly cfg: OperatorConfig;
  readonly metrics: OperatorMetrics;
  readonly now: () => Date;
}

export type ResourceKind = LeviathanResource['kind'];

export interface ResourceKey {
  readonly kind: ResourceKind;
  readonly namespace: string;
  readonly name: string;
}

export const keyString = (k: ResourceKey): string => `${k.kind}/${k.namespace}/${k.name}`;

export function parseKey(s: string): ResourceKey {
  const [kind, namespace, name] = s.split('/');
  if ((kind !== 'LeviathanCluster' && kind !== 'DisheapTopic') || !namespace || !name) throw new Error(`bad work queue key ${s}`);
  return { kind, namespace, name };
}

/** When to look again, by what the planner decided. Watches usually trigger sooner. */
export const REQUEUE_MS = { step: 1_000, wait: 3_000, degraded: 10_000, idle: 30_000 } as const;

export interface ReconcileOutcome {
  readonly decision: Decision | null;
  readonly requeueAfterMs: number | null;
}


function regarding(r: LeviathanResource): { apiVersion: string; kind: string; name: string; namespace: string; uid: string } {
  return { apiVersion: r.apiVersion, kind: r.kind, name: r.metadata.name ?? '', namespace: r.metadata.namespace ?? '', uid: r.metadata.uid ?? '' };
}


/** Stable JSON (sorted keys), to tell whether a status write would change anything. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * How long a step this process just took is given to show its effect before it is taken again.
 * The caches lag the API server (and the engines' views lag their commits) by a moment, so the
 * reconcile right after a step usually still plans it (as a resume). Taking it again is harmless
 * (every step is idempotent) but noisy; after this long it is taken again, in case the first
 * attempt was lost. A restarted operator has no such memory and resumes at once.
 */
const STEP_SETTLE_MS = 5_000;

export class Reconciler {
  private readonly recent = new Map<string, { step: string; at: number }>();
  /** The unsupported-settings warning last recorded per topic (namespace/name). */
  private readonly warned = new Map<string, string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: ResourceKey): Promise<ReconcileOutcome> {
    const cache = key.kind === 'LeviathanCluster' ? this.deps.caches.clusters : this.deps.caches.topics;
    const resource = cache.get(key.namespace, key.name);
    // Deleted: the owned objects carry owner references, the garbage collector removes them, and
    // the StatefulSet's PVC retention policy decides about the volumes.
    if (resource === undefined || resource.metadata.deletionTimestamp) {
      this.recent.delete(keyString(key));
      return { decision: null, requeueAfterMs: null };
    }
    const log = this.deps.log.child({ resource: keyString(key) });
    const w = workloadOf(resource);
    const desired = desiredFor(resource, this.deps.cfg);
    const memory = planMemoryOf(resource.status);

    const { caches } = this.deps;
    const sts = caches.statefulSets.get(key.namespace, w.name);
    if (sts !== undefined && !(sts.metadata?.ownerReferences ?? []).some((o) => o.uid === w.uid)) {
      const reason = `a StatefulSet named ${w.name} exists and is not owned by this ${w.kind}: the operator will not take it over; delete it or choose another name`;
      this.deps.events.record(regarding(resource), 'Warning', 'NameConflict', reason);
      await this.writeStatus(resource, w, desired, null, memory, { kind: 'degraded', reason }, []);
      return { decision: { kind: 'degraded', reason }, requeueAfterMs: REQUEUE_MS.degraded };
    }
    const kube = selectOwned(w, sts, caches.pods.list(key.namespace), caches.pvcs.list(key.namespace));
    const seen = await observe(w, kube, this.deps.engines, (pod, err) => log.debug({ pod, err: err.message }, 'engine status unavailable'));
    const decision = plan(desired, seen.observed, memory);
    this.deps.metrics.decisions.inc({ kind: w.kind, decision: decision.kind });

    await this.applyOwned(w, desired, seen.observed, memory, sts);

    let nextMemory: PlanMemory = { ...memory, pendingStep: null };
    let partitions: PartitionStatus[] = [];
    const k = keyString(key);
    if (isStep(decision)) {
      const { reason: _reason, ...what } = decision;
      const fingerprint = stable(what);
      const last = this.recent.get(k);
      if (last !== undefined && last.step === fingerprint && this.deps.now().getTime() - last.at < STEP_SETTLE_MS) {
        return { decision: { kind: 'wait', reason: `waiting for the effect of: ${decision.reason}` }, requeueAfterMs: REQUEUE_MS.step };
      }
      this.recent.set(k, { step: fingerprint, at: this.deps.now().getTime() });
      nextMemory = { bootstrapped: memory.bootstrapped || decision.kind === 'mark-bootstrapped', pendingStep: decision.kind === 'mark-bootstrapped' ? null : decision };
      // The intent is recorded before it is acted on: a restarted operator resumes this step.
      await this.writeStatus(resource, w, desired, seen, nextMemory, decision, []);
      this.deps.events.record(regarding(resource), 'Normal', STEP_REASON[decision.kind], decision.reason);
      log.info({ step: decision }, decision.reason);
      await this.take(w, decision, seen, desired);
      this.deps.metrics.steps.inc({ kind: w.kind, step: decision.kind });
      return { decision, requeueAfterMs: REQUEUE_MS.step };
    } else {
      this.recent.delete(k);
      if (decision.kind === 'degraded') this.deps.events.record(regarding(resource), 'Warning', 'Degraded', decision.reason);
      if (w.kind === 'DisheapTopic' && memory.bootstrapped && seen.observed.group0?.leaderId) {
        partitions = await this.topicUpkeep(resource as DisheapTopic, seen, decision, log);
      }
    }
    await this.writeStatus(resource, w, desired, seen, nextMemory, decision, partitions);
    return { decision, requeueAfterMs: REQUEUE_MS[decision.kind] };
  }

  /** Owned objects whose content does not depend on the step (the StatefulSet keeps its size). */
  private async applyOwned(w: Workload, desired: Desired, observed: Observed, memory: PlanMemory, sts: V1StatefulSet | undefined): Promise<void> {
    const { client, cfg } = this.deps;
    await client.apply(peerService(w));
    await client.apply(clientService(w));
    await client.apply(configMap(w, { bootstrapMember: bootstrapMember(desired, observed, memory) }));
    // Only once members exist: before that there is nothing to protect, and the budget is 0.
    if (observed.group0 !== null) await client.apply(podDisruptionBudget(w, { maxUnavailable: pdbMaxUnavailable(desired, observed) }));
    // Template changes reach the StatefulSet at once; with OnDelete no pod restarts until the
    // planner restarts it. Its size changes only through a scale-statefulset step.
    if (sts !== undefined) await client.apply(statefulSet(w, cfg, { replicas: sts.spec?.replicas ?? 0 }));
  }

  private leaderAddress(seen: ObservedResource, groupId: number): string {
    const g = groupId === 0 ? seen.observed.group0 : seen.observed.partitions.find((p) => p.groupId === groupId);
    const leaderPod = seen.observed.pods.find((p) => g?.leaderId && p.memberId === g.leaderId);
    const address = (leaderPod && seen.addresses.get(leaderPod.name)) ?? seen.addresses.values().next().value;
    if (address === undefined) throw new Error(`no engine of group ${groupId} answers`);
    return address;
  }

  private async take(w: Workload, step: Step, seen: ObservedResource, desired: Desired): Promise<void> {
    const { client, engines, cfg } = this.deps;
    switch (step.kind) {
      case 'scale-statefulset':
        await client.apply(statefulSet(w, cfg, { replicas: step.replicas }));
        return;
      case 'mark-bootstrapped':
        return; // the status write above is the step
      case 'add-learner':
        await engines.addLearner(this.leaderAddress(seen, step.groupId), step.groupId, step.memberId, `${step.podName}.${peerServiceName(w.name)}.${w.namespace}.svc:7400`);
        return;
      case 'promote':
        await engines.promote(this.leaderAddress(seen, step.groupId), step.groupId, step.memberId, desired.maxLag);
        return;
      case 'remove-member':
        await engines.removeMember(this.leaderAddress(seen, step.groupId), step.groupId, step.memberId);
        return;
      case 'transfer-leadership':
        await engines.transferLeadership(this.leaderAddress(seen, step.groupId), step.groupId, step.to);
        return;
      case 'restart-pod':
        // The uid precondition: never delete a pod that was already replaced.
        await client.delete(pathFor('v1', 'Pod', w.namespace, step.podName), { uid: step.podUid });
        return;
      case 'delete-pvc':
        await client.delete(pathFor('v1', 'PersistentVolumeClaim', w.namespace, step.pvcName));
        return;
      default: {
        const never: never = step;
        throw new Error(`unknown step ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * The topic inside the engines: created once the first members have converged, partitions
   * added online when the spec asks for more, settings applied when they differ. Returns the
   * partitions' message counts for status.
   */
  private async topicUpkeep(topic: DisheapTopic, seen: ObservedResource, decision: Decision, log: pino.Logger): Promise<PartitionStatus[]> {
    const { engines, events } = this.deps;
    const address = this.leaderAddress(seen, 0);
    const want = desiredHeapConfig(topic);
    const unsupported = want.unsupported.map((u) => `${u.field}: ${u.reason}`).join('; ');
    const key = `${topic.metadata.namespace ?? ''}/${topic.metadata.name ?? ''}`;
    if (unsupported !== '' && this.warned.get(key) !== unsupported) {
      // Said out loud rather than dropped silently; once per change of the spec (and operator start).
      events.record(regarding(topic), 'Warning', 'UnsupportedSetting', unsupported);
      log.warn({ unsupported: want.unsupported }, 'settings the engine cannot apply');
    }
    if (unsupported === '') this.warned.delete(key);
    else this.warned.set(key, unsupported);
    const info = await engines.heap(address, want.make.topic);
    if (info === null) {
      if (decision.kind !== 'idle') return [];
      // Every voter of the catalog gets a replica of every partition (the CRD's promise); pods
      // that join later are added to each partition by the planner.
      const voters = seen.observed.group0?.members.filter((m) => m.role === 'voter').length ?? 1;
      await engines.makeHeap(address, { ...want.make, replicationFactor: voters });
      await engines.updateHeapConfig(address, want.update);
      events.record(regarding(topic), 'Normal', 'TopicCreated', `created topic ${want.make.topic} with ${want.make.partitions} partition(s), ${voters} replica(s) each`);
      log.info({ partitions: want.make.partitions, replicas: voters }, 'topic created');
      return [];
    }
    if (info.partitions < want.partitions && decision.kind === 'idle') {
      const now = await engines.addPartitions(address, want.make.topic, want.partitions - info.partitions);
      events.record(regarding(topic), 'Normal', 'PartitionsAdded', `added ${want.partitions - info.partitions} partition(s): the topic has ${now}`);
    }
    const u = want.update;
    const differs =
      msOf(info.retentionTime) !== u.retentionTimeMs ||
      msOf(info.visibilityTimeoutDefault) !== u.visibilityTimeoutDefaultMs ||
      info.maxRetriesDefault !== u.maxRetriesDefault ||
      (info.dlqPolicy?.enabled ?? false) !== u.dlqPolicy.enabled;
    if (differs) {
      await engines.updateHeapConfig(address, u);
      events.record(regarding(topic), 'Normal', 'TopicConfigured', 'applied the topic settings from the spec');
    }
    const stats = info.stats?.partitionStats ?? {};
    return Object.values(stats).map((p) => ({ id: p.partitionId, messages: Number(p.messages), ...(p.leaderNode ? { leader: p.leaderNode } : {}) }));
  }

  private async writeStatus(
    resource: LeviathanResource,
    w: Workload,
    desired: Desired,
    seen: ObservedResource | null,
    memory: PlanMemory,
    decision: Decision,
    partitionCounts: readonly PartitionStatus[],
  ): Promise<void> {
    const generation = resource.metadata.generation ?? 0;
    const ctx = { generation, selector: selectorString(w) };
    const previous: readonly Condition[] = resource.status?.conditions ?? [];
    const observed: Observed = seen?.observed ?? { statefulSet: null, pods: [], pvcs: [], group0: null, partitions: [] };
    const conds = conditions({ desired, observed, memory, decision, generation, previous, now: this.deps.now().toISOString().replace(/\.\d{3}Z$/, 'Z') });
    let status: Record<string, unknown>;
    if (w.kind === 'LeviathanCluster') {
      status = { ...clusterStatus(desired, observed, ctx) };
    } else {
      const t = topicStatus(desired, observed, ctx);
      const counts = new Map(partitionCounts.map((p) => [p.id, p.messages]));
      const prior = new Map(((resource.status as { partitions?: PartitionStatus[] } | undefined)?.partitions ?? []).map((p) => [p.id, p.messages]));
      status = {
        ...t,
        partitions: (t.partitions ?? []).map((p) => {
          const messages = counts.get(p.id) ?? prior.get(p.id);
          return messages === undefined ? p : { ...p, messages };
        }),
      };
    }
    // No pendingStep key at all when there is none: an applied null would read back as absent.
    status = { ...status, conditions: conds, bootstrapped: memory.bootstrapped, ...(memory.pendingStep === null ? {} : { pendingStep: memory.pendingStep }) };
    // Unchanged: no write, so that a status write never triggers an endless watch/reconcile loop.
    const current = { ...(resource.status ?? {}) } as Record<string, unknown>;
    if (stable(current) === stable(status)) return;
    await this.deps.client.applyStatus({
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      metadata: { name: w.name, namespace: w.namespace },
      status,
    });
  }
}
