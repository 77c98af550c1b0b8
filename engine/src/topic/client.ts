/**
 * `TopicClient`: a TypeScript client of Leviathan's priority topics over gRPC (Disheap's
 * `disheap.v1.Disheap` service and our `leviathan.topic.v1.TopicExtensionsService`).
 *
 * Any topic node answers any call: it forwards to the leaders of the partitions concerned. So
 * the client only needs a list of node addresses; it sticks to the one that last answered and
 * moves to the next when a node is down.
 *
 * Types are the friendly ones: priorities are bigints (int64, exact), payloads go in as
 * `Uint8Array | string` (UTF-8) and come out as Buffers, durations are milliseconds, times are
 * Dates, counters and offsets are numbers.
 *
 * Every call has a deadline (`timeoutMs`, default 15 s; long-polls add their wait). Retries
 * follow what is safe:
 * - reads (list, stats, peek, read, fetchOffset) are retried on any transient failure, on the
 *   next address, until the deadline;
 * - writes are retried only when the server said they certainly did not take effect (trailer
 *   `leviathan-error-code` NOT_LEADER, UNAVAILABLE or PROPOSAL_DROPPED) or the connection was
 *   never made; otherwise the caller gets `TopicClientError{ mayHaveTakenEffect: true }`;
 * - writes that are idempotent are retried like reads: an enqueue with a producer triple
 *   (the server deduplicates it), an atomic batch (its transaction id makes a retry return the
 *   first outcome; the client picks one when the caller did not), commitOffset (sets a value);
 * - pops are retried like reads: an attempt whose answer was lost leased messages nobody will
 *   see, and those come back when their lease ends (at-least-once delivery either way).
 *
 * `consume()` and `subscribe()` use PopStream with credits: the server never sends more
 * messages than the client holds credits for, and the client grants a credit back only when the
 * application is done with a message, so never more than `credits` are in flight. A stream
 * whose node goes away is reopened on the next address (messages already received stay valid:
 * acks go to any node).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { DisheapClient, Mode as ProtoMode } from '../gen/disheap/v1/disheap.js';
import type {
  EnqueueReq,
  HeapInfo as ProtoHeapInfo,
  HeapStats as ProtoHeapStats,
  PeekItem as ProtoPeekItem,
  PopItem as ProtoPopItem,
  PopOpen,
} from '../gen/disheap/v1/disheap.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import { TopicExtensionsServiceClient } from '../gen/leviathan/topic/v1/topic.js';
import { ERROR_CODE_KEY, LEADER_ADDRESS_KEY } from '../server/grpc-util.js';

// ----- public types ---------------------------------------------------------------------------

export type Payload = Uint8Array | string;
export type TopicMode = 'min' | 'max';

export interface TopicClientOptions {
  /** Deadline of every call (default 15 s); long-polls (pop) add their wait to it. */
  readonly timeoutMs?: number;
  /** More gRPC channel options. */
  readonly channelOptions?: grpc.ChannelOptions;
  /** Start at a random address, spreading clients over the nodes (default true; false: the first). */
  readonly spread?: boolean;
}

export interface CallOptions {
  /** This call's deadline, instead of the client's. */
  readonly timeoutMs?: number;
  /** Cancels the call (it fails with code CANCELLED). */
  readonly signal?: AbortSignal;
}

export interface DlqPolicy {
  readonly enabled: boolean;
  /** null: kept forever. */
  readonly retentionMs: number | null;
}

export interface MakeHeapOptions extends CallOptions {
  readonly mode?: TopicMode;
  /** Default 1. */
  readonly partitions?: number;
  /** Default: 3, or the number of topic nodes if fewer. */
  readonly replicationFactor?: number;
  readonly topKBound?: number;
  /** Unset: messages are kept until consumed. */
  readonly retentionMs?: number;
  readonly visibilityTimeoutMs?: number;
  /** Unset (or 0): the engine default (3). */
  readonly maxRetries?: number;
  readonly maxPayloadBytes?: number;
  readonly compressionEnabled?: boolean;
  /** true: a dead-letter queue kept forever; unset or false: none (exhausted messages are dropped). */
  readonly dlq?: boolean | { readonly enabled?: boolean; readonly retentionMs?: number };
}

export interface UpdateHeapOptions extends CallOptions {
  readonly retentionMs?: number;
  readonly visibilityTimeoutMs?: number;
  readonly maxRetries?: number;
  readonly maxPayloadBytes?: number;
  readonly compressionEnabled?: boolean;
  readonly dlq?: boolean | { readonly enabled?: boolean; readonly retentionMs?: number };
}

export interface TopicStats {
  /** Messages stored (ready, leased or delayed), dead letters excluded. */
  readonly totalMessages: number;
  readonly inflightMessages: number;
  readonly dlqMessages: number;
  readonly totalEnqueues: number;
  readonly totalPops: number;
  readonly totalAcks: number;
  readonly totalNacks: number;
  readonly totalRetries: number;
  readonly totalTimeouts: number;
  readonly partitions: PartitionInfo[];
}

export interface PartitionInfo {
  readonly partition: number;
  readonly messages: number;
  readonly inflight: number;
  /** The leader's member id ('' while there is none). */
  readonly leader: string;
  readonly replicas: string[];
  readonly healthy: boolean;
}

export interface HeapInfo {
  readonly topic: string;
  readonly mode: TopicMode;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly topKBound: number;
  /** null: kept forever. */
  readonly retentionMs: number | null;
  readonly visibilityTimeoutMs: number;
  readonly maxRetries: number;
  readonly maxPayloadBytes: number;
  readonly compressionEnabled: boolean;
  readonly dlq: DlqPolicy;
  readonly createdAt: Date | null;
  readonly updatedAt: Date | null;
  readonly stats: TopicStats | null;
}

