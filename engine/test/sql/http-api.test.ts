import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadConsistency } from '../../src/gen/leviathan/sql/v1/sql.js';
import type { ExecuteRequest, QueryRequest, StatementResult, Value } from '../../src/gen/leviathan/sql/v1/sql.js';
import { NodeError } from '../../src/node/index.js';
import type { NodeHost } from '../../src/node/index.js';
import type { SqlDatabase } from '../../src/sql/database.js';
import {
  HttpError,
  describeError,
  flag,
  parseDuration,
  parseJson,
  parseLevel,
  parseStatements,
  responseJson,
  resultJson,
  sqlHttpHandler,
  valueJson,
} from '../../src/sql/http-api.js';
import { withoutWalHeader } from '../../src/sql/database.js';

const int = (v: bigint): Value => ({ kind: { $case: 'integer', value: v } });
const real = (v: number): Value => ({ kind: { $case: 'real', value: v } });
const text = (v: string): Value => ({ kind: { $case: 'text', value: v } });
const blob = (v: Buffer): Value => ({ kind: { $case: 'blob', value: v } });
const NULL: Value = { kind: { $case: 'null', value: true } };

describe('parseJson', () => {
  it('reads integer literals exactly, as bigints, and other numbers as numbers', () => {
    expect(parseJson('9223372036854775807')).toBe(9223372036854775807n);
    expect(parseJson('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(parseJson('[9007199254740993, 1, -0, 1.5, 1e3, 2.0, -1E-2]')).toEqual([9007199254740993n, 1n, 0n, 1.5, 1000, 2, -0.01]);
  });

  it('reads strings, escapes, literals, objects and whitespace like JSON.parse', () => {
    const text = ' { "a" : [ "x\\"y\\u00e9\\n", true, false, null, {} , [] ], "b\\\\": "héllo 😀" } ';
    expect(parseJson(text)).toEqual({ a: ['x"yé\n', true, false, null, {}, []], 'b\\': 'héllo 😀' });
  });

  it('keeps a __proto__ key as data', () => {
    const v = parseJson('{"__proto__": 1}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it.each(['', '[', '[1,]', '[1 2]', '{"a" 1}', '{a: 1}', '"abc', '"a\u0001"', '"\\x"', '01', '1.', '.5', 'tru', 'NaN', '[1] x', "'a'", '+1'])(
    'refuses %j with a 400',
    (bad) => {
      expect(() => parseJson(bad)).toThrow(HttpError);
      try {
        parseJson(bad);
      } catch (err) {
        expect((err as HttpError).status).toBe(400);
        expect((err as HttpError).message).toMatch(/invalid JSON at offset \d+/);
      }
    },
  );

  it('refuses nesting that would exhaust the stack', () => {
    expect(() => parseJson('['.repeat(100_000))).toThrow(/nested deeper/);
  });
});

describe('statements from a body', () => {
  it('takes the three statement forms', () => {
    const st = parseStatements('["CREATE TABLE t (a)", ["INSERT INTO t VALUES(?, ?)", 1, "x"], ["INSERT INTO t VALUES(:a)", {"a": 2.5}]]');
    expect(st).toEqual([
      { sql: 'CREATE TABLE t (a)', positional: [], named: [] },
      { sql: 'INSERT INTO t VALUES(?, ?)', positional: [int(1n), text('x')], named: [] },
      { sql: 'INSERT INTO t VALUES(:a)', positional: [], named: [{ name: 'a', value: real(2.5) }] },
    ]);
  });

  it('binds each JSON type to its storage class, big integers exactly', () => {
    const [st] = parseStatements('[["SELECT ?,?,?,?,?,?,?,?,?", 9223372036854775807, -9007199254740993, 1.0, 1e2, "s", true, false, null, [0, 255, 7]]]');
    expect(st?.positional).toEqual([int(9223372036854775807n), int(-9007199254740993n), real(1), real(100), text('s'), int(1n), int(0n), NULL, blob(Buffer.from([0, 255, 7]))]);
  });

  it('strips a prefix from named parameters', () => {
    const [st] = parseStatements('[["SELECT :a, @b, $c", {":a": 1, "@b": 2, "$c": 3}]]');
    expect(st?.named.map((n) => n.name)).toEqual(['a', 'b', 'c']);
  });

  it('accepts a byte-order mark and an empty list', () => {
    expect(parseStatements('\ufeff["SELECT 1"]')).toHaveLength(1);
    expect(parseStatements('[]')).toEqual([]);
  });

  it.each([
    ['', /empty body/],
    ['  ', /empty body/],
    ['{"statements": []}', /JSON array of statements/],
    ['"SELECT 1"', /JSON array of statements/],
    ['[1]', /statement 1: expected "SQL"/],
    ['["SELECT 1", []]', /statement 2: expected "SQL"/],
    ['[[1, 2]]', /statement 1: expected "SQL"/],
    ['[["SELECT ?", 9223372036854775808]]', /parameter 1: 9223372036854775808 does not fit in a 64-bit integer/],
    ['[["SELECT ?", -9223372036854775809]]', /does not fit/],
    ['[["SELECT ?", {"a": 1}, 2]]', /named parameters come alone/],
    ['[["SELECT ?", {"a": {"b": 1}}]]', /parameter :a: expected a number/],
    ['[["SELECT ?", [1, 256]]]', /parameter 1: expected a number/],
    ['[["SELECT ?", [1.5]]]', /parameter 1/],
    ['[["SELECT ?", {"": 1}]]', /empty parameter name/],
    ['[["SELECT 1"]', /invalid JSON/],
  ])('refuses %j with a 400', (body, message) => {
    let caught: unknown;
    try {
      parseStatements(body);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HttpError);
    expect((caught as HttpError).status).toBe(400);
    expect((caught as HttpError).message).toMatch(message);
  });
});

describe('values and results to JSON', () => {
  it('writes integers as exact digits, blobs as base64', () => {
    expect(valueJson(int(9223372036854775807n))).toBe('9223372036854775807');
    expect(valueJson(int(-9223372036854775808n))).toBe('-9223372036854775808');
    expect(valueJson(int(9007199254740993n))).toBe('9007199254740993');
    expect(valueJson(real(1.5))).toBe('1.5');
    expect(valueJson(real(2))).toBe('2');
    expect(valueJson(real(Infinity))).toBe('1e999');
    expect(valueJson(real(-Infinity))).toBe('-1e999');
    expect(valueJson(text('a"b\n'))).toBe('"a\\"b\\n"');
    expect(valueJson(blob(Buffer.from([0, 1, 254, 255])))).toBe('"AAH+/w=="');
    expect(valueJson(NULL)).toBe('null');
    expect(valueJson(undefined)).toBe('null');
    expect(valueJson({ kind: undefined })).toBe('null');
  });

  it('round-trips exact integers through our parser', () => {
    for (const v of [9223372036854775807n, -9223372036854775808n, 9007199254740993n, 0n]) expect(parseJson(valueJson(int(v)))).toBe(v);
  });

  const rows: StatementResult = {
    error: '',
    rowsAffected: 0n,
    lastInsertId: 0n,
    time: 0.25,
    rows: {
      columns: ['id', 'name', 'expr'],
      types: ['INTEGER', 'Text', ''],
      rows: [{ values: [int(9007199254740993n), text('a'), real(1.5)] }, { values: [int(2n), NULL, blob(Buffer.from('hi'))] }],
    },
  };
  const write: StatementResult = { error: '', rowsAffected: 1n, lastInsertId: 9223372036854775807n, time: 0.5 };

  it('writes query results like rqlite: lower-case types, the first row for expressions, exact values', () => {
    expect(resultJson(rows, { endpoint: 'query' })).toBe(
      '{"columns":["id","name","expr"],"types":["integer","text","real"],"values":[[9007199254740993,"a",1.5],[2,null,"aGk="]]}',
    );
    expect(resultJson(rows, { endpoint: 'query', timings: true })).toMatch(/,"time":0.25}$/);
  });

  it('leaves "values" out when there are no rows', () => {
    const empty: StatementResult = { ...rows, rows: { columns: ['a'], types: [''], rows: [] } };
    expect(resultJson(empty, { endpoint: 'query' })).toBe('{"columns":["a"],"types":[""]}');
  });

  it('writes associative rows as objects', () => {
    expect(JSON.parse(resultJson(rows, { endpoint: 'query', associative: true }))).toEqual({
      types: { id: 'integer', name: 'text', expr: 'real' },
      rows: [
        { id: 9007199254740992, name: 'a', expr: 1.5 },
        { id: 2, name: null, expr: 'aGk=' },
      ],
    });
    expect(resultJson(rows, { endpoint: 'query', associative: true })).toContain('{"id":9007199254740993,');
  });

  it('writes execute results with exact ids and leaves zeros out', () => {
    expect(resultJson(write, { endpoint: 'execute' })).toBe('{"last_insert_id":9223372036854775807,"rows_affected":1}');
    expect(resultJson(write, { endpoint: 'execute', timings: true })).toBe('{"last_insert_id":9223372036854775807,"rows_affected":1,"time":0.5}');
    expect(resultJson({ ...write, rowsAffected: 0n, lastInsertId: 0n }, { endpoint: 'execute' })).toBe('{}');
  });

  it('writes errors in place', () => {
    expect(resultJson({ ...write, error: 'no such table: x' }, { endpoint: 'execute', timings: true })).toBe('{"error":"no such table: x"}');
  });

  it('mixes reads and writes on /db/request', () => {
    const body = responseJson([write, rows], { endpoint: 'request' }, { time: '0.1' });
    const parsed = JSON.parse(body) as { results: Array<Record<string, unknown>>; time: number };
    expect(parsed.results[0]).toEqual({ last_insert_id: 9223372036854775807, rows_affected: 1 });
    expect(parsed.results[1]).toHaveProperty('columns');
    expect(parsed.results[1]).not.toHaveProperty('rows_affected');
    expect(parsed.time).toBe(0.1);
  });
});

describe('backup images', () => {
  it('turns a WAL database image into one that opens in memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leviathan-http-'));
    try {
      const db = new Database(join(dir, 'db.sqlite'));
      db.pragma('journal_mode = WAL');
      db.exec("CREATE TABLE t (a); INSERT INTO t VALUES ('x')");
      const image = db.serialize();
      db.close();
      expect([image[18], image[19]]).toEqual([2, 2]);
      const raw = new Database(Buffer.from(image));
      expect(() => raw.pragma('quick_check')).toThrow(/unable to open/);
      raw.close();
      const fixed = withoutWalHeader(Buffer.from(image));
      expect([fixed[18], fixed[19]]).toEqual([1, 1]);
      const copy = new Database(fixed);
      expect(copy.prepare('SELECT a FROM t').pluck().all()).toEqual(['x']);
      copy.close();
      // Anything else is left alone.
      expect(withoutWalHeader(Buffer.from('not a database'))).toEqual(Buffer.from('not a database'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('query parameters and errors', () => {
  it('reads flags like rqlite: present unless false', () => {
    const p = new URLSearchParams('transaction&timings=true&queue=false&wait=0');
    expect(flag(p, 'transaction')).toBe(true);
    expect(flag(p, 'timings')).toBe(true);
    expect(flag(p, 'queue')).toBe(false);
    expect(flag(p, 'wait')).toBe(false);
    expect(flag(p, 'associative')).toBe(false);
  });

  it('reads durations', () => {
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('1.5s', 'x')).toBe(1500);
    expect(parseDuration('1m30s', 'x')).toBe(90_000);
    expect(parseDuration('2', 'x')).toBe(2000);
    expect(() => parseDuration('soon', 'freshness')).toThrow(/freshness: expected a duration/);
    expect(() => parseDuration('1d', 'x')).toThrow(HttpError);
  });

  it('defaults the level to linearizable', () => {
    expect(parseLevel(null)).toBe(ReadConsistency.READ_CONSISTENCY_LINEARIZABLE);
    expect(parseLevel('none')).toBe(ReadConsistency.READ_CONSISTENCY_NONE);
    expect(parseLevel('WEAK')).toBe(ReadConsistency.READ_CONSISTENCY_WEAK);
    expect(parseLevel('strong')).toBe(ReadConsistency.READ_CONSISTENCY_STRONG);
    expect(() => parseLevel('eventual')).toThrow(/level: expected/);
  });

  it('maps node errors to HTTP statuses', () => {
    expect(describeError(new NodeError('NOT_LEADER', 'x')).status).toBe(503);
    expect(describeError(new NodeError('UNAVAILABLE', 'x')).status).toBe(503);
    expect(describeError(new NodeError('TIMEOUT', 'x')).status).toBe(504);
    expect(describeError(new NodeError('INVALID_ARGUMENT', 'x')).status).toBe(400);
    expect(describeError(new NodeError('NOT_FOUND', 'x')).status).toBe(404);
    expect(describeError(new NodeError('FAILED_PRECONDITION', 'x')).status).toBe(409);
    expect(describeError(new Error('boom'))).toEqual({ status: null, message: 'boom' });
  });
});

describe('the routes, over a stub database', () => {
  let base = '';
  const calls: unknown[] = [];
  let fail: unknown = null;
  const database = {
    execute(req: ExecuteRequest) {
      calls.push(req);
      if (fail !== null) return Promise.reject(fail);
      return Promise.resolve({ results: req.statements.map(() => ({ error: '', rowsAffected: 1n, lastInsertId: 9223372036854775807n, time: 0 })), index: 7n, term: 1n, time: 0 });
    },
    query(req: QueryRequest) {
      calls.push(req);
      if (fail !== null) return Promise.reject(fail);
      return Promise.resolve({ results: [{ error: '', rowsAffected: 0n, lastInsertId: 0n, time: 0, rows: { columns: ['v'], types: [''], rows: [{ values: [int(-9223372036854775808n)] }] } }], index: 7n, time: 0 });
    },
    restore() {
      return Promise.reject(new Error('not expected'));
    },
  } as unknown as SqlDatabase;
  const server = createServer((req, res) => {
    const handler = sqlHttpHandler(database, { host: {} as NodeHost, requestTimeoutMs: 1000, logger: pino({ level: 'silent' }), maxBodyBytes: 1024, maxLoadBytes: 2048 });
    if (!handler(req, res, (req.url ?? '/').split('?')[0] ?? '/')) {
      res.writeHead(404);
      res.end();
    }
  });

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('executes with exact integers both ways', async () => {
    fail = null;
    const res = await fetch(`${base}/db/execute?transaction&timings`, { method: 'POST', body: '[["INSERT INTO t VALUES(?)", 9223372036854775807]]' });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/^\{"results":\[\{"last_insert_id":9223372036854775807,"rows_affected":1,"time":0\}\],"time":[\d.e-]+\}$/);
    const req = calls.at(-1) as ExecuteRequest;
    expect(req.transaction).toBe(true);
    expect(req.queued).toBe(false);
    expect(req.statements[0]?.positional[0]).toEqual(int(9223372036854775807n));
  });

  it('queries with q= and a level', async () => {
    fail = null;
    const res = await fetch(`${base}/db/query?q=${encodeURIComponent('SELECT v FROM t')}&level=none&freshness=1s`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"results":[{"columns":["v"],"types":["integer"],"values":[[-9223372036854775808]]}]}');
    const req = calls.at(-1) as QueryRequest;
    expect(req.consistency).toBe(ReadConsistency.READ_CONSISTENCY_NONE);
    expect(req.freshnessMs).toBe(1000n);
    expect(req.statements).toEqual([{ sql: 'SELECT v FROM t', positional: [], named: [] }]);
  });

  it('answers a bad body with 400 and a JSON error', async () => {
    const res = await fetch(`${base}/db/execute`, { method: 'POST', body: '[["INSERT", ' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/invalid JSON/);
  });

  it('answers a body over the limit with 413', async () => {
    const res = await fetch(`${base}/db/execute`, { method: 'POST', body: JSON.stringify([['SELECT ?', 'x'.repeat(2000)]]) });
    expect(res.status).toBe(413);
  });

  it('answers a wrong method with 405', async () => {
    const res = await fetch(`${base}/db/execute`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers a node error with its status, and 503 with Retry-After', async () => {
    fail = new NodeError('UNAVAILABLE', 'no leader');
    let res = await fetch(`${base}/db/execute`, { method: 'POST', body: '["DELETE FROM t"]' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ error: 'no leader' });
    fail = new NodeError('TIMEOUT', 'slow');
    res = await fetch(`${base}/db/query?q=SELECT%201`);
    expect(res.status).toBe(504);
    fail = null;
  });

  it('refuses a load that is not a SQLite file with 415, and a large one with 413', async () => {
    let res = await fetch(`${base}/db/load`, { method: 'POST', body: 'CREATE TABLE t (a);\nINSERT INTO t VALUES(1);\n' });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: string }).error).toMatch(/not a SQLite database file/);
    res = await fetch(`${base}/db/load`, { method: 'POST', body: gzipSync('not sqlite') });
    expect(res.status).toBe(415);
    res = await fetch(`${base}/db/load`, { method: 'POST', body: Buffer.alloc(4096) });
    expect(res.status).toBe(413);
  });

  it('leaves other paths to the server', async () => {
    expect((await fetch(`${base}/db/nothing`)).status).toBe(404);
  });
});
