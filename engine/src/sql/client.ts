/**
 * A client of Leviathan's replicated SQLite database that finds the leader by itself.
 *
 * Any member answers any call (followers forward to the leader), so routing is only about
 * speed: writes and reads at WEAK or STRONG go to the last known leader (learned from the
 * `leviathan-leader-address` metadata or from a call that succeeded), reads at NONE or
 * LINEARIZABLE are spread round-robin over every endpoint.
 *
 * Retries follow the key-value client's rule: a write is retried only when the server said it
 * certainly did not take effect (NOT_LEADER, PROPOSAL_DROPPED, UNAVAILABLE in the
 * `leviathan-error-code` metadata), or the connection was never established. Otherwise the caller
 * gets `LeviathanError{ definite: false }`: the write may or may not have been applied, and
 * retrying a non-idempotent write blindly could apply it twice. Reads have no effect and are
 * retried until the deadline.
 *
 * A statement's own failure (a constraint, a syntax error) is not an exception: it is the
 * `error` of its result. Exceptions are transport or server errors.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../gen/leviathan/sql/v1/sql.js';
import { ERROR_CODE_KEY, LEADER_ADDRESS_KEY } from '../server/grpc-util.js';
import { fromStatementResult, isReadOnlySql, toStatements } from './values.js';
import type { StatementInput, StatementResult } from './values.js';

export { toStatement, toStatements, toValue, fromValue } from './values.js';
export type { Params, Rows, StatementInput, StatementResult } from './values.js';

export type Consistency = 'none' | 'weak' | 'linearizable' | 'strong';

export const CONSISTENCIES: readonly Consistency[] = ['none', 'weak', 'linearizable', 'strong'];

export class LeviathanError extends Error {
  constructor(
    message: string,
    /**
     * The server's `leviathan-error-code` (NOT_LEADER, TIMEOUT, INVALID_ARGUMENT, ...) when it
     * sent one, else the gRPC status name (UNAVAILABLE, DEADLINE_EXCEEDED, ...).
     */
    readonly code: string,
    /** True when the operation certainly did not take effect (always true for reads). */
    readonly definite: boolean,
    /** Where the server said the leader is, if it said. */
    readonly leaderAddress: string | null = null,
    readonly grpcCode: grpc.status | null = null,
  ) {
    super(message);
    this.name = 'LeviathanError';
  }
}

export interface LeviathanClientOptions {
  /** Give up on a call after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Default read consistency (default linearizable). */
  readonly consistency?: Consistency;
}

export interface ExecuteResult {
  readonly results: StatementResult[];
  /** Log index of the write (for a queued write, the sequence number to wait for). */
  readonly index: bigint;
  readonly term: bigint;
  /** Seconds from the server receiving the request to answering it. */
  readonly time: number;
}

export interface QueryResult {
  readonly results: StatementResult[];
  /** Applied index of the replica that answered. */
  readonly index: bigint;
  readonly time: number;
}

/** Server error codes meaning "the write did not take effect, try again (elsewhere)". */
const NOT_APPLIED = new Set(['NOT_LEADER', 'PROPOSAL_DROPPED', 'UNAVAILABLE']);
/** Server error codes that also mean "not applied", but retrying would not help. */
const REJECTED = new Set(['INVALID_ARGUMENT', 'NOT_FOUND', 'FAILED_PRECONDITION']);
/** gRPC statuses a retry cannot fix (unless the server code says NOT_LEADER). */
const PERMANENT = new Set<grpc.status>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.CANCELLED,
]);

const CONSISTENCY: Record<Consistency, pb.ReadConsistency> = {
  none: pb.ReadConsistency.READ_CONSISTENCY_NONE,
  weak: pb.ReadConsistency.READ_CONSISTENCY_WEAK,
  linearizable: pb.ReadConsistency.READ_CONSISTENCY_LINEARIZABLE,
  strong: pb.ReadConsistency.READ_CONSISTENCY_STRONG,
};

/** Backup and restore move whole databases: they get longer than ordinary calls by default. */
const STREAM_TIMEOUT_MS = 10 * 60_000;
const RESTORE_CHUNK_BYTES = 1 << 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;
type UnaryMethod = 'execute' | 'query' | 'request' | 'waitForSequence';

/** Where a call goes and what may be retried. */
interface Route {
  /** To the leader (else round-robin over all endpoints). */
  readonly leader: boolean;
  /** Has effects: retried only when it certainly did not take effect. */
  readonly write: boolean;
}

