/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
 *
 * - a lease held by someone else is taken only when it is free (no holder: released) or expired,
 *   and expiry is measured on this process's clock from when it last saw the lease change
 *   (observedAt + leaseDurationSeconds), never from the renewTime written by another machine's
 *   clock;
 * - every write is a create (409 when someone was faster) or a PUT carrying the resourceVersion
 *   that was read (409 when the lease changed since): optimistic concurrency, no blind writes;
 * - the leader renews every retryPeriod and gives up leadership (onStoppedLeading) when it could
 *   not renew within renewDeadline of its last successful renewal — a timer, so a hung request
 *   cannot keep a stale leader acting; renewDeadline < leaseDuration, so it stops before anyone
 *   else may start;
 * - stop() releases a held lease (holderIdentity cleared, leaseDurationSeconds=1) so that a
 *   successor takes over at once. Stop the work the lease guards before calling it.
 *
 * run() resolves when stop() is called or, unless `reacquire` is set, when leadership is lost
 * (like client-go: a deposed leader should exit and start clean).
 */
import type { Logger } from 'pino';
import { ApiError, type KubeClient, pathFor } from './client.js';
import { jitter, realClock, sleep, type Clock } from './clock.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  spec?: LeaseSpec;
}

export type LeaseDecision =
  | { action: 'create' }
  /** The lease is mine: renew it. */
  | { action: 'renew' }
  /** Free or expired: take it over. */
  | { action: 'acquire'; previousHolder: string }
  /** Someone else holds it, valid for expiresInMs more. */
  | { action: 'wait'; holder: string; expiresInMs: number };

/**
 * May `identity` take this lease at `nowMs`? Pure. `observedAtMs` is when this process first saw
 * the lease in its current state (client-go's observedTime); without it, the lease's renewTime.
 */
export function leaseDecision(lease: Lease | null, identity: string, nowMs: number, observedAtMs?: number): LeaseDecision {
  if (!lease) return { action: 'create' };
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === identity) return { action: 'renew' };
  if (holder === '') return { action: 'acquire', previousHolder: '' };
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  const renewed = lease.spec?.renewTime ? Date.parse(lease.spec.renewTime) : NaN;
  const since = observedAtMs ?? (Number.isNaN(renewed) ? 0 : renewed);
  const expiresInMs = since + durationMs - nowMs;
  if (expiresInMs <= 0) return { action: 'acquire', previousHolder: holder };
  return { action: 'wait', holder, expiresInMs };
}

/** A Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  clock?: Clock;
  /** After losing leadership, try to acquire it again instead of returning from run(). */
  reacquire?: boolean;
}

