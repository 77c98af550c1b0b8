/**
 * What the topic integration tests share: promise wrappers over the generated gRPC clients
 * (Disheap's API and our extensions) to every node of an EngineCluster, the classification of
 * a failed call's outcome, PopStream consumers that record what they receive, and the cluster
 * facts the tests look for (partition leaders by node index, groups hosted per node).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { DisheapClient, Mode } from '../../src/gen/disheap/v1/disheap.js';
import type { HeapStats, MakeHeapReq, PopItem, PopOpen } from '../../src/gen/disheap/v1/disheap.js';
import type { Duration } from '../../src/gen/google/protobuf/duration.js';
import { TopicGroupServiceClient } from '../../src/gen/leviathan/topic/v1/group.js';
import { TopicExtensionsServiceClient } from '../../src/gen/leviathan/topic/v1/topic.js';
import { decodeGroupJson, encodeGroupJson } from '../../src/topic/group-json.js';
import type { PartitionStats } from '../../src/topic/partition-state.js';
import { EngineCluster, sleep, waitFor } from './engine-cluster.js';
import type { ClusterOptions } from './engine-cluster.js';

export { Mode };

/** A failed call: the gRPC status, and the engine's own code when the server sent one. */
export class RpcError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
    /** The `leviathan-error-code` trailer (NOT_LEADER, TIMEOUT, ...), if any. */
    readonly engineCode: string | null,
  ) {
    super(`${method}: ${grpc.status[code]} ${details}${engineCode === null ? '' : ` [${engineCode}]`}`);
    this.name = 'RpcError';
  }

  get status(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

/**
 * What a failed call says about whether it took effect:
 *  - 'not-applied': certainly not (an engine code NOT_LEADER/UNAVAILABLE/PROPOSAL_DROPPED, or a
 *    refusal by the topic layer: INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...);
 *  - 'unknown': the connection broke or the deadline passed while the call may have been
 *    replicated (UNAVAILABLE or DEADLINE_EXCEEDED without an engine code, or TIMEOUT).
 */
export function outcomeOf(err: unknown): 'not-applied' | 'unknown' {
  if (!(err instanceof RpcError)) return 'unknown';
  if (err.engineCode !== null) return ['NOT_LEADER', 'UNAVAILABLE', 'PROPOSAL_DROPPED'].includes(err.engineCode) ? 'not-applied' : 'unknown';
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED || err.code === grpc.status.CANCELLED || err.code === grpc.status.INTERNAL || err.code === grpc.status.UNKNOWN) return 'unknown';
  return 'not-applied';
}

function rpcError(method: string, err: grpc.ServiceError): RpcError {
  const engine = err.metadata?.get('leviathan-error-code')[0];
  return new RpcError(method, err.code, err.details, typeof engine === 'string' ? engine : null);
}

type Callback<R> = (error: grpc.ServiceError | null, response: R) => void;
/** The unary methods of a generated client, as (request) => response types. */
type UnaryMethods<C> = {
  [K in keyof C as C[K] extends (req: infer _Q, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: Callback<infer _R>) => grpc.ClientUnaryCall ? K : never]: C[K] extends (
    req: infer Q,
    md: grpc.Metadata,
    o: Partial<grpc.CallOptions>,
    cb: Callback<infer R>,
  ) => grpc.ClientUnaryCall
    ? (req: Q, timeoutMs?: number) => Promise<R>
    : never;
};

function promisify<C extends grpc.Client>(client: C, service: string): UnaryMethods<C> {
  return new Proxy({} as UnaryMethods<C>, {
    get(_, method: string) {
      return (req: unknown, timeoutMs = 15_000) =>
        new Promise((resolve, reject) => {
          const fn = (client as unknown as Record<string, (...a: unknown[]) => void>)[method];
          if (typeof fn !== 'function') throw new Error(`${service} has no method ${method}`);
          fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: unknown) => {
            if (err) reject(rpcError(`${service}.${method}`, err));
            else resolve(res);
          });
        });
    },
  });
}

export type Disheap = UnaryMethods<DisheapClient>;
export type Extensions = UnaryMethods<TopicExtensionsServiceClient>;

/** Clients to every node of a cluster (any node accepts any call). */
export class TopicClients {
  private readonly raw = new Map<number, { d: DisheapClient; e: TopicExtensionsServiceClient }>();

  constructor(readonly cluster: EngineCluster) {}