/** What a failed attempt means. */
interface Failure {
  readonly code: string;
  readonly grpcCode: grpc.status | null;
  readonly message: string;
  readonly hint: string | null;
  /** It certainly did not take effect. */
  readonly notApplied: boolean;
  /** Trying again (possibly elsewhere) could succeed. */
  readonly retryable: boolean;
}

export class LeviathanClient {
  private readonly clients = new Map<string, pb.DatabaseServiceClient>();
  private readonly endpoints: readonly string[];
  private leader: string | null = null;
  private next = 0;
  private readonly timeoutMs: number;
  private readonly consistency: Consistency;

  constructor(endpoints: readonly string[], options: LeviathanClientOptions = {}) {
    this.endpoints = endpoints.map((e) => e.trim()).filter((e) => e !== '');
    if (this.endpoints.length === 0) throw new Error('LeviathanClient needs at least one endpoint');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.consistency = options.consistency ?? 'linearizable';
    if (!(this.consistency in CONSISTENCY)) throw new TypeError(`unknown consistency ${String(this.consistency)}`);
  }

  /** Runs statements that change the database (through the Raft log, on the leader). */
  async execute(statements: StatementInput | readonly StatementInput[], options: { transaction?: boolean; queued?: boolean } = {}): Promise<ExecuteResult> {
    const req: pb.ExecuteRequest = { statements: toStatements(statements), transaction: options.transaction ?? false, queued: options.queued ?? false };
    const res = await this.run<pb.ExecuteRequest, pb.ExecuteResponse>('execute', req, { leader: true, write: true });
    return { results: res.results.map(fromStatementResult), index: res.index, term: res.term, time: res.time };
  }

  /** Runs read-only statements at the requested consistency (default: the client's). */
  async query(statements: StatementInput | readonly StatementInput[], options: { consistency?: Consistency; freshnessMs?: number } = {}): Promise<QueryResult> {
    const consistency = this.level(options.consistency);
    const req: pb.QueryRequest = { statements: toStatements(statements), consistency: CONSISTENCY[consistency], freshnessMs: BigInt(options.freshnessMs ?? 0) };
    const res = await this.run<pb.QueryRequest, pb.QueryResponse>('query', req, { leader: consistency === 'weak' || consistency === 'strong', write: false });
    return { results: res.results.map(fromStatementResult), index: res.index, time: res.time };
  }

  /**
   * Runs reads and writes mixed: the server sends the request through the log if any statement
   * writes, else serves it as a query at the consistency. Routed and retried as a write unless
   * every statement certainly only reads (starts with SELECT, VALUES or EXPLAIN).
   */
  async request(statements: StatementInput | readonly StatementInput[], options: { transaction?: boolean; consistency?: Consistency } = {}): Promise<QueryResult> {
    const consistency = this.level(options.consistency);
    const stmts = toStatements(statements);
    const readOnly = stmts.length > 0 && stmts.every((s) => isReadOnlySql(s.sql));
    const req: pb.RequestRequest = { statements: stmts, transaction: options.transaction ?? false, consistency: CONSISTENCY[consistency] };
    const route = readOnly ? { leader: consistency === 'weak' || consistency === 'strong', write: false } : { leader: true, write: true };
    const res = await this.run<pb.RequestRequest, pb.RequestResponse>('request', req, route);
    return { results: res.results.map(fromStatementResult), index: res.index, time: res.time };
  }

  /**
   * Waits until a queued write (`execute(..., { queued: true })`) was applied, or learns that a
   * new leader dropped it (it did not take effect). Gives up after `timeoutMs` (default: the
   * client's timeout).
   */
  async waitForSequence(index: bigint | number, term: bigint | number, timeoutMs?: number): Promise<'applied' | 'dropped'> {
    const total = timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + total;
    const res = await this.run<pb.WaitForSequenceRequest, pb.WaitForSequenceResponse>(
      'waitForSequence',
      () => ({ index: BigInt(index), term: BigInt(term), timeoutMs: BigInt(Math.max(1, deadline - Date.now())) }),
      { leader: true, write: false },
      total,
    );
    switch (res.outcome) {
      case pb.WaitForSequenceResponse_Outcome.OUTCOME_APPLIED:
        return 'applied';
      case pb.WaitForSequenceResponse_Outcome.OUTCOME_DROPPED:
        return 'dropped';
      default:
        throw new LeviathanError(`waitForSequence: unexpected outcome ${res.outcome}`, 'UNKNOWN', true);
    }
  }

