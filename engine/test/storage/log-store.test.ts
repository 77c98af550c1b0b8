import { describe, expect, it } from 'vitest';
import { RaftError, entrySize } from '../../src/raft/index.js';
import type { Entry, RaftErrorCode } from '../../src/raft/index.js';
import { LogStore, memberId } from '../../src/storage/index.js';
import type { GroupLog } from '../../src/storage/index.js';
import { CONFIG, config, noop, normal, open, run, useTempDir, withRaw } from './helpers.js';

const tmp = useTempDir();

function raftError(f: () => unknown): RaftErrorCode {
  try {
    f();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  throw new Error('expected a RaftError');
}

/** What a reopened store must reproduce exactly. */
function dump(store: LogStore, groupId: number) {
  const g = store.group(groupId);
  const first = g.firstIndex();
  const last = g.lastIndex();
  const terms: number[] = [];
  const times: number[] = [];
  for (let i = first - 1; i <= last; i++) {
    terms.push(g.term(i));
    times.push(g.time(i));
  }
  return { first, last, hs: g.hardState(), snap: g.snapshot(), terms, times, entries: last >= first ? g.entries(first, last + 1, Infinity) : [] };
}

describe('LogStore', () => {
  it('round-trips entries of every kind and the hard state across close and reopen', () => {
    let store = open(tmp.file());
    store.createGroup(1, CONFIG);
    const entries: Entry[] = [
      noop(1, 1),
      normal(2, 1, 'hello'),
      normal(3, 1, new Uint8Array(0)),
      config(4, 2, { type: 'add-learner', node: 'b' }, { voters: ['a'], learners: ['b'] }),
      normal(5, 2, new Uint8Array([0, 255, 7]), 1234.5),
    ];
    store.persist([{ groupId: 1, entries, hardState: { term: 2, vote: 'a', commit: 3 } }]);
    const before = dump(store, 1);
    expect(before.entries).toEqual(entries);
    store.close();

    store = open(tmp.file());
    expect(store.groupIds()).toEqual([1]);
    const after = dump(store, 1);
    expect(after).toEqual(before);
    expect(after.hs).toEqual({ term: 2, vote: 'a', commit: 3 });
    expect(after.snap).toEqual({ meta: { index: 0, term: 0, time: 0, config: CONFIG }, data: new Uint8Array(0) });
    store.close();
  });

  it('persists a snapshot from the leader, replacing the whole log, and reads it back after reopen', () => {
    let store = open(tmp.file());
    store.createGroup(3, CONFIG);
    store.persist([{ groupId: 3, entries: run(1, 5, 1) }]);
    const snap = { meta: { index: 20, term: 3, time: 5000, config: { voters: ['a', 'b'], learners: ['c'] } }, data: new Uint8Array([9, 8, 7]) };
    store.persist([{ groupId: 3, snapshot: snap, entries: run(21, 22, 3), hardState: { term: 3, vote: null, commit: 20 } }]);
    const before = dump(store, 3);
    expect([before.first, before.last, before.snap]).toEqual([21, 22, snap]);
    store.close();

    store = open(tmp.file());
    expect(dump(store, 3)).toEqual(before);
    expect(raftError(() => store.group(3).term(5))).toBe('COMPACTED');
    store.close();
  });

  it('writes many groups in one transaction, and a write that fails validation writes nothing', () => {
    let store = open(tmp.file());
    for (const id of [1, 2, 3]) store.createGroup(id, CONFIG);
    store.persist([
      { groupId: 1, entries: run(1, 3, 1), hardState: { term: 1, vote: 'a', commit: 1 } },
      { groupId: 2, entries: run(1, 1, 1) },
      { groupId: 3, entries: [], hardState: { term: 5, vote: null, commit: 0 } },
    ]);
    const before = [1, 2, 3].map((id) => dump(store, id));

    // Valid writes for groups 1 and 2, then a gap in group 3: nothing at all may land.
    const bad = [
      { groupId: 1, entries: run(4, 5, 1), hardState: { term: 1, vote: 'a', commit: 5 } },
      { groupId: 2, entries: run(2, 2, 1) },
      { groupId: 3, entries: run(2, 2, 5) },
    ];
    expect(raftError(() => store.persist(bad))).toBe('UNAVAILABLE');
    expect([1, 2, 3].map((id) => dump(store, id))).toEqual(before);
    store.close();
    store = open(tmp.file());
    expect([1, 2, 3].map((id) => dump(store, id))).toEqual(before);
    store.close();
  });

  it('refuses bad writes like MemoryStorage, leaving storage untouched', () => {
    const store = open(tmp.file());
    store.createGroup(1, CONFIG);
    store.createGroup(2, CONFIG);
    store.persist([{ groupId: 1, entries: run(1, 10, 2), hardState: { term: 2, vote: null, commit: 8 } }]);
    store.compact(1, 5, CONFIG, new Uint8Array([1]));
    const before = dump(store, 1);
    const snap = (index: number) => ({ meta: { index, term: 2, time: 0, config: CONFIG }, data: new Uint8Array(0) });
    expect(raftError(() => store.persist([{ groupId: 1, entries: run(12, 12, 2) }]))).toBe('UNAVAILABLE');
    expect(raftError(() => store.persist([{ groupId: 1, entries: run(5, 6, 2) }]))).toBe('COMPACTED');
    expect(raftError(() => store.persist([{ groupId: 1, snapshot: snap(5), entries: [] }]))).toBe('SNAPSHOT_OUT_OF_DATE');
    expect(raftError(() => store.persist([{ groupId: 1, entries: [normal(11, 2), normal(13, 2)] }]))).toBe('INVALID_ARGUMENT');
    expect(raftError(() => store.persist([{ groupId: 1, entries: run(11, 11, 1) }]))).toBe('INVALID_ARGUMENT'); // lowers the term
    expect(raftError(() => store.persist([{ groupId: 1, entries: run(8, 8, 2) }]))).toBe('INVALID_ARGUMENT'); // rewrites committed
    const beyond = { groupId: 1, entries: run(11, 11, 2), hardState: { term: 2, vote: null, commit: 12 } };
    expect(raftError(() => store.persist([beyond]))).toBe('INVALID_ARGUMENT');
    expect(raftError(() => store.persist([{ groupId: 9, entries: run(1, 1, 1) }]))).toBe('INVALID_ARGUMENT');
    const twice = { groupId: 2, entries: run(1, 1, 1) };
    expect(raftError(() => store.persist([twice, twice]))).toBe('INVALID_ARGUMENT');
    expect(dump(store, 1)).toEqual(before);
    expect(store.group(2).lastIndex()).toBe(0);
    store.close();
  });

  it('truncates a conflicting suffix, in memory and on disk', () => {
    let store = open(tmp.file());
    store.createGroup(1, CONFIG);
    store.persist([{ groupId: 1, entries: run(1, 6, 1) }]);
    store.persist([{ groupId: 1, entries: run(3, 4, 2) }]);
    const expected = [...run(1, 2, 1), ...run(3, 4, 2)];
    expect(store.group(1).entries(1, 5, Infinity)).toEqual(expected);
    expect(store.group(1).lastIndex()).toBe(4);
    expect(raftError(() => store.group(1).term(5))).toBe('UNAVAILABLE');
    store.close();
    store = open(tmp.file());
    expect(store.group(1).entries(1, 5, Infinity)).toEqual(expected);
    expect(store.group(1).lastIndex()).toBe(4);
    store.close();
  });

  it('compacts through an applied index and reports COMPACTED and UNAVAILABLE like MemoryStorage', () => {
    let store = open(tmp.file());
    store.createGroup(1, CONFIG);
    store.persist([{ groupId: 1, entries: run(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 8 } }]);
    expect(raftError(() => store.compact(1, 9, CONFIG, new Uint8Array(0)))).toBe('INVALID_ARGUMENT'); // not committed
    const data = new TextEncoder().encode('state at 7');
    const cfg = { voters: ['a', 'b'], learners: [] };
    store.compact(1, 7, cfg, data);
    store.compact(1, 3, CONFIG, new Uint8Array(0)); // behind the snapshot: nothing to do
    const check = (s: LogStore) => {
      const g = s.group(1);
      expect([g.firstIndex(), g.lastIndex(), g.term(7), g.time(7)]).toEqual([8, 10, 1, 1007]);
      expect(g.snapshot()).toEqual({ meta: { index: 7, term: 1, time: 1007, config: cfg }, data });
      expect(raftError(() => g.entries(7, 9, Infinity))).toBe('COMPACTED');
      expect(raftError(() => g.entries(8, 12, Infinity))).toBe('UNAVAILABLE');
      expect(raftError(() => g.term(6))).toBe('COMPACTED');
      expect(raftError(() => g.time(11))).toBe('UNAVAILABLE');
      expect(g.entries(8, 11, Infinity)).toEqual(run(8, 10, 1));
    };
    check(store);
    store.close();
    store = open(tmp.file());
    check(store);
    expect(withRaw(tmp.file(), (db) => db.prepare('SELECT min(idx) AS lo FROM entry').get())).toEqual({ lo: 8 });
    store.close();
  });

  it('limits entries() by maxBytes like limitSize, from the cache, from SQLite and across both', () => {
    const entries = [normal(1, 1, 'x'.repeat(100)), normal(2, 1, 'y'.repeat(10)), noop(3, 1), normal(4, 1, 'z'.repeat(500)), normal(5, 1)];
    const sizes = entries.map(entrySize);
    const prefix = (n: number) => sizes.slice(0, n).reduce((a, b) => a + b, 0);
    const check = (g: GroupLog) => {
      expect(g.entries(1, 6, 0)).toEqual(entries.slice(0, 1)); // always at least one
      expect(g.entries(1, 6, prefix(2))).toEqual(entries.slice(0, 2));
      expect(g.entries(1, 6, prefix(3) - 1)).toEqual(entries.slice(0, 2));
      expect(g.entries(1, 6, prefix(4))).toEqual(entries.slice(0, 4));
      expect(g.entries(1, 6, prefix(5))).toEqual(entries);
      expect(g.entries(2, 5, sizes[1]! + sizes[2]!)).toEqual(entries.slice(1, 3));
      expect(g.entries(4, 6, 1)).toEqual(entries.slice(3, 4));
      expect(g.entries(3, 3, 1)).toEqual([]);
    };
    // Group 1 all in the cache; group 2 written across a reopen, which empties the cache, so
    // entries 1-3 come from SQLite and 4-5 from the cache.
    let store = open(tmp.file());
    store.createGroup(1, CONFIG);
    store.createGroup(2, CONFIG);
    store.persist([
      { groupId: 1, entries },
      { groupId: 2, entries: entries.slice(0, 3) },
    ]);
    check(store.group(1));
    store.close();
    store = open(tmp.file());
    store.persist([{ groupId: 2, entries: entries.slice(3) }]);
    check(store.group(1)); // all from SQLite now
    check(store.group(2));
    store.close();
  });

  it('reads entries that fell out of the cache from SQLite', () => {
    const store = open(tmp.file(), { cacheBytesPerGroup: 1000 });
    store.createGroup(1, CONFIG);
    const all: Entry[] = [];
    for (let i = 1; i <= 200; i += 10) {
      const batch = run(i, i + 9, 1);
      all.push(...batch);
      store.persist([{ groupId: 1, entries: batch }]);
    }
    expect(store.group(1).entries(1, 201, Infinity)).toEqual(all);
    expect(store.group(1).entries(150, 160, Infinity)).toEqual(all.slice(149, 159));
    store.close();
  });

  it('creates a data directory identity once and refuses another member’s directory', () => {
    let store = open(tmp.file());
    expect(store.identity()).toBeNull();
    const id = store.initIdentity('pod-0');
    expect(id.name).toBe('pod-0');
    expect(id.incarnation).toMatch(/^[0-9a-f]{8}$/);
    expect(memberId(id)).toBe(`pod-0@${id.incarnation}`);
    expect(store.initIdentity('pod-0')).toEqual(id);
    store.close();
    store = open(tmp.file());
    expect(store.identity()).toEqual(id);
    expect(() => store.initIdentity('pod-1')).toThrow(/belongs to member pod-0@/);
    store.close();
  });

  it('keeps groups apart and refuses to create one twice', () => {
    let store = open(tmp.file());
    store.createGroup(2 ** 53 - 1, CONFIG);
    store.createGroup(0, { voters: [], learners: [] });
    expect(() => store.createGroup(0, CONFIG)).toThrow(/already exists/);
    expect(() => store.createGroup(-1, CONFIG)).toThrow(/bad group id/);
    expect(() => store.group(5)).toThrow(/no group 5/);
    store.close();
    store = open(tmp.file());
    expect(store.groupIds()).toEqual([0, 2 ** 53 - 1]);
    expect(store.hasGroup(0) && !store.hasGroup(1)).toBe(true);
    expect(store.group(0).snapshot().meta.config).toEqual({ voters: [], learners: [] });
    store.close();
  });

  it('persists recovery fences', () => {
    let store = open(tmp.file());
    store.createGroup(1, CONFIG);
    store.createGroup(2, CONFIG);
    store.setRecoveryFence(1, 42);
    store.setRecoveryFence(2, 7);
    store.setRecoveryFence(2, 0);
    store.close();
    store = open(tmp.file());
    expect([store.recoveryFence(1), store.recoveryFence(2)]).toEqual([42, 0]);
    store.close();
  });

  it('refuses a file written by a newer schema', () => {
    open(tmp.file()).close();
    withRaw(tmp.file(), (db) => db.pragma('user_version = 99'));
    expect(() => open(tmp.file())).toThrow(/schema version 99, newer than this engine's 2/);
  });

  it('upgrades a version 1 file in place: its groups stay, group metadata becomes available', () => {
    const store = open(tmp.file());
    store.createGroup(3, { voters: ['a@1'], learners: [] });
    store.close();
    withRaw(tmp.file(), (db) => {
      db.exec('DROP TABLE group_meta');
      db.pragma('user_version = 1');
    });
    const again = open(tmp.file());
    expect(again.groupIds()).toEqual([3]);
    expect(again.groupMeta(3)).toBeNull();
    again.createGroup(4, { voters: ['a@1'], learners: [] }, '{"kind":"partition"}');
    again.close();
    expect(withRaw(tmp.file(), (db) => db.pragma('user_version', { simple: true }))).toBe(2);
  });

  it('keeps a group\'s metadata with it, and deletes a group with everything stored for it', () => {
    const store = open(tmp.file());
    store.createGroup(1, { voters: ['a@1'], learners: [] }, 'meta-1');
    store.createGroup(2, { voters: ['a@1'], learners: [] }, 'meta-2');
    store.persist([{ groupId: 1, entries: run(1, 3, 1), hardState: { term: 1, vote: 'a@1', commit: 1 } }]);
    store.setRecoveryFence(1, 1);
    store.deleteGroup(1);
    expect(store.hasGroup(1)).toBe(false);
    expect(store.groupMeta(1)).toBeNull();
    expect(store.groupMeta(2)).toBe('meta-2');
    store.close();
    // Nothing of group 1 is left on disk: reopening sees only group 2.
    const reopened = open(tmp.file());
    expect(reopened.groupIds()).toEqual([2]);
    expect(reopened.recoveryFence(1)).toBe(0);
    for (const table of ['entry', 'hard_state', 'snapshot', 'recovery_fence', 'group_meta']) {
      expect(withRaw(tmp.file(), (db) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE group_id = 1`).get() as { n: number }).n)).toBe(0);
    }
    reopened.close();
  });

  it('leaves the file in WAL mode', () => {
    const store = LogStore.open(tmp.file());
    store.close();
    expect(withRaw(tmp.file(), (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
  });
});
