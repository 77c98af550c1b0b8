import { describe, expect, it } from 'vitest';
import { CATALOG_LIMITS, CatalogState, placeReplicas } from '../../src/topic/catalog-state.js';
import type { CatalogCommand, CatalogResult, TopicRecord, TxnRecord } from '../../src/topic/catalog-state.js';
import { CatalogStateMachine, encodeCatalogCommand } from '../../src/topic/catalog-state-machine.js';
import { partitionConfig } from '../../src/topic/partition-state.js';

const members = ['a@1', 'b@1', 'c@1'];
const settings = { replicationFactor: 3, topKBound: 64, compressionEnabled: false };

function make(name: string, partitions = 3, extra: Partial<Extract<CatalogCommand, { type: 'makeHeap' }>> = {}): CatalogCommand {
  return { type: 'makeHeap', name, settings, config: partitionConfig(), placements: placeReplicas(members, partitions, 3), ...extra };
}

function ok<T>(r: CatalogResult, key: string): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error}: ${r.message}`);
  return (r as unknown as Record<string, T>)[key] as T;
}

describe('placeReplicas', () => {
  it('gives every member the same number of preferred leaderships and distinct replicas', () => {
    const p = placeReplicas(['c@1', 'a@1', 'b@1'], 6, 3, 1);
    const firsts = p.map((r) => r[0]);
    for (const m of members) expect(firsts.filter((f) => f === m)).toHaveLength(2);
    for (const r of p) expect(new Set(r).size).toBe(3);
  });

  it('places rf < n replicas on consecutive members', () => {
    expect(placeReplicas(members, 3, 2)).toEqual([
      ['a@1', 'b@1'],
      ['b@1', 'c@1'],
      ['c@1', 'a@1'],
    ]);
  });
});

describe('CatalogState topics', () => {
  it('creates a topic with fresh group ids, refuses a second one of the same name', () => {
    const s = new CatalogState();
    const t = ok<TopicRecord>(s.apply(make('jobs'), 1000), 'topic');
    expect(t.partitions.map((p) => p.groupId)).toEqual([1, 2, 3]);
    expect(t.createdAt).toBe(1000);
    const again = s.apply(make('jobs'), 1001);
    expect(again).toMatchObject({ ok: false, error: 'ALREADY_EXISTS' });
  });

  it('validates names, placements and settings with clear messages', () => {
    const s = new CatalogState();
    expect(s.apply(make('bad name'), 1)).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT', message: expect.stringContaining('letters, digits') });
    expect(s.apply(make('x', 1, { placements: [['a@1', 'a@1', 'b@1']] }), 1)).toMatchObject({ ok: false, message: expect.stringContaining('same replica twice') });
    expect(s.apply(make('x', 1, { placements: [['a@1']] }), 1)).toMatchObject({ ok: false, message: expect.stringContaining('replication_factor') });
    expect(s.apply(make('x', 1, { settings: { ...settings, topKBound: 0 } }), 1)).toMatchObject({ ok: false, message: expect.stringContaining('top_k_bound') });
    expect(s.apply(make('x', CATALOG_LIMITS.maxPartitions + 1), 1)).toMatchObject({ ok: false, message: expect.stringContaining('at most') });
    expect(s.listTopics()).toEqual([]);
  });

  it('deletes into tombstones and never reuses a group id', () => {
    const s = new CatalogState();
    s.apply(make('jobs', 2), 1);
    expect(ok<number[]>(s.apply({ type: 'deleteHeap', name: 'jobs' }, 2), 'deleted')).toEqual([1, 2]);
    expect(s.isTombstoned(1) && s.isTombstoned(2)).toBe(true);
    expect(s.topic('jobs')).toBeUndefined();
    const again = ok<TopicRecord>(s.apply(make('jobs', 2), 3), 'topic');
    expect(again.partitions.map((p) => p.groupId)).toEqual([3, 4]);
    expect(again.heapId).not.toBe('jobs#1');
    expect(s.apply({ type: 'deleteHeap', name: 'nope' }, 4)).toMatchObject({ ok: false, error: 'NOT_FOUND' });
  });

  it('updates mutable settings, bumps the config version, keeps the mode', () => {
    const s = new CatalogState();
    s.apply(make('jobs'), 1);
    const t = ok<TopicRecord>(s.apply({ type: 'updateHeap', name: 'jobs', config: { visibilityTimeoutMs: 5000, dlq: { enabled: false, retentionMs: 10 } } }, 2), 'topic');
    expect(t.config.visibilityTimeoutMs).toBe(5000);
    expect(t.config.dlq).toEqual({ enabled: false, retentionMs: 10 });
    expect(t.configVersion).toBe(2);
    expect(t.updatedAt).toBe(2);
    expect(s.apply({ type: 'updateHeap', name: 'jobs', config: { mode: 'max' } }, 3)).toMatchObject({ ok: false, message: 'mode is immutable' });
    expect(s.apply({ type: 'updateHeap', name: 'jobs', config: { visibilityTimeoutMs: -1 } }, 3)).toMatchObject({ ok: false, error: 'INVALID_ARGUMENT' });
    expect(s.topic('jobs')?.configVersion).toBe(2);
  });

  it('adds partitions after the existing ones', () => {
    const s = new CatalogState();
    s.apply(make('jobs', 2), 1);
    const t = ok<TopicRecord>(s.apply({ type: 'addPartitions', name: 'jobs', placements: placeReplicas(members, 2, 3) }, 2), 'topic');
    expect(t.partitions.map((p) => [p.index, p.groupId])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
  });
});

describe('CatalogState transactions', () => {
  const begin = (txnId = 't1', fingerprint = 'f'): CatalogCommand => ({
    type: 'txnBegin',
    txnId,
    topic: 'jobs',
    participants: [
      { partition: 0, groupId: 1 },
      { partition: 2, groupId: 3 },
    ],
    fingerprint,
  });

  it('records a transaction once; a retry with the same batch gets the record back', () => {
    const s = new CatalogState();
    s.apply(make('jobs'), 1);
    expect(s.apply(begin(), 2)).toMatchObject({ ok: true, created: true, txn: { state: 'preparing', beganAt: 2 } });
    expect(s.apply(begin(), 3)).toMatchObject({ ok: true, created: false, txn: { beganAt: 2 } });
    expect(s.apply(begin('t1', 'other'), 3)).toMatchObject({ ok: false, error: 'FAILED_PRECONDITION' });
  });

  it('refuses participants that are not the topic partitions', () => {
    const s = new CatalogState();
    s.apply(make('jobs'), 1);
    const bad: CatalogCommand = { type: 'txnBegin', txnId: 't', topic: 'jobs', participants: [{ partition: 0, groupId: 9 }], fingerprint: 'f' };
    expect(s.apply(bad, 2)).toMatchObject({ ok: false, error: 'FAILED_PRECONDITION' });
  });

  it('keeps the first decision: a later opposite one gets the recorded decision', () => {
    const s = new CatalogState();
    s.apply(make('jobs'), 1);
    s.apply(begin(), 2);
    expect(s.apply({ type: 'txnDecide', txnId: 't1', commit: false, reason: 'timeout' }, 3)).toMatchObject({ ok: true, created: true, txn: { state: 'aborted' } });
    const late = ok<TxnRecord>(s.apply({ type: 'txnDecide', txnId: 't1', commit: true, responses: [1] }, 4), 'txn');
    expect(late.state).toBe('aborted');
    expect(late.responses).toBeNull();
  });

  it('ends only decided transactions and forgets ended ones after the memory window', () => {
    const s = new CatalogState();
    s.apply(make('jobs'), 1);
    s.apply(begin(), 2);
    expect(s.apply({ type: 'txnEnd', txnId: 't1' }, 3)).toMatchObject({ ok: false, error: 'FAILED_PRECONDITION' });
    s.apply({ type: 'txnDecide', txnId: 't1', commit: true, responses: ['r'] }, 4);
    expect(s.openTxns().map((t) => t.txnId)).toEqual(['t1']);
    s.apply({ type: 'txnEnd', txnId: 't1' }, 5);
    expect(s.openTxns()).toEqual([]);
    expect(s.txn('t1')?.responses).toEqual(['r']);
    s.apply({ type: 'tick' }, 5 + CATALOG_LIMITS.txnMemoryMs - 1);
    expect(s.txn('t1')).toBeDefined();
    s.apply({ type: 'tick' }, 5 + CATALOG_LIMITS.txnMemoryMs);
    expect(s.txn('t1')).toBeUndefined();
  });
});

describe('CatalogState snapshots and the state machine', () => {
  it('restores exactly what it snapshotted', () => {
    const s = new CatalogState();
    s.apply(make('a'), 1);
    s.apply(make('b', 2), 2);
    s.apply({ type: 'deleteHeap', name: 'a' }, 3);
    s.apply({ type: 'txnBegin', txnId: 't', topic: 'b', participants: [{ partition: 1, groupId: 5 }], fingerprint: 'f' }, 4);
    const copy = new CatalogState();
    copy.restore(s.snapshot());
    expect(copy.snapshot()).toEqual(s.snapshot());
    // Allocation continues where it was.
    expect(ok<TopicRecord>(copy.apply(make('c', 1), 5), 'topic').partitions[0]?.groupId).toBe(6);
    copy.restore(new Uint8Array(0));
    expect(copy.listTopics()).toEqual([]);
  });

  it('answers malformed commands with an error instead of throwing (a throw stops the replica)', () => {
    const sm = new CatalogStateMachine();
    const cmd = (c: unknown, index: number) => ({ index, term: 1, time: index, command: new TextEncoder().encode(JSON.stringify(c)) });
    const results = sm.apply([
      cmd({ type: 'makeHeap', name: 'x', settings, config: null, placements: [] }, 1),
      { index: 2, term: 1, time: 2, command: new TextEncoder().encode('{not json') },
      cmd({ type: 'updateHeap', name: 'x' }, 3),
      { index: 4, term: 1, time: 4, command: encodeCatalogCommand(make('ok')) },
    ]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, true]);
  });
});