export interface ProducerTriple {
  readonly id: string;
  readonly epoch: bigint | number;
  readonly sequence: bigint | number;
}

export interface EnqueueOptions {
  /** int64 (default 0); which end pops first depends on the topic's mode. */
  readonly priority?: bigint | number | string;
  /** Messages with the same key go to the same partition. */
  readonly partitionKey?: string;
  /** Makes the enqueue idempotent: a repeat is answered `duplicate: true` (and retried safely). */
  readonly producer?: ProducerTriple;
  readonly maxRetries?: number;
  /** Not delivered before now + delayMs. */
  readonly delayMs?: number;
}

export interface EnqueueResult {
  readonly messageId: string;
  readonly duplicate: boolean;
  readonly partition: number;
}

export interface BatchItem extends EnqueueOptions {
  readonly payload: Payload;
}

export interface BatchOptions extends CallOptions {
  /** All or nothing across partitions (two-phase commit). Implied by transactionId. */
  readonly atomic?: boolean;
  /** For an atomic batch: a retry with the same id returns the first outcome (default: a new UUID). */
  readonly transactionId?: string;
}

export interface BatchResult {
  readonly results: EnqueueResult[];
  /** '' for a batch that was not atomic. */
  readonly transactionId: string;
  readonly allDuplicates: boolean;
}

/** A leased message. */
export interface TopicMessage {
  readonly topic: string;
  readonly messageId: string;
  readonly partition: number;
  readonly payload: Buffer;
  readonly priority: bigint;
  readonly enqueuedAt: Date | null;
  readonly leaseToken: string;
  readonly leaseDeadline: Date | null;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  readonly maxRetries: number;
  readonly producer: { readonly id: string; readonly epoch: bigint; readonly sequence: bigint } | null;
}

/** What ack, nack and extend need: a popped message will do. */
export interface LeaseRef {
  readonly topic: string;
  readonly messageId: string;
  readonly leaseToken: string;
}

export interface PeekedMessage {
  readonly topic: string;
  readonly messageId: string;
  readonly partition: number;
  readonly payload: Buffer;
  readonly priority: bigint;
  readonly enqueuedAt: Date | null;
  readonly attempts: number;
  readonly maxRetries: number;
  readonly isLeased: boolean;
  readonly leaseDeadline: Date | null;
  readonly inDlq: boolean;
  readonly producer: { readonly id: string; readonly epoch: bigint; readonly sequence: bigint } | null;
}

export interface PopOptions extends CallOptions {
  /** At most this many messages (default 1). */
  readonly max?: number;
  /** Wait up to this long for a first message (default 0: answer at once). The server caps it at 30 s. */
  readonly waitMs?: number;
  /** Lease length (default: the topic's). */
  readonly visibilityTimeoutMs?: number;
  /** Default: every partition. */
  readonly partitions?: readonly number[];
}

export interface LogRecord {
  readonly offset: number;
  readonly messageId: string;
  readonly priority: bigint;
  readonly payload: Buffer;
  readonly enqueuedAt: Date | null;
}

export interface StreamOptions {
  /** Messages in flight at most: received and not yet finished by the application (default 10). */
  readonly credits?: number;
  /** Default: every partition. */
  readonly partitions?: readonly number[];
  /** Lease length (default: the topic's). */
  readonly visibilityTimeoutMs?: number;
  /** Stops the subscription. */
  readonly signal?: AbortSignal;
}

export interface ConsumeOptions extends StreamOptions {
  /**
   * Default true: a handler that returns acks the message, one that throws nacks it (unless
   * the handler settled it itself through its context).
   */
  readonly autoAck?: boolean;
  /** Backoff of the automatic nack (default: the server's exponential backoff). */
  readonly nackBackoffMs?: number;
  /** Told about failed acks/nacks and handler errors (default: ignored). */
  readonly onError?: (err: unknown, message: TopicMessage) => void;
}

/** What a consume() handler can do with its message besides returning. */
export interface MessageContext {
  ack(): Promise<void>;
  nack(options?: { backoffMs?: number; reason?: string }): Promise<void>;
  extend(extensionMs: number): Promise<void>;
  /** Whether ack or nack was already called. */
  readonly settled: boolean;
}

export interface Consumer {
  /** Stops receiving, waits for the handlers in flight (and their acks), then resolves. */
  stop(): Promise<void>;
  /** Resolves when stopped; rejects if the subscription failed for good (e.g. no such topic). */
  readonly done: Promise<void>;
  /** Messages handed to the handler so far. */
  readonly received: number;
  /** Handlers running now (never more than `credits`). */
  readonly inFlight: number;
}

/** A failed call. */
export class TopicClientError extends Error {
  constructor(
    message: string,
    /** The server's `leviathan-error-code` when it sent one, else the gRPC status name. */
    readonly code: string,
    /** The gRPC status (null when the call never produced one). */
    readonly grpcCode: grpc.status | null,
    /**
     * True when a write may have been applied although it failed (for example the connection
     * broke after the request was sent). Always false for reads, and for errors that certainly
     * mean "not applied" (NOT_LEADER, UNAVAILABLE, PROPOSAL_DROPPED, or a rejected request).
     */
    readonly mayHaveTakenEffect: boolean,
    /** The node that gave this answer. */
    readonly address: string | null = null,
  ) {
    super(message);
    this.name = 'TopicClientError';
  }
}

// ----- retry policy (pure, exported for tests) ------------------------------------------------

/**
 * How a call may be retried:
 * - `read`: no effect; retried on any transient failure;
 * - `idempotent`: has an effect that repeating does not change (or only delays, for pops);
 *   retried on any transient failure;
 * - `write`: retried only when it certainly did not take effect;
 * - `partial`: several effects, each on its own (a non-atomic batch): an error about one says
 *   nothing of the others, so it is retried only when the request never reached a node.
 */
