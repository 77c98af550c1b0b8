/**
 * The rqlite-shaped HTTP API on a 3-node SQL cluster, mostly through a follower (which forwards to
 * the leader over gRPC): execute/query/request, transactions, levels, queued writes, backup and
 * load, and the rqlite load generator (engine/bench/sql/http-load.ts) run unchanged against it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/sql/http-load.js';
import type { Workload } from '../../bench/sql/http-load.js';
import { EngineCluster, waitFor } from './engine-cluster.js';

interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

interface ResultJson {
  error?: string;
  last_insert_id?: number;
  rows_affected?: number;
  columns?: string[];
  types?: string[];
  values?: unknown[][];
  rows?: Array<Record<string, unknown>>;
  time?: number;
}

describe('the HTTP API', () => {
  let cluster: EngineCluster;
  let leader = 0;
  let follower = 1;
  let failed = false;

  const base = (i: number): string => `http://127.0.0.1:${cluster.node(i).httpPort}`;

  async function call(i: number, method: string, pathAndQuery: string, body?: string | Buffer): Promise<Reply> {
    const res = await fetch(`${base(i)}${pathAndQuery}`, { method, body, signal: AbortSignal.timeout(15_000) });
    const buf = Buffer.from(await res.arrayBuffer());
    return { status: res.status, text: buf.toString('utf8'), headers: res.headers };
  }
  const post = (i: number, pathAndQuery: string, body: unknown): Promise<Reply> => call(i, 'POST', pathAndQuery, typeof body === 'string' ? body : JSON.stringify(body));
  const results = (r: Reply): ResultJson[] => {
    expect(r.status, r.text).toBe(200);
    return (JSON.parse(r.text) as { results: ResultJson[] }).results;
  };

  beforeAll(async () => {
    cluster = await EngineCluster.start({ size: 3, stateMachine: 'sql' });
    leader = await cluster.waitLeader();
    follower = (leader + 1) % 3;
  }, 90_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });

  afterAll(async () => {
    if (failed) console.error(cluster.logs().slice(-20_000));
    await cluster?.close(failed);
  });

  it('executes and queries through a follower, with exact 64-bit integers and base64 blobs', async () => {
    const r = results(
      await post(follower, '/db/execute', [
        'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, big INTEGER, data BLOB, r REAL)',
        ['INSERT INTO t(id, name, big, data, r) VALUES(?, ?, ?, ?, ?)', 1, 'one', 9223372036854775807n.toString(), [1, 2, 255], 1.5],
      ]),
    );
    expect(r[0]?.error).toBeUndefined();
    expect(r[1]).toEqual({ last_insert_id: 1, rows_affected: 1 });
    // Exact digits both ways: the body is written by hand, JSON.stringify would round.
    const big = await post(follower, '/db/execute', '[["INSERT INTO t(id, name, big) VALUES(:id, :name, :big)", {"id": 9007199254740993, "name": "two", "big": -9223372036854775808}]]');
    expect(big.status).toBe(200);
    expect(big.text).toBe('{"results":[{"last_insert_id":9007199254740993,"rows_affected":1}]}');

    const q = await call(follower, 'GET', `/db/query?q=${encodeURIComponent('SELECT id, big, data, r, name FROM t ORDER BY id')}`);
    expect(q.status).toBe(200);
    expect(q.headers.get('content-type')).toMatch(/^application\/json/);
    // `big` stored the string '9223372036854775807' as an INTEGER (column affinity).
    expect(q.text).toBe(
      '{"results":[{"columns":["id","big","data","r","name"],"types":["integer","integer","blob","real","text"],' +
        '"values":[[1,9223372036854775807,"AQL/",1.5,"one"],[9007199254740993,-9223372036854775808,null,null,"two"]]}]}',
    );

    // A statement that fails keeps its place, with 200.
    const bad = results(await post(follower, '/db/execute', ['INSERT INTO nope VALUES(1)', "INSERT INTO t(id, name) VALUES(3, 'three')"]));
    expect(bad[0]?.error).toMatch(/no such table: nope/);
    expect(bad[1]).toEqual({ last_insert_id: 3, rows_affected: 1 });

    const timed = JSON.parse((await post(follower, '/db/query?timings', ['SELECT count(*) FROM t'])).text) as { results: ResultJson[]; time: number };
    expect(timed.results[0]?.values).toEqual([[3]]);
    expect(timed.results[0]?.time).toBeGreaterThanOrEqual(0);
    expect(timed.time).toBeGreaterThan(0);
  });

  it('rolls a transaction back at its first failure, and keeps other statements without one', async () => {
    results(await post(follower, '/db/execute', ['CREATE TABLE tx (k INTEGER PRIMARY KEY)', 'INSERT INTO tx VALUES(1)']));
    const r = results(await post(follower, '/db/execute?transaction', ['INSERT INTO tx VALUES(2)', 'INSERT INTO tx VALUES(1)', 'INSERT INTO tx VALUES(3)']));
    expect(r).toHaveLength(3);
    for (const x of r) expect(x.error).toBeDefined();
    expect(r[1]?.error).toMatch(/UNIQUE/);
    expect(results(await post(follower, '/db/query', ['SELECT k FROM tx ORDER BY k']))[0]?.values).toEqual([[1]]);

    const loose = results(await post(follower, '/db/execute', ['INSERT INTO tx VALUES(2)', 'INSERT INTO tx VALUES(1)', 'INSERT INTO tx VALUES(3)']));
    expect(loose[0]?.error).toBeUndefined();
    expect(loose[1]?.error).toMatch(/UNIQUE/);
    expect(loose[2]?.error).toBeUndefined();
    expect(results(await post(follower, '/db/query', ['SELECT k FROM tx ORDER BY k']))[0]?.values).toEqual([[1], [2], [3]]);
  });

  it('answers rows as objects with associative', async () => {
    const r = results(await post(follower, '/db/query?associative', [['SELECT k, k * 2 AS twice FROM tx WHERE k <= ? ORDER BY k', 2]]));
    expect(r[0]).toEqual({ types: { k: 'integer', twice: 'integer' }, rows: [{ k: 1, twice: 2 }, { k: 2, twice: 4 }] });
  });

  it('reads at every level, on the leader and on a follower', async () => {
    for (const level of ['linearizable', 'strong', 'weak', 'none', 'auto', '']) {
      for (const node of [leader, follower]) {
        // A follower at level none serves what it has applied so far: wait until it has the rows.
        const values = await waitFor(`rows at level ${level} on node ${node}`, async () => {
          const v = results(await post(node, `/db/query?level=${level}`, ['SELECT count(*) FROM tx']))[0]?.values;
          return JSON.stringify(v) === '[[3]]' ? v : null;
        });
        expect(values).toEqual([[3]]);
      }
    }
    const freshness = await post(follower, '/db/query?level=none&freshness=1s', ['SELECT 1']);
    expect(results(freshness)[0]?.values).toEqual([[1]]);
    const bad = await post(follower, '/db/query?level=eventual', ['SELECT 1']);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toEqual({ error: expect.stringMatching(/level/) });
    // A write through /db/query fails in its result.
    expect(results(await post(follower, '/db/query', ['DELETE FROM tx']))[0]?.error).toMatch(/only read/);
  });

  it('runs mixed requests on /db/request', async () => {
    const reads = results(await post(follower, '/db/request?level=weak', ['SELECT count(*) AS n FROM tx']));
    expect(reads).toEqual([{ columns: ['n'], types: ['integer'], values: [[3]] }]);
    const mixed = results(await post(follower, '/db/request?transaction', [['INSERT INTO tx VALUES(?)', 4], 'SELECT max(k) FROM tx']));
    expect(mixed[0]).toEqual({ last_insert_id: 4, rows_affected: 1 });
    expect(mixed[1]?.values).toEqual([[4]]);
  });

  it('queues writes, and waits for them with wait', async () => {
    const waited = await post(follower, '/db/execute?queue&wait', [['INSERT INTO tx VALUES(?)', 5]]);
    expect(waited.status).toBe(200);
    const body = JSON.parse(waited.text) as { results: unknown[]; sequence_number: number };
    expect(body.results).toEqual([]);
    expect(body.sequence_number).toBeGreaterThan(0);
    // Applied on the node that answered: even a read of its own state sees it.
    expect(results(await post(follower, '/db/query?level=none', ['SELECT count(*) FROM tx WHERE k = 5']))[0]?.values).toEqual([[1]]);

    const queued = JSON.parse((await post(follower, '/db/execute?queue', [['INSERT INTO tx VALUES(?)', 6]])).text) as { results: unknown[]; sequence_number: number };
    expect(queued.results).toEqual([]);
    expect(queued.sequence_number).toBeGreaterThan(body.sequence_number);
    await waitFor('the queued write', async () => {
      const v = results(await post(follower, '/db/query', ['SELECT count(*) FROM tx WHERE k = 6']))[0]?.values;
      return JSON.stringify(v) === '[[1]]';
    });
  });

  it('backs up, and loads the backup in place of the database (through a follower)', async () => {
    const backup = await fetch(`${base(follower)}/db/backup`);
    expect(backup.status).toBe(200);
    expect(backup.headers.get('content-type')).toBe('application/octet-stream');
    const file = Buffer.from(await backup.arrayBuffer());
    expect(file.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');

    results(await post(follower, '/db/execute', ['CREATE TABLE after_backup (a)', 'DELETE FROM tx']));
    const tables = async (node: number, level = 'linearizable'): Promise<unknown[][] | undefined> =>
      results(await post(node, `/db/query?level=${level}`, ["SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('t', 'tx', 'after_backup') ORDER BY name"]))[0]?.values;
    expect(await tables(follower)).toEqual([['after_backup'], ['t'], ['tx']]);

    const notSqlite = await call(follower, 'POST', '/db/load', 'CREATE TABLE x (a);\n');
    expect(notSqlite.status).toBe(415);
    expect(JSON.parse(notSqlite.text)).toEqual({ error: expect.stringMatching(/not a SQLite database file/) });

    const load = await call(follower, 'POST', '/db/load', file);
    expect(load.status, load.text).toBe(200);
    expect(await tables(follower)).toEqual([['t'], ['tx']]);
    expect(results(await post(leader, '/db/query', ['SELECT count(*) FROM tx']))[0]?.values).toEqual([[6]]);
    // Every replica took the file.
    for (let i = 0; i < 3; i++) {
      await waitFor(`node ${i} restored`, async () => JSON.stringify(await tables(i, 'none')) === '[["t"],["tx"]]');
    }
  });

  it('shows status and nodes, and refuses wrong methods and paths', async () => {
    const status = JSON.parse((await call(follower, 'GET', '/status')).text) as { store: { node_id: string; leader: { node_id: string }; raft: { applied_index: number; state: string } } };
    expect(status.store.raft.state).toBe('follower');
    expect(status.store.raft.applied_index).toBeGreaterThan(0);
    const nodes = JSON.parse((await call(follower, 'GET', '/nodes?ver=2')).text) as { nodes: Array<{ id: string; leader: boolean; voter: boolean }> };
    expect(nodes.nodes).toHaveLength(3);
    expect(nodes.nodes.filter((n) => n.leader).map((n) => n.id)).toEqual([status.store.leader.node_id]);
    const keyed = JSON.parse((await call(follower, 'GET', '/nodes')).text) as Record<string, { leader: boolean }>;
    expect(Object.keys(keyed).sort()).toEqual(nodes.nodes.map((n) => n.id).sort());

    expect((await call(follower, 'GET', '/db/execute')).status).toBe(405);
    expect((await call(follower, 'POST', '/livez')).status).toBe(405);
    expect((await call(follower, 'GET', '/db/nothing')).status).toBe(404);
    expect((await call(follower, 'GET', '/livez')).status).toBe(200);
    expect((await post(follower, '/db/execute', '[["SELECT 1"')).status).toBe(400);
  });

  it('serves the rqlite load generator without an error', async () => {
    const urls = [0, 1, 2].map(base);
    const workloads: Workload[] = [{ kind: 'insert' }, { kind: 'batch', rows: 10 }, { kind: 'read', level: 'linearizable', rows: 100 }];
    for (const workload of workloads) {
      const r = await runLoad({ urls, workload, clients: 1, seconds: 1, warmupSeconds: 0.5 });
      expect(r.errors, `${r.workload}: ${r.firstError}`).toBe(0);
      expect(r.ops, r.workload).toBeGreaterThan(0);
    }
  });
});
