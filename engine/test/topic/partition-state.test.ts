/**
 * The deterministic core of a topic partition: each rule with explicit times, the JSON state
 * machine, and a model-based randomized run checking invariants after every step.
 */
import { describe, expect, it } from 'vitest';
import type { ApplyContext, EnqueueArgs, Failure, LeasedMessage, Mode, PartitionCommand, PartitionConfig, PartitionConfigPatch, PartitionResult } from '../../src/topic/partition-state.js';
import { LIMITS, PartitionState, backoffCap, partitionConfig, seedFor } from '../../src/topic/partition-state.js';
import { PartitionStateMachine, decodePartitionCommand, encodePartitionCommand } from '../../src/topic/partition-state-machine.js';
import { IndexedHeap } from '../../src/topic/priority-queue.js';

const T0 = 1_700_000_000_000;
const at = (dt: number, seed = 7n): ApplyContext => ({ now: T0 + dt, seed });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

const CONFIG = partitionConfig({
  visibilityTimeoutMs: 1_000,
  maxRetries: 2,
  retentionMs: 1_000_000,
  dlq: { enabled: true, retentionMs: 100_000 },
  maxPayloadBytes: 64,
  dedupWindowMs: 10_000,
  backoff: { baseMs: 100, maxMs: 1_000 },
  maxVisibilityTimeoutMs: 5_000,
  maxDelayMs: 60_000,
});

function make(overrides: Partial<PartitionConfig> = {}): PartitionState {
  return new PartitionState(3, { ...CONFIG, ...overrides });
}

function ok<T extends { ok: boolean }>(r: T): Exclude<T, Failure> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r as Exclude<T, Failure>;
}

function enq(s: PartitionState, dt: number, priority: number | bigint, extra: Partial<Parameters<PartitionState['enqueue']>[1]> = {}): string {
  return ok(s.enqueue(at(dt), { payload: bytes(`p${priority}`), priority: BigInt(priority), ...extra })).messageId;
}

function popOne(s: PartitionState, dt: number, consumer = 'c1', visibilityTimeoutMs?: number): LeasedMessage {
  const r = ok(s.pop(at(dt), { max: 1, consumer, ...(visibilityTimeoutMs === undefined ? {} : { visibilityTimeoutMs }) }));
  expect(r.messages).toHaveLength(1);
  return r.messages[0]!;
}

describe('IndexedHeap', () => {
  it('pops in order, removes by key, and lists the top k without changing', () => {
    const h = new IndexedHeap<number, number>((a, b) => a < b, (v) => v);
    for (const v of [5, 3, 9, 1, 7, 2, 8]) h.push(v);
    expect(h.top(4)).toEqual([1, 2, 3, 5]);
    expect(h.size).toBe(7);
    expect(h.remove(3)).toBe(3);
    expect(h.remove(42)).toBeUndefined();
    const out: number[] = [];
    for (let v = h.pop(); v !== undefined; v = h.pop()) out.push(v);
    expect(out).toEqual([1, 2, 5, 7, 8, 9]);
    expect(() => {
      h.push(1);
      h.push(1);
    }).toThrow(/already present/);
  });
});

describe('PartitionState: order', () => {
  it('MIN delivers lower priorities first, then enqueue order', () => {
    const s = make();
    const a = enq(s, 0, 5);
    const b = enq(s, 1, 1);
    const c = enq(s, 2, 5);
    const d = enq(s, 3, -2);
    expect(a).toBe('3-1');
    expect(s.candidates(10).map((x) => x.messageId)).toEqual([d, b, a, c]);
    expect(s.peek(2).map((x) => x.messageId)).toEqual([d, b]);
    const got = ok(s.pop(at(4), { max: 10, consumer: 'c' })).messages.map((m) => m.messageId);
    expect(got).toEqual([d, b, a, c]);
  });

  it('MAX delivers higher priorities first, then enqueue order; int64 bounds are exact', () => {
    const s = make({ mode: 'max' });
    const a = enq(s, 0, 1);
    const b = enq(s, 0, LIMITS.maxPriority);
    const c = enq(s, 0, 1);
    const d = enq(s, 0, LIMITS.minPriority);
    expect(ok(s.pop(at(1), { max: 10, consumer: 'c' })).messages.map((m) => m.messageId)).toEqual([b, a, c, d]);
  });
});

