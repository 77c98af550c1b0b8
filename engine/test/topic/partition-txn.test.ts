/**
 * A partition as a two-phase-commit participant: prepare stages invisibly and reserves sequence
 * numbers and producer triples, commit makes the staged messages live at the commit time, abort
 * drops them; every decision idempotent, the other decision refused (TXN_DECIDED), decisions
 * remembered for txnMemoryMs; all of it through snapshots and the JSON codec.
 */
import { describe, expect, it } from 'vitest';
import type { ApplyContext, EnqueueArgs, Failure, PartitionCommand, PartitionConfig, ProducerRef } from '../../src/topic/partition-state.js';
import { LIMITS, PartitionState, partitionConfig } from '../../src/topic/partition-state.js';
import { PartitionStateMachine, decodePartitionCommand, encodePartitionCommand, isPartitionFailure } from '../../src/topic/partition-state-machine.js';

const T0 = 1_700_000_000_000;
const at = (dt: number, seed = 7n): ApplyContext => ({ now: T0 + dt, seed });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

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
  txnMemoryMs: 50_000,
  maxLogRecords: 1_000,
});

function make(overrides: Partial<PartitionConfig> = {}): PartitionState {
  return new PartitionState(3, { ...CONFIG, ...overrides });
}

function ok<T extends { ok: boolean }>(r: T): Exclude<T, Failure> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return r as Exclude<T, Failure>;
}

const item = (name: string, priority = 1, extra: Partial<EnqueueArgs> = {}): EnqueueArgs => ({ payload: bytes(name), priority: BigInt(priority), ...extra });
const prod = (sequence: number, id = 'p'): ProducerRef => ({ id, epoch: 1, sequence });

/** Every message id popped (and acked) at `dt`, in delivery order. */
function drain(s: PartitionState, dt: number): string[] {
  const msgs = ok(s.pop(at(dt), { max: 1000, consumer: 'c' })).messages;
  for (const m of msgs) ok(s.ack(at(dt), { messageId: m.messageId, leaseToken: m.leaseToken }));
  return msgs.map((m) => m.messageId);
}