type Attempt = 'leader' | 'held' | 'failed';

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly path: string;
  private readonly log: Logger;
  private leading = false;
  private stopped = false;
  private readonly stopAc = new AbortController();
  /** The lease as last read or written, and when it was first seen in that state. */
  private observed: { lease: Lease; atMs: number; key: string } | undefined;
  private lastRenewMs = 0;
  private deadlineTimer: unknown;
  private attemptAc: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectorOptions,
  ) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election: need leaseDuration > renewDeadline > retryPeriod');
    }
    this.clock = opts.clock ?? realClock;
    this.path = pathFor('coordination.k8s.io/v1', 'Lease', opts.namespace, opts.name);
    this.log = opts.log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenewMs < this.renewDeadlineMs;
  }

  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops renewing and, if leading, releases the lease so that a successor takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return this.running;
    this.stopped = true;
    this.stopAc.abort();
    this.attemptAc?.abort();
    await this.running?.catch(() => undefined);
    if (this.leading) {
      this.clock.clearTimeout(this.deadlineTimer);
      await this.release();
      this.leading = false;
      this.callback('onStoppedLeading');
    }
  }

  private callback(which: 'onStartedLeading' | 'onStoppedLeading'): void {
    try {
      this.opts[which]();
    } catch (err) {
      this.log.error({ err }, `${which} threw`);
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      // Acquire.
      let heldBy = '';
      while (!this.stopped) {
        const r = await this.attempt(this.retryPeriodMs);
        if (r === 'leader') break;
        const holder = this.observed?.lease.spec?.holderIdentity ?? '';
        if (r === 'held' && holder !== heldBy) this.log.info({ holder }, 'lease held by another');
        heldBy = holder;
        await sleep(this.clock, jitter(this.retryPeriodMs, 1.2), this.stopAc.signal);
      }
      if (this.stopped) return;
      this.leading = true;
      this.armDeadline();
      this.log.info('became leader');
      this.callback('onStartedLeading');

      // Renew.
      while (!this.stopped && this.leading) {
        await sleep(this.clock, this.retryPeriodMs, this.stopAc.signal);
        if (this.stopped || !this.leading) break;
        const left = this.lastRenewMs + this.renewDeadlineMs - this.clock.now();
        const r = await this.attempt(Math.max(1, left));
        if (this.stopped || !this.leading) break;
        if (r === 'leader') this.armDeadline();
        else if (r === 'held') {
          this.log.error({ holder: this.observed?.lease.spec?.holderIdentity }, 'lease taken by another: leadership lost');
          this.lose();
        }
      }
      if (this.stopped || !this.opts.reacquire) return;
    }
  }

  private armDeadline(): void {
    this.clock.clearTimeout(this.deadlineTimer);
    const at = this.lastRenewMs + this.renewDeadlineMs;
    this.deadlineTimer = this.clock.setTimeout(() => {
      if (!this.leading || this.stopped) return;
      this.log.error({ renewDeadlineMs: this.renewDeadlineMs }, 'could not renew the lease in time: leadership lost');
      this.lose();
    }, Math.max(0, at - this.clock.now()));
  }

  private lose(): void {
    if (!this.leading) return;
    this.leading = false;
    this.clock.clearTimeout(this.deadlineTimer);
    this.attemptAc?.abort();
    this.callback('onStoppedLeading');
  }

  private observe(lease: Lease, nowMs: number): void {
    const s = lease.spec ?? {};
    const key = JSON.stringify([s.holderIdentity ?? '', s.renewTime ?? '', s.acquireTime ?? '', s.leaseDurationSeconds ?? 0, s.leaseTransitions ?? 0]);
    if (this.observed?.key !== key) this.observed = { lease, atMs: nowMs, key };
    else this.observed.lease = lease;
  }

  /** One try to acquire or renew, bounded by `timeoutMs`. */
  private async attempt(timeoutMs: number): Promise<Attempt> {
    const ac = new AbortController();
    this.attemptAc = ac;
    const call = { timeoutMs, signal: ac.signal };
    const start = this.clock.now();
    try {
      // The leader first writes over what it knows; a conflict sends it to read the lease.
      if (this.leading && this.observed?.lease.spec?.holderIdentity === this.opts.identity) {
        try {
          return await this.write(this.observed.lease, 'renew', '', start, call);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 409)) throw err;
        }
      }
      const lease = await this.client.get<Lease>(this.path, call);
      if (lease) this.observe(lease, start);
      const d = leaseDecision(lease, this.opts.identity, this.clock.now(), this.observed?.atMs);
      if (d.action === 'wait') return 'held';
      if (d.action === 'create') {
        const created = await this.client.create<Lease>(
          pathFor('coordination.k8s.io/v1', 'Lease', this.opts.namespace),
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: this.spec(start, undefined, true),
          },
          call,
        );
        this.observe(created, start);
        this.lastRenewMs = start;
        return 'leader';
      }
      return await this.write(lease!, d.action, d.action === 'acquire' ? d.previousHolder : '', start, call);
    } catch (err) {
      if (this.stopped) return 'failed';
      if (err instanceof ApiError && err.status === 409) {
        this.log.debug({ err: err.message }, 'lease changed meanwhile');
        return this.leading ? 'failed' : 'held';
      }
      this.log.warn({ err }, this.leading ? 'could not renew the lease' : 'could not read or acquire the lease');
      return 'failed';
    } finally {
      if (this.attemptAc === ac) this.attemptAc = undefined;
    }
  }

  private spec(nowMs: number, old: LeaseSpec | undefined, takeover: boolean): LeaseSpec {
    return {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: takeover || !old?.acquireTime ? microTime(nowMs) : old.acquireTime,
      renewTime: microTime(nowMs),
      leaseTransitions: (old?.leaseTransitions ?? 0) + (takeover && old ? 1 : 0),
    };
  }

  /** PUT with the resourceVersion read: 409 when anyone wrote the lease since. */
  private async write(lease: Lease, action: 'renew' | 'acquire', previousHolder: string, start: number, call: { timeoutMs: number; signal: AbortSignal }): Promise<Attempt> {
    const takeover = action === 'acquire';
    const body: Lease = { ...lease, spec: this.spec(start, lease.spec, takeover) };
    const updated = await this.client.replace<Lease>(this.path, body, call);
    this.observe(updated, start);
    this.lastRenewMs = start;
    if (takeover) this.log.info({ previousHolder: previousHolder || undefined }, 'acquired the lease');
    return 'leader';
  }

  private async release(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const lease = i === 0 ? this.observed?.lease : await this.client.get<Lease>(this.path, { timeoutMs: this.renewDeadlineMs }).catch(() => null);
      if (!lease || lease.spec?.holderIdentity !== this.opts.identity) return;
      const now = this.clock.now();
      try {
        await this.client.replace<Lease>(
          this.path,
          { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now) } },
          { timeoutMs: this.renewDeadlineMs },
        );
        this.log.info('released the lease');
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) {
          this.log.warn({ err }, 'could not release the lease; it expires by itself');
          return;
        }
      }
    }
  }
}
