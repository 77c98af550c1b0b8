/**
 * The replicated SQL database on real processes (3-node clusters, DatabaseService over gRPC):
 *
 * 1. Errors through a follower (forwarded to the leader): bad SQL, bad parameters and constraint
 *    violations are reported per statement, the rest of the request applies, the cluster is
 *    unaffected (every node still running, every replica identical); a transaction rolls back whole.
 * 2. Determinism: concurrent clients run a few hundred statements using random(), randomblob(),
 *    datetime('now'), CURRENT_TIMESTAMP defaults, strftime, julianday and triggers; every
 *    replica's tables, dumped by rowid once it applied the leader's commit index, are identical.
 * 3. Consistency levels under a partition: an isolated follower serves NONE (stale), refuses
 *    LINEARIZABLE, and never returns a stale value for WEAK/STRONG; the majority serves the new
 *    value at every level; after healing, the follower catches up.
 * 4. kill -9 of the leader under a write load loses no acknowledged row on any replica.
 * 5. Registers over SQL (read / INSERT OR REPLACE / conditional UPDATE) from 5 clients while a
 *    nemesis kill -9s nodes: the history is linearizable (engine/test/linearizability).
 */
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { Random } from '../../src/raft/random.js';
import { checkLinearizable, kvModel } from '../linearizability/index.js';
import type { CheckResult, KvInput, KvOperation, KvOutput } from '../linearizability/index.js';
import { sleep, waitFor } from './engine-cluster.js';
import { useCluster } from './helpers.js';
import { now } from './kv-workload.js';
import {
  ReadConsistency,
  SqlCallError,
  SqlNode,
  dumpAll,
  executeRetrying,
  executeSurely,
  expectOk,
  named,
  queryRetrying,
  rowsOf,
  sqlNodes,
  st,
  toValue,
} from './sql-helpers.js';
import type { Dump, SqlValue } from './sql-helpers.js';

const startCluster = useCluster();
const SQL = { size: 3, stateMachine: 'sql' } as const;
const { READ_CONSISTENCY_NONE: NONE, READ_CONSISTENCY_WEAK: WEAK, READ_CONSISTENCY_LINEARIZABLE: LINEARIZABLE, READ_CONSISTENCY_STRONG: STRONG } = ReadConsistency;

/** Every dump equals the first one (schema and every table). */
function expectIdentical(dumps: readonly Dump[], expectedCount = 3): void {
  expect(dumps.length).toBe(expectedCount);
  const [first, ...rest] = dumps;
  for (const d of rest) {
    expect(d.schema).toEqual(first!.schema);
    expect(d.tables).toEqual(first!.tables);
  }
}

