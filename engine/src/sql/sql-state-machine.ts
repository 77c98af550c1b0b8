/**
 * The Leviathan state machine: a SQLite database file of its own, changed only by applying
 * committed log entries.
 *
 * - A batch of entries is applied in ONE SQLite transaction that also records the applied
 *   index, so the database and its applied index never disagree, whatever the crash. The file
 *   is not fsynced itself (the Raft log is the durable record): after a crash it may be a few
 *   entries behind, and the host replays them from the log.
 * - Each statement runs inside a savepoint: a statement that fails leaves no partial effect;
 *   a request with `transaction` runs inside one more, so its first failure undoes all of it.
 * - A statement whose ON CONFLICT ROLLBACK (or a trigger's RAISE(ROLLBACK)) ends the outer
 *   transaction makes the batch start over one entry per transaction: the same outcome on every
 *   replica, however their batches were cut.
 * - Non-deterministic functions read the entry's leader time and a seed from its position
 *   (determinism.ts), so every replica computes the same values.
 * - Snapshots are the whole database file, copied with sqlite3_serialize: synchronous, so the
 *   copy is exactly the state at the applied index (SQLite's incremental backup API would let
 *   applies interleave with the copy). Restoring one replaces the file by rename.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { LogCommand } from '../gen/leviathan/sql/v1/log.js';
import type { Rows, Statement, StatementResult, Value } from '../gen/leviathan/sql/v1/sql.js';
import type { AppliedCommand, StateMachine } from '../node/state-machine.js';
import { DeterministicFunctions, seedFor } from './determinism.js';
import type { ApplyContext } from './determinism.js';
import { RESERVED_PREFIX, refusal, rewriteClockKeywords } from './sql-text.js';

const META_TABLE = `${RESERVED_PREFIX}_meta`;

/** The batch's transaction was ended by a statement (ON CONFLICT ROLLBACK): start over. */
class TransactionEnded extends Error {}

type BindValue = null | bigint | number | string | Buffer;

function toBind(v: Value | undefined): BindValue {
  const k = v?.kind;
  if (k === undefined) return null;
  switch (k.$case) {
    case 'null':
      return null;
    case 'integer':
      return k.value;
    case 'real':
      return k.value;
    case 'text':
      return k.value;
    case 'blob':
      return Buffer.from(k.value.buffer, k.value.byteOffset, k.value.byteLength);
    default: {
      const never: never = k;
      return never;
    }
  }
}

export function toValue(v: unknown): Value {
  if (v === null || v === undefined) return { kind: { $case: 'null', value: true } };
  if (typeof v === 'bigint') return { kind: { $case: 'integer', value: v } };
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: { $case: 'integer', value: BigInt(v) } } : { kind: { $case: 'real', value: v } };
  if (typeof v === 'string') return { kind: { $case: 'text', value: v } };
  if (v instanceof Uint8Array) return { kind: { $case: 'blob', value: Buffer.from(v) } };
  return { kind: { $case: 'text', value: String(v) } };
}

function errorResult(message: string): StatementResult {
  return { error: message, rowsAffected: 0n, lastInsertId: 0n, time: 0 };
}

export interface SqlStateMachineOptions {
  /** The database file (created if missing). */
  readonly file: string;
  readonly logger: Logger;
  /** Prepared statements kept per connection (default 256). */
  readonly statementCache?: number;
}

export class SqlStateMachine implements StateMachine {
  private db!: Database.Database;
  private readonly ctx: ApplyContext = { time: 0, seed: 0n };
  private readonly functions = new DeterministicFunctions(this.ctx);
  private readonly cache = new Map<string, Database.Statement>();
  private applied = 0;

  constructor(private readonly options: SqlStateMachineOptions) {
    this.open();
  }

