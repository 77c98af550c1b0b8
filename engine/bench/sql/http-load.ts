/**
 * HTTP load generator for the SQL benchmark, speaking rqlite's documented HTTP API, so that one and
 * the same generator drives rqlite and Leviathan (which serves the same shape); only the base URLs
 * differ.
 *
 *   POST /db/execute[?transaction]   body [["INSERT INTO bench(k, v) VALUES(?, ?)", k, v], ...]
 *   POST /db/query?level=L           body [["SELECT v FROM bench WHERE k = ?", k]]
 *   level: none | weak | linearizable | strong
 *
 * Both systems answer 200 with {"results": [...]} where a failed statement carries "error" (and a
 * failed request a top-level "error"): every response body is parsed and checked, and a request
 * with an error counts as an error, not as an op.
 *
 * Requests go straight to the leader: the generator finds it once per run by asking every node the
 * same weak query with `?redirect` (a follower answers 301 with the leader's URL in Location, the
 * leader answers 200), unless the caller names it. If leadership moves mid-run, a 301/302/307/308
 * is followed by hand with the same method and body (fetch would turn a POST into a GET on 301)
 * and later requests go to the new leader.
 *
 * N clients, each with one request outstanding, run for a warm-up and then S measured seconds;
 * a request's latency counts if it completes inside the measured window. HTTP/1.1 keep-alive via
 * node:http with one pooled socket per client (lighter on CPU than fetch, which matters when the
 * generator shares two cores with three servers).
 *
 * Workloads (each starts from a fresh `bench(k INTEGER PRIMARY KEY, v TEXT NOT NULL)` table):
 *   insert        one single-row INSERT per request (unique keys)
 *   batch         `rows` INSERTs in one `?transaction` request (counted as 1 op and `rows` rows)
 *   read          point SELECTs by random key over `rows` preloaded rows, at a given level
 */
import http from 'node:http';

export type ReadLevel = 'none' | 'weak' | 'linearizable' | 'strong';

export type Workload = { kind: 'insert' } | { kind: 'batch'; rows: number } | { kind: 'read'; level: ReadLevel; rows: number };

export type Statement = [string, ...(string | number | null)[]];

export interface LoadOptions {
  /** Base URLs of every node, e.g. http://127.0.0.1:4001. */
  urls: string[];
  workload: Workload;
  clients: number;
  seconds: number;
  /** Unmeasured seconds before the window (connections, JIT, caches). Default 1. */
  warmupSeconds?: number;
  /** Bytes of each value. Default 128. */
  valueBytes?: number;
  /** Base URL to send to; discovered with `discoverLeader` when absent. */
  target?: string;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
}

export interface LoadResult {
  workload: string;
  clients: number;
  /** Requests completed without error inside the measured window. */
  ops: number;
  /** Rows written or read by those requests. */
  rows: number;
  errors: number;
  /** First error message seen, if any. */
  firstError?: string;
  seconds: number;
  opsPerSec: number;
  rowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  target: string;
}

interface Reply {
  status: number;
  location?: string;
  body: string;
}

interface ResultJson {
  error?: string;
  values?: unknown[][];
}

export function workloadName(w: Workload): string {
  switch (w.kind) {
    case 'insert':
      return 'insert 1 row';
    case 'batch':
      return `insert ${w.rows} rows/tx`;
    case 'read':
      return `point read ${w.level}`;
  }
}

/** An HTTP client for one cluster: keep-alive sockets, requests to the leader, redirects followed. */
export class SqlHttpClient {
  private readonly agent: http.Agent;
  private leader: string;

