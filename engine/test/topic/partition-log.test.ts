/**
 * A partition's retained record log (Read), consumer-group offsets, config changes
 * (UpdateHeapConfig), and snapshot versions.
 */
import { describe, expect, it } from 'vitest';
import type { ApplyContext, EnqueueArgs, Failure, PartitionCommand, PartitionConfig } from '../../src/topic/partition-state.js';
import { DEFAULT_PARTITION_CONFIG, LIMITS, PartitionState, partitionConfig } from '../../src/topic/partition-state.js';
import { PartitionStateMachine, decodePartitionCommand, encodePartitionCommand, isPartitionFailure } from '../../src/topic/partition-state-machine.js';

const T0 = 1_700_000_000_000;
const at = (dt: number, seed = 7n): ApplyContext => ({ now: T0 + dt, seed });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

const CONFIG = partitionConfig({
  visibilityTimeoutMs: 1_000,
  maxRetries: 0,
  retentionMs: 10_000,
  dlq: { enabled: true, retentionMs: 100_000 },
  maxPayloadBytes: 64,
  dedupWindowMs: 5_000,
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
const enq = (s: PartitionState, dt: number, name: string, priority = 1): string => ok(s.enqueue(at(dt), item(name, priority))).messageId;

/** [offset, messageId, payload] of every record from `from`. */
function records(s: PartitionState, from: number, limit = 1000): [number, string, string][] {
  return ok(s.read(from, limit)).records.map((r) => [r.offset, r.messageId, text(r.payload)]);
}

describe('PartitionState: the log', () => {
  it('records every message that becomes live, with dense offsets; pops, acks, nacks, the DLQ and purge leave it alone', () => {
    const s = make();
    const a = enq(s, 0, 'a', -7);
    ok(s.prepare(at(1), { txnId: 'x', enqueues: [item('x1'), item('x2')] }));
    const b = enq(s, 2, 'b');
    ok(s.prepare(at(3), { txnId: 'y', enqueues: [item('y1')] }));
    // Staged messages are not in the log yet.
    expect(records(s, 0)).toEqual([
      [0, a, 'a'],
      [1, b, 'b'],
    ]);
    ok(s.abortTxn(at(4), { txnId: 'x' }));
    ok(s.commitTxn(at(5), { txnId: 'y' }));
    const c = enq(s, 6, 'c');
    // The aborted txn took sequence numbers (ids 3-2, 3-3), but no offsets.
    expect(records(s, 0)).toEqual([
      [0, a, 'a'],
      [1, b, 'b'],
      [2, '3-5', 'y1'],
      [3, c, 'c'],
    ]);
    const full = ok(s.read(0, 10));
    expect(full.records[0]).toEqual({ offset: 0, messageId: a, priority: -7n, payload: bytes('a'), enqueuedAt: T0 });
    expect(full.records[2]!.enqueuedAt).toBe(T0 + 5);
    expect([full.nextOffset, full.firstOffset, full.endOffset]).toEqual([4, 0, 4]);
    // Queue operations do not change it.
    const popped = ok(s.pop(at(7), { max: 3, consumer: 'c' })).messages;
    ok(s.ack(at(8), { messageId: popped[0]!.messageId, leaseToken: popped[0]!.leaseToken }));
    expect(ok(s.nack(at(8), { messageId: popped[1]!.messageId, leaseToken: popped[1]!.leaseToken })).outcome).toBe('dlq');
    ok(s.moveToDlq(at(9), { messageId: c }));
    ok(s.purge(at(10), { dlq: true }));
    expect(records(s, 0).map((r) => r[1])).toEqual([a, b, '3-5', c]);
    // A duplicate enqueue adds no record.
    ok(s.enqueue(at(11), item('p', 1, { producer: { id: 'p', epoch: 0, sequence: 0 } })));
    ok(s.enqueue(at(12), item('p', 1, { producer: { id: 'p', epoch: 0, sequence: 0 } })));
    expect(s.logBounds()).toEqual({ firstOffset: 0, endOffset: 5 });
    s.checkInvariants();
  });

  it('reads in pages: limit, nextOffset to continue, from == end returns nothing, at most maxReadBatch', () => {
    const s = make({ maxLogRecords: 5_000 });
    for (let i = 0; i < 1_500; i++) enq(s, 0, `m${i}`);
    const page = ok(s.read(10, 3));
    expect(page.records.map((r) => r.offset)).toEqual([10, 11, 12]);
    expect(page.nextOffset).toBe(13);
    expect(ok(s.read(1_499, 10)).records.map((r) => text(r.payload))).toEqual(['m1499']);
    expect(ok(s.read(1_500, 10))).toEqual({ ok: true, records: [], nextOffset: 1_500, firstOffset: 0, endOffset: 1_500 });
    const big = ok(s.read(0, 1_000_000));
    expect(big.records).toHaveLength(LIMITS.maxReadBatch);
    expect(big.nextOffset).toBe(LIMITS.maxReadBatch);
    expect(s.read(0, 0)).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.read(0, 1.5)).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.read(-1, 1)).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.read(0.5, 1)).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
  });

  it('fails OUT_OF_RANGE below the first retained offset and past the end, naming the bound', () => {
    const s = make({ maxLogRecords: 2 });
    for (let i = 0; i < 5; i++) enq(s, i, `m${i}`);
    expect(s.logBounds()).toEqual({ firstOffset: 3, endOffset: 5 });
    expect(s.read(2, 10)).toEqual({ ok: false, error: 'OUT_OF_RANGE', message: 'offset 2 is no longer retained: the first retained offset is 3' });
    expect(records(s, 3)).toEqual([
      [3, '3-4', 'm3'],
      [4, '3-5', 'm4'],
    ]);
    expect(s.read(6, 10)).toEqual({ ok: false, error: 'OUT_OF_RANGE', message: 'offset 6 is past the end of the log: the next offset is 5' });
    expect(ok(s.read(5, 10)).records).toEqual([]);
  });

  it('drops records past retention (acked messages too), and keeps the next offset', () => {
    const s = make();
    const a = enq(s, 0, 'a');
    enq(s, 4_000, 'b');
    const m = ok(s.pop(at(4_001), { max: 1, consumer: 'c' })).messages[0]!;
    ok(s.ack(at(4_002), { messageId: a, leaseToken: m.leaseToken }));
    // The message is gone; its record stays until its retention.
    expect(s.nextDeadline()).toBe(T0 + 10_000);
    ok(s.tick(at(9_999)));
    expect(records(s, 0).map((r) => r[2])).toEqual(['a', 'b']);
    ok(s.tick(at(10_000)));
    expect(s.read(0, 10)).toMatchObject({ ok: false, error: 'OUT_OF_RANGE', message: expect.stringContaining('first retained offset is 1') });
    expect(records(s, 1).map((r) => r[2])).toEqual(['b']);
    expect(s.nextDeadline()).toBe(T0 + 14_000);
    ok(s.tick(at(14_000)));
    expect(s.logBounds()).toEqual({ firstOffset: 2, endOffset: 2 });
    expect(ok(s.read(2, 10)).records).toEqual([]);
    expect(s.read(1, 10)).toMatchObject({ ok: false, error: 'OUT_OF_RANGE' });
    expect(s.nextDeadline()).toBeNull();
    expect(enq(s, 20_000, 'c')).toBe('3-3');
    expect(records(s, 2)).toEqual([[2, '3-3', 'c']]);
    s.checkInvariants();
  });

  it('keeps at most maxLogRecords, dropping the oldest, also across a long run', () => {
    const s = make({ maxLogRecords: 1_500 });
    for (let i = 0; i < 5_000; i++) {
      enq(s, 0, `m${i}`);
      // Checked after every append (the internal array is compacted now and then).
      const { firstOffset, endOffset } = s.logBounds();
      const want = Math.max(0, i + 1 - 1_500);
      if (firstOffset !== want || endOffset !== i + 1) throw new Error(`after ${i + 1} appends the log is [${firstOffset}, ${endOffset})`);
      const head = ok(s.read(firstOffset, 1)).records[0]!;
      if (head.messageId !== `3-${want + 1}`) throw new Error(`after ${i + 1} appends the first record is ${head.messageId}`);
    }
    expect(s.logBounds()).toEqual({ firstOffset: 3_500, endOffset: 5_000 });
    expect(records(s, 3_500, 2)).toEqual([
      [3_500, '3-3501', 'm3500'],
      [3_501, '3-3502', 'm3501'],
    ]);
    expect(records(s, 4_999)).toEqual([[4_999, '3-5000', 'm4999']]);
    s.checkInvariants();
    const copy = make();
    copy.restore(s.snapshot());
    expect(copy.logBounds()).toEqual({ firstOffset: 3_500, endOffset: 5_000 });
    expect(ok(copy.read(4_000, 1_000)).records).toEqual(ok(s.read(4_000, 1_000)).records);
    expect(text(copy.snapshot())).toBe(text(s.snapshot()));
    copy.checkInvariants();
  });
});