  private clients(i: number) {
    let c = this.raw.get(i);
    if (c === undefined) {
      const address = this.cluster.node(i).address;
      // No reconnect backoff to speak of: a restarted node is used again at once.
      const options = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 500 };
      c = { d: new DisheapClient(address, grpc.credentials.createInsecure(), options), e: new TopicExtensionsServiceClient(address, grpc.credentials.createInsecure(), options) };
      this.raw.set(i, c);
    }
    return c;
  }

  /** The raw Disheap client of node i (for PopStream). */
  rawDisheap(i: number): DisheapClient {
    return this.clients(i).d;
  }

  disheap(i: number): Disheap {
    return promisify(this.clients(i).d, 'Disheap');
  }

  ext(i: number): Extensions {
    return promisify(this.clients(i).e, 'TopicExtensions');
  }

  /** Node indexes that are running now. */
  running(): number[] {
    return this.cluster.nodes.filter((n) => n.running).map((n) => n.index);
  }

  /** Some running node's Disheap API (round-robin over the running ones). */
  private rr = 0;
  any(): Disheap {
    const up = this.running();
    return this.disheap(up[this.rr++ % up.length] ?? 0);
  }

  close(): void {
    for (const { d, e } of this.raw.values()) {
      d.close();
      e.close();
    }
    this.raw.clear();
  }
}

export const ms = (n: number): Duration => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });

/** A MakeHeapReq with test defaults: MIN, 3 partitions, rf 3, DLQ on, 10 retries. */
export function heapReq(topic: string, o: Partial<MakeHeapReq> = {}): MakeHeapReq {
  return {
    topic,
    mode: Mode.MIN,
    partitions: 3,
    replicationFactor: 3,
    topKBound: 0,
    visibilityTimeoutDefault: ms(30_000),
    maxRetriesDefault: 10,
    maxPayloadBytes: 0n,
    compressionEnabled: false,
    dlqPolicy: { enabled: true },
    ...o,
  };
}

/**
 * Retries a call while it fails for want of a leader or a reachable node (UNAVAILABLE, NOT_LEADER,
 * PROPOSAL_DROPPED). A lost connection is UNAVAILABLE too and its outcome is unknown, so this is
 * only for reads and idempotent calls (an enqueue with a producer triple, a batch with a
 * transaction id).
 */