  /**
   * Writes a consistent copy of the database (a SQLite file) to `toFile`, fsynced, and returns
   * the applied index it was taken at. The file appears only when complete (written next to it
   * under a temporary name, then renamed).
   */
  async backup(toFile: string, options: { timeoutMs?: number } = {}): Promise<bigint> {
    const deadline = Date.now() + (options.timeoutMs ?? Math.max(this.timeoutMs, STREAM_TIMEOUT_MS));
    const tmp = `${toFile}.${process.pid}.partial`;
    let last: Failure | null = null;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const address = this.pick(true);
      const file = await open(tmp, 'w', 0o644);
      let index: bigint | null = null;
      const stream = this.client(address).backup({}, new grpc.Metadata(), { deadline });
      // grpc-js emits a failed status as 'error' whether or not anyone still listens.
      stream.on('error', () => undefined);
      try {
        for await (const chunk of stream as AsyncIterable<pb.BackupResponse>) {
          index ??= chunk.index;
          if (chunk.data.length > 0) await file.write(chunk.data);
        }
        await file.sync();
        await file.close();
        await rename(tmp, toFile);
        await syncDir(dirname(toFile));
        return index ?? 0n;
      } catch (e) {
        stream.cancel();
        await file.close().catch(() => undefined);
        if (!isServiceError(e)) {
          await rm(tmp, { force: true });
          throw e;
        }
        last = classify(e, address);
        if (!last.retryable) {
          await rm(tmp, { force: true });
          throw failed('backup', last, true);
        }
        await this.afterFailure(address, last, true, attempt);
      }
    }
    await rm(tmp, { force: true });
    throw giveUp('backup', last);
  }

  /**
   * Replaces the whole database, on every replica, with the SQLite file `fromFile`; returns the
   * log index of the restore. Retried (from the start) only when it certainly did not happen.
   */
  async restore(fromFile: string, options: { timeoutMs?: number } = {}): Promise<bigint> {
    const deadline = Date.now() + (options.timeoutMs ?? Math.max(this.timeoutMs, STREAM_TIMEOUT_MS));
    let last: Failure | null = null;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const address = this.pick(true);
      try {
        const res = await this.restoreOnce(address, fromFile, deadline);
        this.leader = address;
        return res.index;
      } catch (e) {
        if (!isServiceError(e)) throw e;
        last = classify(e, address);
        if (!last.notApplied) throw failed('restore', last, false);
        if (!last.retryable) throw failed('restore', last, true);
        await this.afterFailure(address, last, true, attempt);
      }
    }
    throw giveUp('restore', last);
  }

  private async restoreOnce(address: string, fromFile: string, deadline: number): Promise<pb.RestoreResponse> {
    let call: grpc.ClientWritableStream<pb.RestoreRequest> | undefined;
    const result = new Promise<pb.RestoreResponse>((resolve, reject) => {
      call = this.client(address).restore(new grpc.Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
    });
    const stream = call as grpc.ClientWritableStream<pb.RestoreRequest>;
    let settled = false;
    const done = result.then(
      () => void (settled = true),
      () => void (settled = true),
    );
    try {
      for await (const data of createReadStream(fromFile, { highWaterMark: RESTORE_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
        if (settled) break;
        if (!stream.write({ data })) await Promise.race([new Promise((r) => stream.once('drain', r)), done]);
      }
    } catch (e) {
      // Reading the file failed before the stream was ended: cancel, so nothing is restored.
      stream.cancel();
      await done;
      throw e;
    }
    if (!settled) stream.end();
    return result;
  }

  /** Closes every connection; the client is unusable afterwards. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private level(c: Consistency | undefined): Consistency {
    const level = c ?? this.consistency;
    if (!(level in CONSISTENCY)) throw new TypeError(`unknown consistency ${String(level)} (expected ${CONSISTENCIES.join(', ')})`);
    return level;
  }

  private client(address: string): pb.DatabaseServiceClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new pb.DatabaseServiceClient(address, grpc.credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 500,
        // Query results can be large; the server bounds what it sends.
        'grpc.max_receive_message_length': -1,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  private pick(leader: boolean): string {
    if (leader && this.leader !== null) return this.leader;
    return this.endpoints[this.next++ % this.endpoints.length] as string;
  }

  /** One unary call; resolves with the response and the leader hint the server sent, if any. */
  private call<Req, Res>(address: string, method: UnaryMethod, req: Req, deadline: number): Promise<{ res: Res; hint: string | null }> {
    const c = this.client(address);
    const fn = (c[method] as unknown as Unary<Req, Res>).bind(c);
    return new Promise((resolve, reject) => {
      let hint: string | null = null;
      const call = fn(req, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) reject(err);
        // grpc-js reports the status (with trailers) right after the callback, synchronously.
        else queueMicrotask(() => resolve({ res, hint }));
      });
      call.on('metadata', (md: grpc.Metadata) => (hint = leaderHint(md) ?? hint));
      call.on('status', (s: grpc.StatusObject) => (hint = leaderHint(s.metadata) ?? hint));
    });
  }

  /** Sends a call where `route` says, following leader hints and retrying what is safe. */
  private async run<Req, Res>(method: UnaryMethod, req: Req | (() => Req), route: Route, timeoutMs = this.timeoutMs): Promise<Res> {
    const deadline = Date.now() + timeoutMs;
    let last: Failure | null = null;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const address = this.pick(route.leader);
      try {
        const { res, hint } = await this.call<Req, Res>(address, method, typeof req === 'function' ? (req as () => Req)() : req, deadline);
        // Round-robin reads prove nothing about who leads; a hint does.
        if (hint !== null) this.leader = hint;
        else if (route.leader) this.leader = address;
        return res;
      } catch (e) {
        if (!isServiceError(e)) throw e;
        last = classify(e, address);
        if (route.write && !last.notApplied) throw failed(method, last, false);
        if (!last.retryable) throw failed(method, last, true);
        await this.afterFailure(address, last, route.leader, attempt);
      }
    }
    throw giveUp(method, last, timeoutMs);
  }

  /** Updates the leader guess after a failed attempt, and backs off when there is no lead. */
  private async afterFailure(address: string, f: Failure, toLeader: boolean, attempt: number): Promise<void> {
    if (f.hint !== null && f.hint !== address) {
      this.leader = f.hint;
      return;
    }
    if (toLeader || this.leader === address) this.leader = null;
    await sleep(Math.min(200, 20 * (attempt + 1)));
  }
}