export type RetryPolicy = 'read' | 'idempotent' | 'write' | 'partial';

/** Server codes meaning "did not take effect, try again". */
export const NOT_APPLIED_CODES: ReadonlySet<string> = new Set(['NOT_LEADER', 'UNAVAILABLE', 'PROPOSAL_DROPPED']);

/** gRPC statuses a retry cannot fix: the request itself was refused. */
const REJECTED = new Set<grpc.status>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNIMPLEMENTED,
  grpc.status.RESOURCE_EXHAUSTED,
]);

/** What one failed attempt means. */
export interface AttemptFailure {
  readonly code: string;
  readonly grpcCode: grpc.status | null;
  readonly message: string;
  /** It certainly did not take effect. */
  readonly notApplied: boolean;
  /** Another attempt (on another node, or later) could succeed. */
  readonly transient: boolean;
}

/**
 * Classifies a gRPC error from `address`. `serverCode` is the `leviathan-error-code` trailer
 * (or ''), `neverConnected` whether the call never reached a server.
 */
export function classifyFailure(grpcCode: grpc.status | null, serverCode: string, details: string, address: string): AttemptFailure {
  const message = `${address}: ${details}`;
  const name = serverCode !== '' ? serverCode : grpcCode !== null ? (grpc.status[grpcCode] ?? String(grpcCode)) : 'UNKNOWN';
  if (serverCode !== '') {
    if (NOT_APPLIED_CODES.has(serverCode)) return { code: name, grpcCode, message, notApplied: true, transient: true };
    // Timed out or shutting down: the write may have been applied; another node may answer.
    if (serverCode === 'TIMEOUT' || serverCode === 'SHUTTING_DOWN') return { code: name, grpcCode, message, notApplied: false, transient: true };
    // NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION: refused, nothing changed.
    return { code: name, grpcCode, message, notApplied: true, transient: false };
  }
  if (grpcCode !== null && REJECTED.has(grpcCode)) return { code: name, grpcCode, message, notApplied: true, transient: false };
  if (grpcCode === grpc.status.UNAVAILABLE) {
    // Without our trailer: the node is down, or the connection broke. Only a connection that
    // was never made proves the request was not seen.
    return { code: name, grpcCode, message, notApplied: isConnectFailure(details), transient: true };
  }
  if (grpcCode === grpc.status.DEADLINE_EXCEEDED) return { code: name, grpcCode, message, notApplied: false, transient: true };
  // CANCELLED (by the caller), INTERNAL, UNKNOWN, DATA_LOSS: not retried.
  return { code: name, grpcCode, message, notApplied: false, transient: false };
}

/**
 * What to do after failed attempt `f` of a call under `policy`; `unknownBefore` says whether an
 * earlier attempt of the same call may have taken effect.
 */
export function decide(policy: RetryPolicy, f: AttemptFailure, unknownBefore: boolean): { retry: boolean; mayHaveTakenEffect: boolean } {
  const neverSent = f.grpcCode === grpc.status.UNAVAILABLE && f.notApplied && isConnectFailure(f.message);
  switch (policy) {
    case 'read':
      return { retry: f.transient, mayHaveTakenEffect: false };
    case 'idempotent':
      return { retry: f.transient, mayHaveTakenEffect: unknownBefore || !f.notApplied };
    case 'write':
      return { retry: f.transient && f.notApplied, mayHaveTakenEffect: unknownBefore || !f.notApplied };
    case 'partial':
      return { retry: neverSent, mayHaveTakenEffect: unknownBefore || !neverSent };
    default: {
      const never: never = policy;
      return never;
    }
  }
}

/** The call never reached a server: connection refused or never established. */
export function isConnectFailure(details: string): boolean {
  return /ECONNREFUSED|No connection established|failed to connect|Name resolution failed|ENOTFOUND|EHOSTUNREACH|ENETUNREACH/i.test(details);
}

// ----- conversions ----------------------------------------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An int64 priority from a bigint, a safe integer or a decimal string. */
export function toPriority(v: bigint | number | string | undefined): bigint {
  if (v === undefined) return 0n;
  let p: bigint;
  if (typeof v === 'bigint') p = v;
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`priority ${v} is not a safe integer: pass a bigint or a decimal string`);
    p = BigInt(v);
  } else {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new TypeError(`priority "${v}" is not an integer`);
    p = BigInt(v.trim());
  }
  if (p < INT64_MIN || p > INT64_MAX) throw new RangeError(`priority ${p} does not fit in int64`);
  return p;
}

