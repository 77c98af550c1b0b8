/**
 * The database's request handling, shared by the gRPC service and the HTTP API: where each
 * request runs (here, or forwarded to the leader), at which consistency, and through the log or
 * not. Requests and responses are the protobuf types of proto/leviathan/sql/v1/sql.proto.
 *
 * Where a request runs:
 *   Execute, Request with a write, STRONG reads  -> the leader, through the log
 *   WEAK reads                                   -> the leader's state, no quorum check
 *   LINEARIZABLE reads                           -> any replica, after a ReadIndex round
 *   NONE reads                                   -> this replica as it is
 * A follower forwards to the leader over gRPC (once: a forwarded call is never forwarded
 * again), so clients may talk to any member.
 */
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { LogCommand } from '../gen/leviathan/sql/v1/log.js';
import { DatabaseServiceClient, ReadConsistency, WaitForSequenceResponse_Outcome } from '../gen/leviathan/sql/v1/sql.js';
import type {
  BackupResponse,
  ExecuteRequest,
  ExecuteResponse,
  QueryRequest,
  QueryResponse,
  RequestRequest,
  RequestResponse,
  StatementResult,
  WaitForSequenceRequest,
  WaitForSequenceResponse,
} from '../gen/leviathan/sql/v1/sql.js';
import { NodeError } from '../node/index.js';
import type { NodeHost, RaftGroup } from '../node/index.js';
import { RaftError } from '../raft/index.js';
import { SqlStateMachine } from './sql-state-machine.js';

export const FORWARDED_KEY = 'leviathan-forwarded';
const SQLITE_HEADER = 'SQLite format 3\0';
/**
 * Largest database a Restore accepts. It travels as one log entry, so one append message must
 * carry it within the peer transport's 64 MiB gRPC message limit, with room to spare.
 */
export const MAX_RESTORE_BYTES = 48 << 20;
const BACKUP_CHUNK = 1 << 20;

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

export interface DatabaseOptions {
  readonly host: NodeHost;
  readonly groupId: number;
  readonly requestTimeoutMs: number;
  /** Address of this node (marks forwarded calls). */
  readonly self: string;
}

/** The outcome of writes queued on this node, kept for WaitForSequence (bounded). */
const QUEUED_MEMORY = 100_000;

export class SqlDatabase {
  private readonly clients = new Map<string, InstanceType<typeof DatabaseServiceClient>>();
  private readonly queued = new Map<string, 'applied' | 'dropped'>();

  constructor(private readonly o: DatabaseOptions) {}

  private group(): RaftGroup {
    return this.o.host.group(this.o.groupId);
  }

  private machine(): SqlStateMachine {
    const sm = this.group().stateMachine;
    if (!(sm instanceof SqlStateMachine)) throw new NodeError('FAILED_PRECONDITION', `group ${this.o.groupId} is not a SQL database`);
    return sm;
  }

  private client(address: string): InstanceType<typeof DatabaseServiceClient> {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new DatabaseServiceClient(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': MAX_RESTORE_BYTES + (1 << 20) });
      this.clients.set(address, c);
    }
    return c;
  }

