/**
 * The controller: informers over the two resources and what they own, a keyed coalescing work
 * queue, and workers that run the Reconciler. Any change to a resource or to one of its
 * StatefulSet, pods, volumes, Services, ConfigMap or PDB enqueues the resource's key; each reconcile says when to look
 * again; a failed reconcile is retried with per-key exponential backoff. One key is never
 * reconciled twice at once; different keys are, up to `workers`.
 */
import type { KubernetesObject, V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type pino from 'pino';
import { API_VERSION } from '../api/index.js';
import type { LeviathanResource } from '../api/index.js';
import { Informer, WorkQueue, pathFor } from '../kube/index.js';
import type { EventRecorder, KubeClient } from '../kube/index.js';
import { APP_NAME, COMPONENT_LABEL, INSTANCE_LABEL, NAME_LABEL } from '../resources/labels.js';
import type { OperatorConfig } from '../resources/index.js';
import type { EngineClients } from './engine-client.js';
import type { OperatorMetrics } from './metrics.js';
import { Reconciler, keyString, parseKey } from './reconciler.js';
import type { Caches, ResourceKind } from './reconciler.js';

export interface ControllerOptions {
  readonly client: KubeClient;
  readonly engines: EngineClients;
  readonly events: EventRecorder;
  readonly log: pino.Logger;
  readonly cfg: OperatorConfig;
  readonly metrics: OperatorMetrics;
  /** Namespaces to watch; empty: all. */
  readonly namespaces: readonly string[];
  readonly workers: number;
}

const OWNED_SELECTOR = `${NAME_LABEL}=${APP_NAME}`;

const KIND_OF_COMPONENT: Readonly<Record<string, ResourceKind>> = { database: 'LeviathanCluster', topic: 'DisheapTopic' };

/** One informer per namespace (or one cluster-wide), read as one cache. */
class MultiInformer<T extends KubernetesObject> {
  constructor(readonly parts: readonly { readonly name: string; readonly informer: Informer<T> }[]) {}
  on(handler: (type: 'add' | 'update' | 'delete', obj: T) => void): void {
    for (const p of this.parts) p.informer.on(handler);
  }
  async start(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.informer.start()));
  }
  stop(): void {
    for (const p of this.parts) p.informer.stop();
  }
  hasSynced(): boolean {
    return this.parts.every((p) => p.informer.hasSynced());
  }
  get(namespace: string, name: string): T | undefined {
    for (const p of this.parts) {
      const o = p.informer.get(namespace, name);
      if (o !== undefined) return o;
    }
    return undefined;
  }
  list(namespace?: string): T[] {
    return this.parts.flatMap((p) => p.informer.list(namespace));
  }
}

export class Controller {
  private readonly queue = new WorkQueue();
  private readonly caches: Caches;
  private readonly informers: MultiInformer<KubernetesObject>[];
  private readonly reconciler: Reconciler;
  private workers: Promise<void>[] = [];
  private stopped = false;
  private synced = false;
  private readonly depthTimer: NodeJS.Timeout;

