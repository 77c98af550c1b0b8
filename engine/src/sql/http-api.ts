/**
 * The database's HTTP/JSON API, beside gRPC, shaped like rqlite's (https://rqlite.io/docs/api/api/)
 * so that existing tools and load generators work against Leviathan unchanged:
 *
 *   POST     /db/execute   writes: `transaction`, `queue` (+ `wait`, `timeout`), `timings`, `raft_index`
 *   GET|POST /db/query     reads: `q=` (GET) or a body; `level`, `freshness`, `timings`, `associative`
 *   POST     /db/request   reads and writes mixed (rqlite's unified endpoint)
 *   GET      /db/backup    the SQLite file (`compress`: gzipped), in rollback-journal mode
 *   POST     /db/load      replaces the database with a SQLite file (gzipped or not; WAL or not)
 *   GET      /status       this node and its view of the Raft group
 *   GET      /nodes        the members (`ver=2`: as a list)
 *
 * A body is a JSON array of statements, each `"SQL"`, `["SQL", p1, p2, ...]` (positional) or
 * `["SQL", {"name": v}]` (named). Parameters: JSON integers bind as INTEGER (parsed exactly, so
 * int64 values beyond 2^53 are not rounded), other numbers as REAL, strings as TEXT, booleans as
 * INTEGER 1/0, null as NULL, and an array of byte values (0..255) as a BLOB.
 *
 * Results: INTEGER values are written as their exact digits (never through a JavaScript number),
 * REAL as numbers (an infinite REAL as 1e999 / -1e999, which JSON parsers read back as infinity),
 * TEXT as strings, BLOB as base64 strings (as rqlite does), NULL as null. A statement that fails
 * keeps its place in `results` with an `error`, and the response is still 200 (as rqlite); a
 * request that fails as a whole answers `{"error": "..."}` with an HTTP status for its cause.
 *
 * Differences from rqlite:
 * - `level` defaults to linearizable here (rqlite's default is weak): a read never sees stale
 *   data unless the caller asks for it. `auto` means the default.
 * - `redirect` is accepted but never redirects: nodes know each other's gRPC addresses, not their
 *   HTTP ones, so a follower forwards the request to the leader over gRPC and answers itself
 *   (a client that asks every node with `?redirect` simply finds every node answers 200).
 * - Queued writes (`queue`) are not batched with others: the write goes to the leader's log at
 *   once and `sequence_number` is its log index.
 * - /db/load takes a SQLite file only (415 for anything else, e.g. a SQL dump: send the dump's
 *   statements to /db/execute instead); /db/backup has no `fmt=sql`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DatabaseServiceClient, ReadConsistency, WaitForSequenceResponse_Outcome } from '../gen/leviathan/sql/v1/sql.js';
import type { RestoreResponse, Statement, StatementResult, Value } from '../gen/leviathan/sql/v1/sql.js';
import { NodeError, groupView } from '../node/index.js';
import type { NodeErrorCode, NodeHost } from '../node/index.js';
import { ERROR_CODE_KEY } from '../server/grpc-util.js';
import { FORWARDED_KEY, MAX_RESTORE_BYTES, withoutWalHeader } from './database.js';
import type { SqlDatabase } from './database.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** A route of the engine's HTTP server: true if it took the request (and answers it). */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