describe('PartitionState: consumer-group offsets', () => {
  it('stores an offset in [0, end of the log] per group; it may move back or lag the retained log', () => {
    const s = make({ maxLogRecords: 2 });
    expect(s.fetchOffset('g')).toBeNull();
    expect(ok(s.commitOffset(at(0), { group: 'g', offset: 0 }))).toEqual({ ok: true });
    expect(s.commitOffset(at(0), { group: 'g', offset: 1 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT', message: expect.stringContaining('[0, 0]') });
    for (let i = 0; i < 4; i++) enq(s, 1, `m${i}`);
    ok(s.commitOffset(at(2), { group: 'g', offset: 4 }));
    ok(s.commitOffset(at(2), { group: 'h', offset: 1 }));
    expect([s.fetchOffset('g'), s.fetchOffset('h'), s.fetchOffset('other')]).toEqual([4, 1, null]);
    ok(s.commitOffset(at(3), { group: 'g', offset: 2 }));
    expect(s.fetchOffset('g')).toBe(2);
    for (const offset of [5, -1, 1.5, Number.NaN]) {
      expect(s.commitOffset(at(4), { group: 'g', offset })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    }
    expect(s.commitOffset(at(4), { group: '', offset: 0 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.commitOffset(at(4), { group: 'x'.repeat(LIMITS.maxNameLength + 1), offset: 0 })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.fetchOffset('g')).toBe(2);
    expect(s.stats().groups).toBe(2);
    // Offsets survive snapshots; purge does not touch them.
    ok(s.purge(at(5), { dlq: true }));
    const copy = make();
    copy.restore(s.snapshot());
    expect([copy.fetchOffset('g'), copy.fetchOffset('h')]).toEqual([2, 1]);
    s.checkInvariants();
  });

  it(`holds at most ${LIMITS.maxGroups} groups; known groups can still move`, () => {
    const s = make();
    enq(s, 0, 'a');
    for (let i = 0; i < LIMITS.maxGroups; i++) ok(s.commitOffset(at(1), { group: `g${i}`, offset: 0 }));
    const r = s.commitOffset(at(2), { group: 'one-too-many', offset: 0 });
    expect(r).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT', message: expect.stringContaining(`${LIMITS.maxGroups} consumer groups`) });
    expect(s.fetchOffset('one-too-many')).toBeNull();
    ok(s.commitOffset(at(3), { group: 'g0', offset: 1 }));
    expect(s.fetchOffset('g0')).toBe(1);
    expect(s.stats().groups).toBe(LIMITS.maxGroups);
  });
});

describe('PartitionState: configure', () => {
  it('merges a patch (nested fields one by one), validates it, and returns the new config', () => {
    const s = make();
    const r = ok(s.configure(at(0), { config: { visibilityTimeoutMs: 2_000, dlq: { retentionMs: 7 }, maxLogRecords: 9 } }));
    expect(r.config).toEqual({ ...CONFIG, visibilityTimeoutMs: 2_000, dlq: { enabled: true, retentionMs: 7 }, maxLogRecords: 9 });
    expect(s.currentConfig).toEqual(r.config);
    enq(s, 1, 'a');
    expect(ok(s.pop(at(2), { max: 1, consumer: 'c' })).messages[0]!.leaseDeadline).toBe(T0 + 2_002);
    // Same mode is fine; another is refused.
    ok(s.configure(at(3), { config: { mode: 'min' } }));
    expect(s.configure(at(3), { config: { mode: 'max' } })).toEqual({ ok: false, error: 'INVALID_ARGUMENT', message: 'mode is immutable' });
    // Invalid values and unknown fields are refused, leaving the config as it was.
    const before = s.currentConfig;
    for (const config of [
      { maxLogRecords: 0 },
      { txnMemoryMs: 0 },
      { retentionMs: -1 },
      { visibilityTimeoutMs: 6_000 },
      { backoff: { baseMs: 5_000 } },
      { dlq: { enabled: 'yes' } },
      { nope: 1 },
      { dlq: { nope: 1 } },
      { dlq: 5 },
    ]) {
      expect(s.configure(at(4), { config: config as never })).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    }
    expect(s.currentConfig).toBe(before);
    expect(s.configure(at(4), { config: { maxLogRecords: 0 } })).toMatchObject({ message: expect.stringContaining('maxLogRecords') });
    expect(s.configure(at(4), { config: { nope: 1 } as never })).toMatchObject({ message: expect.stringContaining('nope') });
  });

  it('a shorter retention drops older messages and records at once; a longer one keeps them longer', () => {
    const s = make({ retentionMs: 10_000 });
    const a = enq(s, 0, 'a');
    const b = enq(s, 3_000, 'b');
    const c = enq(s, 6_000, 'c');
    const m = ok(s.pop(at(6_500), { max: 1, consumer: 'x' })).messages[0]!;
    expect(m.messageId).toBe(a);
    ok(s.configure(at(7_000), { config: { retentionMs: 4_000 } }));
    expect([s.get(a), s.get(b)]).toEqual([null, null]);
    expect(s.get(c)).not.toBeNull();
    expect(s.ack(at(7_001), { messageId: a, leaseToken: m.leaseToken })).toMatchObject({ ok: false, error: 'UNKNOWN_MESSAGE' });
    expect(s.stats()).toMatchObject({ ready: 1, leased: 0, expiredTotal: 2, logFirstOffset: 2 });
    expect(s.nextDeadline()).toBe(T0 + 10_000);
    ok(s.configure(at(8_000), { config: { retentionMs: 20_000 } }));
    ok(s.tick(at(25_999)));
    expect(s.get(c)).not.toBeNull();
    ok(s.tick(at(26_000)));
    expect(s.get(c)).toBeNull();
    s.checkInvariants();
  });

  it('a smaller maxLogRecords, DLQ retention or dedup window applies at once', () => {
    const s = make();
    const ids = [0, 1, 2, 3].map((i) => enq(s, i * 100, `m${i}`));
    ok(s.moveToDlq(at(500), { messageId: ids[0]! }));
    ok(s.enqueue(at(600), item('p', 1, { producer: { id: 'p', epoch: 0, sequence: 1 } })));
    ok(s.configure(at(1_000), { config: { maxLogRecords: 2, dlq: { retentionMs: 500 }, dedupWindowMs: 400 } }));
    expect(s.logBounds()).toEqual({ firstOffset: 3, endOffset: 5 });
    expect(s.get(ids[0]!)).toBeNull();
    expect(s.stats().dlqExpiredTotal).toBe(1);
    expect(ok(s.enqueue(at(1_001), item('p', 1, { producer: { id: 'p', epoch: 0, sequence: 1 } }))).duplicate).toBe(false);
    s.checkInvariants();
  });

  it('survives snapshots, and is a JSON command like the others', () => {
    const sm = new PartitionStateMachine(0, CONFIG);
    const cmd: PartitionCommand = { type: 'configure', config: { retentionMs: 5_000, dlq: { enabled: false }, backoff: { maxMs: 2_000 }, txnMemoryMs: 9 } };
    expect(decodePartitionCommand(encodePartitionCommand(cmd))).toEqual(cmd);
    const [r] = sm.apply([{ index: 1, term: 1, time: T0, command: encodePartitionCommand(cmd) }]);
    expect(r).toMatchObject({ ok: true, config: { retentionMs: 5_000, dlq: { enabled: false, retentionMs: 100_000 }, backoff: { baseMs: 100, maxMs: 2_000 }, txnMemoryMs: 9 } });
    const copy = new PartitionStateMachine(0, CONFIG);
    copy.restore(sm.snapshot());
    expect(copy.state.currentConfig).toEqual(sm.state.currentConfig);
    for (const b of [
      '{"type":"configure"}',
      '{"type":"configure","config":[]}',
      '{"type":"configure","config":{"retentionMs":"5"}}',
      '{"type":"configure","config":{"mode":1}}',
      '{"type":"configure","config":{"dlq":{"enabled":1}}}',
      '{"type":"configure","config":{"dlq":true}}',
      '{"type":"configure","config":{"backoff":{"baseMs":"1"}}}',
      '{"type":"configure","config":{"bogus":1}}',
      '{"type":"configure","config":{"dlq":{"bogus":1}}}',
    ]) {
      expect(isPartitionFailure(decodePartitionCommand(bytes(b)))).toBe(true);
    }
    // null means "not set", as for the other commands' optional fields.
    expect(decodePartitionCommand(bytes('{"type":"configure","config":{"retentionMs":null,"dlq":{"enabled":true,"retentionMs":null}}}'))).toEqual({
      type: 'configure',
      config: { dlq: { enabled: true } },
    });
  });

  it('commitOffset is a JSON command too; read and fetchOffset are queries', () => {
    const sm = new PartitionStateMachine(0, CONFIG);
    const cmds: PartitionCommand[] = [
      { type: 'enqueue', payload: bytes('a'), priority: 1n },
      { type: 'commitOffset', group: 'g', offset: 1 },
    ];
    for (const c of cmds) expect(decodePartitionCommand(encodePartitionCommand(c))).toEqual(c);
    expect(sm.apply(cmds.map((c, i) => ({ index: i + 1, term: 1, time: T0, command: encodePartitionCommand(c) })))).toEqual([
      { ok: true, messageId: '0-1', duplicate: false },
      { ok: true },
    ]);
    expect(sm.state.fetchOffset('g')).toBe(1);
    for (const b of ['{"type":"commitOffset","group":"g","offset":"1"}', '{"type":"commitOffset","offset":1}', '{"type":"commitOffset","group":"g"}']) {
      expect(decodePartitionCommand(bytes(b))).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    }
  });
});

describe('PartitionState: snapshot versions', () => {
  /** The document an older build wrote (version 1): no transactions, log, offsets, or the config fields they brought. */
  function asV1(snapshot: Uint8Array): Uint8Array {
    const doc = JSON.parse(text(snapshot)) as Record<string, unknown>;
    expect(doc.v).toBe(2);
    for (const k of ['prepared', 'decided', 'logEnd', 'log', 'offsets']) delete doc[k];
    const config = doc.config as Record<string, unknown>;
    delete config.txnMemoryMs;
    delete config.maxLogRecords;
    const counters = doc.counters as Record<string, unknown>;
    for (const k of ['txnPreparedTotal', 'txnCommittedTotal', 'txnAbortedTotal']) delete counters[k];
    return bytes(JSON.stringify({ ...doc, v: 1 }));
  }

  it('restores version 1 documents: new fields empty, new config fields from the constructor', () => {
    const s = make({ mode: 'max' });
    const a = enq(s, 0, 'a', 5);
    const b = enq(s, 1, 'b', 9);
    ok(s.enqueue(at(2), item('p', 1, { producer: { id: 'p', epoch: 0, sequence: 1 } })));
    ok(s.moveToDlq(at(3), { messageId: a }));
    const v1 = asV1(s.snapshot());
    const r = new PartitionState(3, { ...CONFIG, maxLogRecords: 77, txnMemoryMs: 88 });
    r.restore(v1);
    r.checkInvariants();
    expect(r.currentConfig).toEqual({ ...CONFIG, mode: 'max', maxLogRecords: 77, txnMemoryMs: 88 });
    expect(r.stats()).toMatchObject({ ready: 2, dlq: 1, staged: 0, preparedTxns: 0, decidedTxns: 0, logFirstOffset: 0, logEndOffset: 0, groups: 0, enqueuedTotal: 3, txnPreparedTotal: 0 });
    expect(ok(r.enqueue(at(4), item('p', 1, { producer: { id: 'p', epoch: 0, sequence: 1 } }))).duplicate).toBe(true);
    expect(ok(r.pop(at(5), { max: 1, consumer: 'c' })).messages[0]!.messageId).toBe(b);
    const c = enq(r, 6, 'c');
    expect(c).toBe('3-4');
    expect(records(r, 0)).toEqual([[0, c, 'c']]);
    expect(JSON.parse(text(r.snapshot()))).toMatchObject({ v: 2, logEnd: 1 });
    expect(() => r.restore(bytes(JSON.stringify({ ...JSON.parse(text(v1)), v: 3 })))).toThrow(/version 3/);
  });

  it('v2 round-trips everything exactly, and the empty snapshot resets it all', () => {
    const s = make();
    enq(s, 0, 'a');
    ok(s.prepare(at(1), { txnId: 't', enqueues: [item('s', 1, { producer: { id: 'p', epoch: 0, sequence: 0 } })] }));
    ok(s.abortTxn(at(2), { txnId: 'u' }));
    ok(s.commitOffset(at(3), { group: 'g', offset: 1 }));
    ok(s.configure(at(4), { config: { maxLogRecords: 50 } }));
    const snap = s.snapshot();
    const r = make();
    r.restore(snap);
    expect(text(r.snapshot())).toBe(text(snap));
    expect(r.stats()).toEqual(s.stats());
    r.restore(new Uint8Array(0));
    expect(r.stats()).toMatchObject({ ready: 0, staged: 0, preparedTxns: 0, decidedTxns: 0, logEndOffset: 0, groups: 0 });
    expect(r.currentConfig).toEqual(CONFIG);
    expect(r.txnStatus('u')).toBeNull();
    expect(r.fetchOffset('g')).toBeNull();
    expect(DEFAULT_PARTITION_CONFIG).toMatchObject({ txnMemoryMs: 24 * 3600_000, maxLogRecords: 100_000 });
  });
});
