/**
 * A list+watch cache of one collection, written not to go silent:
 *
 * - the first list fills the cache (start() resolves then); a watch from its resourceVersion
 *   follows, with server-side timeoutSeconds (jittered) so that streams are recycled, and
 *   BOOKMARKs keep the resourceVersion fresh;
 * - 410 Gone (as an answer or as an ERROR event) relists: a fresh list is diffed against the
 *   cache and the difference is emitted as add/update/delete;
 * - any other failure (network, 5xx, a stream cut off, an unparsable line) restarts the watch
 *   after an exponential backoff with jitter, relisting when the resourceVersion may be stale
 *   (unparsable data, an ERROR event, several failures in a row, or no contact for a while);
 * - a watchdog aborts a watch that brought neither an event nor a BOOKMARK for quietRelistMs,
 *   and relists;
 * - one watch at a time; stop() aborts the watch and every timer.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ApiError, type KubeClient, type WatchEvent } from './client.js';
import { jitter, realClock, sleep } from './clock.js';

export type InformerEventType = 'add' | 'update' | 'delete';

/** namespace/name, or name for cluster-scoped objects. */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : (obj.metadata?.name ?? '');
}

export interface RelistDiff<T> {
  added: T[];
  /** Objects whose resourceVersion changed (the new version). */
  updated: T[];
  /** Objects gone from the list (their last known version). */
  deleted: T[];
  /** The new cache content. */
  next: Map<string, T>;
}

/** What a fresh list changes in the cache: the events a relist emits. Pure. */
export function relistDiff<T extends KubernetesObject>(cache: ReadonlyMap<string, T>, items: readonly T[]): RelistDiff<T> {
  const next = new Map<string, T>();
  const added: T[] = [];
  const updated: T[] = [];
  for (const item of items) {
    const key = objectKey(item);
    next.set(key, item);
    const old = cache.get(key);
    if (!old) added.push(item);
    else if (old.metadata?.uid !== item.metadata?.uid || old.metadata?.resourceVersion !== item.metadata?.resourceVersion) updated.push(item);
  }
  const deleted: T[] = [];
  for (const [key, old] of cache) if (!next.has(key)) deleted.push(old);
  return { added, updated, deleted, next };
}

/** Backoff before retry number `failures` (1, 2, ...): exponential, capped, with jitter in [d/2, d]. */
export function backoffDelay(failures: number, b: { initialMs: number; maxMs: number }, random: () => number = Math.random): number {
  const d = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(Math.max(0, failures - 1), 30));
  return d / 2 + (d / 2) * random();
}

/** Is this watch ERROR event's Status a 410 (resourceVersion too old)? */
export function isGoneStatus(status: unknown): boolean {
  const s = status as { code?: number; reason?: string } | null | undefined;
  return s?.code === 410 || s?.reason === 'Expired' || s?.reason === 'Gone';
}

export interface InformerOptions {
  /** The collection's path, e.g. pathFor('v1', 'ConfigMap', namespace). */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** For logs. */
  name: string;
  log: Logger;
  /** Server-side lifetime of a watch in seconds; default 300, jittered up to +25 %. */
  watchTimeoutSeconds?: number;
  /** Watchdog: relist when a watch is silent (no event, no BOOKMARK) this long; default 2× the watch timeout. */
  quietRelistMs?: number;
  /** Backoff between failed attempts; default 500 ms .. 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** After this long without contact with the server, a failed watch relists rather than resuming; default 150 s. */
  staleAfterMs?: number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  watchdogRelists: number;
  goneRelists: number;
  errors: number;
  lastEventAt: number;
}

/** The public face of an Informer, for code that reads caches (or combines several informers). */
export interface InformerLike<T extends KubernetesObject> {
  on(handler: (type: InformerEventType, obj: T) => void): void;
  start(): Promise<void>;
  stop(): void;
  hasSynced(): boolean;
  list(namespace?: string): T[];
  get(namespace: string, name: string): T | undefined;
}