/** The error for a failure that ends the call; without `definite`, the outcome is unknown. */
function failed(method: string, f: Failure, definite: boolean): LeviathanError {
  return new LeviathanError(`${method}: ${definite ? '' : 'outcome unknown: '}${f.message}`, f.code, definite, f.hint, f.grpcCode);
}

/**
 * The error for running out of time. Definite even for writes: an attempt is only followed by
 * another when it certainly did not take effect, so none of them did.
 */
function giveUp(method: string, last: Failure | null, timeoutMs?: number): LeviathanError {
  const after = timeoutMs === undefined ? '' : ` after ${timeoutMs} ms`;
  if (last === null) return new LeviathanError(`${method}: gave up${after}: no attempt made`, 'TIMEOUT', true);
  return new LeviathanError(`${method}: gave up${after}: ${last.message}`, last.code, true, last.hint, last.grpcCode);
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in e;
}

function leaderHint(md: grpc.Metadata | undefined): string | null {
  const v = md?.get(LEADER_ADDRESS_KEY)[0];
  return typeof v === 'string' && v !== '' ? v : null;
}

/** What a gRPC error says about the attempt. */
function classify(err: grpc.ServiceError, address: string): Failure {
  const serverCode = String(err.metadata?.get(ERROR_CODE_KEY)[0] ?? '');
  const message = `${address}: ${err.details || err.message}`;
  const hint = leaderHint(err.metadata);
  const grpcCode = typeof err.code === 'number' ? err.code : null;
  const code = serverCode !== '' ? serverCode : grpcCode !== null ? (grpc.status[grpcCode] ?? String(grpcCode)) : 'UNKNOWN';
  if (serverCode !== '') {
    return { code, grpcCode, message, hint, notApplied: NOT_APPLIED.has(serverCode) || REJECTED.has(serverCode), retryable: !REJECTED.has(serverCode) };
  }
  // Without our own error code the server may have applied a write before the connection broke
  // (or never seen it): only a connection that was never made makes a write certainly unapplied.
  const neverConnected = grpcCode === grpc.status.UNAVAILABLE && isConnectFailure(err);
  return { code, grpcCode, message, hint, notApplied: neverConnected, retryable: grpcCode === null || !PERMANENT.has(grpcCode) };
}

/** The call never reached a server: connection refused or no connection could be made. */
function isConnectFailure(err: grpc.ServiceError): boolean {
  return /ECONNREFUSED|No connection established|failed to connect|Name resolution failed|ENOTFOUND/i.test(err.details ?? err.message);
}

/** Makes a rename durable (best effort: not every platform can fsync a directory). */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Directories cannot be opened for fsync on some platforms (Windows).
  }
}
