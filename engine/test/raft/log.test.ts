import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftInvariantError } from '../../src/raft/index.js';
import type { Entry, Snapshot } from '../../src/raft/index.js';
import { RaftLog } from '../../src/raft/log.js';

const CONFIG = { voters: ['a', 'b', 'c'], learners: [] };

function ent(index: number, term: number, time = 0): Entry {
  return { index, term, time, kind: 'noop' };
}

function data(index: number, term: number, bytes: number): Entry {
  return { index, term, time: 0, kind: 'normal', data: new Uint8Array(bytes) };
}

/** Entries with the given terms at indexes 1..n. */
function terms(...ts: number[]): Entry[] {
  return ts.map((t, i) => ent(i + 1, t));
}

/** A log whose storage already holds `stable` (persisted), committed through `commit`. */
function logWith(stable: Entry[], commit = 0): { log: RaftLog; storage: MemoryStorage } {
  const storage = new MemoryStorage(CONFIG);
  storage.append(stable);
  storage.setHardState({ term: stable.at(-1)?.term ?? 0, vote: null, commit });
  return { log: new RaftLog(storage, commit, 0), storage };
}

function indexTerms(es: readonly Entry[] | null): string[] {
  return (es ?? []).map((e) => `${e.index}:${e.term}`);
}

function snapshotAt(index: number, term: number, time = 0): Snapshot {
  return { meta: { index, term, time, config: CONFIG }, data: new Uint8Array([1, 2, 3]) };
}

describe('RaftLog: an empty log', () => {
  it('starts at index 1 with the sentinel (0, term 0)', () => {
    const { log } = logWith([]);
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(0);
    expect(log.term(0)).toBe(0);
    expect(log.lastTerm()).toBe(0);
    expect(log.committed).toBe(0);
    expect(log.term(1)).toBeNull();
  });
});

describe('RaftLog: appended entries are unstable until the driver persists them', () => {
  it('new entries are readable at once but handed out as unstable', () => {
    const { log, storage } = logWith(terms(1, 1));
    log.append([ent(3, 2), ent(4, 2)]);
    expect(log.lastIndex()).toBe(4);
    expect(log.term(4)).toBe(2);
    expect(indexTerms(log.unstableEntries())).toEqual(['3:2', '4:2']);
    expect(log.lastStableIndex()).toBe(2);
    expect(storage.lastIndex()).toBe(2);
  });

  it('stableTo moves persisted entries out of the unstable tail', () => {
    const { log, storage } = logWith([]);
    log.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    storage.append(log.unstableEntries().slice(0, 2));
    log.stableTo(2, 1);
    expect(indexTerms(log.unstableEntries())).toEqual(['3:1']);
    expect(log.lastStableIndex()).toBe(2);
    expect(log.term(2)).toBe(1);
  });

  it('stableTo is ignored when the entry was replaced (different term) since it was handed out', () => {
    const { log } = logWith([]);
    log.append([ent(1, 1), ent(2, 1)]);
    log.append([ent(2, 3)]);
    log.stableTo(2, 1);
    expect(indexTerms(log.unstableEntries())).toEqual(['1:1', '2:3']);
  });

  it('appending at an earlier index replaces the conflicting unstable suffix', () => {
    const { log } = logWith(terms(1));
    log.append([ent(2, 1), ent(3, 1), ent(4, 1)]);
    log.append([ent(3, 2)]);
    expect(log.lastIndex()).toBe(3);
    expect(indexTerms(log.unstableEntries())).toEqual(['2:1', '3:2']);
  });

  it('appending over persisted entries hands out the replacement for the driver to truncate', () => {
    const { log } = logWith(terms(1, 1, 1, 1));
    log.append([ent(3, 2)]);
    expect(log.lastIndex()).toBe(3);
    expect(log.term(3)).toBe(2);
    expect(log.term(4)).toBeNull();
    expect(indexTerms(log.unstableEntries())).toEqual(['3:2']);
    expect(log.lastStableIndex()).toBe(2);
  });

  it('never overwrites a committed entry', () => {
    const { log } = logWith(terms(1, 1, 1), 2);
    expect(() => log.append([ent(2, 2)])).toThrow(RaftInvariantError);
    expect(() => log.append([ent(3, 2)])).not.toThrow();
    expect(log.term(3)).toBe(2);
  });
});