  private open(): void {
    const db = new Database(this.options.file);
    db.pragma('journal_mode = WAL');
    // The Raft log is the durable record; this file may lag after a crash and is caught up by
    // replaying the log (see the header).
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = ON');
    db.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`);
    this.functions.install(db);
    this.db = db;
    this.cache.clear();
    const row = db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'applied_index'`).get() as { value: number } | undefined;
    this.applied = row?.value ?? 0;
  }

  /** The index of the last entry whose effects are in the database file. */
  appliedIndex(): number {
    return this.applied;
  }

  close(): void {
    this.db.close();
    this.functions.close();
  }

  // ---- applying the log ----------------------------------------------------------------------

  apply(commands: readonly AppliedCommand[]): unknown[] {
    const results: unknown[] = [];
    let batch: AppliedCommand[] = [];
    const flush = (): void => {
      if (batch.length > 0) results.push(...this.applyBatch(batch));
      batch = [];
    };
    for (const c of commands) {
      let cmd: LogCommand;
      try {
        cmd = LogCommand.decode(c.command);
      } catch (err) {
        // Every replica fails the same way on the same bytes: an error result, not a crash.
        flush();
        results.push(new Error(`undecodable SQL command at ${c.index}: ${(err as Error).message}`));
        this.recordApplied(c.index);
        continue;
      }
      if (cmd.kind?.$case === 'restore') {
        flush();
        this.replaceWith(cmd.kind.value, c.index);
        results.push({ restored: true, index: c.index });
        continue;
      }
      batch.push(c);
    }
    flush();
    return results;
  }

  private recordApplied(index: number): void {
    this.db.prepare(`INSERT OR REPLACE INTO ${META_TABLE} (key, value) VALUES ('applied_index', ?)`).run(index);
    this.applied = index;
  }

  /** One transaction for the whole batch; on TransactionEnded, one per entry. */
  private applyBatch(batch: readonly AppliedCommand[]): StatementResult[][] {
    try {
      return this.inTransaction(batch);
    } catch (err) {
      if (!(err instanceof TransactionEnded)) throw err;
      return batch.flatMap((c) => this.inTransaction([c]));
    }
  }

  private inTransaction(batch: readonly AppliedCommand[]): StatementResult[][] {
    const db = this.db;
    db.exec('BEGIN');
    try {
      const out: StatementResult[][] = [];
      for (const c of batch) {
        const cmd = LogCommand.decode(c.command);
        this.ctx.time = c.time;
        this.ctx.seed = seedFor(c.index, c.term);
        if (cmd.kind?.$case === 'execute') {
          out.push(this.runStatements(cmd.kind.value.statements, { transaction: cmd.kind.value.transaction, readOnly: false, single: batch.length === 1 }));
        } else if (cmd.kind?.$case === 'query') {
          out.push(this.runStatements(cmd.kind.value.statements, { transaction: false, readOnly: true, single: batch.length === 1 }));
        } else {
          out.push([errorResult('empty SQL command')]);
        }
      }
      const last = batch[batch.length - 1];
      if (last !== undefined) this.recordApplied(last.index);
      db.exec('COMMIT');
      return out;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      this.applied = (db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'applied_index'`).get() as { value: number } | undefined)?.value ?? 0;
      throw err;
    }
  }

  /**
   * Runs a request's statements. `single`: the request has the transaction to itself, so a
   * statement that ends it costs only this request (it is reported, and a new one begun).
   */
  private runStatements(statements: readonly Statement[], o: { transaction: boolean; readOnly: boolean; single: boolean }): StatementResult[] {
    const db = this.db;
    if (o.transaction) db.exec('SAVEPOINT request');
    const results: StatementResult[] = [];
    let failedAt = -1;
    for (let i = 0; i < statements.length; i++) {
      const st = statements[i] as Statement;
      if (failedAt >= 0) {
        results.push(errorResult(`not executed: statement ${failedAt + 1} of the transaction failed`));
        continue;
      }
      db.exec('SAVEPOINT statement');
      const r = this.runOne(st, o.readOnly);
      if (!db.inTransaction) {
        // ON CONFLICT ROLLBACK / RAISE(ROLLBACK) ended every transaction, ours included.
        if (!o.single) throw new TransactionEnded();
        db.exec('BEGIN');
        results.push(errorResult(`${r.error || 'the statement'} (its ROLLBACK conflict resolution rolled back the whole request)`));
        for (let j = i + 1; j < statements.length; j++) results.push(errorResult('not executed: the request was rolled back'));
        return results.map((x, k) => (k < i ? { ...errorResult(`rolled back by statement ${i + 1}`), rows: x.rows } : x));
      }
      if (r.error !== '') db.exec('ROLLBACK TO statement');
      db.exec('RELEASE statement');
      results.push(r);
      if (r.error !== '' && o.transaction) failedAt = i;
    }
    if (o.transaction) {
      if (failedAt >= 0) {
        db.exec('ROLLBACK TO request');
        for (let k = 0; k < failedAt; k++) results[k] = { ...errorResult(`rolled back: statement ${failedAt + 1} of the transaction failed`), time: (results[k] as StatementResult).time };
      }
      db.exec('RELEASE request');
    }
    return results;
  }

  private prepare(sql: string): Database.Statement {
    let stmt = this.cache.get(sql);
    if (stmt !== undefined) {
      // Most recently used goes last.
      this.cache.delete(sql);
      this.cache.set(sql, stmt);
      return stmt;
    }
    stmt = this.db.prepare(sql);
    stmt.safeIntegers(true);
    this.cache.set(sql, stmt);
    if (this.cache.size > (this.options.statementCache ?? 256)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return stmt;
  }

  /** Runs one statement; every failure becomes the result's error. */
  private runOne(st: Statement, readOnly: boolean): StatementResult {
    const t0 = performance.now();
    const result = (r: Omit<StatementResult, 'time'>): StatementResult => ({ ...r, time: (performance.now() - t0) / 1000 });
    let stmt: Database.Statement;
    try {
      stmt = this.prepare(rewriteClockKeywords(st.sql));
    } catch (err) {
      return result(errorResult((err as Error).message));
    }
    const refused = refusal(st.sql, stmt.readonly);
    if (refused !== null) return result(errorResult(refused));
    if (readOnly && !stmt.readonly) return result(errorResult('a query may only read: send statements that change the database with Execute'));
    if (st.positional.length > 0 && st.named.length > 0) return result(errorResult('give positional or named parameters, not both'));
    const params: BindValue[] | Record<string, BindValue>[] =
      st.named.length > 0 ? [Object.fromEntries(st.named.map((n) => [n.name.replace(/^[:@$]/, ''), toBind(n.value)]))] : st.positional.map(toBind);
    try {
      if (stmt.reader) {
        const columns = stmt.columns();
        const raw = stmt.raw(true).all(...params) as unknown[][];
        stmt.raw(false);
        const rows: Rows = {
          columns: columns.map((c) => c.name),
          types: columns.map((c) => c.type ?? ''),
          rows: raw.map((r) => ({ values: r.map(toValue) })),
        };
        // A write with RETURNING reads and writes: each returned row is one changed row.
        return result({ error: '', rowsAffected: BigInt(stmt.readonly ? 0 : raw.length), lastInsertId: 0n, rows });
      }
      const info = stmt.run(...params);
      return result({ error: '', rowsAffected: BigInt(info.changes), lastInsertId: BigInt(info.lastInsertRowid) });
    } catch (err) {
      return result(errorResult((err as Error).message));
    }
  }

  // ---- reads -----------------------------------------------------------------------------------

  /** Whether a statement only reads; one that cannot be prepared (yet) counts as a write. */
  isReadOnly(sql: string): boolean {
    try {
      return this.prepare(rewriteClockKeywords(sql)).readonly && refusal(sql, true) === null;
    } catch {
      return false;
    }
  }

  /**
   * Runs read-only statements against the current state (between applies, so it is always a
   * whole number of entries). "Now" for the date functions is the caller's clock here: a read
   * changes nothing, so replicas cannot diverge over it.
   */
  query(statements: readonly Statement[]): StatementResult[] {
    this.ctx.time = Date.now();
    this.ctx.seed = BigInt(Date.now());
    return statements.map((st) => this.runOne(st, true));
  }

  // ---- snapshots -------------------------------------------------------------------------------

  snapshot(): Uint8Array {
    const buf = this.db.serialize();
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.replaceFile(null);
      return;
    }
    this.replaceFile(data);
  }

  /** A Restore command: the client's database file becomes everyone's database. */
  private replaceWith(data: Uint8Array, index: number): void {
    this.replaceFile(data);
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`);
    this.recordApplied(index);
  }

  /** Replaces the database file with `data` (null: an empty database), atomically by rename. */
  private replaceFile(data: Uint8Array | null): void {
    const file = this.options.file;
    this.db.close();
    const tmp = `${file}.restore`;
    if (data !== null) {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    for (const f of [`${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f);
    if (data !== null) renameSync(tmp, file);
    else rmSync(file, { force: true });
    this.open();
    this.options.logger.info({ file, bytes: data?.length ?? 0, applied: this.applied }, 'database replaced from a snapshot');
  }
}