export function toBytes(p: Payload): Buffer {
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

export function msToDuration(ms: number): Duration {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a duration must be a non-negative number of milliseconds, got ${ms}`);
  const whole = Math.floor(ms);
  return { seconds: BigInt(Math.floor(whole / 1000)), nanos: (whole % 1000) * 1e6 };
}

export function durationToMs(d: Duration | undefined): number | null {
  if (d === undefined) return null;
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

/** Retention as the server reports it: its "forever" (far in the future) reads as null. */
function retentionOf(d: Duration | undefined): number | null {
  const ms = durationToMs(d);
  return ms === null || ms === 0 || ms >= 1e14 ? null : ms;
}

function dlqPolicy(v: MakeHeapOptions['dlq']): { enabled: boolean; retentionTime?: Duration } | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return { enabled: v };
  return { enabled: v.enabled ?? true, ...(v.retentionMs === undefined ? {} : { retentionTime: msToDuration(v.retentionMs) }) };
}

function count(v: bigint | undefined): number {
  return v === undefined ? 0 : Number(v);
}

export function fromStats(s: ProtoHeapStats | undefined): TopicStats {
  const parts = Object.values(s?.partitionStats ?? {}).sort((a, b) => a.partitionId - b.partitionId);
  return {
    totalMessages: count(s?.totalMessages),
    inflightMessages: count(s?.inflightMessages),
    dlqMessages: count(s?.dlqMessages),
    totalEnqueues: count(s?.totalEnqueues),
    totalPops: count(s?.totalPops),
    totalAcks: count(s?.totalAcks),
    totalNacks: count(s?.totalNacks),
    totalRetries: count(s?.totalRetries),
    totalTimeouts: count(s?.totalTimeouts),
    partitions: parts.map((p) => ({ partition: p.partitionId, messages: Number(p.messages), inflight: Number(p.inflight), leader: p.leaderNode, replicas: [...p.replicaNodes], healthy: p.isHealthy })),
  };
}

function fromHeapInfo(h: ProtoHeapInfo): HeapInfo {
  return {
    topic: h.topic,
    mode: h.mode === ProtoMode.MAX ? 'max' : 'min',
    partitions: h.partitions,
    replicationFactor: h.replicationFactor,
    topKBound: h.topKBound,
    retentionMs: retentionOf(h.retentionTime),
    visibilityTimeoutMs: durationToMs(h.visibilityTimeoutDefault) ?? 0,
    maxRetries: h.maxRetriesDefault,
    maxPayloadBytes: Number(h.maxPayloadBytes),
    compressionEnabled: h.compressionEnabled,
    dlq: { enabled: h.dlqPolicy?.enabled ?? false, retentionMs: retentionOf(h.dlqPolicy?.retentionTime) },
    createdAt: h.createdAt ?? null,
    updatedAt: h.updatedAt ?? null,
    stats: h.stats === undefined ? null : fromStats(h.stats),
  };
}

function producerOf(m: { producerId?: string | undefined; epoch?: bigint | undefined; sequence?: bigint | undefined }): TopicMessage['producer'] {
  return m.producerId === undefined ? null : { id: m.producerId, epoch: m.epoch ?? 0n, sequence: m.sequence ?? 0n };
}

export function fromPopItem(m: ProtoPopItem): TopicMessage {
  return {
    topic: m.topic,
    messageId: m.messageId,
    partition: m.partitionId,
    payload: m.payload,
    priority: m.priority,
    enqueuedAt: m.enqueuedTime ?? null,
    leaseToken: m.leaseToken,
    leaseDeadline: m.leaseDeadline ?? null,
    attempts: m.attempts,
    maxRetries: m.maxRetries,
    producer: producerOf(m),
  };
}

function fromPeekItem(m: ProtoPeekItem): PeekedMessage {
  return {
    topic: m.topic,
    messageId: m.messageId,
    partition: m.partitionId,
    payload: m.payload,
    priority: m.priority,
    enqueuedAt: m.enqueuedTime ?? null,
    attempts: m.attempts,
    maxRetries: m.maxRetries,
    isLeased: m.isLeased,
    leaseDeadline: m.leaseDeadline ?? null,
    inDlq: m.inDlq,
    producer: producerOf(m),
  };
}

/** An EnqueueReq from friendly options (validates what the client can). */
export function toEnqueueReq(topic: string, payload: Payload, o: EnqueueOptions = {}): EnqueueReq {
  if (o.delayMs !== undefined && (!Number.isFinite(o.delayMs) || o.delayMs < 0)) throw new RangeError('delayMs must be a non-negative number');
  const producer = o.producer;
  return {
    topic,
    payload: toBytes(payload),
    priority: toPriority(o.priority),
    ...(o.partitionKey === undefined ? {} : { partitionKey: o.partitionKey }),
    ...(producer === undefined ? {} : { producerId: producer.id, epoch: BigInt(producer.epoch), sequence: BigInt(producer.sequence) }),
    ...(o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries }),
    ...(o.delayMs === undefined || o.delayMs === 0 ? {} : { notBefore: msToDuration(o.delayMs) }),
  };
}

// ----- the client -----------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Unary = (req: unknown, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;

interface Stubs {
  readonly disheap: DisheapClient;
  readonly ext: TopicExtensionsServiceClient;
}

const DEFAULT_TIMEOUT_MS = 15_000;

export class TopicClient {
  readonly endpoints: readonly string[];
  private readonly stubs = new Map<string, Stubs>();
  /** Index of the address to try first (the last one that answered). */
  private current = 0;
  private readonly timeoutMs: number;
  private readonly channelOptions: grpc.ChannelOptions;
  private closed = false;

  constructor(endpoints: readonly string[], options: TopicClientOptions = {}) {
    this.endpoints = endpoints.map((e) => e.trim()).filter((e) => e !== '');
    if (this.endpoints.length === 0) throw new Error('TopicClient needs at least one node address');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.channelOptions = {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      // Streams can be idle for long: find a dead peer anyway.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.max_receive_message_length': -1,
      ...options.channelOptions,
    };
    this.current = options.spread === false ? 0 : Math.floor(Math.random() * this.endpoints.length);
  }

  // ----- admin ------------------------------------------------------------------------------

  async makeHeap(topic: string, o: MakeHeapOptions = {}): Promise<{ topic: string; heapId: string }> {
    const dlq = dlqPolicy(o.dlq);
    return this.disheap('makeHeap', 'write', o, {
      topic,
      mode: o.mode === 'max' ? ProtoMode.MAX : ProtoMode.MIN,
      partitions: o.partitions ?? 1,
      replicationFactor: o.replicationFactor ?? 0,
      topKBound: o.topKBound ?? 0,
      ...(o.retentionMs === undefined ? {} : { retentionTime: msToDuration(o.retentionMs) }),
      ...(o.visibilityTimeoutMs === undefined ? {} : { visibilityTimeoutDefault: msToDuration(o.visibilityTimeoutMs) }),
      maxRetriesDefault: o.maxRetries ?? 0,
      maxPayloadBytes: BigInt(o.maxPayloadBytes ?? 0),
      compressionEnabled: o.compressionEnabled ?? false,
      ...(dlq === undefined ? {} : { dlqPolicy: dlq }),
    });
  }

  /** Deletes a topic and every message in it. */
  async deleteHeap(topic: string, o: CallOptions & { force?: boolean } = {}): Promise<void> {
    await this.disheap('deleteHeap', 'write', o, { topic, force: o.force ?? false, confirmationToken: topic });
  }

  async updateHeapConfig(topic: string, o: UpdateHeapOptions): Promise<void> {
    const dlq = dlqPolicy(o.dlq);
    await this.disheap('updateHeapConfig', 'write', o, {
      topic,
      ...(o.retentionMs === undefined ? {} : { retentionTime: msToDuration(o.retentionMs) }),
      ...(o.visibilityTimeoutMs === undefined ? {} : { visibilityTimeoutDefault: msToDuration(o.visibilityTimeoutMs) }),
      ...(o.maxRetries === undefined ? {} : { maxRetriesDefault: o.maxRetries }),
      ...(o.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: BigInt(o.maxPayloadBytes) }),
      ...(o.compressionEnabled === undefined ? {} : { compressionEnabled: o.compressionEnabled }),
      ...(dlq === undefined ? {} : { dlqPolicy: dlq }),
    });
  }

  /** One page of topics, in name order (pass `nextPageToken` back for the next; '' on the last). */
  async listHeaps(o: CallOptions & { pageSize?: number; pageToken?: string } = {}): Promise<{ heaps: HeapInfo[]; nextPageToken: string }> {
    const res = await this.disheap<{ heaps: ProtoHeapInfo[]; nextPageToken: string }>('listHeaps', 'read', o, { pageSize: o.pageSize ?? 0, pageToken: o.pageToken ?? '' });
    return { heaps: res.heaps.map(fromHeapInfo), nextPageToken: res.nextPageToken };
  }

  /** Every topic (all pages). */
  async listAllHeaps(o: CallOptions = {}): Promise<HeapInfo[]> {
    const out: HeapInfo[] = [];
    let pageToken = '';
    do {
      const page = await this.listHeaps({ ...o, pageToken });
      out.push(...page.heaps);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return out;
  }

  /** Counters of one topic (optionally one partition). */
  async stats(topic: string, o: CallOptions & { partition?: number } = {}): Promise<TopicStats> {
    const res = await this.disheap<{ topicStats: Record<string, ProtoHeapStats> }>('stats', 'read', o, { topic, ...(o.partition === undefined ? {} : { partitionId: o.partition }) });
    return fromStats(res.topicStats[topic]);
  }

  /** Counters of every topic, and their sum. */
  async statsAll(o: CallOptions = {}): Promise<{ global: TopicStats; topics: Record<string, TopicStats> }> {
    const res = await this.disheap<{ globalStats?: ProtoHeapStats; topicStats: Record<string, ProtoHeapStats> }>('stats', 'read', o, {});
    return { global: fromStats(res.globalStats), topics: Object.fromEntries(Object.entries(res.topicStats).map(([k, v]) => [k, fromStats(v)])) };
  }

  /** Drops every message of a topic (or one partition), dead letters included. */
  async purge(topic: string, o: CallOptions & { partition?: number; force?: boolean } = {}): Promise<void> {
    await this.disheap('purge', 'write', o, { topic, ...(o.partition === undefined ? {} : { partitionId: o.partition }), force: o.force ?? false, confirmationToken: topic });
  }

  async moveToDlq(topic: string, messageId: string, o: CallOptions & { reason?: string } = {}): Promise<void> {
    await this.disheap('moveToDlq', 'write', o, { topic, messageId, ...(o.reason === undefined ? {} : { reason: o.reason }) });
  }

  // ----- data -------------------------------------------------------------------------------

  async enqueue(topic: string, payload: Payload, o: EnqueueOptions & CallOptions = {}): Promise<EnqueueResult> {
    const req = toEnqueueReq(topic, payload, o);
    // With a producer triple the server deduplicates, so a retry is safe whatever happened.
    const res = await this.disheap<{ messageId: string; duplicate: boolean; partitionId: number }>('enqueue', o.producer === undefined ? 'write' : 'idempotent', o, req);
    return { messageId: res.messageId, duplicate: res.duplicate, partition: res.partitionId };
  }

  /**
   * Several messages in one call. Atomic (a transaction id, given or made here): all or
   * nothing, and retried safely. Not atomic: each on its own, in order, and the call fails at
   * the first failure, when the earlier ones were already enqueued (so a failure says
   * `mayHaveTakenEffect` unless the request never reached a node, and it is not retried unless
   * every item has a producer triple).
   */
  async enqueueBatch(topic: string, items: readonly BatchItem[], o: BatchOptions = {}): Promise<BatchResult> {
    const requests = items.map((it) => toEnqueueReq(topic, it.payload, it));
    const atomic = o.atomic === true || o.transactionId !== undefined;
    const transactionId = atomic ? (o.transactionId ?? randomUUID()) : undefined;
    const idempotent = atomic || (items.length > 0 && items.every((it) => it.producer !== undefined));
    // Not atomic: an error about one item says nothing about the items before it.
    const res = await this.disheap<{ responses: Array<{ messageId: string; duplicate: boolean; partitionId: number }>; transactionId: string; allDuplicates: boolean }>(
      'enqueueBatch',
      idempotent ? 'idempotent' : 'partial',
      o,
      { requests, ...(transactionId === undefined ? {} : { transactionId }) },
    );
    return { results: res.responses.map((r) => ({ messageId: r.messageId, duplicate: r.duplicate, partition: r.partitionId })), transactionId: res.transactionId, allDuplicates: res.allDuplicates };
  }

  async ack(m: LeaseRef, o: CallOptions = {}): Promise<void> {
    await this.disheap('ack', 'write', o, { topic: m.topic, messageId: m.messageId, leaseToken: m.leaseToken });
  }

  /** Gives a message back: visible again after `backoffMs` (default: the server's backoff), or dead-lettered once out of retries. */
  async nack(m: LeaseRef, o: CallOptions & { backoffMs?: number; reason?: string } = {}): Promise<void> {
    await this.disheap('nack', 'write', o, {
      topic: m.topic,
      messageId: m.messageId,
      leaseToken: m.leaseToken,
      ...(o.backoffMs === undefined ? {} : { backoffOverride: msToDuration(o.backoffMs) }),
      ...(o.reason === undefined ? {} : { reason: o.reason }),
    });
  }

  /** Pushes the lease's deadline `extensionMs` further out. */
  async extend(m: Pick<LeaseRef, 'topic' | 'leaseToken'>, extensionMs: number, o: CallOptions = {}): Promise<void> {
    if (!(extensionMs > 0)) throw new RangeError('extensionMs must be positive');
    await this.disheap('extend', 'write', o, { topic: m.topic, leaseToken: m.leaseToken, extension: msToDuration(extensionMs) });
  }

  /** The best messages, without leasing them (dead letters after the live ones with includeDlq). */
  async peek(topic: string, o: CallOptions & { partition?: number; limit?: number; includeDlq?: boolean } = {}): Promise<{ items: PeekedMessage[]; hasMore: boolean }> {
    const res = await this.disheap<{ items: ProtoPeekItem[]; hasMore: boolean }>('peek', 'read', o, {
      topic,
      ...(o.partition === undefined ? {} : { partitionId: o.partition }),
      ...(o.limit === undefined ? {} : { limit: o.limit }),
      includeDlq: o.includeDlq ?? false,
    });
    return { items: res.items.map(fromPeekItem), hasMore: res.hasMore };
  }

  /** Long-poll pop (unary): leases up to `max` of the best ready messages; [] if none came within `waitMs`. */
  async pop(topic: string, o: PopOptions = {}): Promise<TopicMessage[]> {
    const waitMs = Math.max(0, o.waitMs ?? 0);
    const res = await this.extension<{ items: ProtoPopItem[] }>(
      'pop',
      'idempotent',
      { ...o, timeoutMs: (o.timeoutMs ?? this.timeoutMs) + waitMs },
      {
        topic,
        partitionIds: [...(o.partitions ?? [])],
        maxMessages: o.max ?? 1,
        ...(waitMs === 0 ? {} : { waitTimeout: msToDuration(waitMs) }),
        ...(o.visibilityTimeoutMs === undefined ? {} : { visibilityTimeout: msToDuration(o.visibilityTimeoutMs) }),
      },
    );
    return res.items.map(fromPopItem);
  }

  /** Replays a partition's log from `fromOffset` (within retention); nothing is leased. */
  async read(topic: string, partition: number, fromOffset: number, o: CallOptions & { limit?: number } = {}): Promise<{ records: LogRecord[]; nextOffset: number }> {
    const res = await this.extension<{ records: Array<{ offset: bigint; messageId: string; priority: bigint; payload: Buffer; enqueuedTime?: Date }>; nextOffset: bigint }>('read', 'read', o, {
      topic,
      partitionId: partition,
      fromOffset: BigInt(fromOffset),
      limit: o.limit ?? 0,
    });
    return {
      records: res.records.map((r) => ({ offset: Number(r.offset), messageId: r.messageId, priority: r.priority, payload: r.payload, enqueuedAt: r.enqueuedTime ?? null })),
      nextOffset: Number(res.nextOffset),
    };
  }

  /** Stores a consumer group's position (the next offset it will read) in a partition's log. */
  async commitOffset(group: string, topic: string, partition: number, offset: number, o: CallOptions = {}): Promise<void> {
    // Setting a value: repeating it changes nothing.
    await this.extension('commitOffset', 'idempotent', o, { group, topic, partitionId: partition, offset: BigInt(offset) });
  }

  /** A consumer group's stored position, or null if it never committed one. */
  async fetchOffset(group: string, topic: string, partition: number, o: CallOptions = {}): Promise<number | null> {
    const res = await this.extension<{ offset?: bigint }>('fetchOffset', 'read', o, { group, topic, partitionId: partition });
    return res.offset === undefined ? null : Number(res.offset);
  }

  // ----- streaming --------------------------------------------------------------------------

  /**
   * An async iterator over a PopStream. Taking the next message means the previous one is
   * finished (ack or nack it before), so at most `credits` messages are in flight: buffered
   * here plus the one the application holds. `break` (or the signal) closes the stream.
   */
  subscribe(topic: string, o: StreamOptions = {}): Subscription {
    return new Subscription(this, topic, o);
  }

  /**
   * Runs `handler` for each message of a PopStream, up to `credits` at once; a credit goes back
   * to the server only when a handler has finished (and its ack or nack was sent).
   */
  consume(topic: string, o: ConsumeOptions, handler: (m: TopicMessage, ctx: MessageContext) => Promise<void> | void): Consumer {
    return startConsumer(this, topic, o, handler);
  }

  /** Closes every connection; the client is unusable afterwards. */
  close(): void {
    this.closed = true;
    for (const s of this.stubs.values()) {
      s.disheap.close();
      s.ext.close();
    }
    this.stubs.clear();
  }

  // ----- plumbing ---------------------------------------------------------------------------

  /** @internal The stubs of an address. */
  stubsFor(address: string): Stubs {
    if (this.closed) throw new TopicClientError('the client is closed', 'CANCELLED', grpc.status.CANCELLED, false);
    let s = this.stubs.get(address);
    if (s === undefined) {
      const creds = grpc.credentials.createInsecure();
      s = { disheap: new DisheapClient(address, creds, this.channelOptions), ext: new TopicExtensionsServiceClient(address, creds, this.channelOptions) };
      this.stubs.set(address, s);
    }
    return s;
  }

  /** @internal The address to try next, and a way to say it failed or answered. */
  pickAddress(): string {
    return this.endpoints[this.current % this.endpoints.length] as string;
  }

  /** @internal */
  markFailed(address: string): void {
    if (this.pickAddress() === address) this.current = (this.current + 1) % this.endpoints.length;
  }

  /** @internal */
  markAnswered(address: string): void {
    const i = this.endpoints.indexOf(address);
    if (i >= 0) this.current = i;
  }

  /** @internal */
  get defaultTimeoutMs(): number {
    return this.timeoutMs;
  }

  private disheap<Res = unknown>(method: string, policy: RetryPolicy, o: CallOptions, req: unknown): Promise<Res> {
    return this.run<Res>('disheap', method, policy, o, req);
  }

  private extension<Res = unknown>(method: string, policy: RetryPolicy, o: CallOptions, req: unknown): Promise<Res> {
    return this.run<Res>('ext', method, policy, o, req);
  }

  /** Sends a call, moving to the next address and retrying while that is safe, until the deadline. */
  private async run<Res>(service: keyof Stubs, method: string, policy: RetryPolicy, o: CallOptions, req: unknown): Promise<Res> {
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    let unknown = false;
    // What an attempt other than the last one (cut short by the deadline) said, for the error.
    let telling: AttemptFailure | null = null;
    const aborted = (): boolean => o.signal?.aborted === true;
    for (let failed = 1; ; failed++) {
      if (aborted()) throw new TopicClientError(`${method}: cancelled`, 'CANCELLED', grpc.status.CANCELLED, unknown);
      const address = this.pickAddress();
      try {
        const res = await this.once<Res>(service, method, address, req, deadline, o.signal);
        this.markAnswered(address);
        return res;
      } catch (e) {
        if (!isServiceError(e)) throw e;
        const f = classifyFailure(e.code ?? null, serverCodeOf(e), e.details || e.message, address);
        const d = decide(policy, f, unknown);
        unknown = d.mayHaveTakenEffect;
        if (f.grpcCode !== grpc.status.DEADLINE_EXCEEDED) telling = f;
        if (aborted()) throw new TopicClientError(`${method}: cancelled`, 'CANCELLED', grpc.status.CANCELLED, unknown, address);
        if (!d.retry) throw new TopicClientError(`${method}: ${f.message}`, f.code, f.grpcCode, unknown, address);
        // A node that is down or cannot serve now: the next one may.
        this.markFailed(address);
        const left = deadline - Date.now();
        if (left <= 0) {
          const why = f.grpcCode === grpc.status.DEADLINE_EXCEEDED && telling !== null ? telling : f;
          throw new TopicClientError(`${method}: gave up after ${timeoutMs} ms: ${why.message}`, why.code, why.grpcCode, unknown, address);
        }
        // Every node once in a row at once, then back off between rounds.
        if (failed % this.endpoints.length === 0) await sleep(Math.min(left, 50 * 2 ** Math.min(5, failed / this.endpoints.length)));
      }
    }
  }

  private once<Res>(service: keyof Stubs, method: string, address: string, req: unknown, deadline: number, signal?: AbortSignal): Promise<Res> {
    const stub = this.stubsFor(address)[service];
    const fn = (stub as unknown as Record<string, Unary>)[method] as Unary;
    return new Promise<Res>((resolve, reject) => {
      const call = fn.call(stub, req, new grpc.Metadata(), { deadline }, (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(res as Res);
      });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === 'number';
}

function serverCodeOf(e: grpc.ServiceError): string {
  const v = e.metadata?.get(ERROR_CODE_KEY)[0];
  return typeof v === 'string' ? v : '';
}

/** The leader address a server named, if any (unused for routing: any node forwards). */
export function leaderHintOf(e: grpc.ServiceError): string | null {
  const v = e.metadata?.get(LEADER_ADDRESS_KEY)[0];
  return typeof v === 'string' && v !== '' ? v : null;
}

// ----- PopStream with credits -----------------------------------------------------------------

/**
 * One logical PopStream over as many gRPC streams as it takes: when a node goes away, the
 * stream is reopened on the next address with the credits the application has free.
 *
 * Credits: `outstanding` were granted on the current gRPC stream and not yet used; `held`
 * messages were received and not yet released by the application. outstanding + held never
 * exceeds `credits`: a new stream is granted `credits - held`, and a release grants one.
 */
class PopSession {
  private call: grpc.ClientDuplexStream<PopOpen, ProtoPopItem> | null = null;
  private outstanding = 0;
  private held = 0;
  private readonly buffer: TopicMessage[] = [];
  private waiter: (() => void) | null = null;
  private failure: TopicClientError | null = null;
  private closed = false;
  private reconnects = 0;
  private readonly credits: number;

  constructor(
    private readonly client: TopicClient,
    private readonly topic: string,
    private readonly o: StreamOptions,
  ) {
    const credits = o.credits ?? 10;
    if (!Number.isSafeInteger(credits) || credits < 1 || credits > 100_000) throw new RangeError('credits must be an integer in [1, 100000]');
    this.credits = credits;
    if (o.signal?.aborted === true) this.closed = true;
    o.signal?.addEventListener('abort', () => this.close(), { once: true });
    if (!this.closed) this.open();
  }

  /** The next message, or null once closed. Throws when the subscription failed for good. */
  async next(): Promise<TopicMessage | null> {
    for (;;) {
      const m = this.buffer.shift();
      if (m !== undefined) return m;
      if (this.failure !== null) throw this.failure;
      if (this.closed) return null;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** The application is done with one message: its credit goes back to the server. */
  release(): void {
    if (this.held === 0) return;
    this.held--;
    if (this.call !== null && !this.closed) this.grant(1);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const call = this.call;
    this.call = null;
    // Messages buffered and never handed out: their leases run out and they come back.
    this.held -= this.buffer.length;
    this.buffer.length = 0;
    call?.cancel();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private grant(n: number): void {
    if (n <= 0 || this.call === null) return;
    this.outstanding += n;
    this.call.write({ kind: { $case: 'flowControl', value: { credits: n } } });
  }

  private open(): void {
    const address = this.client.pickAddress();
    let call: grpc.ClientDuplexStream<PopOpen, ProtoPopItem>;
    try {
      call = this.client.stubsFor(address).disheap.popStream();
    } catch (err) {
      this.fail(err instanceof TopicClientError ? err : new TopicClientError(String(err), 'UNKNOWN', null, false, address));
      return;
    }
    this.call = call;
    this.outstanding = 0;
    let gotData = false;
    call.on('data', (item: ProtoPopItem) => {
      if (this.call !== call) return;
      if (!gotData) {
        gotData = true;
        this.reconnects = 0;
        this.client.markAnswered(address);
      }
      this.outstanding--;
      this.held++;
      this.buffer.push(fromPopItem(item));
      this.wake();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call !== call || this.closed) return;
      this.call = null;
      const f = classifyFailure(err.code ?? null, serverCodeOf(err), err.details || err.message, address);
      // Streams are reads as far as retries go: what was leased and not sent comes back later.
      if (f.transient || f.grpcCode === grpc.status.CANCELLED || f.grpcCode === grpc.status.INTERNAL) this.reopen(address);
      else this.fail(new TopicClientError(`popStream: ${f.message}`, f.code, f.grpcCode, false, address));
    });
    call.on('end', () => {
      // The server ended the stream without an error (it is shutting down): open another.
      if (this.call !== call || this.closed) return;
      this.call = null;
      this.reopen(address);
    });
    call.write({
      kind: {
        $case: 'filter',
        value: { topic: this.topic, partitionIds: [...(this.o.partitions ?? [])], ...(this.o.visibilityTimeoutMs === undefined ? {} : { visibilityTimeout: msToDuration(this.o.visibilityTimeoutMs) }) },
      },
    });
    this.grant(this.credits - this.held);
  }

  private reopen(failed: string): void {
    this.client.markFailed(failed);
    this.reconnects++;
    const delay = Math.min(2_000, 50 * 2 ** Math.min(6, Math.floor((this.reconnects - 1) / this.client.endpoints.length)));
    setTimeout(() => {
      if (!this.closed) this.open();
    }, this.reconnects <= 1 ? 0 : delay);
  }

  private fail(err: TopicClientError): void {
    this.failure = err;
    this.closed = true;
    this.call?.cancel();
    this.call = null;
    this.wake();
  }
}

/** See TopicClient.subscribe. */
export class Subscription implements AsyncIterable<TopicMessage> {
  private readonly session: PopSession;
  private holding = false;

  constructor(client: TopicClient, topic: string, o: StreamOptions) {
    this.session = new PopSession(client, topic, o);
  }

  /** The next message (the previous one counts as finished), or null once closed. */
  async next(): Promise<TopicMessage | null> {
    if (this.holding) {
      this.holding = false;
      this.session.release();
    }
    const m = await this.session.next();
    this.holding = m !== null;
    return m;
  }

  close(): void {
    this.session.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<TopicMessage> {
    return {
      next: async () => {
        const m = await this.next();
        return m === null ? { done: true, value: undefined } : { done: false, value: m };
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

function startConsumer(client: TopicClient, topic: string, o: ConsumeOptions, handler: (m: TopicMessage, ctx: MessageContext) => Promise<void> | void): Consumer {
  const session = new PopSession(client, topic, o);
  const running = new Set<Promise<void>>();
  let received = 0;
  const autoAck = o.autoAck ?? true;
  const report = (err: unknown, m: TopicMessage): void => {
    try {
      o.onError?.(err, m);
    } catch {
      // A reporter that throws must not stop the consumer.
    }
  };

  const handle = async (m: TopicMessage): Promise<void> => {
    let settled = false;
    const ctx: MessageContext = {
      ack: async () => {
        settled = true;
        await client.ack(m);
      },
      nack: async (n = {}) => {
        settled = true;
        await client.nack(m, { ...n });
      },
      extend: (ms: number) => client.extend(m, ms),
      get settled() {
        return settled;
      },
    };
    try {
      await handler(m, ctx);
      if (autoAck && !settled) await ctx.ack().catch((err: unknown) => report(err, m));
    } catch (err) {
      report(err, m);
      if (autoAck && !settled) await ctx.nack({ ...(o.nackBackoffMs === undefined ? {} : { backoffMs: o.nackBackoffMs }), reason: err instanceof Error ? err.message : String(err) }).catch((e: unknown) => report(e, m));
    } finally {
      session.release();
    }
  };

  const done = (async () => {
    for (;;) {
      const m = await session.next();
      if (m === null) break;
      received++;
      const p = handle(m);
      running.add(p);
      void p.finally(() => running.delete(p));
    }
    await Promise.all([...running]);
  })();
  // A consumer nobody awaits must not crash the process with an unhandled rejection.
  done.catch(() => undefined);

  return {
    async stop() {
      session.close();
      await done.catch(() => undefined);
    },
    done,
    get received() {
      return received;
    },
    get inFlight() {
      return running.size;
    },
  };
}