describe('RaftLog.maybeAppend: the follower side of AppendEntries (log matching)', () => {
  it('refuses when the log has no entry matching (prevIndex, prevTerm)', () => {
    const { log } = logWith(terms(1, 1, 2));
    expect(log.maybeAppend(3, 1, [ent(4, 3)])).toBeNull();
    expect(log.maybeAppend(5, 2, [ent(6, 3)])).toBeNull();
    expect(log.lastIndex()).toBe(3);
  });

  it('appends after a matching prefix and reports the last new index', () => {
    const { log } = logWith(terms(1, 1, 2));
    const r = log.maybeAppend(3, 2, [ent(4, 3), ent(5, 3)]);
    expect(r?.lastNew).toBe(5);
    expect(indexTerms(r?.appended ?? null)).toEqual(['4:3', '5:3']);
    expect(log.lastIndex()).toBe(5);
  });

  it('truncates a conflicting suffix from the first conflicting entry on', () => {
    const { log } = logWith(terms(1, 1, 2, 2, 2));
    const r = log.maybeAppend(2, 1, [ent(3, 2), ent(4, 3)]);
    expect(r?.lastNew).toBe(4);
    expect(indexTerms(r?.appended ?? null)).toEqual(['4:3']);
    expect(log.lastIndex()).toBe(4);
    expect(log.term(4)).toBe(3);
    expect(log.term(5)).toBeNull();
  });

  it('a stale append of entries it already has truncates nothing (lastNew is the message’s end)', () => {
    const { log } = logWith(terms(1, 1, 2, 2, 2));
    const r = log.maybeAppend(1, 1, [ent(2, 1), ent(3, 2)]);
    expect(r?.lastNew).toBe(3);
    expect(r?.appended).toEqual([]);
    expect(log.lastIndex()).toBe(5);
    expect(log.unstableEntries()).toEqual([]);
  });

  it('a heartbeat-like empty append that matches succeeds at prevIndex', () => {
    const { log } = logWith(terms(1, 1));
    expect(log.maybeAppend(2, 1, [])).toEqual({ lastNew: 2, appended: [] });
  });

  it('a conflict at or below the commit index is an invariant violation, not a truncation', () => {
    const { log } = logWith(terms(1, 1, 2), 3);
    expect(() => log.maybeAppend(2, 1, [ent(3, 3)])).toThrow(RaftInvariantError);
    expect(log.term(3)).toBe(2);
  });

  it('entries below a compacted prefix are skipped as already matching', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append(terms(1, 1, 2, 2));
    storage.compact(3, CONFIG, new Uint8Array());
    storage.setHardState({ term: 2, vote: null, commit: 3 });
    const log = new RaftLog(storage, 3, 3);
    expect(log.firstIndex()).toBe(4);
    const r = log.maybeAppend(3, 2, [ent(4, 2), ent(5, 2)]);
    expect(r?.lastNew).toBe(5);
    expect(indexTerms(r?.appended ?? null)).toEqual(['5:2']);
  });
});

describe('RaftLog.findConflictByTerm: skip a whole term per round trip', () => {
  // The example of etcd's TestFindConflictByTerm: terms by index 1..10.
  const { log } = logWith(terms(1, 1, 1, 4, 4, 5, 5, 6, 6, 6));

  it.each([
    [10, 6, 10, 6],
    [10, 5, 7, 5],
    [10, 4, 5, 4],
    [10, 3, 3, 1],
    [10, 1, 3, 1],
    [6, 9, 6, 5],
    [20, 6, 10, 6],
    [0, 3, 0, 0],
  ])('(index %i, term %i) -> index %i of term %i', (index, term, wantIndex, wantTerm) => {
    expect(log.findConflictByTerm(index, term)).toEqual({ index: wantIndex, term: wantTerm });
  });

  it('returns term 0 at a compacted index (the leader must probe or snapshot)', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append(terms(1, 2, 3, 4, 5));
    storage.compact(3, CONFIG, new Uint8Array());
    const compacted = new RaftLog(storage, 3, 3);
    expect(compacted.findConflictByTerm(5, 1)).toEqual({ index: 2, term: 0 });
    expect(compacted.findConflictByTerm(5, 3)).toEqual({ index: 3, term: 3 });
  });
});

describe('RaftLog.isUpToDate: the election restriction’s comparison', () => {
  const { log } = logWith(terms(1, 2, 2));

  it('a higher last term wins whatever the length', () => {
    expect(log.isUpToDate(1, 3)).toBe(true);
  });
  it('the same last term wins when at least as long', () => {
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(4, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
  });
  it('a lower last term loses even when longer', () => {
    expect(log.isUpToDate(10, 1)).toBe(false);
  });
});

describe('RaftLog.slice', () => {
  it('reads across persisted and unstable entries', () => {
    const { log } = logWith(terms(1, 1, 1));
    log.append([ent(4, 2), ent(5, 2)]);
    expect(indexTerms(log.slice(2, 6, Infinity))).toEqual(['2:1', '3:1', '4:2', '5:2']);
  });

  it('reads stable entries below a pending replacement, not the replaced ones', () => {
    const { log } = logWith(terms(1, 1, 1, 1));
    log.append([ent(3, 2)]);
    expect(indexTerms(log.slice(1, 4, Infinity))).toEqual(['1:1', '2:1', '3:2']);
  });

  it('stops at the byte limit but always returns at least one entry', () => {
    const { log } = logWith([data(1, 1, 100), data(2, 1, 100), data(3, 1, 100)]);
    expect(log.slice(1, 4, 150)?.length).toBe(1);
    expect(log.slice(1, 4, 1)?.length).toBe(1);
    expect(log.slice(1, 4, 300)?.length).toBe(2);
  });

  it('returns [] for an empty range, null below the first index, and throws beyond the last', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append(terms(1, 1, 1, 1));
    storage.compact(2, CONFIG, new Uint8Array());
    const log = new RaftLog(storage, 2, 2);
    expect(log.slice(3, 3, Infinity)).toEqual([]);
    expect(log.slice(2, 4, Infinity)).toBeNull();
    expect(indexTerms(log.slice(3, 5, Infinity))).toEqual(['3:1', '4:1']);
    expect(() => log.slice(3, 6, Infinity)).toThrow(RaftInvariantError);
  });
});