export class Informer<T extends KubernetesObject> implements InformerLike<T> {
  private readonly log: Logger;
  private readonly watchTimeoutSeconds: number;
  private readonly quietRelistMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly staleAfterMs: number;
  private readonly handlers: ((type: InformerEventType, obj: T) => void)[] = [];
  private cache = new Map<string, T>();
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  private started = false;
  private readonly stopAc = new AbortController();
  private watchAc: AbortController | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private syncWaiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  readonly stats: InformerStats = { lists: 0, watches: 0, watchdogRelists: 0, goneRelists: 0, errors: 0, lastEventAt: 0 };

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions,
  ) {
    this.log = opts.log.child({ informer: opts.name });
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
    this.quietRelistMs = opts.quietRelistMs ?? 2 * this.watchTimeoutSeconds * 1000;
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.staleAfterMs = opts.staleAfterMs ?? 150_000;
  }

  on(handler: (type: InformerEventType, obj: T) => void): void {
    this.handlers.push(handler);
  }

  /** Starts listing and watching; resolves after the first successful list. */
  start(): Promise<void> {
    if (this.started) throw new Error(`informer ${this.opts.name}: started twice`);
    this.started = true;
    const synced = new Promise<void>((resolve, reject) => (this.syncWaiter = { resolve, reject }));
    this.loopDone = this.loop().catch((err: unknown) => {
      // The loop catches everything; this is a bug, made loud.
      this.log.error({ err }, 'informer loop crashed');
      this.syncWaiter?.reject(err as Error);
    });
    return synced;
  }

  /** Stops watching; no timer or request is left behind. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopAc.abort();
    this.watchAc?.abort();
    clearTimeout(this.watchdog);
    this.syncWaiter?.reject(new Error(`informer ${this.opts.name}: stopped before the first list`));
    this.syncWaiter = undefined;
  }

  /** Resolves once the loop has ended after stop(). */
  whenStopped(): Promise<void> {
    return this.loopDone;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => (o.metadata?.namespace ?? '') === namespace);
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** The resourceVersion the next watch would start from. */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  private emit(type: InformerEventType, obj: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj);
      } catch (err) {
        this.log.error({ err, type, key: objectKey(obj) }, 'informer handler threw');
      }
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.client.list<T>(this.opts.path, {
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      signal: this.stopAc.signal,
    });
    if (this.stopped) return;
    this.stats.lists++;
    const diff = relistDiff(this.cache, items);
    this.cache = diff.next;
    this.resourceVersion = resourceVersion;
    this.log.debug({ items: items.length, added: diff.added.length, updated: diff.updated.length, deleted: diff.deleted.length, resourceVersion }, 'listed');
    for (const o of diff.deleted) this.emit('delete', o);
    for (const o of diff.added) this.emit('add', o);
    for (const o of diff.updated) this.emit('update', o);
    if (!this.synced) {
      this.synced = true;
      this.syncWaiter?.resolve();
      this.syncWaiter = undefined;
    }
  }

  private onWatchEvent(e: WatchEvent, abort: (why: 'gone' | 'error', status: unknown) => void): void {
    if (e.type === 'ERROR') return abort(isGoneStatus(e.object) ? 'gone' : 'error', e.object);
    const obj = e.object as T;
    const rv = obj?.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    if (!obj?.metadata?.name) throw new ApiError(0, 'ParseError', `watch ${this.opts.path}: ${e.type} event without an object name`);
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (e.type === 'DELETED') {
      this.cache.delete(key);
      if (rv) this.resourceVersion = rv;
      if (old) this.emit('delete', obj);
      return;
    }
    if (e.type !== 'ADDED' && e.type !== 'MODIFIED') throw new ApiError(0, 'ParseError', `watch ${this.opts.path}: unknown event type ${String(e.type)}`);
    this.cache.set(key, obj);
    if (rv) this.resourceVersion = rv;
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== rv || old.metadata?.uid !== obj.metadata.uid) this.emit('update', obj);
  }

  private async loop(): Promise<void> {
    let needList = true;
    let failures = 0;
    let lastContact = 0;
    while (!this.stopped) {
      if (needList) {
        try {
          await this.relist();
          needList = false;
          lastContact = Date.now();
        } catch (err) {
          if (this.stopped) break;
          failures++;
          this.stats.errors++;
          const delay = backoffDelay(failures, this.backoff);
          this.log.warn({ err, failures, retryInMs: Math.round(delay) }, 'list failed');
          await sleep(realClock, delay, this.stopAc.signal);
          continue;
        }
      }
      if (this.stopped) break;

      // One watch.
      const ac = new AbortController();
      this.watchAc = ac;
      let why: 'watchdog' | 'gone' | 'error' | undefined;
      let errorStatus: unknown;
      let events = 0;
      const armWatchdog = (): void => {
        clearTimeout(this.watchdog);
        this.watchdog = setTimeout(() => {
          why = 'watchdog';
          ac.abort();
        }, this.quietRelistMs);
      };
      const t0 = Date.now();
      this.stats.watches++;
      armWatchdog();
      try {
        await this.client.watch(
          this.opts.path,
          {
            resourceVersion: this.resourceVersion,
            timeoutSeconds: Math.round(jitter(this.watchTimeoutSeconds, 0.25)),
            ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
            ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
            signal: ac.signal,
          },
          (e) => {
            if (ac.signal.aborted) return;
            events++;
            lastContact = Date.now();
            this.stats.lastEventAt = lastContact;
            armWatchdog();
            this.onWatchEvent(e, (w, status) => {
              why = w;
              errorStatus = status;
              ac.abort();
            });
          },
        );
        // The server ended the stream (timeoutSeconds): resume from the last resourceVersion.
        // A stream that ends at once with nothing in it counts as a failure, so as not to spin.
        if (events === 0 && Date.now() - t0 < 1_000) {
          failures++;
          await sleep(realClock, backoffDelay(failures, this.backoff), this.stopAc.signal);
        } else failures = 0;
      } catch (err) {
        if (this.stopped) break;
        if (why === 'watchdog') {
          this.stats.watchdogRelists++;
          this.log.warn({ quietMs: this.quietRelistMs, resourceVersion: this.resourceVersion }, 'watch silent too long: relisting');
          needList = true;
        } else if (why === 'gone' || (err instanceof ApiError && err.status === 410)) {
          this.stats.goneRelists++;
          this.log.info({ resourceVersion: this.resourceVersion }, 'resourceVersion expired (410): relisting');
          needList = true;
        } else {
          failures++;
          this.stats.errors++;
          const stale =
            why === 'error' ||
            (err instanceof ApiError && (err.reason === 'ParseError' || err.reason === 'HandlerError')) ||
            failures >= 3 ||
            Date.now() - lastContact > this.staleAfterMs;
          needList = needList || stale;
          const delay = backoffDelay(failures, this.backoff);
          this.log.warn(
            { err: why === 'error' ? errorStatus : err, failures, relist: needList, retryInMs: Math.round(delay) },
            why === 'error' ? 'watch ERROR event' : 'watch failed',
          );
          await sleep(realClock, delay, this.stopAc.signal);
        }
      } finally {
        clearTimeout(this.watchdog);
        this.watchdog = undefined;
        this.watchAc = undefined;
      }
    }
  }
}