describe('PartitionState: prepare', () => {
  it('stages invisibly with ids reserved at prepare; commit makes them live', () => {
    const s = make();
    const before = ok(s.enqueue(at(0), item('before'))).messageId;
    const r = ok(s.prepare(at(10), { txnId: 'tx', enqueues: [item('a', 5), item('b', 1)] }));
    expect(r.results).toEqual([
      { messageId: '3-2', duplicate: false },
      { messageId: '3-3', duplicate: false },
    ]);
    // Invisible: not popped, peeked, got, candidates, or in the log; counted as staged.
    expect(s.peek(10).map((m) => m.messageId)).toEqual([before]);
    expect(s.get('3-2')).toBeNull();
    expect(s.candidates(10).map((c) => c.messageId)).toEqual([before]);
    expect(s.stats()).toMatchObject({ ready: 1, staged: 2, preparedTxns: 1, enqueuedTotal: 1, txnPreparedTotal: 1, logEndOffset: 1 });
    expect(s.preparedTxns()).toEqual([{ txnId: 'tx', preparedAt: T0 + 10, items: 2, messageIds: ['3-2', '3-3'] }]);
    expect(s.txnStatus('tx')).toBe('prepared');
    expect(drain(s, 20)).toEqual([before]);
    expect(ok(s.pop(at(30), { max: 10, consumer: 'c' })).messages).toEqual([]);
    // A later enqueue takes the next sequence.
    expect(ok(s.enqueue(at(40), item('after'))).messageId).toBe('3-4');
    expect(ok(s.commitTxn(at(50), { txnId: 'tx' }))).toEqual({ ok: true, outcome: 'committed' });
    expect(s.get('3-2')).toMatchObject({ state: 'ready', enqueuedAt: T0 + 50, sequence: 2 });
    expect(s.stats()).toMatchObject({ ready: 3, staged: 0, preparedTxns: 0, decidedTxns: 1, enqueuedTotal: 4, txnCommittedTotal: 1 });
    expect(s.txnStatus('tx')).toBe('committed');
    expect(s.preparedTxns()).toEqual([]);
    // Among equal priorities the staged message goes by its prepare-time sequence: before 'after'.
    const popped = ok(s.pop(at(60), { max: 10, consumer: 'c' })).messages;
    expect(popped.map((m) => [m.messageId, text(m.payload)])).toEqual([
      ['3-3', 'b'],
      ['3-4', 'after'],
      ['3-2', 'a'],
    ]);
    s.checkInvariants();
  });

  it('is all or nothing: one invalid item fails the whole prepare with its code and index', () => {
    const s = make();
    const cases: [EnqueueArgs, string][] = [
      [item('x'.repeat(65)), 'PAYLOAD_TOO_LARGE'],
      [item('x', 0, { priority: 1n << 63n }), 'PRIORITY_OUT_OF_RANGE'],
      [item('x', 0, { notBeforeMs: T0 + 60_001 }), 'DELAY_OUT_OF_RANGE'],
      [item('x', 0, { maxRetries: -1 }), 'INVALID_ARGUMENT'],
      [item('x', 0, { producer: { id: '', epoch: 0, sequence: 0 } }), 'INVALID_ARGUMENT'],
    ];
    for (const [bad, code] of cases) {
      const r = s.prepare(at(0), { txnId: 'tx', enqueues: [item('ok1', 1, { producer: prod(1) }), item('ok2'), bad] });
      expect(r).toMatchObject({ ok: false, error: code });
      expect((r as Failure).message).toMatch(/^item 2: /);
    }
    // Nothing staged, no sequence taken, no reservation, the txn id still free.
    expect(s.stats()).toMatchObject({ staged: 0, preparedTxns: 0, txnPreparedTotal: 0 });
    expect(s.txnStatus('tx')).toBeNull();
    expect(ok(s.enqueue(at(1), item('y', 1, { producer: prod(1) })))).toEqual({ ok: true, messageId: '3-1', duplicate: false });
    expect(ok(s.prepare(at(2), { txnId: 'tx', enqueues: [item('z')] })).results).toEqual([{ messageId: '3-2', duplicate: false }]);
    s.checkInvariants();
  });

  it('refuses bad transaction ids and item lists', () => {
    const s = make();
    expect(s.prepare(at(0), { txnId: '', enqueues: [item('a')] })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.prepare(at(0), { txnId: 'x'.repeat(LIMITS.maxNameLength + 1), enqueues: [item('a')] })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(ok(s.prepare(at(0), { txnId: 'x'.repeat(LIMITS.maxNameLength), enqueues: [item('a')] })).results).toHaveLength(1);
    expect(s.prepare(at(0), { txnId: 't', enqueues: [] })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    const many = Array.from({ length: LIMITS.maxTxnItems + 1 }, () => item(''));
    expect(s.prepare(at(0), { txnId: 't', enqueues: many })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(ok(s.prepare(at(0), { txnId: 't', enqueues: many.slice(1) })).results).toHaveLength(LIMITS.maxTxnItems);
    expect(s.commitTxn(at(0), { txnId: '' })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.abortTxn(at(0), { txnId: 5 as unknown as string })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.stats().staged).toBe(LIMITS.maxTxnItems + 1);
  });

  it('is idempotent: the same txn id returns the stored result, whatever the items sent again', () => {
    const s = make();
    const first = ok(s.prepare(at(0), { txnId: 'tx', enqueues: [item('a'), item('b')] }));
    const again = ok(s.prepare(at(5), { txnId: 'tx', enqueues: [item('other'), item('items'), item('entirely')] }));
    expect(again).toEqual(first);
    expect(s.stats()).toMatchObject({ staged: 2, txnPreparedTotal: 1 });
    expect(ok(s.enqueue(at(6), item('next'))).messageId).toBe('3-3');
    ok(s.commitTxn(at(7), { txnId: 'tx' }));
    expect(drain(s, 8)).toEqual(['3-1', '3-2', '3-3']);
  });
});

describe('PartitionState: commit and abort', () => {
  it('abort drops staged messages for good; decisions are idempotent and the other one is refused', () => {
    const s = make();
    ok(s.prepare(at(0), { txnId: 'a', enqueues: [item('x'), item('y')] }));
    ok(s.prepare(at(0), { txnId: 'c', enqueues: [item('z')] }));
    expect(ok(s.abortTxn(at(1), { txnId: 'a' }))).toEqual({ ok: true, outcome: 'aborted' });
    expect(ok(s.abortTxn(at(2), { txnId: 'a' }))).toEqual({ ok: true, outcome: 'already-aborted' });
    expect(s.commitTxn(at(3), { txnId: 'a' })).toMatchObject({ ok: false, error: 'TXN_DECIDED', message: expect.stringContaining('aborted') });
    expect(s.prepare(at(4), { txnId: 'a', enqueues: [item('x')] })).toMatchObject({ ok: false, error: 'TXN_DECIDED' });
    expect(s.stats()).toMatchObject({ staged: 1, preparedTxns: 1, txnAbortedTotal: 1 });
    expect(ok(s.commitTxn(at(5), { txnId: 'c' }))).toEqual({ ok: true, outcome: 'committed' });
    expect(ok(s.commitTxn(at(6), { txnId: 'c' }))).toEqual({ ok: true, outcome: 'already-committed' });
    expect(s.abortTxn(at(7), { txnId: 'c' })).toMatchObject({ ok: false, error: 'TXN_DECIDED', message: expect.stringContaining('committed') });
    expect(s.prepare(at(8), { txnId: 'c', enqueues: [item('z')] })).toMatchObject({ ok: false, error: 'TXN_DECIDED' });
    // Only the committed message ever exists; the aborted ids never show up.
    expect(drain(s, 9)).toEqual(['3-3']);
    expect(s.get('3-1')).toBeNull();
    expect(s.stats()).toMatchObject({ staged: 0, enqueuedTotal: 1, txnCommittedTotal: 1, txnAbortedTotal: 1, ready: 0 });
    expect(s.txnStatus('a')).toBe('aborted');
    s.checkInvariants();
  });

  it('commit of an unknown txn changes nothing; abort of an unknown txn records it so a late prepare is refused', () => {
    const s = make();
    expect(ok(s.commitTxn(at(0), { txnId: 'ghost' }))).toEqual({ ok: true, outcome: 'unknown' });
    expect(s.txnStatus('ghost')).toBeNull();
    expect(ok(s.prepare(at(1), { txnId: 'ghost', enqueues: [item('g')] })).results).toHaveLength(1);
    ok(s.commitTxn(at(2), { txnId: 'ghost' }));

    expect(ok(s.abortTxn(at(3), { txnId: 'late' }))).toEqual({ ok: true, outcome: 'unknown' });
    expect(s.txnStatus('late')).toBe('aborted');
    expect(s.prepare(at(4), { txnId: 'late', enqueues: [item('orphan')] })).toMatchObject({ ok: false, error: 'TXN_DECIDED' });
    expect(ok(s.abortTxn(at(5), { txnId: 'late' }))).toEqual({ ok: true, outcome: 'already-aborted' });
    expect(s.commitTxn(at(6), { txnId: 'late' })).toMatchObject({ ok: false, error: 'TXN_DECIDED' });
    expect(s.stats()).toMatchObject({ staged: 0, preparedTxns: 0, decidedTxns: 2 });
  });

  it('commit time is the enqueue time: retention runs from it, and a past not-before is ready', () => {
    const s = make({ retentionMs: 1_000 });
    ok(s.prepare(at(0), { txnId: 'tx', enqueues: [item('now'), item('soon', 1, { notBeforeMs: T0 + 2_000 }), item('past', 1, { notBeforeMs: T0 + 300 })] }));
    // Staged longer than the retention: they do not expire while staged.
    ok(s.tick(at(1_500)));
    expect(s.stats().staged).toBe(3);
    ok(s.commitTxn(at(1_500), { txnId: 'tx' }));
    expect(s.get('3-1')).toMatchObject({ state: 'ready', enqueuedAt: T0 + 1_500 });
    expect(s.get('3-2')).toMatchObject({ state: 'delayed', availableAt: T0 + 2_000 });
    expect(s.get('3-3')).toMatchObject({ state: 'ready', availableAt: T0 + 1_500 });
    expect(s.stats(T0 + 1_500).oldestAgeMs).toBe(0);
    // An enqueue before the commit is older, and expires first: `live` stays in enqueue order.
    const s2 = make({ retentionMs: 1_000 });
    ok(s2.prepare(at(0), { txnId: 'tx', enqueues: [item('staged')] }));
    const plain = ok(s2.enqueue(at(100), item('plain'))).messageId;
    ok(s2.commitTxn(at(600), { txnId: 'tx' }));
    expect(s2.nextDeadline()).toBe(T0 + 1_100);
    ok(s2.tick(at(1_100)));
    expect(s2.get(plain)).toBeNull();
    expect(s2.get('3-1')).toMatchObject({ state: 'ready' });
    ok(s2.tick(at(1_599)));
    expect(s2.get('3-1')).not.toBeNull();
    ok(s2.tick(at(1_600)));
    expect(s2.get('3-1')).toBeNull();
    expect(s2.stats().expiredTotal).toBe(2);
    s2.checkInvariants();
  });

  it('the prepare-time checks stand at commit, whatever the config became', () => {
    const s = make();
    ok(s.prepare(at(0), { txnId: 'tx', enqueues: [item('x'.repeat(60))] }));
    ok(s.configure(at(1), { config: { maxPayloadBytes: 10, maxRetries: 0 } }));
    ok(s.commitTxn(at(2), { txnId: 'tx' }));
    expect(s.get('3-1')).toMatchObject({ maxRetries: 2 });
    expect(text(s.get('3-1')!.payload)).toBe('x'.repeat(60));
  });

  it('purge leaves prepared transactions alone', () => {
    const s = make();
    ok(s.enqueue(at(0), item('live')));
    ok(s.prepare(at(0), { txnId: 'tx', enqueues: [item('staged')] }));
    expect(s.purge(at(1), { dlq: true })).toEqual({ ok: true, purged: 1, purgedDlq: 0 });
    expect(s.stats().staged).toBe(1);
    ok(s.commitTxn(at(2), { txnId: 'tx' }));
    expect(drain(s, 3)).toEqual(['3-2']);
  });

  it('a staged message cannot be moved to the DLQ, acked or leased', () => {
    const s = make();
    ok(s.prepare(at(0), { txnId: 'tx', enqueues: [item('a')] }));
    expect(s.moveToDlq(at(1), { messageId: '3-1' })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    expect(s.ack(at(1), { messageId: '3-1', leaseToken: '3-1.1.0000000000000000' })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    for (let t = 2; t < 10; t++) expect(ok(s.pop(at(t * 1_000), { max: 10, consumer: 'c' })).messages).toEqual([]);
    ok(s.commitTxn(at(10_000), { txnId: 'tx' }));
    expect(drain(s, 10_001)).toEqual(['3-1']);
  });
});

describe('PartitionState: dedup reservations', () => {
  it('a staged triple is reserved: plain enqueues and other prepares are refused until the decision', () => {
    const s = make();
    const r = ok(s.prepare(at(0), { txnId: 'a', enqueues: [item('x', 1, { producer: prod(1) }), item('x again', 1, { producer: prod(1) }), item('y', 1, { producer: prod(2) })] }));
    // The same triple twice in one prepare: the second is the first's duplicate.
    expect(r.results).toEqual([
      { messageId: '3-1', duplicate: false },
      { messageId: '3-1', duplicate: true },
      { messageId: '3-2', duplicate: false },
    ]);
    // Another writer of a staged triple cannot be told "duplicate of 3-1": 'a' may still abort
    // and 3-1 never exist. It is refused, retryably, and nothing of it is staged or enqueued.
    expect(s.enqueue(at(1), item('plain', 1, { producer: prod(1) }))).toMatchObject({ ok: false, error: 'TXN_PENDING' });
    const b = s.prepare(at(2), { txnId: 'b', enqueues: [item('z', 1, { producer: prod(3) }), item('y', 1, { producer: prod(2) })] });
    expect(b).toMatchObject({ ok: false, error: 'TXN_PENDING', message: expect.stringMatching(/^item 1: /) });
    // Reserved while staged, even far beyond the dedup window.
    expect(s.enqueue(at(500_000), item('plain', 1, { producer: prod(2) }))).toMatchObject({ ok: false, error: 'TXN_PENDING' });
    expect(s.stats()).toMatchObject({ staged: 2, enqueuedTotal: 0 });
    // Once 'a' aborts, the triples are free again.
    ok(s.abortTxn(at(500_001), { txnId: 'a' }));
    expect(ok(s.enqueue(at(500_002), item('plain', 1, { producer: prod(1) }))).duplicate).toBe(false);
    s.checkInvariants();
  });

  it('commit turns the reservation into a dedup entry for the window from the commit', () => {
    const s = make();
    ok(s.prepare(at(0), { txnId: 'a', enqueues: [item('x', 1, { producer: prod(1) })] }));
    ok(s.commitTxn(at(20_000), { txnId: 'a' }));
    const m = ok(s.pop(at(20_001), { max: 1, consumer: 'c' })).messages[0]!;
    ok(s.ack(at(20_002), { messageId: m.messageId, leaseToken: m.leaseToken }));
    expect(ok(s.enqueue(at(29_999), item('retry', 1, { producer: prod(1) })))).toEqual({ ok: true, messageId: '3-1', duplicate: true });
    expect(ok(s.prepare(at(29_999), { txnId: 'b', enqueues: [item('retry', 1, { producer: prod(1) })] })).results).toEqual([{ messageId: '3-1', duplicate: true }]);
    expect(ok(s.enqueue(at(30_000), item('new', 1, { producer: prod(1) })))).toEqual({ ok: true, messageId: '3-2', duplicate: false });
  });

  it('a triple in the dedup window is a duplicate at prepare and is not staged', () => {
    const s = make();
    ok(s.enqueue(at(0), item('orig', 1, { producer: prod(1) })));
    const r = ok(s.prepare(at(1), { txnId: 'a', enqueues: [item('dup', 1, { producer: prod(1) })] }));
    expect(r.results).toEqual([{ messageId: '3-1', duplicate: true }]);
    // An all-duplicate txn is still a prepared txn: its commit is 'committed' and adds nothing.
    expect(s.preparedTxns()).toEqual([{ txnId: 'a', preparedAt: T0 + 1, items: 0, messageIds: [] }]);
    expect(ok(s.commitTxn(at(2), { txnId: 'a' })).outcome).toBe('committed');
    expect(s.stats()).toMatchObject({ ready: 1, enqueuedTotal: 1, logEndOffset: 1 });
  });

  it('abort releases reservations: the triple is new again for enqueues and prepares', () => {
    const s = make();
    ok(s.prepare(at(0), { txnId: 'a', enqueues: [item('x', 1, { producer: prod(1) }), item('y', 1, { producer: prod(2) })] }));
    ok(s.abortTxn(at(1), { txnId: 'a' }));
    expect(ok(s.enqueue(at(2), item('x', 1, { producer: prod(1) })))).toEqual({ ok: true, messageId: '3-3', duplicate: false });
    expect(ok(s.prepare(at(3), { txnId: 'b', enqueues: [item('y', 1, { producer: prod(2) })] })).results).toEqual([{ messageId: '3-4', duplicate: false }]);
    s.checkInvariants();
  });

  it('with dedup off nothing is reserved', () => {
    const s = make({ dedupWindowMs: 0 });
    ok(s.prepare(at(0), { txnId: 'a', enqueues: [item('x', 1, { producer: prod(1) })] }));
    expect(ok(s.enqueue(at(1), item('x', 1, { producer: prod(1) })))).toEqual({ ok: true, messageId: '3-2', duplicate: false });
  });
});

describe('PartitionState: decided transactions are remembered for txnMemoryMs', () => {
  it('forgets a decision txnMemoryMs after it was made (not after a repeat); then the id is unknown', () => {
    const s = make();
    ok(s.prepare(at(0), { txnId: 'c', enqueues: [item('x')] }));
    ok(s.commitTxn(at(1_000), { txnId: 'c' }));
    ok(s.abortTxn(at(2_000), { txnId: 'a' }));
    expect(ok(s.commitTxn(at(40_000), { txnId: 'c' })).outcome).toBe('already-committed');
    expect(s.nextDeadline()).toBe(T0 + 51_000);
    ok(s.tick(at(50_999)));
    expect(s.txnStatus('c')).toBe('committed');
    ok(s.tick(at(51_000)));
    expect(s.txnStatus('c')).toBeNull();
    expect(s.txnStatus('a')).toBe('aborted');
    expect(s.stats().decidedTxns).toBe(1);
    expect(s.nextDeadline()).toBe(T0 + 52_000);
    expect(ok(s.commitTxn(at(51_001), { txnId: 'c' })).outcome).toBe('unknown');
    // The abort is remembered until 52_000: a late prepare is refused until then, accepted after.
    expect(s.prepare(at(51_999), { txnId: 'a', enqueues: [item('late')] })).toMatchObject({ ok: false, error: 'TXN_DECIDED' });
    expect(ok(s.prepare(at(52_000), { txnId: 'a', enqueues: [item('late')] })).results).toHaveLength(1);
    expect(s.stats()).toMatchObject({ decidedTxns: 0, preparedTxns: 1 });
    s.checkInvariants();
  });

  it('a shorter txnMemoryMs forgets at once', () => {
    const s = make();
    ok(s.abortTxn(at(0), { txnId: 'a' }));
    ok(s.abortTxn(at(100), { txnId: 'b' }));
    ok(s.configure(at(150), { config: { txnMemoryMs: 100 } }));
    expect([s.txnStatus('a'), s.txnStatus('b')]).toEqual([null, 'aborted']);
    expect(s.nextDeadline()).toBe(T0 + 200);
  });
});

describe('PartitionState: transactions through snapshots and the codec', () => {
  it('a prepared txn survives a snapshot: commit on the restored copy matches the original', () => {
    const s = make();
    ok(s.enqueue(at(0), item('plain', 2, { producer: prod(9) })));
    ok(s.prepare(at(1), { txnId: 'tx', enqueues: [item('a', 1, { producer: prod(1), notBeforeMs: T0 + 500, maxRetries: 0 }), item('b', 0, { priority: LIMITS.minPriority })] }));
    ok(s.prepare(at(2), { txnId: 'other', enqueues: [item('c', 1, { producer: prod(2) })] }));
    ok(s.abortTxn(at(3), { txnId: 'gone' }));
    const copy = make();
    copy.restore(s.snapshot());
    expect(text(copy.snapshot())).toBe(text(s.snapshot()));
    copy.checkInvariants();
    expect(copy.preparedTxns()).toEqual(s.preparedTxns());
    expect(copy.stats()).toEqual(s.stats());
    // Reservations come back with the staged messages.
    expect(copy.enqueue(at(4), item('x', 1, { producer: prod(1) }))).toMatchObject({ ok: false, error: 'TXN_PENDING' });
    expect(copy.prepare(at(4), { txnId: 'gone', enqueues: [item('x')] })).toMatchObject({ ok: false, error: 'TXN_DECIDED' });
    expect(ok(copy.prepare(at(4), { txnId: 'tx', enqueues: [] })).results.map((r) => r.messageId)).toEqual(['3-2', '3-3']);
    for (const x of [s, copy]) {
      expect(x.apply({ type: 'commitTxn', txnId: 'tx' }, at(10))).toEqual({ ok: true, outcome: 'committed' });
      expect(x.apply({ type: 'abortTxn', txnId: 'other' }, at(11))).toEqual({ ok: true, outcome: 'aborted' });
    }
    // The restored copy did one extra (refused) enqueue, which changes nothing: same state.
    expect(text(copy.snapshot())).toBe(text(s.snapshot()));
    expect(copy.get('3-2')).toMatchObject({ state: 'delayed', availableAt: T0 + 500, maxRetries: 0, enqueuedAt: T0 + 10 });
    expect(copy.get('3-3')!.priority).toBe(LIMITS.minPriority);
    expect(drain(copy, 600)).toEqual(['3-3', '3-2', '3-1']);
    copy.checkInvariants();
  });

  it('the state machine applies prepare/commitTxn/abortTxn as JSON; the codec round-trips and refuses bad shapes', () => {
    const sm = new PartitionStateMachine(0, CONFIG);
    const cmds: PartitionCommand[] = [
      { type: 'prepare', txnId: 't1', enqueues: [item('a', -5, { producer: prod(1), maxRetries: 1, notBeforeMs: T0 + 5 }), item('b', 7)] },
      { type: 'commitTxn', txnId: 't1' },
      { type: 'abortTxn', txnId: 't2' },
    ];
    for (const c of cmds) expect(decodePartitionCommand(encodePartitionCommand(c))).toEqual(c);
    const results = sm.apply(cmds.map((c, i) => ({ index: i + 1, term: 1, time: T0 + i, command: encodePartitionCommand(c) })));
    expect(results).toEqual([
      {
        ok: true,
        results: [
          { messageId: '0-1', duplicate: false },
          { messageId: '0-2', duplicate: false },
        ],
      },
      { ok: true, outcome: 'committed' },
      { ok: true, outcome: 'unknown' },
    ]);
    expect(sm.state.get('0-1')).toMatchObject({ priority: -5n, maxRetries: 1, state: 'delayed' });
    expect(text(sm.state.get('0-2')!.payload)).toBe('b');
    const bad = [
      '{"type":"prepare","txnId":"t","enqueues":{}}',
      '{"type":"prepare","txnId":"t","enqueues":[{"payload":"","priority":"1"},{"payload":"!!","priority":"1"}]}',
      '{"type":"prepare","txnId":"t","enqueues":[5]}',
      '{"type":"prepare","enqueues":[]}',
      '{"type":"commitTxn","txnId":7}',
      '{"type":"abortTxn"}',
    ];
    for (const b of bad) expect(isPartitionFailure(decodePartitionCommand(bytes(b)))).toBe(true);
    expect(decodePartitionCommand(bytes(bad[1]!))).toMatchObject({ error: 'INVALID_ARGUMENT', message: expect.stringContaining('enqueues[1]') });
    expect(isPartitionFailure(results[0])).toBe(false);
  });
});
