/**
 * A keyed work queue with client-go's guarantees: a key queued twice is processed once; a key is
 * never processed by two workers at once (added while processing, it is queued again when the
 * worker calls done()); delayed adds (the earliest wins) and per-key exponential backoff.
 * Pure timing: the clock is injectable.
 */
import { realClock, type Clock } from './clock.js';

export class WorkQueue {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;
  private readonly queue: string[] = [];
  /** Keys that need processing (queued, or added again while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Delayed adds: when each key becomes due, and its timer. */
  private readonly waiting = new Map<string, { at: number; handle: unknown }>();
  private readonly failures = new Map<string, number>();
  private readonly getters: ((key: string | null) => void)[] = [];
  private shuttingDown = false;

  constructor(opts: { baseDelayMs?: number; maxDelayMs?: number; clock?: Clock } = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 500;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
    this.clock = opts.clock ?? realClock;
  }

  /** Queues the key now; a no-op when it is already queued. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it again
    this.push(key);
  }

  /** Queues the key after `delayMs`; when it is already waiting, the earlier time wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) return this.add(key);
    const at = this.clock.now() + delayMs;
    const prev = this.waiting.get(key);
    if (prev && prev.at <= at) return;
    if (prev) this.clock.clearTimeout(prev.handle);
    const handle = this.clock.setTimeout(() => {
      if (this.waiting.get(key)?.handle !== handle) return;
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { at, handle });
  }

  /** Queues the key after its backoff: baseDelayMs * 2^failures, capped at maxDelayMs. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.backoff(key));
  }

  /** The delay addRateLimited would use next, counting this as one more failure. */
  private backoff(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(n, 52));
  }

  /** Forgets the key's failures (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times the key failed since it was last forgotten. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key (marked as processing), waiting for one if need be; null once shut down. */
  get(): Promise<string | null> {
    if (this.shuttingDown) return Promise.resolve(null);
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** The worker finished the key; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (!this.shuttingDown && this.dirty.has(key)) this.push(key);
  }

  /** Keys queued now (not counting those processing or waiting for a delay). */
  get length(): number {
    return this.queue.length;
  }

  /** Keys waiting for their delay to pass. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** Stops: pending get()s and every later one resolve null; delayed adds are dropped. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const g of this.getters.splice(0)) g(null);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) getter(this.take(key));
    else this.queue.push(key);
  }
}
