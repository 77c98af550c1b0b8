import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiError, type KubeClient } from '../../src/kube/client.js';
import { LeaderElector, leaseDecision, microTime, type Lease } from '../../src/kube/leader-election.js';
import { FakeClock } from './fake-clock.js';

const log = pino({ level: 'silent' });
const lease = (holder: string | null, durationS = 15, renewMs = 0): Lease => ({
  metadata: { name: 'l', namespace: 'n', resourceVersion: '1' },
  spec: { holderIdentity: holder, leaseDurationSeconds: durationS, renewTime: microTime(renewMs) },
});

describe('leaseDecision', () => {
  it('creates a missing lease', () => {
    expect(leaseDecision(null, 'me', 0)).toEqual({ action: 'create' });
  });
  it('renews its own lease, even expired', () => {
    expect(leaseDecision(lease('me', 15, 0), 'me', 1e9).action).toBe('renew');
  });
  it('takes a released lease at once', () => {
    expect(leaseDecision(lease(''), 'me', 0, 0)).toEqual({ action: 'acquire', previousHolder: '' });
    expect(leaseDecision(lease(null), 'me', 0, 0).action).toBe('acquire');
  });
  it('waits for another holder until observedAt + duration, on its own clock', () => {
    const l = lease('other', 15, 0); // renewTime far in the past by our clock: ignored
    expect(leaseDecision(l, 'me', 100_000, 90_000)).toEqual({ action: 'wait', holder: 'other', expiresInMs: 5000 });
    expect(leaseDecision(l, 'me', 105_000, 90_000)).toEqual({ action: 'acquire', previousHolder: 'other' });
  });
  it('without an observation time it falls back to renewTime', () => {
    const l = lease('other', 10, 50_000);
    expect(leaseDecision(l, 'me', 55_000).action).toBe('wait');
    expect(leaseDecision(l, 'me', 60_000).action).toBe('acquire');
  });
  it('formats MicroTime with microseconds', () => {
    expect(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe('2025-01-02T03:04:05.678000Z');
  });
});

/** One Lease in memory with resourceVersion checks, as the API server does. */
class LeaseStore {
  lease: Lease | null = null;
  rv = 0;
  hang = false;
  writes = 0;
  client(): KubeClient {
    const answer = <T>(v: () => T, signal?: AbortSignal): Promise<T> =>
      this.hang
        ? new Promise<T>((_, reject) => signal?.addEventListener('abort', () => reject(new ApiError(0, 'Aborted', 'aborted'))))
        : Promise.resolve().then(v);
    return {
      get: <T>(_p: string, o?: { signal?: AbortSignal }) => answer(() => structuredClone(this.lease) as T | null, o?.signal),
      create: <T>(_p: string, obj: unknown, o?: { signal?: AbortSignal }) =>
        answer(() => {
          if (this.lease) throw new ApiError(409, 'AlreadyExists', 'exists');
          this.writes++;
          this.lease = { ...(obj as Lease), metadata: { ...(obj as Lease).metadata, resourceVersion: String(++this.rv) } };
          return structuredClone(this.lease) as T;
        }, o?.signal),
      replace: <T>(_p: string, obj: unknown, o?: { signal?: AbortSignal }) =>
        answer(() => {
          const l = obj as Lease;
          if (!this.lease || l.metadata.resourceVersion !== this.lease.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'changed');
          this.writes++;
          this.lease = { ...l, metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
          return structuredClone(this.lease) as T;
        }, o?.signal),
    } as unknown as KubeClient;
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};
async function advance(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await flush();
  }
}

function elector(store: LeaseStore, clock: FakeClock, identity: string, calls: string[]): LeaderElector {
  return new LeaderElector(store.client(), {
    namespace: 'n',
    name: 'l',
    identity,
    log,
    clock,
    onStartedLeading: () => calls.push(`${identity} started`),
    onStoppedLeading: () => calls.push(`${identity} stopped`),
  });
}

describe('LeaderElector (fake clock, in-memory lease)', () => {
  it('exactly one of two leads; stop() releases and the other takes over within a retry period', async () => {
    const clock = new FakeClock();
    const store = new LeaseStore();
    const calls: string[] = [];
    const a = elector(store, clock, 'a', calls);
    const b = elector(store, clock, 'b', calls);
    const runA = a.run();
    await flush();
    const runB = b.run();
    await advance(clock, 30_000);
    expect(calls).toEqual(['a started']);
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(store.lease?.spec?.holderIdentity).toBe('a');
    await a.stop();
    await runA;
    expect(calls).toEqual(['a started', 'a stopped']);
    expect(store.lease?.spec?.holderIdentity).toBe('');
    await advance(clock, 2_000 * 2.2 + 100);
    expect(calls).toEqual(['a started', 'a stopped', 'b started']);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
    await b.stop();
    await runB;
    expect(clock.pending).toBe(0);
  });

  it('takes over an expired lease only after a full lease duration of its own observation', async () => {
    const clock = new FakeClock();
    const store = new LeaseStore();
    store.lease = { metadata: { name: 'l', namespace: 'n', resourceVersion: '5' }, spec: { holderIdentity: 'dead', leaseDurationSeconds: 15, renewTime: microTime(0) } };
    store.rv = 5;
    const calls: string[] = [];
    const b = elector(store, clock, 'b', calls);
    void b.run();
    await advance(clock, 14_000);
    expect(calls).toEqual([]);
    await advance(clock, 6_000);
    expect(calls).toEqual(['b started']);
    await b.stop();
  });

  it('gives up leadership when it cannot renew within renewDeadline, even if a request hangs', async () => {
    const clock = new FakeClock();
    const store = new LeaseStore();
    const calls: string[] = [];
    const a = elector(store, clock, 'a', calls);
    const run = a.run();
    await advance(clock, 1_000);
    expect(a.isLeader()).toBe(true);
    store.hang = true;
    await advance(clock, 10_100);
    expect(calls).toEqual(['a started', 'a stopped']);
    expect(a.isLeader()).toBe(false);
    await run; // returns after losing leadership (reacquire not set)
    await a.stop();
    expect(calls).toEqual(['a started', 'a stopped']);
  });

  it('a leader that finds the lease taken by another stops leading at once', async () => {
    const clock = new FakeClock();
    const store = new LeaseStore();
    const calls: string[] = [];
    const a = elector(store, clock, 'a', calls);
    const run = a.run();
    await advance(clock, 500);
    store.lease = { ...store.lease!, metadata: { ...store.lease!.metadata, resourceVersion: String(++store.rv) }, spec: { ...store.lease!.spec, holderIdentity: 'usurper' } };
    await advance(clock, 2_500);
    expect(calls).toEqual(['a started', 'a stopped']);
    await run;
  });
});
