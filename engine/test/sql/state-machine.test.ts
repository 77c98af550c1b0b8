/** The SQL state machine on real SQLite files: semantics, errors, determinism, snapshots. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogCommand } from '../../src/gen/leviathan/sql/v1/log.js';
import type { StatementResult, Statement } from '../../src/gen/leviathan/sql/v1/sql.js';
import type { AppliedCommand } from '../../src/node/state-machine.js';
import { SqlStateMachine, toValue } from '../../src/sql/sql-state-machine.js';

const logger = pino({ level: 'silent' });
let dir: string;
const machines: SqlStateMachine[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'leviathan-sql-'));
});
afterEach(() => {
  for (const m of machines.splice(0)) m.close();
  rmSync(dir, { recursive: true, force: true });
});

function machine(name = 'db.sqlite'): SqlStateMachine {
  const m = new SqlStateMachine({ file: join(dir, name), logger });
  machines.push(m);
  return m;
}

function st(sql: string, ...params: unknown[]): Statement {
  return { sql, positional: params.map(toValue), named: [] };
}

let index = 0;
function exec(statements: Statement[], transaction = false, time = 1_700_000_000_000): AppliedCommand {
  index++;
  return { index, term: 1, time, command: LogCommand.encode({ kind: { $case: 'execute', value: { statements, transaction, queued: false } } }).finish() };
}

function applyOne(m: SqlStateMachine, c: AppliedCommand): StatementResult[] {
  return m.apply([c])[0] as StatementResult[];
}

function rows(r: StatementResult | undefined): unknown[][] {
  return (r?.rows?.rows ?? []).map((row) => row.values.map((v) => v.kind?.value ?? null));
}

describe('SQL state machine', () => {
  beforeEach(() => {
    index = 0;
  });

  it('creates, inserts with parameters, and reads back typed values', () => {
    const m = machine();
    applyOne(m, exec([st('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)')]));
    const r = applyOne(m, exec([st('INSERT INTO t (name, score, data) VALUES (?, ?, ?)', 'ada', 1.5, new Uint8Array([1, 2])), st('INSERT INTO t (name) VALUES (?)', 'bob')]));
    expect(r.map((x) => [x.error, x.rowsAffected, x.lastInsertId])).toEqual([['', 1n, 1n], ['', 1n, 2n]]);
    const q = m.query([st('SELECT id, name, score, data FROM t ORDER BY id')]);
    expect(q[0]?.rows?.columns).toEqual(['id', 'name', 'score', 'data']);
    expect(q[0]?.rows?.types).toEqual(['INTEGER', 'TEXT', 'REAL', 'BLOB']);
    expect(rows(q[0])).toEqual([[1n, 'ada', 1.5, Buffer.from([1, 2])], [2n, 'bob', true, true]]);
    // 64-bit integers stay exact.
    applyOne(m, exec([st('INSERT INTO t (id, name) VALUES (?, ?)', 9007199254740993n, 'big')]));
    expect(rows(m.query([st('SELECT id FROM t WHERE name = ?', 'big')])[0])).toEqual([[9007199254740993n]]);
    expect(m.appliedIndex()).toBe(3);
  });

  it('reports bad SQL, bad parameters and constraint violations per statement, leaving the rest applied', () => {
    const m = machine();
    applyOne(m, exec([st('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)')]));
    const r = applyOne(m, exec([st('INSERT INTO t VALUES (?, ?)', 'a', 1), st('INSERT INTO t VALUES (?, ?)', 'a', 2), st('INSERT INTO nope VALUES (1)'), st('INSERT INTO t VALUES (?, ?)', 'x'), st('INSERT INTO t VALUES (?, ?)', 'b', 2)]));
    expect(r[0]?.error).toBe('');
    expect(r[1]?.error).toMatch(/UNIQUE constraint failed/);
    expect(r[2]?.error).toMatch(/no such table: nope/);
    expect(r[3]?.error).toMatch(/parameters|bind|Too few/i);
    expect(r[4]?.error).toBe('');
    expect(rows(m.query([st('SELECT k, v FROM t ORDER BY k')])[0])).toEqual([['a', 1n], ['b', 2n]]);
  });

  it('rolls a transaction back as a whole on its first error', () => {
    const m = machine();
    applyOne(m, exec([st('CREATE TABLE t (k TEXT PRIMARY KEY)')]));
    const r = applyOne(m, exec([st("INSERT INTO t VALUES ('a')"), st("INSERT INTO t VALUES ('b')"), st("INSERT INTO t VALUES ('a')"), st("INSERT INTO t VALUES ('c')")], true));
    expect(r[0]?.error).toMatch(/rolled back: statement 3/);
    expect(r[2]?.error).toMatch(/UNIQUE/);
    expect(r[3]?.error).toMatch(/not executed/);
    expect(rows(m.query([st('SELECT count(*) FROM t')])[0])).toEqual([[0n]]);
  });

  it('refuses transaction control, ATTACH, PRAGMA writes and the reserved table', () => {
    const m = machine();
    const r = applyOne(m, exec([st('BEGIN'), st("ATTACH 'x.db' AS x"), st('PRAGMA foreign_keys = OFF'), st('DELETE FROM _leviathan_meta'), st('select 1; select 2')]));
    expect(r[0]?.error).toMatch(/transaction=true/);
    expect(r[1]?.error).toMatch(/ATTACH is not allowed/);
    expect(r[2]?.error).toMatch(/PRAGMA foreign_keys is not allowed/);
    expect(r[3]?.error).toMatch(/reserved/);
    expect(r[4]?.error).toMatch(/more than one statement/);
    expect(rows(m.query([st('PRAGMA table_list')])[0]).length).toBeGreaterThan(0);
    expect(m.query([st("INSERT INTO x VALUES (1)")])[0]?.error).toMatch(/no such table|may only read/);
  });

  it('makes random(), randomblob() and the clock the same on every replica', () => {
    const a = machine('a.sqlite');
    const b = machine('b.sqlite');
    const cmds = [
      exec([st('CREATE TABLE t (id INTEGER PRIMARY KEY, r INTEGER, b BLOB, at TEXT DEFAULT CURRENT_TIMESTAMP, d TEXT)')], false, 1_700_000_000_000),
      exec([st("INSERT INTO t (r, b, d) VALUES (random(), randomblob(16), datetime('now', '+1 day'))"), st('INSERT INTO t (r, b, d) VALUES (random(), randomblob(4), CURRENT_DATE)')], false, 1_700_000_123_456),
      exec([st("UPDATE t SET d = strftime('%s', 'now') || '-' || julianday() WHERE id = 2")], false, 1_700_000_200_000),
    ];
    // Cut into batches differently: the outcome must not depend on it.
    a.apply(cmds);
    for (const c of cmds) b.apply([c]);
    const dump = (m: SqlStateMachine) => rows(m.query([st('SELECT id, r, hex(b), at, d FROM t ORDER BY id')])[0]);
    expect(dump(a)).toEqual(dump(b));
    const [first, second] = dump(a);
    expect(first?.[1]).not.toEqual(second?.[1]);
    expect(first?.[3]).toBe('2023-11-14 22:15:23');
    expect(first?.[4]).toBe('2023-11-15 22:15:23');
    expect(second?.[4]).toBe('1700000200-2460263.4282407407');
  });

  it('refuses time-zone modifiers that replicas may not share', () => {
    const m = machine();
    const r = applyOne(m, exec([st("SELECT datetime('now', 'localtime')")]));
    expect(r[0]?.error).toMatch(/time zone/);
  });

  it('keeps its applied index across a reopen, and restores from a snapshot', () => {
    const m = machine();
    applyOne(m, exec([st('CREATE TABLE t (v)')]));
    applyOne(m, exec([st('INSERT INTO t VALUES (1)')]));
    const snap = m.snapshot();
    applyOne(m, exec([st('INSERT INTO t VALUES (2)')]));
    m.close();
    machines.splice(machines.indexOf(m), 1);
    const again = machine();
    expect(again.appliedIndex()).toBe(3);
    again.restore(snap);
    expect(again.appliedIndex()).toBe(2);
    expect(rows(again.query([st('SELECT v FROM t')])[0])).toEqual([[1n]]);
    again.restore(new Uint8Array(0));
    expect(again.appliedIndex()).toBe(0);
  });

  it('a ROLLBACK conflict clause costs only its own request, however the batch was cut', () => {
    const a = machine('a.sqlite');
    const b = machine('b.sqlite');
    const cmds = [
      exec([st('CREATE TABLE t (k TEXT PRIMARY KEY)')]),
      exec([st("INSERT INTO t VALUES ('x')")]),
      exec([st("INSERT INTO t VALUES ('y')"), st("INSERT OR ROLLBACK INTO t VALUES ('x')")]),
      exec([st("INSERT INTO t VALUES ('z')")]),
    ];
    const ra = a.apply(cmds) as StatementResult[][];
    for (const c of cmds) b.apply([c]);
    const dump = (m: SqlStateMachine) => rows(m.query([st('SELECT k FROM t ORDER BY k')])[0]);
    expect(dump(a)).toEqual([['x'], ['z']]);
    expect(dump(b)).toEqual(dump(a));
    expect(ra[2]?.[1]?.error).toMatch(/rolled back the whole request/);
    expect(a.appliedIndex()).toBe(4);
  });
});
