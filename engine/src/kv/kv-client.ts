/**
 * A client of the built-in key-value store that finds the leader by itself.
 *
 * Retries follow one rule: a write is retried only when the server said it certainly did not
 * take effect (not the leader, entry dropped by a new leader, no leader yet). When the outcome is
 * unknown (timeout, connection lost after sending), the error goes to the caller as
 * `KvError{ definite: false }`: retrying a non-idempotent write blindly could apply it twice.
 * Reads have no effect and are retried until the deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { KvServiceClient, ReadConsistency } from '../gen/leviathan/kv/v1/kv.js';
import { ERROR_CODE_KEY, LEADER_ADDRESS_KEY } from '../server/grpc-util.js';

export class KvError extends Error {
  constructor(
    message: string,
    /** True when the operation certainly did not take effect. */
    readonly definite: boolean,
    readonly code: grpc.status | null,
  ) {
    super(message);
    this.name = 'KvError';
  }
}

export interface KvClientOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
  readonly groupId?: number;
}

/** Errors the server marks as "the write did not take effect": safe to retry anywhere. */
const NOT_APPLIED = new Set(['NOT_LEADER', 'PROPOSAL_DROPPED', 'UNAVAILABLE']);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

export class KvClient {
  private readonly clients = new Map<string, InstanceType<typeof KvServiceClient>>();
  private leader: string | null = null;
  private next = 0;
  private readonly timeoutMs: number;
  private readonly groupId: number;

  constructor(
    private readonly endpoints: readonly string[],
    options: KvClientOptions = {},
  ) {
    if (endpoints.length === 0) throw new Error('KvClient needs at least one endpoint');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.groupId = options.groupId ?? 0;
  }

  private client(address: string): InstanceType<typeof KvServiceClient> {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new KvServiceClient(address, grpc.credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 500 });
      this.clients.set(address, c);
    }
    return c;
  }

  private call<Req, Res>(address: string, method: 'put' | 'get' | 'compareAndSet', req: Req, deadline: number): Promise<Res> {
    const c = this.client(address);
    const fn = (c[method] as unknown as Unary<Req, Res>).bind(c);
    return new Promise((resolve, reject) => {
      fn(req, new grpc.Metadata(), { deadline: Math.min(deadline, Date.now() + 5_000) }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  /** Sends to the leader, following redirects; `write` decides what may be retried. */
  private async run<Req, Res>(method: 'put' | 'get' | 'compareAndSet', req: Req, write: boolean, endpoint?: string): Promise<Res> {
    const deadline = Date.now() + this.timeoutMs;
    let lastError = 'no attempt made';
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const address = endpoint ?? this.leader ?? (this.endpoints[this.next++ % this.endpoints.length] as string);
      try {
        const res = await this.call<Req, Res>(address, method, req, deadline);
        if (endpoint === undefined) this.leader = address;
        return res;
      } catch (e) {
        const err = e as grpc.ServiceError;
        const code = String(err.metadata?.get(ERROR_CODE_KEY)[0] ?? '');
        const hint = err.metadata?.get(LEADER_ADDRESS_KEY)[0];
        lastError = `${address}: ${err.details || err.message}`;
        // Without our own error code the server may have applied the write before the
        // connection broke (or never seen it): only the server's word makes a write retryable.
        const definite = NOT_APPLIED.has(code) || (err.code === grpc.status.UNAVAILABLE && code === '' && isConnectFailure(err));
        if (write && !definite) throw new KvError(`${method}: outcome unknown: ${lastError}`, false, err.code ?? null);
        if (err.code === grpc.status.INVALID_ARGUMENT || err.code === grpc.status.NOT_FOUND) throw new KvError(lastError, true, err.code);
        if (endpoint === undefined) this.leader = typeof hint === 'string' && hint !== '' && hint !== address ? hint : null;
        if (this.leader === null) await sleep(Math.min(200, 20 * (attempt + 1)));
      }
    }
    throw new KvError(`${method}: gave up after ${this.timeoutMs} ms: ${lastError}`, !write, null);
  }

  async put(key: string, value: string): Promise<void> {
    await this.run('put', { groupId: this.groupId, key, value }, true);
  }

  /** Sets key to value iff its value is `expected` (null: missing); returns whether it swapped. */
  async compareAndSet(key: string, expected: string | null, value: string): Promise<boolean> {
    const req = expected === null ? { groupId: this.groupId, key, value } : { groupId: this.groupId, key, expected, value };
    const res = await this.run<typeof req, { swapped: boolean }>('compareAndSet', req, true);
    return res.swapped;
  }

  /**
   * Reads a key (null when missing). Linearizable by default; `local` reads the replica at
   * `endpoint` (or whichever answers) as it is, possibly stale.
   */
  async get(key: string, options: { consistency?: 'linearizable' | 'local'; endpoint?: string } = {}): Promise<string | null> {
    const consistency = options.consistency === 'local' ? ReadConsistency.READ_CONSISTENCY_LOCAL : ReadConsistency.READ_CONSISTENCY_LINEARIZABLE;
    const res = await this.run<object, { value?: string }>('get', { groupId: this.groupId, key, consistency }, false, options.endpoint);
    return res.value ?? null;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** The call never reached a server: connection refused or no connection could be made. */
function isConnectFailure(err: grpc.ServiceError): boolean {
  return /ECONNREFUSED|No connection established|failed to connect/i.test(err.details ?? err.message);
}