describe('replicated SQL on real processes', () => {
  it('errors through a follower are per statement, leave the cluster unaffected, and a transaction rolls back whole', async () => {
    const c = await startCluster(SQL);
    const nodes = sqlNodes(c);
    const leader = await c.waitLeader();
    const follower = nodes[(leader + 1) % 3]!;

    const setup = expectOk(
      await follower.execute([
        st('CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)'),
        st('CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES parent (id), qty INTEGER CHECK (qty > 0))'),
        st("INSERT INTO parent (id, name) VALUES (1, 'one')"),
      ]),
    );
    expect(setup.index).toBeGreaterThan(0n);

    const bad = [
      st('INSERT INTO parent (name) VALUES ('),
      st('INSERT INTO nowhere VALUES (1)'),
      st('INSERT INTO parent (id, name) VALUES (?, ?)', 2),
      st('INSERT INTO parent (id, name) VALUES (?, ?)', 2, 'two', 3),
      named('INSERT INTO parent (id, name) VALUES (:id, :name)', { id: 2 }),
      { sql: 'INSERT INTO parent (id, name) VALUES (?, ?)', positional: [toValue(2), toValue('two')], named: [{ name: 'id', value: toValue(2) }] },
      st("INSERT INTO parent (id, name) VALUES (5, 'one')"),
      st('INSERT INTO parent (id, name) VALUES (6, NULL)'),
      st('INSERT INTO child (parent, qty) VALUES (1, 0)'),
      st('INSERT INTO child (parent, qty) VALUES (99, 1)'),
      st('BEGIN'),
      st("PRAGMA foreign_keys = OFF"),
    ];
    const expected = [
      /incomplete input|syntax error/,
      /no such table: nowhere/,
      /Too few parameter/i,
      /Too many parameter/i,
      /Missing named parameter "name"/,
      /positional or named parameters, not both/,
      /UNIQUE constraint failed: parent\.name/,
      /NOT NULL constraint failed: parent\.name/,
      /CHECK constraint failed/,
      /FOREIGN KEY constraint failed/,
      /BEGIN is not allowed/,
      /PRAGMA foreign_keys is not allowed/,
    ];
    const mixed = await follower.execute([
      ...bad,
      named("INSERT INTO parent (id, name) VALUES (:id, :name)", { id: 2, name: 'two' }),
      st('INSERT INTO child (parent, qty) VALUES (?, ?)', 2, 5),
      st('UPDATE parent SET name = upper(name) WHERE id = ?', 1),
    ]);
    expect(mixed.results).toHaveLength(bad.length + 3);
    for (const [i, re] of expected.entries()) {
      const r = mixed.results[i]!;
      expect(r.error, `statement ${i + 1}: ${bad[i]!.sql}`).toMatch(re);
      expect(r.rowsAffected).toBe(0n);
    }
    const [ins, child, upd] = mixed.results.slice(bad.length);
    expect([ins?.error, ins?.rowsAffected, ins?.lastInsertId]).toEqual(['', 1n, 2n]);
    expect([child?.error, child?.rowsAffected, child?.lastInsertId]).toEqual(['', 1n, 1n]);
    expect([upd?.error, upd?.rowsAffected]).toEqual(['', 1n]);

    // A write sent as a query, a statement on a missing table, and an empty request.
    const q = await follower.query([st('DELETE FROM parent'), st('SELECT * FROM nowhere'), st('SELECT count(*) FROM parent')], LINEARIZABLE);
    expect(q.results[0]?.error).toMatch(/a query may only read/);
    expect(q.results[1]?.error).toMatch(/no such table: nowhere/);
    expect(rowsOf(q.results[2])).toEqual([[2n]]);
    const empty = await follower.execute([]).catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(SqlCallError);
    expect((empty as SqlCallError).code).toBe(grpc.status.INVALID_ARGUMENT);

    // A transaction whose 4th statement fails: nothing of it remains, on any replica.
    const tx = await follower.execute(
      [
        st("INSERT INTO parent (id, name) VALUES (10, 'ten')"),
        st('INSERT INTO child (parent, qty) VALUES (10, 1)'),
        st("UPDATE parent SET name = 'changed' WHERE id = 2"),
        st("INSERT INTO parent (id, name) VALUES (11, 'ONE')"),
        st("INSERT INTO parent (id, name) VALUES (12, 'twelve')"),
      ],
      { transaction: true },
    );
    expect(tx.results.map((r) => r.error)).toEqual([
      expect.stringMatching(/rolled back: statement 4/),
      expect.stringMatching(/rolled back: statement 4/),
      expect.stringMatching(/rolled back: statement 4/),
      expect.stringMatching(/UNIQUE constraint failed: parent\.name/),
      expect.stringMatching(/not executed/),
    ]);
    // The same kind of request without the failure commits as a whole.
    const ok = expectOk(await follower.execute([st("INSERT INTO parent (id, name) VALUES (20, 'twenty')"), st('INSERT INTO child (parent, qty) VALUES (20, 7)')], { transaction: true }));
    expect(ok.index).toBeGreaterThan(tx.index);

    // The cluster is unaffected: a following write and read work through the follower...
    expectOk(await follower.execute([st("INSERT INTO parent (id, name) VALUES (30, 'thirty')")]));
    const read = expectOk(await follower.query([st('SELECT id, name FROM parent ORDER BY id'), st('SELECT parent, qty FROM child ORDER BY id')], LINEARIZABLE));
    const parents = [[1n, 'ONE'], [2n, 'two'], [20n, 'twenty'], [30n, 'thirty']];
    const children = [[2n, 5n], [20n, 7n]];
    expect(rowsOf(read.results[0])).toEqual(parents);
    expect(rowsOf(read.results[1])).toEqual(children);
    // ...every node still runs (no bad statement crashed a replica: a crash would exit the
    // process), and every replica has the same content. Leadership is not asserted: a busy CI
    // machine may hold an election for its own reasons.
    expect(c.nodes.every((n) => n.running)).toBe(true);
    const dumps = await dumpAll(c, nodes, ['parent', 'child']);
    expectIdentical(dumps);
    expect(dumps[0]!.tables.parent!.map((r) => r.slice(1))).toEqual(parents);
    expect(dumps[0]!.tables.child!.map((r) => [r[2], r[3]])).toEqual(children);
  }, 60_000);

  it('random(), randomblob(), the clock, defaults and triggers give identical replicas', async () => {
    const c = await startCluster(SQL);
    const nodes = sqlNodes(c);
    const t0 = Date.now();
    expectOk(
      await nodes[0]!.execute([
        st(`CREATE TABLE events (
              id INTEGER PRIMARY KEY, client INTEGER NOT NULL, seq INTEGER NOT NULL,
              r INTEGER, b BLOB,
              created TEXT DEFAULT CURRENT_TIMESTAMP,
              token BLOB DEFAULT (randomblob(8)),
              rnd INTEGER DEFAULT (random()),
              epoch TEXT, jd REAL, touched TEXT)`),
        st(`CREATE TABLE audit (
              id INTEGER PRIMARY KEY, event INTEGER, kind TEXT,
              at TEXT DEFAULT CURRENT_TIMESTAMP, r INTEGER, ms TEXT)`),
        st(`CREATE TRIGGER events_ins AFTER INSERT ON events BEGIN
              INSERT INTO audit (event, kind, r, ms) VALUES (new.id, 'insert', random(), strftime('%Y-%m-%d %H:%M:%f', 'now'));
            END`),
        st(`CREATE TRIGGER events_upd AFTER UPDATE OF epoch ON events BEGIN
              INSERT INTO audit (event, kind, r, at) VALUES (new.id, 'update', abs(random()) % 1000000, CURRENT_TIMESTAMP);
            END`),
        st(`CREATE TRIGGER events_del BEFORE DELETE ON events BEGIN
              INSERT INTO audit (event, kind, r, ms) VALUES (old.id, 'delete', random(), julianday('now'));
            END`),
      ]),
    );

    // 4 clients, 20 requests each, 4-6 statements per request, to every node in turn.
    let statements = 0;
    await Promise.all(
      Array.from({ length: 4 }, async (_, client) => {
        const mine = nodes.map((n) => c.adopt(new SqlNode(n.address)));
        const rng = new Random(client + 1);
        for (let req = 0; req < 20; req++) {
          const batch = [];
          const count = rng.int(4, 6);
          for (let k = 0; k < count; k++) {
            const seq = req * 10 + k;
            switch (rng.int(0, 6)) {
              case 0:
                batch.push(st('INSERT INTO events (client, seq, r, b) VALUES (?, ?, random(), randomblob(16))', client, seq));
                break;
              case 1:
                batch.push(st("INSERT INTO events (client, seq, r, b, epoch, jd) VALUES (?, ?, random() % 1000, randomblob(?), strftime('%s', 'now'), julianday('now'))", client, seq, rng.int(1, 40)));
                break;
              case 2:
                batch.push(st("UPDATE events SET epoch = strftime('%s', 'now'), jd = julianday(), touched = datetime('now', '+' || (abs(random()) % 100) || ' seconds') WHERE client = ? AND seq % 3 = ?", client, rng.int(0, 2)));
                break;
              case 3:
                batch.push(st('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE client = ? ORDER BY random() LIMIT 1)', client));
                break;
              case 4:
                batch.push(st('INSERT INTO events (client, seq) VALUES (?, ?)', client, seq));
                break;
              case 5:
                batch.push(st('INSERT INTO events (client, seq, r, touched) SELECT ?, ?, random(), CURRENT_TIMESTAMP FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)', client, seq));
                break;
              default:
                batch.push(st("INSERT INTO events (client, seq, b, touched) VALUES (?, ?, randomblob(8), date('now', '+' || (abs(random()) % 30) || ' days'))", client, seq));
                break;
            }
          }
          statements += batch.length;
          expectOk(await mine[(client + req) % 3]!.execute(batch, { transaction: req % 4 === 0 }));
        }
      }),
    );
    const t1 = Date.now();
    expect(statements).toBeGreaterThanOrEqual(300);

    const dumps = await dumpAll(c, nodes, ['events', 'audit']);
    expectIdentical(dumps);
    const events = dumps[0]!.tables.events!;
    const audit = dumps[0]!.tables.audit!;
    expect(events.length).toBeGreaterThan(150);
    expect(audit.length).toBeGreaterThan(events.length);
    // Columns: 0 rowid, 1 id, 2 client, 3 seq, 4 r, 5 b, 6 created, 7 token, 8 rnd, 9 epoch, 10 jd, 11 touched.
    // The comparison could fail: random values differ from row to row (and from entry to entry).
    const distinct = (col: number, rows: SqlValue[][]): number => new Set(rows.map((r) => (Buffer.isBuffer(r[col]) ? r[col].toString('hex') : String(r[col])))).size;
    expect(distinct(8, events)).toBe(events.length);
    expect(distinct(7, events)).toBe(events.length);
    const inserted = audit.filter((r) => r[3] === 'insert');
    expect(distinct(5, inserted)).toBe(inserted.length);
    // "now" is the leader's clock at the time of the write, not a constant.
    for (const r of events) {
      const created = Date.parse(`${String(r[6]).replace(' ', 'T')}Z`);
      expect(created).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000 - 2_000);
      expect(created).toBeLessThanOrEqual(t1 + 2_000);
      // strftime('%s') and julianday() in one statement read the same "now".
      if (r[9] !== null && r[10] !== null) expect(Math.abs((r[10] as number) - (Number(r[9]) / 86_400 + 2_440_587.5))).toBeLessThan(1 / 86_400 + 1e-9);
    }
    // The clock keyword was rewritten into the (deterministic) date function in the schema.
    expect(String(dumps[0]!.schema.find((s) => s[1] === 'events')?.[3])).toMatch(/DEFAULT \(datetime\('now'\)\)/);
    console.log(`determinism: ${statements} statements, ${events.length} events and ${audit.length} audit rows identical on 3 replicas`);
  }, 60_000);

  it('each consistency level keeps its promise on an isolated follower and on the majority', async () => {
    const c = await startCluster(SQL);
    const nodes = sqlNodes(c);
    const leader = await c.waitLeader();
    const f = (leader + 1) % 3;
    const other = (leader + 2) % 3;
    expectOk(await nodes[leader]!.execute([st('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)'), st("INSERT INTO kv VALUES ('x', 'old')")]));
    const value = async (n: SqlNode, level: ReadConsistency, timeoutMs = 3_000): Promise<{ value: SqlValue; index: bigint } | SqlCallError> => {
      try {
        const r = expectOk(await n.query([st("SELECT v FROM kv WHERE k = 'x'")], level, timeoutMs));
        return { value: rowsOf(r.results[0])[0]?.[0] ?? null, index: r.index };
      } catch (err) {
        if (err instanceof SqlCallError) return err;
        throw err;
      }
    };
    for (const n of nodes) await waitFor('old value everywhere', async () => ((await value(n, NONE)) as { value?: SqlValue }).value === 'old', 5_000, 20);

    c.isolate(f);
    const write = expectOk(await nodes[leader]!.execute([st("UPDATE kv SET v = 'new' WHERE k = 'x'")]));
    const isolated = nodes[f]!;

    // NONE: this replica as it is: stale.
    const none = await value(isolated, NONE);
    expect(none).not.toBeInstanceOf(SqlCallError);
    expect(none).toMatchObject({ value: 'old' });
    expect((none as { index: bigint }).index).toBeLessThan(write.index);
    // WEAK and STRONG go to the leader: forwarded (the follower still knows its address) and
    // fresh, or refused. Never stale.
    const outcomes: string[] = [];
    for (const [name, level] of [['WEAK', WEAK], ['STRONG', STRONG]] as const) {
      const r = await value(isolated, level);
      outcomes.push(`${name}: ${r instanceof SqlCallError ? r.message : `forwarded, ${String(r.value)}`}`);
      if (!(r instanceof SqlCallError)) expect(r.value, name).toBe('new');
    }
    // LINEARIZABLE: the read index cannot be confirmed without hearing from the leader.
    const t = now();
    const lin = await value(isolated, LINEARIZABLE, 3_000);
    outcomes.push(`LINEARIZABLE: ${lin instanceof SqlCallError ? lin.message : String(lin.value)} after ${(now() - t).toFixed(0)} ms`);
    expect(lin, 'a linearizable read on the isolated follower must fail').toBeInstanceOf(SqlCallError);
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain((lin as SqlCallError).code);
    // Later, once the follower gave up on the old leader, WEAK/STRONG may fail, but never stale.
    await sleep(1_500);
    for (const [name, level] of [['WEAK', WEAK], ['STRONG', STRONG]] as const) {
      const r = await value(isolated, level);
      outcomes.push(`${name} 1.5 s later: ${r instanceof SqlCallError ? r.message : `forwarded, ${String(r.value)}`}`);
      if (!(r instanceof SqlCallError)) expect(r.value, name).toBe('new');
    }
    expect(await value(isolated, NONE)).toMatchObject({ value: 'old' });
    console.log(`isolated follower: ${outcomes.join('; ')}`);

    // The majority: every level returns the new value (the other follower once it applied it).
    await waitFor('the write applied on the other follower', async () => ((await c.node(other).group())?.applied ?? 0) >= Number(write.index), 5_000, 20);
    for (const i of [leader, other]) {
      for (const level of [NONE, WEAK, LINEARIZABLE, STRONG]) {
        const r = await value(nodes[i]!, level);
        expect(r, `node ${i} ${ReadConsistency[level]}`).toMatchObject({ value: 'new' });
      }
    }

    c.heal(f);
    await waitFor('the healed follower catches up', async () => ((await value(isolated, NONE)) as { value?: SqlValue }).value === 'new', 15_000, 50);
    expect(await value(isolated, LINEARIZABLE, 5_000)).toMatchObject({ value: 'new' });
    expectIdentical(await dumpAll(c, nodes, ['kv']));
  }, 60_000);

  it('kill -9 of the leader during a write load loses no acknowledged row on any replica', async () => {
    const c = await startCluster({ ...SQL, electionTimeoutMs: 300 });
    const nodes = sqlNodes(c);
    const down = new Set<number>();
    const up = (rng: Random) => (): SqlNode => rng.pick(nodes.filter((_, i) => !down.has(i)));
    await executeSurely(up(new Random(1)), [st('CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, writer INTEGER NOT NULL, seq INTEGER NOT NULL, at TEXT DEFAULT CURRENT_TIMESTAMP)')]);

    const attempted = new Set<string>();
    const acked = new Set<string>();
    const acks: Array<{ call: number; ret: number }> = [];
    const lies: string[] = [];
    let unknown = 0;
    let stop = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      const pick = up(new Random(100 + w));
      for (let seq = 0; !stop; seq++) {
        const id = `w${w}-${seq}`;
        attempted.add(id);
        const call = Date.now();
        try {
          const res = await executeRetrying(pick, [st('INSERT INTO items (id, writer, seq) VALUES (?, ?, ?)', id, w, seq)], { timeoutMs: 8_000 });
          // Retried only after "did not take effect": a duplicate would mean that was not true.
          if (res.results[0]?.error !== '') lies.push(`${id}: ${res.results[0]?.error}`);
          else {
            acked.add(id);
            acks.push({ call, ret: Date.now() });
          }
        } catch (err) {
          if (!(err instanceof SqlCallError)) throw err;
          unknown++;
          await sleep(20);
        }
      }
    });

    try {
      await waitFor('some writes', async () => acked.size >= 50, 15_000);
      const leader = await c.waitLeader();
      down.add(leader);
      const killedAt = Date.now();
      await c.node(leader).kill();
      await waitFor('a write sent after the kill acknowledged', async () => acks.some((a) => a.call > killedAt), 10_000, 10);
      const recovery = Math.min(...acks.filter((a) => a.call > killedAt).map((a) => a.ret)) - killedAt;
      const ackedAtKill = acked.size;
      await sleep(500);
      c.startNode(leader);
      await waitFor('the killed node ready again', () => c.node(leader).ready(), 15_000);
      down.delete(leader);
      await c.waitVoters(3);
      await waitFor('writes after the restart', async () => acked.size >= ackedAtKill + 50, 10_000);
      console.log(`leader kill: first write sent after the kill acknowledged ${recovery} ms after it`);
    } finally {
      stop = true;
      await Promise.all(writers);
    }

    expect(lies).toEqual([]);
    expect(acked.size).toBeGreaterThan(100);
    const dumps = await dumpAll(c, nodes, ['items']);
    expectIdentical(dumps);
    for (const d of dumps) {
      const ids = d.tables.items!.map((r) => r[1] as string);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...acked].filter((id) => !ids.includes(id)), 'acknowledged rows missing').toEqual([]);
      expect(ids.filter((id) => !attempted.has(id)), 'rows nobody wrote').toEqual([]);
      expect(ids.length).toBeGreaterThanOrEqual(acked.size);
      expect(ids.length).toBeLessThanOrEqual(acked.size + unknown);
    }
    console.log(`leader kill: ${acked.size} acknowledged rows, ${unknown} unknown outcomes, ${dumps[0]!.tables.items!.length} rows on each replica`);
  }, 90_000);

  it('registers over SQL stay linearizable while nodes are killed -9 and restarted', async () => {
    const seed = Number(process.env.LEVIATHAN_LIN_SEED ?? Date.now() % 0x1_0000_0000);
    console.log(`sql linearizability: seed ${seed} (rerun with LEVIATHAN_LIN_SEED=${seed})`);
    const rng = new Random(seed);
    const c = await startCluster(SQL);
    const nodes = sqlNodes(c);
    const down = new Set<number>();
    const upPicker = (r: Random) => (): SqlNode => r.pick(nodes.filter((_, i) => !down.has(i)));
    await executeSurely(upPicker(rng.fork()), [st('CREATE TABLE IF NOT EXISTS reg (k TEXT PRIMARY KEY, v TEXT)')]);

    const history: KvOperation[] = [];
    const ackedWrites: Array<{ call: number; return: number }> = [];
    const stats = { unknown: 0, failedWrites: 0, failedReads: 0 };
    const record = (clientId: number, input: KvInput, call: number, ret: number, output: KvOutput | undefined): void => {
      history.push({ clientId, input, call, return: ret, output });
    };
    /** A write: recorded when acknowledged, as unknown (+Infinity) when the outcome is unknown. */
    const write = async (clientId: number, pick: () => SqlNode, input: KvInput, statement: ReturnType<typeof st>): Promise<bigint | null> => {
      const call = now();
      try {
        const res = expectOk(await executeRetrying(pick, [statement], { timeoutMs: 4_000 }));
        const ret = now();
        const changed = res.results[0]!.rowsAffected;
        record(clientId, input, call, ret, input.op === 'cas' ? { ok: changed === 1n } : {});
        ackedWrites.push({ call, return: ret });
        return changed;
      } catch (err) {
        if (!(err instanceof SqlCallError)) throw err;
        if (err.definite) stats.failedWrites++;
        else {
          stats.unknown++;
          record(clientId, input, call, Number.POSITIVE_INFINITY, undefined);
        }
        return null;
      }
    };

    let stopped = false;
    const keys = ['a', 'b', 'c', 'd'];
    const workers = Array.from({ length: 5 }, async (_, clientId) => {
      const r = rng.fork();
      const pick = upPicker(r.fork());
      const seen = new Map<string, string | null>();
      for (let n = 0; !stopped; n++) {
        const key = r.pick(keys);
        const roll = r.float();
        if (roll < 0.4) {
          const call = now();
          try {
            const res = expectOk(await queryRetrying(pick, [st('SELECT v FROM reg WHERE k = ?', key)], LINEARIZABLE, 3_000));
            const v = (rowsOf(res.results[0])[0]?.[0] ?? null) as string | null;
            record(clientId, { op: 'get', key }, call, now(), { value: v });
            seen.set(key, v);
          } catch (err) {
            if (!(err instanceof SqlCallError)) throw err;
            stats.failedReads++;
          }
        } else if (roll < 0.75) {
          const value = `c${clientId}-${n}`;
          if ((await write(clientId, pick, { op: 'put', key, value }, st('INSERT OR REPLACE INTO reg (k, v) VALUES (?, ?)', key, value))) !== null) seen.set(key, value);
        } else {
          const value = `c${clientId}-${n}`;
          const expected = seen.get(key) ?? null;
          const statement =
            expected === null
              ? st('INSERT INTO reg (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING', key, value)
              : st('UPDATE reg SET v = ? WHERE k = ? AND v = ?', value, key, expected);
          if ((await write(clientId, pick, { op: 'cas', key, expected, value }, statement)) === 1n) seen.set(key, value);
        }
        await sleep(r.int(0, 15));
      }
    });

    // Nemesis: every 2-4 s kill -9 a node (every other time the leader), restart it 0.5-1.5 s
    // later, wait until it is ready: one node down at most.
    const kills: Array<{ node: number; wasLeader: boolean; at: number }> = [];
    const nr = rng.fork();
    const start = now();
    try {
      let nextAt = start + nr.int(2_000, 4_000);
      // 20 s, longer (up to 30 s) if slow restarts left fewer than 4 kills.
      while (nextAt < start + 20_000 || (kills.length < 4 && nextAt < start + 30_000)) {
        await sleep(Math.max(0, nextAt - now()));
        const leader = await c.leaderIndex();
        const victim = kills.length % 2 === 0 && leader !== null ? leader : nr.int(0, 2);
        down.add(victim);
        await c.node(victim).kill();
        const at = now();
        kills.push({ node: victim, wasLeader: victim === leader, at });
        nextAt = at + nr.int(2_000, 4_000);
        await sleep(nr.int(500, 1_500));
        c.startNode(victim);
        await waitFor(`node-${victim} ready after restart`, () => c.node(victim).ready(), 15_000, 50);
        down.delete(victim);
      }
      const last = kills[kills.length - 1]?.at ?? start;
      await waitFor('a write acknowledged after the last kill', async () => ackedWrites.some((w) => w.call > last), 10_000, 20);
    } finally {
      stopped = true;
      await Promise.all(workers);
    }
    const workloadMs = now() - start;

    const report = (r: CheckResult<KvInput, KvOutput>): string => r.failure?.explanation ?? `${r.result} (${r.partitions} partitions, ${r.steps} steps)`;
    const t = now();
    const result = checkLinearizable(kvModel, history);
    const checkMs = now() - t;
    console.log(
      `sql linearizability: seed ${seed}: ${history.length} ops (${ackedWrites.length} acked writes, ${stats.unknown} unknown, ` +
        `${stats.failedWrites} failed writes, ${stats.failedReads} failed reads), ${kills.length} kills ` +
        `(${kills.filter((k) => k.wasLeader).length} of the leader; nodes ${kills.map((k) => k.node).join(',')}), ` +
        `workload ${(workloadMs / 1000).toFixed(1)} s, check ${checkMs.toFixed(0)} ms: ${result.result}`,
    );
    expect(result.result, `seed ${seed}: ${report(result)}`).toBe('ok');
    expect(history.length).toBeGreaterThanOrEqual(300);
    expect(kills.length).toBeGreaterThanOrEqual(4);
    expect(kills.filter((k) => k.wasLeader).length).toBeGreaterThanOrEqual(1);

    // The check is not vacuous: a read, after everything, of a value that an acknowledged write
    // replaced (values are unique, so it can never come back) makes the history illegal.
    const puts = history.filter((op): op is KvOperation & { input: { op: 'put'; value: string } } => op.input.op === 'put' && op.output !== undefined);
    const overwritten = puts.find((p) => puts.some((q) => q.input.key === p.input.key && q.call > p.return));
    expect(overwritten).toBeDefined();
    const end = Math.max(...history.filter((op) => Number.isFinite(op.return)).map((op) => op.return)) + 1;
    const stale: KvOperation = { clientId: 99, input: { op: 'get', key: overwritten!.input.key }, call: end, return: end + 1, output: { value: overwritten!.input.value } };
    expect(checkLinearizable(kvModel, [...history, stale]).result).toBe('illegal');
  }, 90_000);
});