  constructor(private readonly opts: ControllerOptions) {
    const { client, log } = opts;
    const namespaces: readonly (string | undefined)[] = opts.namespaces.length === 0 ? [undefined] : opts.namespaces;
    const informer = <T extends KubernetesObject>(apiVersion: string, kind: string, labelSelector?: string): MultiInformer<T> =>
      new MultiInformer(
        namespaces.map((ns) => {
          const name = `${kind}${ns === undefined ? '' : `/${ns}`}`;
          return { name, informer: new Informer<T>(client, { path: pathFor(apiVersion, kind, ns), name, log, ...(labelSelector === undefined ? {} : { labelSelector }) }) };
        }),
      );
    const clusters = informer<LeviathanResource>(API_VERSION, 'LeviathanCluster');
    const topics = informer<LeviathanResource>(API_VERSION, 'DisheapTopic');
    const statefulSets = informer<V1StatefulSet>('apps/v1', 'StatefulSet', OWNED_SELECTOR);
    const pods = informer<V1Pod>('v1', 'Pod', OWNED_SELECTOR);
    const pvcs = informer<V1PersistentVolumeClaim>('v1', 'PersistentVolumeClaim', OWNED_SELECTOR);
    // Watched only to react at once when someone changes or deletes them (the reconcile re-applies
    // them); their content is never read back.
    const services = informer<KubernetesObject>('v1', 'Service', OWNED_SELECTOR);
    const configMaps = informer<KubernetesObject>('v1', 'ConfigMap', OWNED_SELECTOR);
    const budgets = informer<KubernetesObject>('policy/v1', 'PodDisruptionBudget', OWNED_SELECTOR);
    this.caches = { clusters, topics, statefulSets, pods, pvcs };
    this.informers = [clusters, topics, statefulSets, pods, pvcs, services, configMaps, budgets] as MultiInformer<KubernetesObject>[];

    const enqueueResource = (obj: LeviathanResource): void => {
      if (obj.metadata.namespace && obj.metadata.name) this.enqueue(keyString({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name }));
    };
    clusters.on((_t, o) => enqueueResource(o));
    topics.on((_t, o) => enqueueResource(o));
    // Owned objects name their resource in labels (instance = name, component = kind).
    const enqueueOwner = (o: KubernetesObject): void => {
      const kind = KIND_OF_COMPONENT[o.metadata?.labels?.[COMPONENT_LABEL] ?? ''];
      const name = o.metadata?.labels?.[INSTANCE_LABEL];
      if (kind !== undefined && name && o.metadata?.namespace) this.enqueue(keyString({ kind, namespace: o.metadata.namespace, name }));
    };
    statefulSets.on((_t, o) => enqueueOwner(o));
    pods.on((_t, o) => enqueueOwner(o));
    pvcs.on((_t, o) => enqueueOwner(o));
    for (const owned of [services, configMaps, budgets]) owned.on((_t, o) => enqueueOwner(o));

    this.reconciler = new Reconciler({ client, caches: this.caches, engines: opts.engines, events: opts.events, log, cfg: opts.cfg, metrics: opts.metrics, now: () => new Date() });
    opts.metrics.informerSource = () => this.informers.flatMap((m) => m.parts.map((p) => ({ name: p.name, stats: p.informer.stats })));
    this.depthTimer = setInterval(() => opts.metrics.queueDepth.set(this.queue.length), 1_000);
    this.depthTimer.unref();
  }

  private enqueue(key: string): void {
    if (!this.stopped) this.queue.add(key);
  }

  /** Caches synced and workers running. */
  isReady(): boolean {
    return this.synced && !this.stopped;
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    this.synced = true;
    this.opts.log.info({ namespaces: this.opts.namespaces.length === 0 ? 'all' : this.opts.namespaces }, 'caches synced; reconciling');
    // Level-triggered from the start: every resource once, whatever happened while no one watched.
    for (const r of [...this.caches.clusters.list(), ...this.caches.topics.list()]) {
      if (r.metadata.namespace && r.metadata.name) this.enqueue(keyString({ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name }));
    }
    for (let i = 0; i < this.opts.workers; i++) this.workers.push(this.work());
  }

  private async work(): Promise<void> {
    const { metrics, log } = this.opts;
    for (;;) {
      const key = await this.queue.get();
      if (key === null) return;
      const k = parseKey(key);
      const end = metrics.reconcileDuration.startTimer({ kind: k.kind });
      try {
        const out = await this.reconciler.reconcile(k);
        this.queue.forget(key);
        if (out.requeueAfterMs !== null) this.queue.addAfter(key, out.requeueAfterMs);
        metrics.reconciles.inc({ kind: k.kind, result: 'success' });
      } catch (err) {
        // Conflicts, timeouts, engines that did not answer: retry on fresh state, with backoff.
        log.warn({ key, err: (err as Error).message }, 'reconcile failed; retrying with backoff');
        metrics.reconciles.inc({ kind: k.kind, result: 'error' });
        metrics.reconcileErrors.inc({ kind: k.kind });
        this.queue.addRateLimited(key);
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.depthTimer);
    this.queue.shutDown();
    for (const i of this.informers) i.stop();
    await Promise.all(this.workers);
    this.opts.engines.close();
  }
}