  /** Runs `local` if this node leads; otherwise forwards the call to the leader. */
  private async onLeader<Req, Res>(method: 'execute' | 'query' | 'request', req: Req, forwarded: boolean, deadline: number, local: () => Promise<Res>): Promise<Res> {
    const g = this.group();
    if (g.isLeader()) return local();
    const leader = g.leaderId();
    const address = leader === null ? undefined : this.o.host.resolve(leader);
    if (forwarded || address === undefined) {
      throw new NodeError(address === undefined ? 'UNAVAILABLE' : 'NOT_LEADER', `not the leader of the database${leader === null ? ', and no leader is known: retry shortly' : ''}`, leader, address ?? null);
    }
    const c = this.client(address);
    const md = new grpc.Metadata();
    md.set(FORWARDED_KEY, this.o.self);
    const fn = (c[method] as unknown as Unary<Req, Res>).bind(c);
    return new Promise<Res>((resolve, reject) => {
      fn(req, md, { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  private budget(deadline: number): number {
    return Math.max(1, Math.min(this.o.requestTimeoutMs, deadline - Date.now()));
  }

  async execute(req: ExecuteRequest, forwarded: boolean, deadline: number): Promise<ExecuteResponse> {
    if (req.statements.length === 0) throw new NodeError('INVALID_ARGUMENT', 'no statements');
    const t0 = performance.now();
    return this.onLeader('execute', req, forwarded, deadline, async () => {
      const g = this.group();
      const command = LogCommand.encode({ kind: { $case: 'execute', value: req } }).finish();
      if (req.queued) {
        const { index, term, done } = g.proposeTracked(command, this.budget(deadline));
        done.then(
          () => this.remember(index, term, 'applied'),
          (err: unknown) => {
            if (err instanceof NodeError && err.code === 'PROPOSAL_DROPPED') this.remember(index, term, 'dropped');
          },
        );
        return { results: [], index: BigInt(index), term: BigInt(term), time: (performance.now() - t0) / 1000 };
      }
      const { index, term, done } = g.proposeTracked(command, this.budget(deadline));
      const results = (await done) as StatementResult[] | Error;
      if (results instanceof Error) throw new NodeError('INVALID_ARGUMENT', results.message);
      return { results, index: BigInt(index), term: BigInt(term), time: (performance.now() - t0) / 1000 };
    });
  }

  private remember(index: number, term: number, outcome: 'applied' | 'dropped'): void {
    this.queued.set(`${index}/${term}`, outcome);
    if (this.queued.size > QUEUED_MEMORY) {
      const oldest = this.queued.keys().next().value;
      if (oldest !== undefined) this.queued.delete(oldest);
    }
  }

  async query(req: QueryRequest, forwarded: boolean, deadline: number): Promise<QueryResponse> {
    if (req.statements.length === 0) throw new NodeError('INVALID_ARGUMENT', 'no statements');
    const t0 = performance.now();
    const g = this.group();
    const time = (): number => (performance.now() - t0) / 1000;
    switch (req.consistency) {
      case ReadConsistency.READ_CONSISTENCY_NONE:
        if (req.freshnessMs > 0n && g.leaderId() === null) throw new NodeError('UNAVAILABLE', 'this replica knows no leader, so its data may be stale beyond the freshness bound');
        return { results: this.machine().query(req.statements), index: BigInt(g.appliedIndex), time: time() };
      case ReadConsistency.READ_CONSISTENCY_WEAK:
        return this.onLeader('query', req, forwarded, deadline, () => Promise.resolve({ results: this.machine().query(req.statements), index: BigInt(g.appliedIndex), time: time() }));
      case ReadConsistency.READ_CONSISTENCY_STRONG:
        return this.onLeader('query', req, forwarded, deadline, async () => {
          const command = LogCommand.encode({ kind: { $case: 'query', value: req } }).finish();
          const { index, done } = g.proposeTracked(command, this.budget(deadline));
          const results = (await done) as StatementResult[];
          return { results, index: BigInt(index), time: time() };
        });
      default: {
        // LINEARIZABLE (and unspecified): any replica, once it applied the leader's read index.
        const index = await g.linearizableRead(this.budget(deadline));
        return { results: this.machine().query(req.statements), index: BigInt(index), time: time() };
      }
    }
  }

  /** Whether every statement only reads (one that cannot even be prepared counts as a write). */
  private readOnly(req: RequestRequest): boolean {
    return req.statements.every((s) => this.machine().isReadOnly(s.sql));
  }

  async request(req: RequestRequest, forwarded: boolean, deadline: number): Promise<RequestResponse> {
    if (req.statements.length === 0) throw new NodeError('INVALID_ARGUMENT', 'no statements');
    if (this.readOnly(req)) {
      const r = await this.query({ statements: req.statements, consistency: req.consistency, freshnessMs: 0n }, forwarded, deadline);
      return { results: r.results, index: r.index, time: r.time };
    }
    const r = await this.execute({ statements: req.statements, transaction: req.transaction, queued: false }, forwarded, deadline);
    return { results: r.results, index: r.index, time: r.time };
  }

  async waitForSequence(req: WaitForSequenceRequest, deadline: number): Promise<WaitForSequenceResponse> {
    const g = this.group();
    const index = Number(req.index);
    const end = req.timeoutMs > 0n ? Math.min(deadline, Date.now() + Number(req.timeoutMs)) : deadline;
    while (g.appliedIndex < index) {
      if (Date.now() > end) throw new NodeError('TIMEOUT', `index ${req.index} not applied here yet (applied: ${g.appliedIndex})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const known = this.queued.get(`${index}/${req.term}`);
    if (known !== undefined) return { outcome: known === 'applied' ? WaitForSequenceResponse_Outcome.OUTCOME_APPLIED : WaitForSequenceResponse_Outcome.OUTCOME_DROPPED };
    let term: number;
    try {
      term = g.log.term(index);
    } catch (err) {
      if (err instanceof RaftError && err.code === 'COMPACTED') {
        throw new NodeError('FAILED_PRECONDITION', `entry ${req.index} was compacted into a snapshot: its term cannot be checked here any more`);
      }
      throw err;
    }
    return { outcome: BigInt(term) === req.term ? WaitForSequenceResponse_Outcome.OUTCOME_APPLIED : WaitForSequenceResponse_Outcome.OUTCOME_DROPPED };
  }

  /** A consistent copy of the database, as fresh as a linearizable read. */
  async backup(deadline: number): Promise<BackupResponse[]> {
    const index = await this.group().linearizableRead(this.budget(deadline));
    const data = withoutWalHeader(Buffer.from(this.machine().snapshot()));
    const out: BackupResponse[] = [];
    for (let off = 0; off < data.length || off === 0; off += BACKUP_CHUNK) {
      out.push({ data: Buffer.from(data.subarray(off, off + BACKUP_CHUNK)), index: BigInt(off === 0 ? index : 0) });
      if (data.length === 0) break;
    }
    return out;
  }

  /** Replaces the database on every replica with a SQLite file's contents, through the log. */
  async restore(file: Uint8Array, deadline: number): Promise<number> {
    const data = withoutWalHeader(Buffer.from(file));
    checkDatabaseFile(data);
    const g = this.group();
    if (!g.isLeader()) {
      const leader = g.leaderId();
      const address = leader === null ? undefined : this.o.host.resolve(leader);
      throw new NodeError(address === undefined ? 'UNAVAILABLE' : 'NOT_LEADER', 'restore must be sent to the leader', leader, address ?? null);
    }
    const command = LogCommand.encode({ kind: { $case: 'restore', value: Buffer.from(data) } }).finish();
    const { index, done } = g.proposeTracked(command, this.budget(deadline));
    await done;
    return index;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

/**
 * Marks a SQLite file image as a rollback-journal database (header bytes 18 and 19: 1, not 2 for
 * WAL), in place. sqlite3_serialize copies a WAL database's header as it is, and such an image
 * cannot be opened in memory (deserialize: "unable to open database file"), so Restore's check
 * would refuse our own backups. The image holds every committed page already: only the journal
 * mode recorded in the header changes (the state machine turns WAL back on when it opens it).
 */
export function withoutWalHeader(file: Buffer): Buffer {
  if (file.length >= 100 && file.subarray(0, 16).toString('latin1') === SQLITE_HEADER && file[18] === 2 && file[19] === 2) {
    file[18] = 1;
    file[19] = 1;
  }
  return file;
}

/** Refuses anything that is not a readable SQLite database, before it reaches the log. */
export function checkDatabaseFile(data: Uint8Array): void {
  if (data.length > MAX_RESTORE_BYTES) throw new NodeError('INVALID_ARGUMENT', `the database is ${data.length} bytes; at most ${MAX_RESTORE_BYTES} can be restored`);
  if (data.length < 100 || Buffer.from(data.subarray(0, 16)).toString('latin1') !== SQLITE_HEADER) {
    throw new NodeError('INVALID_ARGUMENT', 'not a SQLite database file (bad header)');
  }
  let db: Database.Database | null = null;
  try {
    db = new Database(Buffer.from(data));
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(String(check));
  } catch (err) {
    throw new NodeError('INVALID_ARGUMENT', `the database file is damaged: ${(err as Error).message}`);
  } finally {
    db?.close();
  }
}

