/**
 * A small typed layer over the generated DatabaseService gRPC client, for the SQL integration
 * tests: values to and from the protobuf oneof, one node's Execute/Query as promises, errors
 * classified as "certainly did not take effect" or "outcome unknown", writes retried across
 * nodes only when the server said they did not take effect, and dumps for replica comparison.
 *
 * Deliberately independent of engine/src/sql/client.ts: the tests check the server, not a client.
 */
import * as grpc from '@grpc/grpc-js';
import { DatabaseServiceClient, ReadConsistency } from '../../src/gen/leviathan/sql/v1/sql.js';
import type { ExecuteResponse, QueryResponse, Statement, StatementResult, Value } from '../../src/gen/leviathan/sql/v1/sql.js';
import { ERROR_CODE_KEY } from '../../src/server/grpc-util.js';
import { sleep } from './engine-cluster.js';
import type { EngineCluster } from './engine-cluster.js';

export { ReadConsistency };

/** A SQLite value as the tests write it. */
export type SqlValue = null | bigint | number | string | Buffer;

export function toValue(v: SqlValue): Value {
  if (v === null) return { kind: { $case: 'null', value: true } };
  if (typeof v === 'bigint') return { kind: { $case: 'integer', value: v } };
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: { $case: 'integer', value: BigInt(v) } } : { kind: { $case: 'real', value: v } };
  if (typeof v === 'string') return { kind: { $case: 'text', value: v } };
  return { kind: { $case: 'blob', value: v } };
}

export function fromValue(v: Value | undefined): SqlValue {
  const k = v?.kind;
  if (k === undefined || k.$case === 'null') return null;
  if (k.$case === 'blob') return Buffer.from(k.value);
  return k.value;
}

/** A statement with positional parameters. */
export function st(sql: string, ...params: SqlValue[]): Statement {
  return { sql, positional: params.map(toValue), named: [] };
}

/** A statement with named parameters (names without the prefix). */
export function named(sql: string, params: Record<string, SqlValue>): Statement {
  return { sql, positional: [], named: Object.entries(params).map(([name, v]) => ({ name, value: toValue(v) })) };
}

/** The rows of one statement's result as plain values. */
export function rowsOf(r: StatementResult | undefined): SqlValue[][] {
  return (r?.rows?.rows ?? []).map((row) => row.values.map(fromValue));
}

/** Errors the server marks as "the request did not take effect". */
const NOT_APPLIED = new Set(['NOT_LEADER', 'UNAVAILABLE', 'PROPOSAL_DROPPED']);

/** A failed call, classified. */
export class SqlCallError extends Error {
  constructor(
    readonly address: string,
    readonly code: grpc.status,
    /** The server's `leviathan-error-code`, '' when there is none. */
    readonly serverCode: string,
    readonly details: string,
    /** True when the request certainly did not take effect. */
    readonly definite: boolean,
  ) {
    super(`${address}: ${grpc.status[code] ?? code}${serverCode === '' ? '' : `/${serverCode}`}: ${details}`);
    this.name = 'SqlCallError';
  }
}

function classify(address: string, err: grpc.ServiceError): SqlCallError {
  const serverCode = String(err.metadata?.get(ERROR_CODE_KEY)[0] ?? '');
  const details = err.details || err.message;
  // Without the server's code, only a connection that was never made proves nothing happened.
  const definite = NOT_APPLIED.has(serverCode) || (serverCode === '' && err.code === grpc.status.UNAVAILABLE && /ECONNREFUSED/.test(details));
  return new SqlCallError(address, err.code, serverCode, details, definite);
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

/** One node's DatabaseService. */
export class SqlNode {
  private readonly client: DatabaseServiceClient;

  constructor(readonly address: string) {
    this.client = new DatabaseServiceClient(address, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 500,
    });
  }

  private call<Req, Res>(method: 'execute' | 'query', req: Req, timeoutMs: number): Promise<Res> {
    const fn = (this.client[method] as unknown as Unary<Req, Res>).bind(this.client);
    return new Promise((resolve, reject) => {
      fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(classify(this.address, err)) : resolve(res)));
    });
  }

  execute(statements: Statement[], options: { transaction?: boolean; timeoutMs?: number } = {}): Promise<ExecuteResponse> {
    return this.call('execute', { statements, transaction: options.transaction ?? false, queued: false }, options.timeoutMs ?? 5_000);
  }

  query(statements: Statement[], consistency: ReadConsistency, timeoutMs = 5_000): Promise<QueryResponse> {
    return this.call('query', { statements, consistency, freshnessMs: 0n }, timeoutMs);
  }

  close(): void {
    this.client.close();
  }
}

/** A client per node of the cluster (closed with the cluster). */
export function sqlNodes(c: EngineCluster): SqlNode[] {
  return c.nodes.map((n) => c.adopt(new SqlNode(n.address)));
}

