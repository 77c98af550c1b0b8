/**
 * core/v1 Events, what `kubectl describe` shows. Fire-and-forget: a failed write is logged, never
 * thrown. The same (object uid, type, reason, message) again within 10 minutes of its last
 * occurrence increments count and lastTimestamp of the existing Event instead of creating one.
 */
import type { Logger } from 'pino';
import { ApiError, type KubeClient, pathFor } from './client.js';

export interface EventRegarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid: string;
}

const SERIES_WINDOW_MS = 10 * 60_000;
const MAX_SERIES = 4096;
const MAX_IN_FLIGHT = 256;
const MAX_MESSAGE = 1024;

interface Series {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
}

/** A metav1.Time: RFC 3339, whole seconds. */
const k8sTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class EventRecorder {
  private readonly series = new Map<string, Series>();
  /** Per series key, the write in progress, so that a key's writes happen one after another. */
  private readonly chains = new Map<string, Promise<void>>();
  private inFlight = 0;
  private seq = 0;
  private readonly log: Logger;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: { component: string; host?: string; log: Logger; now?: () => number },
  ) {
    this.log = opts.log.child({ component: 'events' });
  }

  record(regarding: EventRegarding, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const msg = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = `${regarding.uid}|${type}|${reason}|${msg}`;
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.log.warn({ reason, object: `${regarding.kind}/${regarding.namespace}/${regarding.name}` }, 'too many events in flight: dropped');
      return;
    }
    this.inFlight++;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => this.write(key, regarding, type, reason, msg))
      .catch((err: unknown) => this.log.warn({ err, reason, object: `${regarding.kind}/${regarding.namespace}/${regarding.name}` }, 'could not record event'))
      .finally(() => {
        this.inFlight--;
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
    this.chains.set(key, next);
  }

  /** Resolves when every event recorded so far is written (or failed). */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private async write(key: string, regarding: EventRegarding, type: string, reason: string, message: string): Promise<void> {
    const now = this.now();
    const s = this.series.get(key);
    if (s && now - s.lastMs < SERIES_WINDOW_MS) {
      try {
        await this.client.mergePatch(pathFor('v1', 'Event', s.namespace, s.name), { count: s.count + 1, lastTimestamp: k8sTime(now) });
        s.count++;
        s.lastMs = now;
        this.touch(key, s);
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        // Expired (Events have a TTL) or deleted: start a new one.
      }
    }
    const namespace = regarding.namespace || 'default';
    const name = `${regarding.name.slice(0, 200)}.${(BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    await this.client.create(pathFor('v1', 'Event', namespace), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { apiVersion: regarding.apiVersion, kind: regarding.kind, name: regarding.name, namespace: regarding.namespace, uid: regarding.uid },
      type,
      reason,
      message,
      source: { component: this.opts.component, ...(this.opts.host ? { host: this.opts.host } : {}) },
      reportingComponent: this.opts.component,
      reportingInstance: this.opts.host ?? '',
      firstTimestamp: k8sTime(now),
      lastTimestamp: k8sTime(now),
      count: 1,
    });
    this.touch(key, { name, namespace, count: 1, lastMs: now });
  }

  private touch(key: string, s: Series): void {
    this.series.delete(key);
    this.series.set(key, s);
    if (this.series.size > MAX_SERIES) {
      const oldest = this.series.keys().next().value;
      if (oldest !== undefined) this.series.delete(oldest);
    }
  }
}