export interface SqlHttpOptions {
  /** The node host, for /status and /nodes. */
  readonly host: NodeHost;
  readonly groupId?: number;
  /** Upper bound of every request's wait (a `timeout` parameter may shorten it). */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  /** This node's identity for /status (name, version, address...). */
  readonly node?: Readonly<Record<string, string>>;
  /** Largest request body, /db/load excepted (default 16 MiB). */
  readonly maxBodyBytes?: number;
  /** Largest /db/load body (default 64 MiB). */
  readonly maxLoadBytes?: number;
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const DEFAULT_MAX_BODY = 16 << 20;
const DEFAULT_MAX_LOAD = 64 << 20;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const RESTORE_CHUNK = 1 << 20;

/** A request that fails as a whole, with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

// ---- JSON in: an exact-integer-aware parser ------------------------------------------------------

/** A parsed JSON value: integer literals are bigints (exact), other numbers are numbers. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const CONTROL = /[\u0000-\u001f]/;

/**
 * Parses JSON text like JSON.parse, except that an integer literal (no fraction, no exponent)
 * becomes a bigint with its exact value: Node 20's JSON.parse rounds beyond 2^53 and its reviver
 * does not see the source text. Throws HttpError 400 on malformed text.
 */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new HttpError(400, `invalid JSON at offset ${i}: ${what}`);
  };
  const ws = (): void => {
    WHITESPACE.lastIndex = i;
    WHITESPACE.exec(text);
    i = WHITESPACE.lastIndex;
  };
  const string = (): string => {
    const start = i;
    let escaped = false;
    for (i++; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) {
        escaped = true;
        i++;
      } else if (c === 0x22) {
        const raw = text.slice(start, ++i);
        if (!escaped) {
          if (CONTROL.test(raw)) fail('control character in a string');
          return raw.slice(1, -1);
        }
        try {
          return JSON.parse(raw) as string;
        } catch {
          i = start;
          return fail('bad escape in a string');
        }
      }
    }
    i = start;
    return fail('unterminated string');
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH}`);
    ws();
    const c = text[i];
    switch (c) {
      case '"':
        return string();
      case '[': {
        i++;
        const out: JsonValue[] = [];
        ws();
        if (text[i] === ']') {
          i++;
          return out;
        }
        for (;;) {
          out.push(value(depth + 1));
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === ']') {
            i++;
            return out;
          } else return fail("expected ',' or ']'");
        }
      }
      case '{': {
        i++;
        const out: { [key: string]: JsonValue } = {};
        ws();
        if (text[i] === '}') {
          i++;
          return out;
        }
        for (;;) {
          ws();
          if (text[i] !== '"') fail('expected a string key');
          const key = string();
          ws();
          if (text[i] !== ':') fail("expected ':'");
          i++;
          // defineProperty: a "__proto__" key is data, not the prototype.
          Object.defineProperty(out, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === '}') {
            i++;
            return out;
          } else return fail("expected ',' or '}'");
        }
      }
      default: {
        if (text.startsWith('true', i)) {
          i += 4;
          return true;
        }
        if (text.startsWith('false', i)) {
          i += 5;
          return false;
        }
        if (text.startsWith('null', i)) {
          i += 4;
          return null;
        }
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(text);
        if (m === null) return fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
        i = NUMBER.lastIndex;
        return m[1] === undefined && m[2] === undefined ? BigInt(m[0]) : Number(m[0]);
      }
    }
  };
  const v = value(0);
  ws();
  if (i < text.length) fail('trailing characters');
  return v;
}

const isObject = (v: JsonValue): v is { [key: string]: JsonValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Converts one JSON parameter to a Value; `label` names it in errors. */
export function jsonToValue(v: JsonValue, label: string): Value {
  if (v === null) return { kind: { $case: 'null', value: true } };
  switch (typeof v) {
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) throw new HttpError(400, `${label}: ${v} does not fit in a 64-bit integer`);
      return { kind: { $case: 'integer', value: v } };
    case 'number':
      return { kind: { $case: 'real', value: v } };
    case 'string':
      return { kind: { $case: 'text', value: v } };
    case 'boolean':
      return { kind: { $case: 'integer', value: v ? 1n : 0n } };
    default:
      if (Array.isArray(v) && v.every((b) => typeof b === 'bigint' && b >= 0n && b <= 255n)) {
        return { kind: { $case: 'blob', value: Buffer.from(v.map((b) => Number(b))) } };
      }
      throw new HttpError(400, `${label}: expected a number, string, boolean, null or an array of bytes (a BLOB)`);
  }
}

/** Converts a parsed body (or `q=` values) to statements. */
export function toStatements(body: JsonValue): Statement[] {
  if (!Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON array of statements: "SQL", ["SQL", params...] or ["SQL", {"name": value}]');
  return body.map((s, n): Statement => {
    const where = `statement ${n + 1}`;
    if (typeof s === 'string') return { sql: s, positional: [], named: [] };
    if (!Array.isArray(s) || typeof s[0] !== 'string') throw new HttpError(400, `${where}: expected "SQL" or ["SQL", params...]`);
    const [sql, ...params] = s;
    const first = params[0];
    if (params.length === 1 && first !== undefined && isObject(first)) {
      const named = Object.entries(first).map(([key, value]) => {
        const name = /^[:@$]/.test(key) ? key.slice(1) : key;
        if (name === '') throw new HttpError(400, `${where}: empty parameter name`);
        return { name, value: jsonToValue(value, `${where}: parameter :${name}`) };
      });
      return { sql, positional: [], named };
    }
    if (params.some(isObject)) throw new HttpError(400, `${where}: named parameters come alone, as ["SQL", {"name": value}]`);
    return { sql, positional: params.map((p, k) => jsonToValue(p, `${where}: parameter ${k + 1}`)), named: [] };
  });
}

/** Parses a request body (UTF-8 JSON text) into statements. */
export function parseStatements(text: string): Statement[] {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (t.trim() === '') throw new HttpError(400, 'empty body: send a JSON array of statements');
  return toStatements(parseJson(t));
}

// ---- JSON out: exact values ----------------------------------------------------------------------

/** One value as JSON text: an INTEGER as its exact digits, a BLOB as base64. */
export function valueJson(v: Value | undefined): string {
  const k = v?.kind;
  if (k === undefined) return 'null';
  switch (k.$case) {
    case 'null':
      return 'null';
    case 'integer':
      return k.value.toString();
    case 'real':
      if (Number.isFinite(k.value)) return JSON.stringify(k.value);
      return Number.isNaN(k.value) ? 'null' : k.value > 0 ? '1e999' : '-1e999';
    case 'text':
      return JSON.stringify(k.value);
    case 'blob':
      return `"${Buffer.from(k.value.buffer, k.value.byteOffset, k.value.byteLength).toString('base64')}"`;
    default: {
      const never: never = k;
      return never;
    }
  }
}

const STORAGE_CLASS: Record<string, string> = { integer: 'integer', real: 'real', text: 'text', blob: 'blob' };

/** Column types as rqlite gives them: the declared type in lower case, else the first row's storage class. */
function columnTypes(r: StatementResult): string[] {
  const rows = r.rows;
  if (rows === undefined) return [];
  return rows.columns.map((_, c) => {
    const declared = (rows.types[c] ?? '').toLowerCase();
    if (declared !== '') return declared;
    const kind = rows.rows[0]?.values[c]?.kind?.$case;
    return kind === undefined ? '' : (STORAGE_CLASS[kind] ?? '');
  });
}

export interface FormatOptions {
  /** Which endpoint: execute results always carry the write fields, query results only rows. */
  readonly endpoint: 'execute' | 'query' | 'request';
  readonly timings?: boolean;
  readonly associative?: boolean;
}

/** One statement's outcome as rqlite writes it. */
export function resultJson(r: StatementResult, o: FormatOptions): string {
  if (r.error !== '') return `{"error":${JSON.stringify(r.error)}}`;
  const fields: string[] = [];
  const rows = r.rows;
  if (o.endpoint === 'execute' || (o.endpoint === 'request' && rows === undefined)) {
    // rqlite leaves zeros out (CREATE TABLE answers `{}`).
    if (r.lastInsertId !== 0n) fields.push(`"last_insert_id":${r.lastInsertId}`);
    if (r.rowsAffected !== 0n) fields.push(`"rows_affected":${r.rowsAffected}`);
  }
  if (rows !== undefined) {
    const types = columnTypes(r);
    if (o.associative) {
      const keys = rows.columns.map((c) => JSON.stringify(c));
      fields.push(`"types":{${keys.map((k, c) => `${k}:${JSON.stringify(types[c] ?? '')}`).join(',')}}`);
      fields.push(`"rows":[${rows.rows.map((row) => `{${keys.map((k, c) => `${k}:${valueJson(row.values[c])}`).join(',')}}`).join(',')}]`);
    } else {
      fields.push(`"columns":${JSON.stringify(rows.columns)}`, `"types":${JSON.stringify(types)}`);
      // rqlite leaves "values" out when there are no rows.
      if (rows.rows.length > 0) fields.push(`"values":[${rows.rows.map((row) => `[${row.values.map(valueJson).join(',')}]`).join(',')}]`);
    }
  }
  if (o.timings) fields.push(`"time":${JSON.stringify(r.time)}`);
  return `{${fields.join(',')}}`;
}

/** A whole response: `{"results": [...]}` plus the extra fields given (already JSON text). */
export function responseJson(results: readonly StatementResult[], o: FormatOptions, extra: Readonly<Record<string, string>> = {}): string {
  const more = Object.entries(extra).map(([k, v]) => `,${JSON.stringify(k)}:${v}`);
  return `{"results":[${results.map((r) => resultJson(r, o)).join(',')}]${more.join('')}}`;
}

// ---- errors --------------------------------------------------------------------------------------

export function httpStatusOfCode(code: NodeErrorCode): number {
  switch (code) {
    case 'NOT_LEADER':
    case 'UNAVAILABLE':
    case 'PROPOSAL_DROPPED':
    case 'SHUTTING_DOWN':
      return 503;
    case 'TIMEOUT':
      return 504;
    case 'INVALID_ARGUMENT':
      return 400;
    case 'NOT_FOUND':
      return 404;
    case 'FAILED_PRECONDITION':
      return 409;
    default: {
      const never: never = code;
      return never;
    }
  }
}

const NODE_ERROR_CODES = new Set<string>(['NOT_LEADER', 'UNAVAILABLE', 'PROPOSAL_DROPPED', 'TIMEOUT', 'NOT_FOUND', 'INVALID_ARGUMENT', 'FAILED_PRECONDITION', 'SHUTTING_DOWN']);

/** The HTTP status and message of a failed request (null status: unexpected, a 500). */
export function describeError(err: unknown): { status: number | null; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  if (err instanceof NodeError) return { status: httpStatusOfCode(err.code), message: err.message };
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' && 'details' in err) {
    // A gRPC error from the leader a call was forwarded to: its NodeError code when it sent one.
    const e = err as grpc.ServiceError;
    const code = e.metadata?.get(ERROR_CODE_KEY)[0];
    const message = e.details || e.message;
    if (typeof code === 'string' && NODE_ERROR_CODES.has(code)) return { status: httpStatusOfCode(code as NodeErrorCode), message };
    switch (e.code) {
      case grpc.status.INVALID_ARGUMENT:
        return { status: 400, message };
      case grpc.status.NOT_FOUND:
        return { status: 404, message };
      case grpc.status.FAILED_PRECONDITION:
        return { status: 409, message };
      case grpc.status.DEADLINE_EXCEEDED:
        return { status: 504, message };
      case grpc.status.UNAVAILABLE:
      case grpc.status.CANCELLED:
        return { status: 503, message: `the leader did not answer: ${message}` };
      default:
        return { status: null, message };
    }
  }
  return { status: null, message: err instanceof Error ? err.message : String(err) };
}

// ---- request plumbing ----------------------------------------------------------------------------

/** Reads a request body, refusing one larger than `limit` bytes (413). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new HttpError(413, `the body is ${declared} bytes; at most ${limit} are accepted`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(new HttpError(413, `the body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}

