import { describe, expect, it } from 'vitest';
import { CorruptStorageError } from '../../src/storage/index.js';
import type { LogStore } from '../../src/storage/index.js';
import { entryCrc } from '../../src/storage/codec.js';
import { CONFIG, open, run, useTempDir, withRaw } from './helpers.js';

const tmp = useTempDir();

/** Group 1: entries 1..10 of term 1, committed through 5; group 2: entries 1..3, all committed. */
function setup(): void {
  const store = open(tmp.file());
  store.createGroup(1, CONFIG);
  store.createGroup(2, CONFIG);
  store.persist([
    { groupId: 1, entries: run(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 5 } },
    { groupId: 2, entries: run(1, 3, 1), hardState: { term: 1, vote: 'a', commit: 3 } },
  ]);
  store.close();
}

/** Flips the first byte of an entry's payload behind the store's back. */
function flipPayload(groupId: number, index: number): void {
  withRaw(tmp.file(), (db) => {
    const row = db.prepare('SELECT payload FROM entry WHERE group_id = ? AND idx = ?').get(groupId, index) as { payload: Buffer };
    row.payload[0]! ^= 0xff;
    db.prepare('UPDATE entry SET payload = ? WHERE group_id = ? AND idx = ?').run(row.payload, groupId, index);
  });
}

function sql(text: string, ...params: unknown[]): void {
  withRaw(tmp.file(), (db) => db.prepare(text).run(...params));
}

function openError(): CorruptStorageError {
  try {
    open(tmp.file()).close();
  } catch (e) {
    if (e instanceof CorruptStorageError) return e;
    throw e;
  }
  throw new Error('expected CorruptStorageError');
}

function expectIntactGroup2(store: LogStore): void {
  expect(store.group(2).entries(1, 4, Infinity)).toEqual(run(1, 3, 1));
}

describe('verification at open', () => {
  it('cuts a damaged uncommitted tail, reports it and fences the group', () => {
    setup();
    flipPayload(1, 8);
    let store = open(tmp.file());
    expect(store.recoveredTails()).toEqual([{ groupId: 1, truncatedFrom: 8, lostThrough: 10 }]);
    expect(store.recoveryFence(1)).toBe(10);
    expect(store.recoveryFence(2)).toBe(0);
    expect(store.group(1).lastIndex()).toBe(7);
    expect(store.group(1).entries(1, 8, Infinity)).toEqual(run(1, 7, 1));
    expectIntactGroup2(store);
    // The log continues from the cut.
    store.persist([{ groupId: 1, entries: run(8, 8, 2) }]);
    store.close();

    store = open(tmp.file());
    expect(store.recoveredTails()).toEqual([]);
    expect(store.recoveryFence(1)).toBe(10);
    expect(store.group(1).lastIndex()).toBe(8);
    store.close();
  });

  it('keeps the higher of an existing fence and a new one', () => {
    setup();
    const store = open(tmp.file());
    store.setRecoveryFence(1, 50);
    store.close();
    sql('UPDATE entry SET crc = crc + 1 WHERE group_id = 1 AND idx = 6');
    const reopened = open(tmp.file());
    expect(reopened.recoveredTails()).toEqual([{ groupId: 1, truncatedFrom: 6, lostThrough: 10 }]);
    expect(reopened.recoveryFence(1)).toBe(50);
    reopened.close();
  });

  it('treats a missing entry or a falling term in the uncommitted tail as the end of the log', () => {
    setup();
    sql('DELETE FROM entry WHERE group_id = 1 AND idx = 7');
    let store = open(tmp.file());
    expect(store.recoveredTails()).toEqual([{ groupId: 1, truncatedFrom: 7, lostThrough: 10 }]);
    store.persist([{ groupId: 1, entries: run(7, 9, 3) }]);
    store.close();
    // A row with a valid CRC whose term is below its predecessor's.
    sql('UPDATE entry SET term = 2, crc = ? WHERE group_id = 1 AND idx = 8', entryCrc(1, 8, 2, 1008, 0, new TextEncoder().encode('e8')));
    store = open(tmp.file());
    expect(store.recoveredTails()).toEqual([{ groupId: 1, truncatedFrom: 8, lostThrough: 9 }]);
    expect(store.group(1).lastIndex()).toBe(7);
    store.close();
  });

  it('refuses to open with damage in the committed log, naming file, group and index', () => {
    setup();
    flipPayload(1, 3);
    const e = openError();
    expect([e.file, e.groupId, e.index]).toEqual([tmp.file(), 1, 3]);
    expect(e.message).toContain(tmp.file());
    expect(e.message).toContain('Raft group 1');
    expect(e.message).toContain('log index 3');
    expect(e.message).toContain('wipe its data directory');
    // Nothing was cut: the operator decides.
    expect(withRaw(tmp.file(), (db) => db.prepare('SELECT count(*) AS n FROM entry WHERE group_id = 1').get())).toEqual({ n: 10 });
  });

  it('refuses a damaged crc in the committed log, and committed entries that are missing', () => {
    setup();
    sql('UPDATE entry SET crc = crc + 1 WHERE group_id = 2 AND idx = 1');
    expect([openError().groupId, openError().index]).toEqual([2, 1]);
    sql('UPDATE entry SET crc = crc - 1 WHERE group_id = 2 AND idx = 1');
    sql('DELETE FROM entry WHERE group_id = 2 AND idx = 3');
    expect(openError().message).toMatch(/Raft group 2, log index 3\): committed entries up to 3 are missing/);
  });

  it('refuses a damaged hard state or snapshot', () => {
    setup();
    sql('UPDATE hard_state SET commit_index = 9 WHERE group_id = 1');
    let e = openError();
    expect([e.groupId, e.index]).toEqual([1, null]);
    expect(e.message).toMatch(/Raft group 1\): hard state fails its checksum/);
    sql('UPDATE hard_state SET commit_index = 5 WHERE group_id = 1');
    open(tmp.file()).close();

    sql("UPDATE snapshot SET config = '{\"voters\":[\"b\"],\"learners\":[]}' WHERE group_id = 2");
    e = openError();
    expect(e.groupId).toBe(2);
    expect(e.message).toMatch(/snapshot fails its checksum/);
  });

  it('notices damage after open when reading from SQLite', () => {
    setup();
    const store = open(tmp.file(), { cacheBytesPerGroup: 0 });
    flipPayload(1, 2);
    expect(() => store.group(1).entries(1, 5, Infinity)).toThrow(CorruptStorageError);
    store.close();
  });
});