export async function retryNotApplied<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const retriable = err instanceof RpcError && (err.code === grpc.status.UNAVAILABLE || err.engineCode === 'NOT_LEADER' || err.engineCode === 'PROPOSAL_DROPPED');
      if (!retriable || Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/**
 * Makes a topic and waits until every partition has a leader that answers Stats. Returns the
 * Raft group id of each partition: the catalog gives a topic's partitions consecutive group ids
 * when it is made, and MakeHeapResp.heap_id is `<topic>#<first group id>`.
 */
export async function makeTopic(clients: TopicClients, req: MakeHeapReq, via = 0): Promise<number[]> {
  const r = await retryNotApplied(`MakeHeap ${req.topic}`, () => clients.disheap(via).makeHeap(req));
  const first = Number(/#(\d+)$/.exec(r.heapId)?.[1]);
  if (!Number.isSafeInteger(first)) throw new Error(`unexpected heap_id ${r.heapId}`);
  await waitTopicReady(clients, req.topic, via);
  return Array.from({ length: req.partitions === 0 ? 1 : req.partitions }, (_, p) => first + p);
}

export async function topicStats(clients: TopicClients, topic: string, via?: number): Promise<HeapStats> {
  const api = via === undefined ? clients.any() : clients.disheap(via);
  const r = await api.stats({ topic }, 10_000);
  const s = r.topicStats[topic];
  if (s === undefined) throw new Error(`no stats for ${topic}`);
  return s;
}

/** Every partition healthy with a known leader. */
export async function waitTopicReady(clients: TopicClients, topic: string, via?: number, timeoutMs = 30_000): Promise<HeapStats> {
  return waitFor(
    `topic ${topic}: every partition with a leader`,
    async () => {
      try {
        const s = await topicStats(clients, topic, via);
        const ps = Object.values(s.partitionStats);
        return ps.length > 0 && ps.every((p) => p.isHealthy && p.leaderNode !== '') ? s : null;
      } catch {
        return null;
      }
    },
    timeoutMs,
    200,
  );
}

/** Partition -> index of the node leading its group (highest term any running node reports), null when none. */
export async function partitionLeaders(cluster: EngineCluster, groups: readonly number[]): Promise<Array<number | null>> {
  return Promise.all(groups.map((g) => cluster.leaderIndex(g)));
}

/** One item received on a PopStream, with when. */
export interface Received {
  readonly item: PopItem;
  readonly at: number;
}

/**
 * A PopStream to one node: sends the filter, then credits when told; records every item and
 * how the stream ended. Never renews or acks anything itself.
 */
export class StreamConsumer {
  readonly received: Received[] = [];
  error: RpcError | null = null;
  ended = false;
  granted = 0;
  private readonly stream: grpc.ClientDuplexStream<PopOpen, PopItem>;
  private readonly waiters = new Set<() => void>();

  constructor(
    client: DisheapClient,
    filter: { topic: string; partitionIds?: number[]; visibilityMs?: number },
    private readonly onItem?: (r: Received) => void,
  ) {
    this.stream = client.popStream();
    this.stream.on('data', (item: PopItem) => {
      const r = { item, at: Date.now() };
      this.received.push(r);
      this.onItem?.(r);
      this.wake();
    });
    this.stream.on('error', (err: grpc.ServiceError) => {
      this.error = rpcError('Disheap.PopStream', err);
      this.ended = true;
      this.wake();
    });
    this.stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.stream.write({
      kind: {
        $case: 'filter',
        value: { topic: filter.topic, partitionIds: filter.partitionIds ?? [], ...(filter.visibilityMs === undefined ? {} : { visibilityTimeout: ms(filter.visibilityMs) }) },
      },
    });
  }

  grant(credits: number): void {
    this.granted += credits;
    this.stream.write({ kind: { $case: 'flowControl', value: { credits } } });
  }

  /** Items granted but not received yet. */
  get outstanding(): number {
    return this.granted - this.received.length;
  }

  /** Resolves once `n` items in total were received, or the stream ended, or after `timeoutMs`. */
  async waitCount(n: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    return this.received.length >= n;
  }

  /** Cancels the call (the client goes away without a word). */
  cancel(): void {
    this.ended = true;
    this.stream.cancel();
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }
}

/** Groups (ids) each running node hosts, from /raft/status. */
export async function hostedGroups(cluster: EngineCluster): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const n of cluster.nodes) {
    if (!n.running) continue;
    const st = await n.status();
    if (st !== null) out.set(n.index, st.groups.map((g) => g.groupId));
  }
  return out;
}

/**
 * One cluster shared by the tests of a file (beforeAll/afterAll), with clients. When a test of
 * the file failed, the nodes' logs are printed and the directory is kept.
 */
export function useSharedTopicCluster(options: Omit<ClusterOptions, 'stateMachine'>, logTail = 30_000): () => { cluster: EngineCluster; clients: TopicClients } {
  let cluster: EngineCluster | null = null;
  let clients: TopicClients | null = null;
  let failed = false;
  beforeAll(async () => {
    cluster = await EngineCluster.start({ ...options, stateMachine: 'topic' });
    clients = new TopicClients(cluster);
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    if (failed && cluster !== null) console.error(cluster.logs().slice(-logTail));
    clients?.close();
    await cluster?.close(failed);
  }, 30_000);
  return () => {
    if (cluster === null || clients === null) throw new Error('cluster not started');
    return { cluster, clients };
  };
}

/**
 * A partition's own counters (staged messages, prepared transactions, ... : what Stats does not
 * show), read from its leader over the nodes' internal TopicGroupService, after a read barrier.
 */
export async function partitionState(cluster: EngineCluster, groupId: number, timeoutMs = 15_000): Promise<PartitionStats> {
  return waitFor(
    `stats of group ${groupId} from its leader`,
    async () => {
      const leader = await cluster.leaderIndex(groupId);
      if (leader === null) return null;
      const client = new TopicGroupServiceClient(cluster.node(leader).address, grpc.credentials.createInsecure());
      try {
        return await new Promise<PartitionStats | null>((resolve) => {
          client.query({ groupId, query: encodeGroupJson({ type: 'stats' }) }, new grpc.Metadata(), { deadline: Date.now() + 3_000 }, (err, res) => {
            resolve(err ? null : decodeGroupJson<PartitionStats>(res.result));
          });
        });
      } finally {
        client.close();
      }
    },
    timeoutMs,
    200,
  );
}