  constructor(
    target: string,
    private readonly timeoutMs = 10_000,
    sockets = 64,
  ) {
    this.leader = trimSlash(target);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  get target(): string {
    return this.leader;
  }

  /** POST /db/execute; throws if the request or any statement failed. Returns rows affected. */
  async execute(statements: Statement[], opts: { transaction?: boolean } = {}): Promise<number> {
    const results = await this.post(`/db/execute${opts.transaction ? '?transaction' : ''}`, statements);
    let affected = 0;
    for (const r of results) affected += Number((r as { rows_affected?: number }).rows_affected ?? 0);
    return affected;
  }

  /** POST /db/query?level=...; throws if the request or any statement failed. Returns each statement's rows. */
  async query(statements: Statement[], level: ReadLevel): Promise<unknown[][][]> {
    const results = await this.post(`/db/query?level=${level}`, statements);
    return results.map((r) => r.values ?? []);
  }

  close(): void {
    this.agent.destroy();
  }

  private async post(pathAndQuery: string, statements: Statement[]): Promise<ResultJson[]> {
    const body = JSON.stringify(statements);
    let base = this.leader;
    for (let hop = 0; hop < 5; hop++) {
      const url = new URL(pathAndQuery, base + '/');
      const reply = await send(this.agent, 'POST', url, body, this.timeoutMs);
      if (isRedirect(reply.status) && reply.location !== undefined) {
        base = new URL(reply.location, url).origin;
        this.leader = base;
        continue;
      }
      if (reply.status !== 200) throw new Error(`${url.pathname}: HTTP ${reply.status}: ${reply.body.slice(0, 200)}`);
      const parsed = JSON.parse(reply.body) as { error?: string; results?: ResultJson[] };
      if (parsed.error !== undefined) throw new Error(parsed.error);
      const results = parsed.results ?? [];
      for (const r of results) if (r.error !== undefined) throw new Error(r.error);
      return results;
    }
    throw new Error(`${pathAndQuery}: too many redirects`);
  }
}

/**
 * Finds the leader's base URL: a follower answers a `?redirect` request with a redirect to it, the
 * leader with 200. If no node redirects (a server that forwards regardless), the first that answers
 * 200 is taken. Retries until `timeoutMs`.
 */
export async function discoverLeader(urls: string[], timeoutMs = 10_000): Promise<string> {
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + timeoutMs;
  const body = JSON.stringify([['SELECT 1']]);
  try {
    for (;;) {
      let ok: string | undefined;
      for (const raw of urls) {
        const base = trimSlash(raw);
        const url = new URL('/db/query?level=weak&redirect', base + '/');
        try {
          const reply = await send(agent, 'POST', url, body, 2_000);
          if (isRedirect(reply.status) && reply.location !== undefined) return new URL(reply.location, url).origin;
          if (reply.status === 200 && ok === undefined && !hasError(reply.body)) ok = base;
        } catch {
          // node down or not listening yet
        }
      }
      if (ok !== undefined) return ok;
      if (Date.now() > deadline) throw new Error(`no leader among ${urls.join(', ')}`);
      await sleep(200);
    }
  } finally {
    agent.destroy();
  }
}

/** Drops and recreates the bench table, and preloads rows for a read workload (in 100-row transactions). */
export async function prepare(client: SqlHttpClient, workload: Workload, valueBytes = 128): Promise<void> {
  await client.execute([['DROP TABLE IF EXISTS bench'], ['CREATE TABLE bench (k INTEGER PRIMARY KEY, v TEXT NOT NULL)']]);
  if (workload.kind !== 'read') return;
  const value = 'r'.repeat(valueBytes);
  for (let k = 1; k <= workload.rows; ) {
    const batch: Statement[] = [];
    for (; batch.length < 100 && k <= workload.rows; k++) batch.push(['INSERT INTO bench(k, v) VALUES(?, ?)', k, value]);
    await client.execute(batch, { transaction: true });
  }
}

/** Runs one workload at one concurrency: prepares the table, warms up, measures, and reports. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const target = o.target ?? (await discoverLeader(o.urls));
  const client = new SqlHttpClient(target, o.timeoutMs ?? 10_000, o.clients);
  const valueBytes = o.valueBytes ?? 128;
  const value = 'x'.repeat(valueBytes);
  const w = o.workload;
  try {
    await prepare(client, w, valueBytes);
    let nextKey = 1;
    // One request of the workload; resolves to the rows it wrote or read.
    const request = async (): Promise<number> => {
      switch (w.kind) {
        case 'insert':
          await client.execute([['INSERT INTO bench(k, v) VALUES(?, ?)', nextKey++, value]]);
          return 1;
        case 'batch': {
          const stmts: Statement[] = [];
          for (let i = 0; i < w.rows; i++) stmts.push(['INSERT INTO bench(k, v) VALUES(?, ?)', nextKey++, value]);
          await client.execute(stmts, { transaction: true });
          return w.rows;
        }
        case 'read': {
          const k = 1 + Math.floor(Math.random() * w.rows);
          const [rows] = await client.query([['SELECT v FROM bench WHERE k = ?', k]], w.level);
          if (rows?.length !== 1) throw new Error(`read k=${k}: expected 1 row, got ${rows?.length ?? 0}`);
          return 1;
        }
      }
    };

    const latencies: number[] = [];
    let rows = 0;
    let errors = 0;
    let firstError: string | undefined;
    let stop = false;
    let measuring = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const t0 = performance.now();
        try {
          const n = await request();
          if (measuring) {
            latencies.push(performance.now() - t0);
            rows += n;
          }
        } catch (err: unknown) {
          if (measuring) errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
          if (!measuring) await sleep(10); // don't spin on a cluster that is not ready
        }
      }
    };
    const workers = Array.from({ length: o.clients }, () => worker());
    await sleep((o.warmupSeconds ?? 1) * 1000);
    measuring = true;
    const t0 = performance.now();
    await sleep(o.seconds * 1000);
    measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    stop = true;
    await Promise.all(workers);

    latencies.sort((a, b) => a - b);
    const result: LoadResult = {
      workload: workloadName(w),
      clients: o.clients,
      ops: latencies.length,
      rows,
      errors,
      seconds,
      opsPerSec: latencies.length / seconds,
      rowsPerSec: rows / seconds,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      target: client.target,
    };
    if (firstError !== undefined) result.firstError = firstError;
    return result;
  } finally {
    client.close();
  }
}

export function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

function send(agent: http.Agent, method: string, url: URL, body: string, timeoutMs: number): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const reply: Reply = { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
          if (res.headers.location !== undefined) reply.location = res.headers.location;
          resolve(reply);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.href}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 307 || status === 308;
}

function hasError(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { error?: string; results?: ResultJson[] };
    return parsed.error !== undefined || (parsed.results ?? []).some((r) => r.error !== undefined);
  } catch {
    return true;
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