/** A flag parameter: present (`?transaction`, `?transaction=true`) unless it says false. */
export function flag(params: URLSearchParams, name: string): boolean {
  const v = params.get(name);
  return v !== null && !/^(?:false|0|no|off)$/i.test(v);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration (`500ms`, `1.5s`, `2m`, `1m30s`; a bare number is seconds) in milliseconds. */
export function parseDuration(text: string, name: string): number {
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text) * 1000;
  const parts = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)/g) : null;
  if (parts === null) throw new HttpError(400, `${name}: expected a duration such as 500ms, 1s or 2m, got "${text}"`);
  let ms = 0;
  for (const p of parts) {
    const m = /^(\d+(?:\.\d+)?)(.+)$/.exec(p) as RegExpExecArray;
    ms += Number(m[1]) * (DURATION_UNITS[m[2] as string] ?? 0);
  }
  return ms;
}

/** `level=`: the read consistency (default, and `auto`: linearizable). */
export function parseLevel(v: string | null): ReadConsistency {
  switch ((v ?? '').toLowerCase()) {
    case '':
    case 'auto':
    case 'linearizable':
      // Not rqlite's default (weak): a read is never stale unless the caller asks for it.
      return ReadConsistency.READ_CONSISTENCY_LINEARIZABLE;
    case 'none':
      return ReadConsistency.READ_CONSISTENCY_NONE;
    case 'weak':
      return ReadConsistency.READ_CONSISTENCY_WEAK;
    case 'strong':
      return ReadConsistency.READ_CONSISTENCY_STRONG;
    default:
      throw new HttpError(400, `level: expected none, weak, linearizable or strong, got "${v}"`);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: ServerResponse, status: number, body: string | Buffer, type = JSON_TYPE, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

interface Route {
  readonly methods: readonly string[];
  readonly run: (req: IncomingMessage, res: ServerResponse, params: URLSearchParams, t0: number) => Promise<void>;
}

/** The SQL routes, for the engine's HTTP server (see the header). */
export function sqlHttpHandler(database: SqlDatabase, options: SqlHttpOptions): HttpRoute {
  const groupId = options.groupId ?? 0;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const maxLoad = options.maxLoadBytes ?? DEFAULT_MAX_LOAD;

  const deadlineOf = (params: URLSearchParams): number => {
    const t = params.get('timeout');
    const ms = t === null ? options.requestTimeoutMs : Math.min(options.requestTimeoutMs, Math.max(1, parseDuration(t, 'timeout')));
    return Date.now() + ms;
  };

  const statementsOf = async (req: IncomingMessage, params: URLSearchParams): Promise<Statement[]> => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      const q = params.getAll('q');
      if (q.length === 0) throw new HttpError(400, 'give the query as q=SQL (or POST a JSON array of statements)');
      return q.map((sql) => ({ sql, positional: [], named: [] }));
    }
    const body = await readBody(req, maxBody);
    if (body.length === 0 && params.has('q')) return params.getAll('q').map((sql) => ({ sql, positional: [], named: [] }));
    return parseStatements(body.toString('utf8'));
  };

  const format = (endpoint: FormatOptions['endpoint'], params: URLSearchParams): FormatOptions => ({ endpoint, timings: flag(params, 'timings'), associative: flag(params, 'associative') });
  const elapsed = (t0: number): string => JSON.stringify((performance.now() - t0) / 1000);

  const routes: Record<string, Route> = {
    '/db/execute': {
      methods: ['POST'],
      async run(req, res, params, t0) {
        const statements = await statementsOf(req, params);
        const deadline = deadlineOf(params);
        const queued = flag(params, 'queue');
        const r = await database.execute({ statements, transaction: flag(params, 'transaction'), queued }, false, deadline);
        const f = format('execute', params);
        const extra: Record<string, string> = {};
        if (queued) {
          if (flag(params, 'wait')) {
            const w = await database.waitForSequence({ index: r.index, term: r.term, timeoutMs: 0n }, deadline);
            if (w.outcome !== WaitForSequenceResponse_Outcome.OUTCOME_APPLIED) {
              throw new NodeError('PROPOSAL_DROPPED', `the queued write (sequence number ${r.index}) was dropped by a change of leader: it did not take effect`);
            }
          }
          extra.sequence_number = r.index.toString();
        }
        if (flag(params, 'raft_index') && !queued) extra.raft_index = r.index.toString();
        if (f.timings) extra.time = elapsed(t0);
        send(res, 200, responseJson(r.results, f, extra));
      },
    },
    '/db/query': {
      methods: ['GET', 'HEAD', 'POST'],
      async run(req, res, params, t0) {
        const statements = await statementsOf(req, params);
        const consistency = parseLevel(params.get('level'));
        const fresh = params.get('freshness');
        const freshnessMs = fresh === null ? 0n : BigInt(Math.ceil(parseDuration(fresh, 'freshness')));
        const r = await database.query({ statements, consistency, freshnessMs }, false, deadlineOf(params));
        const f = format('query', params);
        send(res, 200, responseJson(r.results, f, f.timings ? { time: elapsed(t0) } : {}));
      },
    },
    '/db/request': {
      methods: ['POST'],
      async run(req, res, params, t0) {
        const statements = await statementsOf(req, params);
        const consistency = parseLevel(params.get('level'));
        const r = await database.request({ statements, transaction: flag(params, 'transaction'), consistency }, false, deadlineOf(params));
        const f = format('request', params);
        const extra: Record<string, string> = {};
        if (flag(params, 'raft_index')) extra.raft_index = r.index.toString();
        if (f.timings) extra.time = elapsed(t0);
        send(res, 200, responseJson(r.results, f, extra));
      },
    },
    '/db/backup': {
      methods: ['GET', 'HEAD'],
      async run(_req, res, params) {
        const fmt = params.get('fmt');
        if (fmt !== null && fmt !== 'binary' && fmt !== 'db') throw new HttpError(400, `fmt=${fmt} is not supported: a backup is the SQLite database file`);
        const chunks = await database.backup(deadlineOf(params));
        let data = withoutWalHeader(Buffer.concat(chunks.map((c) => c.data)));
        if (flag(params, 'compress')) data = await gzipAsync(data);
        send(res, 200, data, 'application/octet-stream', { 'content-disposition': `attachment; filename="backup.sqlite${flag(params, 'compress') ? '.gz' : ''}"` });
      },
    },
    '/db/load': {
      methods: ['POST'],
      async run(req, res) {
        let data = await readBody(req, maxLoad);
        if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
          try {
            data = await gunzipAsync(data, { maxOutputLength: Math.min(MAX_RESTORE_BYTES, maxLoad * 8) });
          } catch (err) {
            throw new HttpError(/exceed|buffer/i.test((err as Error).message) ? 413 : 400, `cannot decompress the gzipped body: ${(err as Error).message}`);
          }
        }
        if (data.length < SQLITE_HEADER.length || !data.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
          throw new HttpError(415, 'the body is not a SQLite database file (/db/load takes a SQLite file, not a SQL dump: send a dump\'s statements to /db/execute)');
        }
        withoutWalHeader(data);
        const deadline = Date.now() + Math.max(options.requestTimeoutMs, 60_000);
        try {
          await database.restore(data, deadline);
        } catch (err) {
          // Restore runs on the leader only: send the file there, as the gRPC API would.
          if (!(err instanceof NodeError && err.code === 'NOT_LEADER' && err.leaderAddress !== null)) throw err;
          await forwardRestore(err.leaderAddress, data, deadline, options.node?.address ?? '');
        }
        send(res, 200, '{"results":[]}');
      },
    },
    '/status': {
      methods: ['GET', 'HEAD'],
      run(_req, res) {
        const host = options.host;
        const v = groupView(host.group(groupId), (id) => host.resolve(id));
        const status = {
          node: { ...options.node, member_id: host.selfId },
          store: {
            node_id: host.selfId,
            leader: { node_id: v.leader ?? '', addr: v.leader === null ? '' : (host.resolve(v.leader) ?? '') },
            raft: {
              state: v.role,
              term: v.term,
              commit_index: v.commit,
              applied_index: v.applied,
              first_index: v.firstIndex,
              last_log_index: v.lastIndex,
              snapshot_index: v.snapshotIndex,
            },
            nodes: v.members.map((m) => ({ id: m.id, addr: m.address ?? '', voter: m.role === 'voter' })),
          },
        };
        send(res, 200, `${JSON.stringify(status, null, 2)}\n`);
        return Promise.resolve();
      },
    },
    '/nodes': {
      methods: ['GET', 'HEAD'],
      run(_req, res, params) {
        // `addr` is the member's gRPC address (Raft and the gRPC database API); members' HTTP
        // addresses are not known to each other, so there is no `api_addr`.
        const host = options.host;
        const v = groupView(host.group(groupId), (id) => host.resolve(id));
        const nodes = v.members.map((m) => ({
          id: m.id,
          addr: m.address ?? '',
          voter: m.role === 'voter',
          leader: m.id === v.leader,
          ...(m.id === host.selfId ? { reachable: true } : m.active === null ? {} : { reachable: m.active }),
        }));
        const body = params.get('ver') === '2' ? { nodes } : Object.fromEntries(nodes.map(({ id, ...rest }) => [id, rest]));
        send(res, 200, `${JSON.stringify(body, null, 2)}\n`);
        return Promise.resolve();
      },
    },
  };

  return (req, res, path) => {
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route === undefined) return false;
    const method = req.method ?? 'GET';
    if (!route.methods.includes(method)) {
      send(res, 405, JSON.stringify({ error: `${method} is not allowed on ${path}: use ${route.methods.filter((m) => m !== 'HEAD').join(' or ')}` }), JSON_TYPE, { allow: route.methods.join(', ') });
      req.resume();
      return true;
    }
    const t0 = performance.now();
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    route.run(req, res, params, t0).catch((err: unknown) => {
      const { status, message } = describeError(err);
      if (status === null) options.logger.error({ err, path }, 'unexpected error in an HTTP database request');
      const headers: Record<string, string> = {};
      if (status === 503) headers['retry-after'] = '1';
      if (status === 413) headers.connection = 'close';
      send(res, status ?? 500, JSON.stringify({ error: message }), JSON_TYPE, headers);
      // Drop the rest of a body we refused, without reading it into memory.
      if (!req.complete) req.resume();
    });
    return true;
  };
}


/** Sends a database file to the leader's Restore (a follower cannot restore). */
function forwardRestore(address: string, data: Buffer, deadline: number, self: string): Promise<RestoreResponse> {
  const client = new DatabaseServiceClient(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set(FORWARDED_KEY, self || 'http');
  return new Promise<RestoreResponse>((resolve, reject) => {
    const call = client.restore(md, { deadline }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
    for (let off = 0; off < data.length; off += RESTORE_CHUNK) call.write({ data: data.subarray(off, off + RESTORE_CHUNK) });
    call.end();
  });
}