describe('PartitionState: leases', () => {
  it('never leases a message twice; ack removes it for good', () => {
    const s = make();
    const a = enq(s, 0, 1);
    const b = enq(s, 0, 2);
    const m1 = popOne(s, 10, 'c1');
    const m2 = popOne(s, 10, 'c2');
    expect([m1.messageId, m2.messageId]).toEqual([a, b]);
    expect(m1.leaseDeadline).toBe(T0 + 10 + 1_000);
    expect(m1.attempts).toBe(1);
    expect(ok(s.pop(at(11), { max: 5, consumer: 'c3' })).messages).toEqual([]);
    expect(s.ack(at(20), { messageId: a, leaseToken: m2.leaseToken })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    ok(s.ack(at(20), { messageId: a, leaseToken: m1.leaseToken }));
    expect(s.ack(at(21), { messageId: a, leaseToken: m1.leaseToken })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    // Long after, the acked message is still never delivered.
    ok(s.tick(at(50_000)));
    const later = ok(s.pop(at(50_001), { max: 10, consumer: 'c' })).messages.map((m) => m.messageId);
    expect(later).toEqual([b]);
    expect(s.stats()).toMatchObject({ ready: 0, leased: 1, ackedTotal: 1 });
  });

  it('expires a lease at its deadline: the message returns with attempts counted, the old token is stale', () => {
    const s = make();
    const a = enq(s, 0, 1);
    const first = popOne(s, 0, 'c1', 500);
    expect(s.nextDeadline()).toBe(T0 + 500);
    ok(s.tick(at(499)));
    expect(s.get(a)).toMatchObject({ state: 'leased', isLeased: true, leaseDeadline: T0 + 500, consumer: 'c1' });
    ok(s.tick(at(500)));
    expect(s.get(a)).toMatchObject({ state: 'ready', isLeased: false, attempts: 1, lastReason: 'lease expired' });
    expect(s.ack(at(501), { messageId: a, leaseToken: first.leaseToken })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    const second = popOne(s, 502, 'c2');
    expect(second.attempts).toBe(2);
    expect(second.leaseToken).not.toBe(first.leaseToken);
    expect(s.nack(at(503), { messageId: a, leaseToken: first.leaseToken })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    expect(s.extend(at(503), { leaseToken: first.leaseToken, extensionMs: 100 })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    ok(s.ack(at(504), { messageId: a, leaseToken: second.leaseToken }));
  });

  it('a command at the deadline sees the lease expired even without a tick', () => {
    const s = make();
    const a = enq(s, 0, 1);
    const m = popOne(s, 0, 'c1', 100);
    expect(s.ack(at(100), { messageId: a, leaseToken: m.leaseToken })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    expect(popOne(s, 100, 'c2').messageId).toBe(a);
  });

  it('extend adds to the deadline, bounded by maxVisibilityTimeoutMs', () => {
    const s = make();
    enq(s, 0, 1);
    const m = popOne(s, 0, 'c1', 1_000);
    expect(ok(s.extend(at(500), { leaseToken: m.leaseToken, extensionMs: 2_000 })).leaseDeadline).toBe(T0 + 3_000);
    expect(s.extend(at(600), { leaseToken: m.leaseToken, extensionMs: 3_000 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.extend(at(600), { leaseToken: m.leaseToken, extensionMs: 0 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    ok(s.tick(at(2_999)));
    expect(s.stats().leased).toBe(1);
    ok(s.tick(at(3_000)));
    expect(s.stats()).toMatchObject({ leased: 0, ready: 1 });
  });

  it('lease tokens are deterministic: same seed, same tokens; different seed, different tokens', () => {
    const run = (seed: bigint): string => {
      const s = make();
      enq(s, 0, 1);
      return ok(s.pop(at(1, seed), { max: 1, consumer: 'c' })).messages[0]!.leaseToken;
    };
    expect(run(seedFor(5, 2))).toBe(run(seedFor(5, 2)));
    expect(run(seedFor(5, 2))).not.toBe(run(seedFor(6, 2)));
    expect(run(1n)).toMatch(/^3-1\.1\.[0-9a-f]{16}$/);
  });
});

describe('PartitionState: nack, backoff and the DLQ', () => {
  it('nack delays by full jitter within base * 2^(attempts-1), capped; the override wins', () => {
    expect([1, 2, 3, 4, 5, 10, 1000].map((n) => backoffCap(CONFIG, n))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    const delays = new Set<number>();
    for (let seed = 0n; seed < 200n; seed++) {
      const s = make();
      const a = enq(s, 0, 1);
      const m = popOne(s, 0);
      const r = ok(s.nack(at(10, seed), { messageId: a, leaseToken: m.leaseToken }));
      expect(r.outcome).toBe('retry');
      const delay = r.availableAt! - (T0 + 10);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(100);
      delays.add(delay);
    }
    expect(delays.size).toBeGreaterThan(50);
    const s = make();
    const a = enq(s, 0, 1);
    const m = popOne(s, 0);
    expect(ok(s.nack(at(10), { messageId: a, leaseToken: m.leaseToken, backoffOverrideMs: 5_000, reason: 'busy' }))).toEqual({ ok: true, outcome: 'retry', availableAt: T0 + 5_010 });
    expect(s.get(a)).toMatchObject({ state: 'delayed', lastReason: 'busy' });
    expect(s.nextDeadline()).toBe(T0 + 5_010);
    expect(ok(s.pop(at(5_009), { max: 1, consumer: 'c' })).messages).toEqual([]);
    expect(popOne(s, 5_010).messageId).toBe(a);
  });

  it('nack with a zero override makes the message ready at once; bad overrides are refused', () => {
    const s = make();
    const a = enq(s, 0, 1);
    const m = popOne(s, 0);
    expect(s.nack(at(1), { messageId: a, leaseToken: m.leaseToken, backoffOverrideMs: 60_001 })).toMatchObject({ ok: false, error: 'DELAY_OUT_OF_RANGE' });
    expect(s.nack(at(1), { messageId: a, leaseToken: m.leaseToken, backoffOverrideMs: -1 })).toMatchObject({ ok: false, error: 'DELAY_OUT_OF_RANGE' });
    ok(s.nack(at(1), { messageId: a, leaseToken: m.leaseToken, backoffOverrideMs: 0 }));
    expect(popOne(s, 1).attempts).toBe(2);
  });

  it('after maxRetries retries the message goes to the DLQ, kept until the DLQ retention', () => {
    const s = make();
    const a = enq(s, 0, 1, { maxRetries: 1 });
    const b = enq(s, 0, 2);
    const m1 = popOne(s, 0);
    expect(ok(s.nack(at(1), { messageId: a, leaseToken: m1.leaseToken, backoffOverrideMs: 0 })).outcome).toBe('retry');
    const m2 = popOne(s, 1);
    expect(m2).toMatchObject({ messageId: a, attempts: 2 });
    expect(ok(s.nack(at(2), { messageId: a, leaseToken: m2.leaseToken, reason: 'poison' }))).toEqual({ ok: true, outcome: 'dlq' });
    expect(s.stats()).toMatchObject({ ready: 1, dlq: 1, deadLetteredTotal: 1 });
    expect(s.peek(10).map((x) => x.messageId)).toEqual([b]);
    expect(s.peek(10, true).map((x) => [x.messageId, x.inDlq])).toEqual([
      [b, false],
      [a, true],
    ]);
    expect(s.get(a)).toMatchObject({ state: 'dlq', dlqAt: T0 + 2, lastReason: 'poison' });
    // Never delivered from the DLQ.
    expect(popOne(s, 3).messageId).toBe(b);
    expect(s.ack(at(4), { messageId: a, leaseToken: m2.leaseToken })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    ok(s.tick(at(2 + 100_000 - 1)));
    expect(s.stats().dlq).toBe(1);
    ok(s.tick(at(2 + 100_000)));
    expect(s.stats()).toMatchObject({ dlq: 0, dlqExpiredTotal: 1 });
  });

  it('a lease expiry counts as a failed delivery toward maxRetries', () => {
    const s = make({ maxRetries: 0 });
    const a = enq(s, 0, 1);
    popOne(s, 0, 'c', 100);
    ok(s.tick(at(100)));
    expect(s.get(a)).toMatchObject({ state: 'dlq', attempts: 1, lastReason: 'lease expired' });
  });

  it('with the DLQ disabled an exhausted message is dropped and counted, and moveToDlq is refused', () => {
    const s = make({ maxRetries: 0, dlq: { enabled: false, retentionMs: 1 } });
    const a = enq(s, 0, 1);
    const m = popOne(s, 0);
    expect(ok(s.nack(at(1), { messageId: a, leaseToken: m.leaseToken }))).toEqual({ ok: true, outcome: 'dropped' });
    expect(s.stats()).toMatchObject({ dlq: 0, droppedTotal: 1, ready: 0 });
    const b = enq(s, 2, 1);
    expect(s.moveToDlq(at(3), { messageId: b })).toMatchObject({ ok: false, error: 'DLQ_DISABLED' });
  });

  it('moveToDlq takes a message from anywhere, ending its lease; idempotent', () => {
    const s = make();
    const a = enq(s, 0, 1);
    const b = enq(s, 0, 2, { notBeforeMs: T0 + 1_000 });
    const m = popOne(s, 1);
    expect(ok(s.moveToDlq(at(2), { messageId: a, reason: 'operator' }))).toEqual({ ok: true, alreadyInDlq: false });
    expect(ok(s.moveToDlq(at(3), { messageId: a }))).toEqual({ ok: true, alreadyInDlq: true });
    expect(s.ack(at(4), { messageId: a, leaseToken: m.leaseToken })).toMatchObject({ ok: false, error: 'LEASE_EXPIRED' });
    ok(s.moveToDlq(at(5), { messageId: b }));
    expect(s.moveToDlq(at(5), { messageId: '3-99' })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    expect(s.stats()).toMatchObject({ dlq: 2, leased: 0, delayed: 0, ready: 0 });
    s.checkInvariants();
  });
});

describe('PartitionState: delays, retention, dedup, purge, bounds', () => {
  it('holds a not-before message until its time', () => {
    const s = make();
    const a = enq(s, 0, 9, { notBeforeMs: T0 + 300 });
    const b = enq(s, 0, 10);
    expect(s.get(a)).toMatchObject({ state: 'delayed', availableAt: T0 + 300 });
    expect(s.nextDeadline()).toBe(T0 + 300);
    expect(popOne(s, 299).messageId).toBe(b);
    expect(ok(s.pop(at(299), { max: 1, consumer: 'c' })).messages).toEqual([]);
    expect(s.candidates(5)).toEqual([]);
    expect(popOne(s, 300).messageId).toBe(a);
    // A not-before in the past is just ready.
    const c = enq(s, 400, 1, { notBeforeMs: T0 });
    expect(s.get(c)!.state).toBe('ready');
  });

  it('drops messages past retention, leased or not', () => {
    const s = make({ retentionMs: 1_000 });
    const a = enq(s, 0, 1);
    const b = enq(s, 500, 1);
    const m = popOne(s, 600);
    expect(m.messageId).toBe(a);
    expect(s.stats(T0 + 600).oldestAgeMs).toBe(600);
    ok(s.tick(at(999)));
    expect(s.stats().ready + s.stats().leased).toBe(2);
    ok(s.tick(at(1_000)));
    expect(s.get(a)).toBeNull();
    expect(s.ack(at(1_001), { messageId: a, leaseToken: m.leaseToken })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    expect(s.nextDeadline()).toBe(T0 + 1_500);
    ok(s.tick(at(1_500)));
    expect(s.get(b)).toBeNull();
    expect(s.stats()).toMatchObject({ expiredTotal: 2, ready: 0, leased: 0, oldestAgeMs: null });
  });

  it('deduplicates (producer, epoch, sequence) within the window, even after ack', () => {
    const s = make();
    const p = { id: 'prod', epoch: 1, sequence: 7 };
    const r1 = ok(s.enqueue(at(0), { payload: bytes('x'), priority: 1n, producer: p }));
    expect(r1.duplicate).toBe(false);
    expect(ok(s.enqueue(at(5), { payload: bytes('other'), priority: 9n, producer: p }))).toEqual({ ok: true, messageId: r1.messageId, duplicate: true });
    expect(ok(s.enqueue(at(5), { payload: bytes('x'), priority: 1n, producer: { ...p, sequence: 8 } })).duplicate).toBe(false);
    expect(ok(s.enqueue(at(5), { payload: bytes('x'), priority: 1n, producer: { ...p, epoch: 2 } })).duplicate).toBe(false);
    const m = popOne(s, 6);
    ok(s.ack(at(7), { messageId: m.messageId, leaseToken: m.leaseToken }));
    // A retry of an accepted triple is still a duplicate after the producer moved to a newer epoch...
    expect(ok(s.enqueue(at(9_999), { payload: bytes('x'), priority: 1n, producer: p }))).toEqual({ ok: true, messageId: r1.messageId, duplicate: true });
    // ...but a new message from the old epoch is fenced off while the newer epoch is remembered.
    expect(s.enqueue(at(9_999), { payload: bytes('x'), priority: 1n, producer: { ...p, sequence: 9 } })).toMatchObject({ ok: false, error: 'STALE_EPOCH' });
    const again = ok(s.enqueue(at(10_005), { payload: bytes('x'), priority: 1n, producer: p }));
    expect(again.duplicate).toBe(false);
    expect(again.messageId).not.toBe(r1.messageId);
    expect(s.stats().enqueuedTotal).toBe(4);
  });

  it('dedup window 0 turns deduplication off', () => {
    const s = make({ dedupWindowMs: 0 });
    const p = { id: 'prod', epoch: 1, sequence: 7 };
    const a = ok(s.enqueue(at(0), { payload: bytes('x'), priority: 1n, producer: p }));
    const b = ok(s.enqueue(at(0), { payload: bytes('x'), priority: 1n, producer: p }));
    expect(b.messageId).not.toBe(a.messageId);
  });

  it('purge removes live messages and ends leases; the DLQ only when asked', () => {
    const s = make();
    const a = enq(s, 0, 1);
    enq(s, 0, 2);
    enq(s, 0, 3, { notBeforeMs: T0 + 100 });
    const d = enq(s, 0, 4);
    ok(s.moveToDlq(at(0), { messageId: d }));
    const m = popOne(s, 1);
    expect(s.purge(at(2))).toEqual({ ok: true, purged: 3, purgedDlq: 0 });
    expect(s.ack(at(3), { messageId: a, leaseToken: m.leaseToken })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    expect(s.stats()).toMatchObject({ ready: 0, delayed: 0, leased: 0, dlq: 1 });
    expect(s.purge(at(4), { dlq: true })).toEqual({ ok: true, purged: 0, purgedDlq: 1 });
    // Only the log's records are left to expire: purge does not touch the log.
    expect(s.nextDeadline()).toBe(T0 + 1_000_000);
    expect(s.stats()).toMatchObject({ logFirstOffset: 0, logEndOffset: 4 });
    ok(s.tick(at(1_000_000)));
    expect(s.nextDeadline()).toBeNull();
  });

  it('refuses out-of-range input with clear errors', () => {
    const s = make();
    const e = (a: Partial<Parameters<PartitionState['enqueue']>[1]>): unknown => s.enqueue(at(0), { payload: bytes('x'), priority: 0n, ...a });
    expect(e({ payload: new Uint8Array(65) })).toMatchObject({ ok: false, error: 'PAYLOAD_TOO_LARGE' });
    expect(e({ payload: new Uint8Array(64) })).toMatchObject({ ok: true });
    expect(e({ priority: 1n << 63n })).toMatchObject({ ok: false, error: 'PRIORITY_OUT_OF_RANGE' });
    expect(e({ priority: -(1n << 63n) - 1n })).toMatchObject({ ok: false, error: 'PRIORITY_OUT_OF_RANGE' });
    expect(e({ notBeforeMs: T0 + 60_001 })).toMatchObject({ ok: false, error: 'DELAY_OUT_OF_RANGE' });
    expect(e({ notBeforeMs: 1.5 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(e({ maxRetries: -1 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(e({ maxRetries: LIMITS.maxRetries + 1 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(e({ producer: { id: '', epoch: 0, sequence: 0 } })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.pop(at(0), { max: 0, consumer: 'c' })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.pop(at(0), { max: LIMITS.maxPopBatch + 1, consumer: 'c' })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.pop(at(0), { max: 1, consumer: '' })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.pop(at(0), { max: 1, consumer: 'c', visibilityTimeoutMs: 5_001 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.ack(at(0), { messageId: 'nope', leaseToken: 'x' })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    expect(() => partitionConfig({ backoff: { baseMs: 10, maxMs: 5 } })).toThrow(/backoff.maxMs/);
    expect(() => partitionConfig({ retentionMs: 0 })).toThrow(/retentionMs/);
    s.checkInvariants();
  });

  it('time never goes backwards inside the state', () => {
    const s = make();
    enq(s, 1_000, 1);
    const m = popOne(s, 500, 'c', 100); // an earlier time is read as the latest one
    expect(m.leaseDeadline).toBe(T0 + 1_100);
  });
});

describe('PartitionState: snapshots and the state machine', () => {
  it('round-trips the whole state exactly', () => {
    const s = make({ mode: 'max' });
    enq(s, 0, 5, { producer: { id: 'p', epoch: 1, sequence: 1 } });
    enq(s, 1, 7, { notBeforeMs: T0 + 500 });
    enq(s, 2, LIMITS.maxPriority);
    const dl = enq(s, 3, 1);
    ok(s.moveToDlq(at(4), { messageId: dl }));
    const m = popOne(s, 5);
    const snap = s.snapshot();
    const r = new PartitionState(3, CONFIG);
    r.restore(snap);
    expect(new TextDecoder().decode(r.snapshot())).toBe(new TextDecoder().decode(snap));
    expect(r.currentConfig.mode).toBe('max');
    r.checkInvariants();
    ok(r.ack(at(6), { messageId: m.messageId, leaseToken: m.leaseToken }));
    expect(ok(r.enqueue(at(7), { payload: bytes('x'), priority: 1n, producer: { id: 'p', epoch: 1, sequence: 1 } })).duplicate).toBe(true);
    r.restore(new Uint8Array(0));
    expect(r.stats()).toMatchObject({ ready: 0, dlq: 0, enqueuedTotal: 0 });
    expect(r.currentConfig.mode).toBe('min');
    expect(() => new PartitionState(4).restore(snap)).toThrow(/partition 3/);
  });

  it('applies JSON commands with the entry time and a seed from (index, term)', () => {
    const sm = new PartitionStateMachine(0, CONFIG);
    const cmds: PartitionCommand[] = [
      { type: 'enqueue', payload: bytes('hello'), priority: -(1n << 62n), producer: { id: 'p', epoch: 0, sequence: 1 } },
      { type: 'enqueue', payload: bytes('world'), priority: 3n, notBeforeMs: T0 + 50 },
      { type: 'pop', max: 5, consumer: 'c', visibilityTimeoutMs: 100 },
    ];
    const results = sm.apply(cmds.map((c, i) => ({ index: i + 1, term: 1, time: T0 + i, command: encodePartitionCommand(c) })));
    expect(results[0]).toEqual({ ok: true, messageId: '0-1', duplicate: false });
    const popped = results[2] as { ok: true; messages: LeasedMessage[] };
    expect(popped.messages).toHaveLength(1);
    expect(new TextDecoder().decode(popped.messages[0]!.payload)).toBe('hello');
    expect(popped.messages[0]!.priority).toBe(-(1n << 62n));
    const more = sm.apply([
      { index: 4, term: 1, time: T0 + 60, command: encodePartitionCommand({ type: 'ack', messageId: '0-1', leaseToken: popped.messages[0]!.leaseToken }) },
      { index: 5, term: 1, time: T0 + 60, command: bytes('{"type":"bogus"}') },
      { index: 6, term: 1, time: T0 + 60, command: bytes('not json') },
      { index: 7, term: 1, time: T0 + 60, command: bytes('{"type":"enqueue","payload":"","priority":"1.5"}') },
      { index: 8, term: 1, time: T0 + 60, command: bytes('{"type":"enqueue","payload":"","priority":"99999999999999999999"}') },
      { index: 9, term: 1, time: T0 + 60, command: encodePartitionCommand({ type: 'tick' }) },
    ]);
    expect(more.map((r) => (r as PartitionResult).ok)).toEqual([true, false, false, false, false, true]);
    expect(more[1]).toMatchObject({ error: 'INVALID_ARGUMENT', message: expect.stringContaining('bogus') });
    expect(more[4]).toMatchObject({ error: 'INVALID_ARGUMENT' });
    expect(sm.state.stats()).toMatchObject({ ready: 1, ackedTotal: 1 });
    const copy = new PartitionStateMachine(0, CONFIG);
    copy.restore(sm.snapshot());
    expect(copy.snapshot()).toEqual(sm.snapshot());
    for (const c of [
      { type: 'nack', messageId: 'a', leaseToken: 'b', backoffOverrideMs: 5, reason: 'r' },
      { type: 'extend', leaseToken: 'b', extensionMs: 5 },
      { type: 'purge', dlq: true },
      { type: 'moveToDlq', messageId: 'a' },
    ] as PartitionCommand[]) {
      expect(decodePartitionCommand(encodePartitionCommand(c))).toEqual(c);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Model-based randomized test

/** mulberry32: the test's own seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ModelMsg {
  id: string;
  seq: number;
  priority: bigint;
  enqueuedAt: number;
  maxRetries: number;
  attempts: number;
  state: 'ready' | 'delayed' | 'leased' | 'dlq';
  availableAt: number;
  token: string | null;
  deadline: number;
  dlqAt: number;
}

interface ModelItem {
  id: string;
  priority: bigint;
  maxRetries: number;
  notBeforeMs: number | null;
  key: string | null;
  producer: { id: string; epoch: number } | null;
}

/** A naive reference: arrays and sorting, no heaps. */
class Model {
  msgs = new Map<string, ModelMsg>();
  acked = new Set<string>();
  dedup = new Map<string, { id: string; at: number }>();
  nextSeq = 1;
  /** Prepared transactions: staged items and the prepare's results. */
  txns = new Map<string, { items: ModelItem[]; results: { messageId: string; duplicate: boolean }[] }>();
  /** Dedup key to the staged message holding it, and its transaction. */
  reserved = new Map<string, { id: string; txnId: string }>();
  /** Producer id to the highest accepted epoch and when (fencing; kept for the dedup window). */
  producers = new Map<string, { epoch: number; at: number }>();
  decided = new Map<string, { outcome: 'committed' | 'aborted'; at: number }>();
  log: { offset: number; id: string; priority: bigint; enqueuedAt: number }[] = [];
  logEnd = 0;
  offsets = new Map<string, number>();
  now = 0;
  constructor(public c: PartitionConfig) {}

  advance(t: number): void {
    this.now = Math.max(this.now, t);
    const now = this.now;
    for (const m of [...this.msgs.values()].filter((x) => x.state === 'leased' && x.deadline <= now)) {
      m.token = null;
      this.fail(m, 0);
    }
    for (const m of this.msgs.values()) if (m.state === 'delayed' && m.availableAt <= now) m.state = 'ready';
    for (const m of [...this.msgs.values()]) {
      if (m.state !== 'dlq' && m.enqueuedAt + this.c.retentionMs <= now) this.msgs.delete(m.id);
      if (m.state === 'dlq' && m.dlqAt + this.c.dlq.retentionMs <= now) this.msgs.delete(m.id);
    }
    for (const [k, e] of [...this.dedup]) if (e.at + this.c.dedupWindowMs <= now) this.dedup.delete(k);
    for (const [k, e] of [...this.producers]) if (e.at + this.c.dedupWindowMs <= now) this.producers.delete(k);
    for (const [id, d] of [...this.decided]) if (d.at + this.c.txnMemoryMs <= now) this.decided.delete(id);
    this.trimLog();
  }

  trimLog(): void {
    this.log = this.log.filter((r) => r.enqueuedAt + this.c.retentionMs > this.now);
    if (this.log.length > this.c.maxLogRecords) this.log = this.log.slice(this.log.length - this.c.maxLogRecords);
  }

  /** The id of the message holding this dedup key: in the window, or staged by `txnId` itself. */
  prior(key: string | null, txnId: string | null = null): string | undefined {
    if (key === null) return undefined;
    const r = this.reserved.get(key);
    return this.dedup.get(key)?.id ?? (r !== undefined && r.txnId === txnId ? r.id : undefined);
  }

  /** Why a new message must be refused: staged by another undecided txn, or a stale epoch. */
  refusal(key: string | null, producer: { id: string; epoch: number } | undefined, txnId: string | null): string | null {
    if (key === null || producer === undefined) return null;
    const r = this.reserved.get(key);
    if (r !== undefined && r.txnId !== txnId) return 'TXN_PENDING';
    const seen = this.producers.get(producer.id);
    return seen !== undefined && producer.epoch < seen.epoch ? 'STALE_EPOCH' : null;
  }

  makeLive(item: ModelItem): void {
    const now = this.now;
    const availableAt = Math.max(now, item.notBeforeMs ?? now);
    this.msgs.set(item.id, {
      id: item.id,
      seq: Number(item.id.split('-')[1]),
      priority: item.priority,
      enqueuedAt: now,
      maxRetries: item.maxRetries,
      attempts: 0,
      state: availableAt > now ? 'delayed' : 'ready',
      availableAt,
      token: null,
      deadline: 0,
      dlqAt: 0,
    });
    if (item.key !== null && this.c.dedupWindowMs > 0) this.dedup.set(item.key, { id: item.id, at: now });
    if (item.producer !== null && this.c.dedupWindowMs > 0) {
      const seen = this.producers.get(item.producer.id);
      this.producers.delete(item.producer.id);
      this.producers.set(item.producer.id, { epoch: Math.max(item.producer.epoch, seen?.epoch ?? 0), at: now });
    }
    this.log.push({ offset: this.logEnd++, id: item.id, priority: item.priority, enqueuedAt: now });
    this.trimLog();
  }

  /** The earliest time something is due (every kind of deadline, computed naively). */
  nextDeadline(): number | null {
    const times: number[] = [];
    for (const m of this.msgs.values()) {
      if (m.state === 'leased') times.push(m.deadline);
      if (m.state === 'delayed') times.push(m.availableAt);
      times.push(m.state === 'dlq' ? m.dlqAt + this.c.dlq.retentionMs : m.enqueuedAt + this.c.retentionMs);
    }
    for (const e of this.dedup.values()) times.push(e.at + this.c.dedupWindowMs);
    for (const d of this.decided.values()) times.push(d.at + this.c.txnMemoryMs);
    for (const r of this.log) times.push(r.enqueuedAt + this.c.retentionMs);
    return times.length === 0 ? null : Math.min(...times);
  }

  fail(m: ModelMsg, delay: number): 'retry' | 'dlq' | 'dropped' {
    if (m.attempts > m.maxRetries) {
      if (!this.c.dlq.enabled) {
        this.msgs.delete(m.id);
        return 'dropped';
      }
      m.state = 'dlq';
      m.dlqAt = this.now;
      return 'dlq';
    }
    m.availableAt = this.now + delay;
    m.state = delay > 0 ? 'delayed' : 'ready';
    return 'retry';
  }

  order(a: ModelMsg, b: ModelMsg): number {
    if (a.priority !== b.priority) return (a.priority < b.priority) === (this.c.mode === 'min') ? -1 : 1;
    return a.seq - b.seq;
  }

  sorted(filter: (m: ModelMsg) => boolean): ModelMsg[] {
    return [...this.msgs.values()].filter(filter).sort((a, b) => this.order(a, b));
  }

  holder(id: string, token: string): ModelMsg | 'UNKNOWN_MESSAGE' | 'LEASE_EXPIRED' {
    const m = this.msgs.get(id);
    if (m === undefined) return 'UNKNOWN_MESSAGE';
    if (m.state !== 'leased' || m.token !== token) return 'LEASE_EXPIRED';
    return m;
  }
}

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x));

function randomConfig(r: () => number): PartitionConfig {
  const mode: Mode = r() < 0.5 ? 'min' : 'max';
  return partitionConfig({
    mode,
    visibilityTimeoutMs: 200,
    maxRetries: Math.floor(r() * 3),
    retentionMs: r() < 0.3 ? 2_000 + Math.floor(r() * 3_000) : 1_000_000,
    dlq: { enabled: r() < 0.8, retentionMs: 500 + Math.floor(r() * 3_000) },
    maxPayloadBytes: 16,
    dedupWindowMs: r() < 0.2 ? 0 : Math.floor(r() * 2_000),
    backoff: { baseMs: 50, maxMs: 400 },
    maxVisibilityTimeoutMs: 1_000,
    maxDelayMs: 1_000,
    txnMemoryMs: 200 + Math.floor(r() * 3_000),
    maxLogRecords: r() < 0.6 ? 1 + Math.floor(r() * 12) : 100_000,
  });
}

/** Canonical JSON (sorted keys) to compare configs whatever their key order. */
const canonicalJson = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

/** Runs one random sequence against the state and the model; a replica restored midway follows along. */
function runSequence(seed: number, steps: number): void {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const cfg = randomConfig(r);
  const s = new PartitionState(1, cfg);
  const model = new Model(cfg);
  let replica: PartitionState | null = null;
  const restoreAt = Math.floor(r() * steps);
  const tokens: { id: string; token: string }[] = [];
  const tokenSet = new Set<string>();
  let now = T0;

  for (let step = 0; step < steps; step++) {
    if (step === restoreAt) {
      replica = new PartitionState(1, cfg);
      replica.restore(s.snapshot());
    }
    const x = r();
    now += x < 0.3 ? 0 : Math.floor(r() * (x < 0.9 ? 100 : 1_500));
    const ctx: ApplyContext = { now, seed: seedFor(step + 1, 1) };
    const randomEnqueue = (): EnqueueArgs => {
      const producer = r() < 0.5 ? { id: pick(['a', 'b']), epoch: Math.floor(r() * 2), sequence: Math.floor(r() * 6) } : undefined;
      return {
        payload: new Uint8Array(r() < 0.03 ? 17 : Math.floor(r() * 8)),
        priority: r() < 0.05 ? pick([LIMITS.minPriority, LIMITS.maxPriority]) : BigInt(Math.floor(r() * 7) - 3),
        ...(producer === undefined ? {} : { producer }),
        ...(r() < 0.2 ? { maxRetries: Math.floor(r() * 3) } : {}),
        ...(r() < 0.2 ? { notBeforeMs: now - 100 + Math.floor(r() * 700) } : {}),
      };
    };
    const txnId = (): string => `t${Math.floor(r() * 5)}`;
    const roll = r();
    const q = (roll - 0.2) / 0.8;
    let cmd: PartitionCommand;
    // Transactions, offsets and config changes (20%), else the queue's own commands.
    if (roll < 0.08) {
      const n = 1 + Math.floor(r() * 3);
      cmd = { type: 'prepare', txnId: txnId(), enqueues: Array.from({ length: n }, randomEnqueue) };
    } else if (roll < 0.13) {
      cmd = { type: 'commitTxn', txnId: txnId() };
    } else if (roll < 0.17) {
      cmd = { type: 'abortTxn', txnId: txnId() };
    } else if (roll < 0.185) {
      cmd = { type: 'commitOffset', group: pick(['g1', 'g2']), offset: Math.floor(r() * (model.logEnd + 3)) - 1 };
    } else if (roll < 0.2) {
      const patch: Record<string, unknown> = {};
      if (r() < 0.5) patch.retentionMs = r() < 0.5 ? 2_000 + Math.floor(r() * 3_000) : 1_000_000;
      if (r() < 0.4) patch.dedupWindowMs = Math.floor(r() * 2_000);
      if (r() < 0.4) patch.maxLogRecords = r() < 0.1 ? 0 : 1 + Math.floor(r() * 12);
      if (r() < 0.4) patch.txnMemoryMs = 1 + Math.floor(r() * 3_000);
      if (r() < 0.3) patch.dlq = { retentionMs: 500 + Math.floor(r() * 3_000) };
      if (r() < 0.1) patch.mode = r() < 0.5 ? 'min' : 'max';
      cmd = { type: 'configure', config: patch as PartitionConfigPatch };
    } else if (q < 0.35) {
      cmd = { type: 'enqueue', ...randomEnqueue() };
    } else if (q < 0.6) {
      cmd = { type: 'pop', max: 1 + Math.floor(r() * 3), consumer: pick(['c1', 'c2', 'c3']), ...(r() < 0.5 ? { visibilityTimeoutMs: 20 + Math.floor(r() * 400) } : {}) };
    } else if (q < 0.73 && tokens.length > 0) {
      const t = r() < 0.7 ? tokens[tokens.length - 1 - Math.floor(r() * Math.min(5, tokens.length))]! : pick(tokens);
      cmd = { type: 'ack', messageId: t.id, leaseToken: t.token };
    } else if (q < 0.85 && tokens.length > 0) {
      const t = r() < 0.7 ? tokens[tokens.length - 1 - Math.floor(r() * Math.min(5, tokens.length))]! : pick(tokens);
      cmd = { type: 'nack', messageId: t.id, leaseToken: t.token, ...(r() < 0.3 ? { backoffOverrideMs: Math.floor(r() * 300) } : {}) };
    } else if (q < 0.9 && tokens.length > 0) {
      cmd = { type: 'extend', leaseToken: pick(tokens).token, extensionMs: 1 + Math.floor(r() * 600) };
    } else if (q < 0.93) {
      const ids = [...model.msgs.keys()];
      cmd = { type: 'moveToDlq', messageId: ids.length > 0 && r() < 0.9 ? pick(ids) : '1-999999' };
    } else if (q < 0.94) {
      cmd = { type: 'purge', dlq: r() < 0.5 };
    } else {
      cmd = { type: 'tick' };
    }

    const res = s.apply(cmd, ctx);
    const fail = (what: string, got: string, expected: string): never => {
      throw new Error(`seed ${seed} step ${step} ${json(cmd)} -> ${json(res)}: ${what}\n  got      ${got}\n  expected ${expected}`);
    };
    /** Cheap equality on the JSON forms (vitest's matchers are too slow for 180k steps). */
    const eq = (actual: unknown, expected: unknown, what = 'result'): void => {
      const a = json(actual);
      const e = json(expected);
      if (a !== e) fail(what, a, e);
    };
    const check = (cond: boolean, what: string): void => {
      if (!cond) fail(what, 'false', 'true');
    };
    const failed = (code: string): void => eq(res.ok ? 'ok' : (res as Failure).error, code, 'error code');
    if (replica !== null) eq(replica.apply(cmd, ctx), res, 'replica result');
    model.advance(now);

    switch (cmd.type) {
      case 'enqueue': {
        const p = cmd.producer;
        const key = p !== undefined && model.c.dedupWindowMs > 0 ? `${p.id}/${p.epoch}/${p.sequence}` : null;
        const valid = cmd.payload.length <= model.c.maxPayloadBytes;
        if (!valid) {
          failed('PAYLOAD_TOO_LARGE');
          break;
        }
        const prior = model.prior(key);
        if (prior !== undefined) {
          eq(res, { ok: true, messageId: prior, duplicate: true });
          break;
        }
        const refused = model.refusal(key, p, null);
        if (refused !== null) {
          failed(refused);
          break;
        }
        const id = `1-${model.nextSeq++}`;
        eq(res, { ok: true, messageId: id, duplicate: false });
        check(!model.msgs.has(id) && !model.acked.has(id), 'fresh message id');
        model.makeLive({ id, priority: cmd.priority, maxRetries: cmd.maxRetries ?? model.c.maxRetries, notBeforeMs: cmd.notBeforeMs ?? null, key, producer: p === undefined ? null : { id: p.id, epoch: p.epoch } });
        break;
      }
      case 'prepare': {
        const decided = model.decided.get(cmd.txnId);
        const known = model.txns.get(cmd.txnId);
        const invalid = cmd.enqueues.findIndex((e) => e.payload.length > model.c.maxPayloadBytes);
        if (decided !== undefined) {
          failed('TXN_DECIDED');
        } else if (known !== undefined) {
          eq(res, { ok: true, results: known.results });
        } else if (invalid >= 0) {
          failed('PAYLOAD_TOO_LARGE');
          check((res as Failure).message.startsWith(`item ${invalid}: `), 'the failing item is named');
        } else {
          const keyOf = (e: EnqueueArgs): string | null => (e.producer !== undefined && model.c.dedupWindowMs > 0 ? `${e.producer.id}/${e.producer.epoch}/${e.producer.sequence}` : null);
          const refusedAt = cmd.enqueues.findIndex((e) => model.prior(keyOf(e)) === undefined && model.refusal(keyOf(e), e.producer, cmd.txnId) !== null);
          if (refusedAt >= 0) {
            const e = cmd.enqueues[refusedAt]!;
            failed(model.refusal(keyOf(e), e.producer, cmd.txnId)!);
            check((res as Failure).message.startsWith(`item ${refusedAt}: `), 'the refused item is named');
            break;
          }
          const items: ModelItem[] = [];
          const results: { messageId: string; duplicate: boolean }[] = [];
          for (const e of cmd.enqueues) {
            const p = e.producer;
            const key = keyOf(e);
            const prior = model.prior(key, cmd.txnId);
            if (prior !== undefined) {
              results.push({ messageId: prior, duplicate: true });
              continue;
            }
            const id = `1-${model.nextSeq++}`;
            items.push({ id, priority: e.priority, maxRetries: e.maxRetries ?? model.c.maxRetries, notBeforeMs: e.notBeforeMs ?? null, key, producer: p === undefined ? null : { id: p.id, epoch: p.epoch } });
            if (key !== null) model.reserved.set(key, { id, txnId: cmd.txnId });
            results.push({ messageId: id, duplicate: false });
          }
          model.txns.set(cmd.txnId, { items, results });
          eq(res, { ok: true, results });
        }
        break;
      }
      case 'commitTxn':
      case 'abortTxn': {
        const commit = cmd.type === 'commitTxn';
        const decided = model.decided.get(cmd.txnId);
        const t = model.txns.get(cmd.txnId);
        if (decided !== undefined) {
          if ((decided.outcome === 'committed') === commit) eq(res, { ok: true, outcome: commit ? 'already-committed' : 'already-aborted' });
          else failed('TXN_DECIDED');
        } else if (t === undefined) {
          eq(res, { ok: true, outcome: 'unknown' });
          if (!commit) model.decided.set(cmd.txnId, { outcome: 'aborted', at: now });
        } else {
          eq(res, { ok: true, outcome: commit ? 'committed' : 'aborted' });
          model.txns.delete(cmd.txnId);
          for (const item of t.items) if (item.key !== null) model.reserved.delete(item.key);
          if (commit) for (const item of t.items) model.makeLive(item);
          model.decided.set(cmd.txnId, { outcome: commit ? 'committed' : 'aborted', at: now });
        }
        break;
      }
      case 'commitOffset': {
        if (cmd.offset < 0 || cmd.offset > model.logEnd) {
          failed('INVALID_ARGUMENT');
        } else {
          eq(res, { ok: true });
          model.offsets.set(cmd.group, cmd.offset);
        }
        break;
      }
      case 'configure': {
        const patch = cmd.config;
        const merged: PartitionConfig = { ...model.c, ...patch, dlq: { ...model.c.dlq, ...patch.dlq }, backoff: { ...model.c.backoff, ...patch.backoff } };
        if (merged.mode !== model.c.mode) {
          eq(res, { ok: false, error: 'INVALID_ARGUMENT', message: 'mode is immutable' });
        } else if (merged.maxLogRecords < 1) {
          failed('INVALID_ARGUMENT');
        } else {
          const out = ok(res) as unknown as { config: PartitionConfig };
          if (canonicalJson(out.config) !== canonicalJson(merged)) fail('merged config', canonicalJson(out.config), canonicalJson(merged));
          eq(s.currentConfig, out.config, 'current config');
          model.c = merged;
          model.advance(now);
        }
        break;
      }
      case 'pop': {
        const out = ok(res) as unknown as { messages: LeasedMessage[] };
        const expected = model.sorted((m) => m.state === 'ready').slice(0, cmd.max);
        eq(out.messages.map((m) => m.messageId), expected.map((m) => m.id), 'popped the best ready messages');
        for (const lm of out.messages) {
          const m = model.msgs.get(lm.messageId)!;
          check(!model.acked.has(lm.messageId), 'acked message delivered again');
          eq(m.state, 'ready', 'leased only from ready (never twice at once)');
          m.attempts++;
          eq(lm.attempts, m.attempts, 'attempts');
          eq(lm.leaseDeadline, now + (cmd.visibilityTimeoutMs ?? model.c.visibilityTimeoutMs), 'lease deadline');
          check(!tokenSet.has(lm.leaseToken), 'lease token reused');
          tokenSet.add(lm.leaseToken);
          m.state = 'leased';
          m.token = lm.leaseToken;
          m.deadline = lm.leaseDeadline;
          tokens.push({ id: lm.messageId, token: lm.leaseToken });
        }
        break;
      }
      case 'ack': {
        const h = model.holder(cmd.messageId, cmd.leaseToken);
        if (typeof h === 'string') {
          failed(h);
        } else {
          eq(res, { ok: true });
          model.msgs.delete(h.id);
          model.acked.add(h.id);
        }
        break;
      }
      case 'nack': {
        const h = model.holder(cmd.messageId, cmd.leaseToken);
        if (typeof h === 'string') {
          failed(h);
          break;
        }
        const out = ok(res) as unknown as { outcome: string; availableAt?: number };
        h.token = null;
        const delay = out.availableAt === undefined ? 0 : out.availableAt - now;
        if (cmd.backoffOverrideMs !== undefined && out.outcome === 'retry') eq(delay, cmd.backoffOverrideMs, 'override delay');
        check(delay >= 0, 'delay >= 0');
        if (cmd.backoffOverrideMs === undefined) check(delay <= backoffCap(model.c, h.attempts), 'delay within the backoff cap');
        eq(out.outcome, model.fail(h, delay), 'nack outcome');
        break;
      }
      case 'extend': {
        const m = [...model.msgs.values()].find((x) => x.state === 'leased' && x.token === cmd.leaseToken);
        if (m === undefined) {
          failed('LEASE_EXPIRED');
        } else if (m.deadline + cmd.extensionMs - now > model.c.maxVisibilityTimeoutMs) {
          failed('INVALID_ARGUMENT');
        } else {
          m.deadline += cmd.extensionMs;
          eq(res, { ok: true, leaseDeadline: m.deadline });
        }
        break;
      }
      case 'moveToDlq': {
        const m = model.msgs.get(cmd.messageId);
        if (!model.c.dlq.enabled) failed('DLQ_DISABLED');
        else if (m === undefined) failed('UNKNOWN_MESSAGE');
        else {
          eq(res, { ok: true, alreadyInDlq: m.state === 'dlq' });
          if (m.state !== 'dlq') {
            m.state = 'dlq';
            m.token = null;
            m.dlqAt = now;
          }
        }
        break;
      }
      case 'purge': {
        const live = [...model.msgs.values()].filter((m) => m.state !== 'dlq');
        const dlq = [...model.msgs.values()].filter((m) => m.state === 'dlq');
        eq(res, { ok: true, purged: live.length, purgedDlq: cmd.dlq === true ? dlq.length : 0 });
        for (const m of cmd.dlq === true ? [...live, ...dlq] : live) model.msgs.delete(m.id);
        break;
      }
      case 'tick':
        eq(res, { ok: true });
        break;
    }

    // Invariants after every step.
    s.checkInvariants();
    const count = (st: ModelMsg['state']): number => [...model.msgs.values()].filter((m) => m.state === st).length;
    const st = s.stats();
    eq([st.ready, st.delayed, st.leased, st.dlq], [count('ready'), count('delayed'), count('leased'), count('dlq')], 'counts');
    // Every message in exactly one place, with the same state and lease as the model; DLQ
    // messages present until their retention.
    const peeked = s.peek(Number.MAX_SAFE_INTEGER, true);
    const expectedPeek = [...model.sorted((m) => m.state !== 'dlq'), ...model.sorted((m) => m.state === 'dlq')];
    eq(
      peeked.map((p) => [p.messageId, p.state, p.leaseDeadline, p.attempts]),
      expectedPeek.map((m) => [m.id, m.state, m.state === 'leased' ? m.deadline : null, m.attempts]),
      'every message where the model has it',
    );
    eq(new Set(peeked.map((p) => p.messageId)).size, peeked.length, 'no message in two places');
    for (const p of peeked) check(!model.acked.has(p.messageId), 'acked message still present');
    eq(
      s.candidates(3).map((c) => c.messageId),
      model.sorted((m) => m.state === 'ready').slice(0, 3).map((m) => m.id),
      'candidates',
    );
    const next = s.nextDeadline();
    if (next !== null) check(next > now, 'next deadline in the future');
    eq(next, model.nextDeadline(), 'next deadline');
    // Transactions: staged messages counted, never peeked or delivered (the checks above), and
    // every txn where the model has it.
    const stagedIds = [...model.txns.values()].flatMap((t) => t.items.map((i) => i.id));
    eq([st.staged, st.preparedTxns, st.decidedTxns], [stagedIds.length, model.txns.size, model.decided.size], 'transaction counts');
    for (const id of stagedIds) check(s.get(id) === null, 'a staged message is invisible');
    eq(
      s.preparedTxns().map((t) => [t.txnId, t.messageIds]),
      [...model.txns].map(([id, t]) => [id, t.items.map((i) => i.id)]),
      'prepared transactions',
    );
    for (let t = 0; t < 5; t++) {
      const id = `t${t}`;
      eq(s.txnStatus(id), model.txns.has(id) ? 'prepared' : (model.decided.get(id)?.outcome ?? null), `status of ${id}`);
    }
    // The log: exactly the model's records, dense offsets, both ends enforced.
    const first = model.logEnd - model.log.length;
    eq([st.logFirstOffset, st.logEndOffset], [first, model.logEnd], 'log bounds');
    const read = s.read(first, 1000);
    eq(
      read.ok ? [read.records.map((x) => [x.offset, x.messageId, x.priority, x.enqueuedAt]), read.nextOffset] : read,
      [model.log.map((x) => [x.offset, x.id, x.priority, x.enqueuedAt]), model.logEnd],
      'log records',
    );
    if (first > 0) eq((s.read(first - 1, 1) as Failure).error, 'OUT_OF_RANGE', 'read below the log');
    eq((s.read(model.logEnd + 1, 1) as Failure).error, 'OUT_OF_RANGE', 'read past the log');
    eq([s.fetchOffset('g1'), s.fetchOffset('g2')], [model.offsets.get('g1') ?? null, model.offsets.get('g2') ?? null], 'group offsets');
  }
  const text = (x: PartitionState): string => new TextDecoder().decode(x.snapshot());
  if (replica !== null && text(replica) !== text(s)) throw new Error(`seed ${seed}: the replica restored at step ${restoreAt} diverged`);
  const copy = new PartitionState(1, cfg);
  copy.restore(s.snapshot());
  if (text(copy) !== text(s)) throw new Error(`seed ${seed}: snapshot does not round-trip`);
}

describe('PartitionState: model-based randomized run', () => {
  for (let batch = 0; batch < 6; batch++) {
    it(`keeps every invariant over seeded random sequences ${batch * 500 + 1}..${batch * 500 + 500}; a replica restored midway stays identical`, () => {
      for (let seed = batch * 500 + 1; seed <= batch * 500 + 500; seed++) runSequence(seed, 60);
    });
  }
});