describe('RaftLog: term lookups at the edges', () => {
  it('knows the term at the snapshot index but not below it', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append(terms(1, 2, 3, 4));
    storage.compact(2, CONFIG, new Uint8Array());
    const log = new RaftLog(storage, 2, 2);
    expect(log.term(2)).toBe(2);
    expect(log.term(1)).toBeNull();
    expect(log.term(4)).toBe(4);
    expect(log.term(5)).toBeNull();
  });
});

describe('RaftLog: commit and apply', () => {
  it('the commit index never decreases', () => {
    const { log } = logWith(terms(1, 1, 1));
    log.commitTo(3);
    log.commitTo(1);
    expect(log.committed).toBe(3);
  });

  it('committing beyond the last index is an invariant violation', () => {
    const { log } = logWith(terms(1, 1));
    expect(() => log.commitTo(3)).toThrow(RaftInvariantError);
    expect(log.committed).toBe(0);
  });

  it('hands out committed entries once, in order, within the byte limit', () => {
    const { log } = logWith([data(1, 1, 100), data(2, 1, 100), data(3, 1, 100)]);
    expect(log.hasNextCommitted()).toBe(false);
    log.commitTo(3);
    expect(log.hasNextCommitted()).toBe(true);
    const first = log.nextCommitted(150);
    expect(first.map((e) => e.index)).toEqual([1]);
    log.appliedTo(1);
    expect(log.nextCommitted(Infinity).map((e) => e.index)).toEqual([2, 3]);
    log.appliedTo(3);
    expect(log.hasNextCommitted()).toBe(false);
    expect(log.nextCommitted(Infinity)).toEqual([]);
  });

  it('applying beyond the commit index is an invariant violation', () => {
    const { log } = logWith(terms(1, 1), 1);
    expect(() => log.appliedTo(2)).toThrow(RaftInvariantError);
  });

  it('a restart cannot claim more applied than committed', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append(terms(1, 1, 1));
    expect(() => new RaftLog(storage, 1, 2)).toThrow(RaftInvariantError);
  });

  it('on restart the commit and applied indexes are at least the snapshot index', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append(terms(1, 1, 1, 1));
    storage.compact(3, CONFIG, new Uint8Array());
    const log = new RaftLog(storage, 0, 0);
    expect(log.committed).toBe(3);
    expect(log.applied).toBe(3);
  });
});

describe('RaftLog.restore: replacing the log with a leader’s snapshot', () => {
  it('the snapshot becomes the log’s base and is handed out for persistence', () => {
    const { log } = logWith(terms(1, 1, 2));
    const snap = snapshotAt(10, 4, 777);
    log.restore(snap);
    expect(log.firstIndex()).toBe(11);
    expect(log.lastIndex()).toBe(10);
    expect(log.term(10)).toBe(4);
    expect(log.term(3)).toBeNull();
    expect(log.lastTime()).toBe(777);
    expect(log.committed).toBe(10);
    expect(log.unstableSnapshot()).toBe(snap);
    expect(log.unstableEntries()).toEqual([]);
    expect(log.snapshot()).toBe(snap);
    // Nothing of the new log is durable until the driver persists the snapshot.
    expect(log.lastStableIndex()).toBe(0);
    log.stableSnapshotTo(10);
    expect(log.unstableSnapshot()).toBeNull();
  });

  it('entries appended after a restored snapshot follow it', () => {
    const { log } = logWith([]);
    log.restore(snapshotAt(10, 4));
    const r = log.maybeAppend(10, 4, [ent(11, 4), ent(12, 5)]);
    expect(r?.lastNew).toBe(12);
    expect(indexTerms(log.slice(11, 13, Infinity))).toEqual(['11:4', '12:5']);
  });
});

describe('RaftLog.lastTime: the floor for the next entry’s timestamp', () => {
  it('is the time of the last entry, persisted or not', () => {
    const { log } = logWith([ent(1, 1, 100), ent(2, 1, 200)]);
    expect(log.lastTime()).toBe(200);
    log.append([ent(3, 1, 300)]);
    expect(log.lastTime()).toBe(300);
  });

  it('is the snapshot’s time when compaction emptied the log', () => {
    const storage = new MemoryStorage(CONFIG);
    storage.append([ent(1, 1, 100), ent(2, 1, 250)]);
    storage.compact(2, CONFIG, new Uint8Array());
    const log = new RaftLog(storage, 2, 2);
    expect(log.lastTime()).toBe(250);
  });
});