/** Every statement of a response succeeded; returns the results. */
export function expectOk<T extends { results: StatementResult[] }>(res: T): T {
  const errors = res.results.map((r, i) => (r.error === '' ? null : `statement ${i + 1}: ${r.error}`)).filter((e) => e !== null);
  if (errors.length > 0) throw new Error(`statements failed: ${errors.join('; ')}`);
  return res;
}

/**
 * Executes on the nodes `pick` returns, moving on to another node only when the server said the
 * request did not take effect; an unknown outcome is thrown (retrying could apply it twice).
 */
export async function executeRetrying(
  pick: () => SqlNode,
  statements: Statement[],
  options: { transaction?: boolean; timeoutMs?: number; attemptMs?: number } = {},
): Promise<ExecuteResponse> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (let attempt = 0; ; attempt++) {
    const node = pick();
    try {
      return await node.execute(statements, { transaction: options.transaction ?? false, timeoutMs: Math.max(1, Math.min(options.attemptMs ?? 3_000, deadline - Date.now())) });
    } catch (err) {
      if (!(err instanceof SqlCallError) || !err.definite || Date.now() >= deadline) throw err;
      await sleep(Math.min(200, 20 * (attempt + 1)));
    }
  }
}

/** Queries on the nodes `pick` returns until one answers (reads have no effect: always retried). */
export async function queryRetrying(pick: () => SqlNode, statements: Statement[], consistency: ReadConsistency, timeoutMs = 10_000): Promise<QueryResponse> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await pick().query(statements, consistency, Math.max(1, Math.min(3_000, deadline - Date.now())));
    } catch (err) {
      if (!(err instanceof SqlCallError) || Date.now() >= deadline) throw err;
      await sleep(Math.min(200, 20 * (attempt + 1)));
    }
  }
}

/**
 * An idempotent write (e.g. INSERT OR REPLACE of fixed values) retried until acknowledged,
 * whatever the error: applying it twice changes nothing.
 */
export async function executeSurely(pick: () => SqlNode, statements: Statement[], timeoutMs = 20_000): Promise<ExecuteResponse> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return expectOk(await pick().execute(statements, { timeoutMs: Math.max(1, Math.min(3_000, deadline - Date.now())) }));
    } catch (err) {
      if (!(err instanceof SqlCallError) || Date.now() >= deadline) throw err;
      await sleep(Math.min(200, 20 * (attempt + 1)));
    }
  }
}

/** Round-robin over `nodes`, skipping those `skip` names. */
export function roundRobin(nodes: readonly SqlNode[], skip: (i: number) => boolean = () => false): () => SqlNode {
  let next = 0;
  return () => {
    for (let k = 0; k < nodes.length; k++) {
      const i = next++ % nodes.length;
      if (!skip(i)) return nodes[i]!;
    }
    return nodes[next++ % nodes.length]!;
  };
}

/** Every user table and its rows ordered by rowid, as one node has them. */
export interface Dump {
  /** The node's applied index when the dump was taken. */
  readonly index: bigint;
  readonly schema: SqlValue[][];
  readonly tables: Record<string, SqlValue[][]>;
}

/**
 * Dumps `tables` (rows by rowid, every column) and the schema from one node with consistency
 * NONE, in one request so that it is one state.
 */
export async function dump(node: SqlNode, tables: readonly string[]): Promise<Dump> {
  const res = await node.query(
    [st("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"), ...tables.map((t) => st(`SELECT rowid AS _rowid, * FROM "${t}" ORDER BY rowid`))],
    ReadConsistency.READ_CONSISTENCY_NONE,
  );
  expectOk(res);
  return {
    index: res.index,
    schema: rowsOf(res.results[0]),
    tables: Object.fromEntries(tables.map((t, i) => [t, rowsOf(res.results[i + 1])])),
  };
}

/**
 * Waits until every running node has applied the leader's commit index (read from /raft/status
 * once writes have stopped), then dumps `tables` from each of them with consistency NONE. Each
 * dump's own applied index (the response's) must have reached that commit index.
 */
export async function dumpAll(c: EngineCluster, nodes: readonly SqlNode[], tables: readonly string[], timeoutMs = 20_000): Promise<Dump[]> {
  const leader = await c.waitLeader();
  const commit = (await c.node(leader).group())?.commit ?? 0;
  const deadline = Date.now() + timeoutMs;
  const out: Dump[] = [];
  for (const [i, n] of c.nodes.entries()) {
    if (!n.running) continue;
    for (;;) {
      const view = await n.group();
      if (view !== null && view.applied >= commit) {
        const d = await dump(nodes[i]!, tables).catch(() => null);
        if (d !== null && d.index >= BigInt(commit)) {
          out.push(d);
          break;
        }
      }
      if (Date.now() > deadline) throw new Error(`${n.name} did not apply up to the leader's commit ${commit} within ${timeoutMs} ms (applied ${view?.applied ?? '?'})`);
      await sleep(50);
    }
  }
  return out;
}
