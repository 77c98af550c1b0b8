/**
 * The gRPC faces of priority topics: `disheap.v1.Disheap` (wire-compatible with Disheap's own
 * clients) and `leviathan.topic.v1.TopicExtensionsService`. Both translate protobuf to the
 * domain calls of TopicApi and its errors to gRPC statuses; no topic logic lives here.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Mode as ProtoMode } from '../gen/disheap/v1/disheap.js';
import type { DisheapServer, EnqueueReq, HeapInfo, HeapStats, PartitionStats as ProtoPartitionStats, PopItem, PopOpen } from '../gen/disheap/v1/disheap.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import type { PopRequest, TopicExtensionsServiceServer } from '../gen/leviathan/topic/v1/topic.js';
import { NodeError } from '../node/index.js';
import { unary } from '../server/grpc-util.js';
import type { EngineMetrics } from '../server/metrics.js';
import type { TopicRecord } from './catalog-state.js';
import { TopicError, toTopicError } from './topic-api.js';
import type { EnqueueOutcome, EnqueueRequest, PartitionReport, PoppedItem, TopicApi } from './topic-api.js';

export interface DisheapDeps {
  readonly api: TopicApi;
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
}

const GRPC_CODE: Record<TopicError['code'], grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  ABORTED: grpc.status.ABORTED,
  OUT_OF_RANGE: grpc.status.OUT_OF_RANGE,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
};

/** Topic errors as gRPC errors (NodeErrors keep their own mapping, with leader hints). */
function grpcError(err: unknown): unknown {
  if (err instanceof NodeError) return err;
  const e = toTopicError(err);
  return { code: GRPC_CODE[e.code], details: e.message, metadata: new grpc.Metadata() };
}

/** Runs `fn`, turning TopicErrors into gRPC errors the `unary` wrapper passes through. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw grpcError(err);
  }
}

export function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new TopicError('INVALID_ARGUMENT', 'durations must be non-negative');
  return ms;
}

export function toDuration(ms: number): Duration {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function safeNumber(v: bigint, name: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TopicError('INVALID_ARGUMENT', `${name} must be in [0, 2^53)`);
  return Number(v);
}

export function toEnqueueRequest(r: EnqueueReq): EnqueueRequest {
  const set = [r.producerId, r.epoch, r.sequence].filter((v) => v !== undefined).length;
  if (set !== 0 && set !== 3) throw new TopicError('INVALID_ARGUMENT', 'producer_id, epoch and sequence must be set together, or none of them');
  const notBefore = durationMs(r.notBefore);
  return {
    topic: r.topic,
    payload: r.payload,
    priority: r.priority,
    ...(r.partitionKey === undefined ? {} : { partitionKey: r.partitionKey }),
    ...(set === 3 ? { producer: { id: r.producerId as string, epoch: safeNumber(r.epoch as bigint, 'epoch'), sequence: safeNumber(r.sequence as bigint, 'sequence') } } : {}),
    ...(r.maxRetries === undefined ? {} : { maxRetries: r.maxRetries }),
    ...(notBefore === undefined ? {} : { notBeforeMs: notBefore }),
  };
}

function enqueueResp(o: EnqueueOutcome) {
  return { messageId: o.messageId, duplicate: o.duplicate, partitionId: o.partition };
}

export function heapInfo(t: TopicRecord, stats?: HeapStats): HeapInfo {
  const c = t.config;
  return {
    topic: t.name,
    mode: c.mode === 'max' ? ProtoMode.MAX : ProtoMode.MIN,
    partitions: t.partitions.length,
    replicationFactor: t.settings.replicationFactor,
    topKBound: t.settings.topKBound,
    retentionTime: toDuration(c.retentionMs),
    visibilityTimeoutDefault: toDuration(c.visibilityTimeoutMs),
    maxRetriesDefault: c.maxRetries,
    maxPayloadBytes: BigInt(c.maxPayloadBytes),
    compressionEnabled: t.settings.compressionEnabled,
    dlqPolicy: { enabled: c.dlq.enabled, retentionTime: toDuration(c.dlq.retentionMs) },
    createdAt: new Date(t.createdAt),
    updatedAt: new Date(t.updatedAt),
    ...(stats === undefined ? {} : { stats }),
  };
}

export function heapStats(reports: readonly PartitionReport[]): HeapStats {
  const sum = (f: (r: PartitionReport) => number): bigint => BigInt(reports.reduce((a, r) => a + f(r), 0));
  const partitionStats: Record<number, ProtoPartitionStats> = {};
  for (const r of reports) {
    partitionStats[r.partition] = {
      partitionId: r.partition,
      messages: BigInt(r.stats.ready + r.stats.leased + r.stats.delayed),
      inflight: BigInt(r.stats.leased),
      leaderNode: r.leader ?? '',
      replicaNodes: [...r.replicas],
      isHealthy: r.healthy,
    };
  }
  return {
    totalMessages: sum((r) => r.stats.ready + r.stats.leased + r.stats.delayed),
    inflightMessages: sum((r) => r.stats.leased),
    dlqMessages: sum((r) => r.stats.dlq),
    totalEnqueues: sum((r) => r.stats.enqueuedTotal),
    totalPops: sum((r) => r.stats.poppedTotal),
    totalAcks: sum((r) => r.stats.ackedTotal),
    totalNacks: sum((r) => r.stats.nackedTotal),
    totalRetries: sum((r) => r.stats.retriedTotal),
    totalTimeouts: sum((r) => r.stats.expiredTotal),
    partitionStats,
  };
}

export function popItem(m: PoppedItem): PopItem {
  return {
    messageId: m.messageId,
    topic: m.topic,
    partitionId: m.partition,
    payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
    priority: m.priority,
    enqueuedTime: new Date(m.enqueuedAt),
    leaseToken: m.leaseToken,
    leaseDeadline: new Date(m.leaseDeadline),
    attempts: m.attempts,
    maxRetries: m.maxRetries,
    ...(m.producer === null ? {} : { producerId: m.producer.id, epoch: BigInt(m.producer.epoch), sequence: BigInt(m.producer.sequence) }),
  };
}

export function disheapService(deps: DisheapDeps): DisheapServer {
  const { api } = deps;
  const call = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) => unary<Req, Res>('disheap.v1.Disheap', method, deps, (req) => guarded(() => fn(req)));
  return {
    makeHeap: call('MakeHeap', async (req) => {
      const t = await api.makeHeap({
        topic: req.topic,
        mode: req.mode === ProtoMode.MAX ? 'max' : req.mode === ProtoMode.MIN ? 'min' : invalid(`mode ${req.mode} is neither MIN nor MAX`),
        partitions: req.partitions,
        replicationFactor: req.replicationFactor,
        topKBound: req.topKBound,
        retentionMs: durationMs(req.retentionTime) ?? null,
        visibilityTimeoutMs: durationMs(req.visibilityTimeoutDefault) ?? null,
        // 0 is what an unset proto3 field reads as: the default (3), as the proto documents.
        maxRetries: req.maxRetriesDefault === 0 ? null : req.maxRetriesDefault,
        maxPayloadBytes: Number(req.maxPayloadBytes),
        compressionEnabled: req.compressionEnabled,
        dlq: req.dlqPolicy === undefined ? null : { enabled: req.dlqPolicy.enabled, retentionMs: durationMs(req.dlqPolicy.retentionTime) ?? null },
      });
      return { topic: t.name, heapId: t.heapId };
    }),
    deleteHeap: call('DeleteHeap', async (req) => {
      await api.deleteHeap(req.topic, req.confirmationToken);
      return {};
    }),
    updateHeapConfig: call('UpdateHeapConfig', async (req) => {
      const vis = durationMs(req.visibilityTimeoutDefault);
      await api.updateHeap({
        topic: req.topic,
        ...(req.retentionTime === undefined ? {} : { retentionMs: durationMs(req.retentionTime) ?? null }),
        ...(vis === undefined ? {} : { visibilityTimeoutMs: vis }),
        ...(req.maxRetriesDefault === undefined ? {} : { maxRetries: req.maxRetriesDefault }),
        ...(req.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: Number(req.maxPayloadBytes) }),
        ...(req.compressionEnabled === undefined ? {} : { compressionEnabled: req.compressionEnabled }),
        ...(req.dlqPolicy === undefined ? {} : { dlq: { enabled: req.dlqPolicy.enabled, retentionMs: durationMs(req.dlqPolicy.retentionTime) ?? null } }),
      });
      return {};
    }),
    listHeaps: call('ListHeaps', async (req) => {
      const page = await api.listHeaps(req.pageSize, req.pageToken);
      const heaps = await Promise.all(page.topics.map(async (t) => heapInfo(t, heapStats(await api.partitionReports(t.name)))));
      return { heaps, nextPageToken: page.nextPageToken };
    }),
    stats: call('Stats', async (req) => {
      const names = req.topic === undefined ? (await api.listHeaps(1000, '')).topics.map((t) => t.name) : [req.topic];
      const topicStats: Record<string, HeapStats> = {};
      const all: PartitionReport[] = [];
      for (const name of names) {
        const reports = await api.partitionReports(name, req.partitionId);
        topicStats[name] = heapStats(reports);
        all.push(...reports);
      }
      return { globalStats: heapStats(all), topicStats };
    }),
    purge: call('Purge', async (req) => {
      await api.purge(req.topic, req.confirmationToken, req.partitionId);
      return {};
    }),
    moveToDlq: call('MoveToDLQ', async (req) => {
      await api.moveToDlq(req.topic, req.messageId, req.reason);
      return {};
    }),
    enqueue: call('Enqueue', async (req) => enqueueResp(await api.enqueue(toEnqueueRequest(req)))),
    enqueueBatch: call('EnqueueBatch', async (req) => {
      const out = await api.enqueueBatch(req.requests.map(toEnqueueRequest), req.transactionId);
      return { responses: out.responses.map(enqueueResp), transactionId: out.transactionId, allDuplicates: out.responses.every((r) => r.duplicate) };
    }),
    popStream: (stream) => popStream(deps, stream),
    ack: call('Ack', async (req) => {
      await api.ack(req.topic, req.messageId, req.leaseToken);
      return {};
    }),
    nack: call('Nack', async (req) => {
      await api.nack(req.topic, req.messageId, req.leaseToken, durationMs(req.backoffOverride), req.reason);
      return {};
    }),
    extend: call('Extend', async (req) => {
      const ms = durationMs(req.extension);
      if (ms === undefined || ms === 0) throw new TopicError('INVALID_ARGUMENT', 'extension must be a positive duration');
      await api.extend(req.topic, req.leaseToken, ms);
      return {};
    }),
    peek: call('Peek', async (req) => {
      const limit = req.limit === undefined || req.limit === 0 ? 10 : Math.min(req.limit, 1000);
      const out = await api.peek(req.topic, req.partitionId, limit, req.includeDlq);
      return {
        items: out.items.map((m) => ({
          messageId: m.messageId,
          topic: req.topic,
          partitionId: m.partition,
          payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
          priority: m.priority,
          enqueuedTime: new Date(m.enqueuedAt),
          attempts: m.attempts,
          maxRetries: m.maxRetries,
          isLeased: m.isLeased,
          ...(m.leaseDeadline === null ? {} : { leaseDeadline: new Date(m.leaseDeadline) }),
          inDlq: m.inDlq,
          ...(m.producer === null || m.producer === undefined ? {} : { producerId: m.producer.id, epoch: BigInt(m.producer.epoch), sequence: BigInt(m.producer.sequence) }),
        })),
        hasMore: out.hasMore,
      };
    }),
  };
}

function invalid(message: string): never {
  throw new TopicError('INVALID_ARGUMENT', message);
}

/**
 * One PopStream: the first client message must be a PopFilter; FlowControl messages add
 * credits. The server leases at most as many messages as it holds credits for, and sends each
 * as soon as it has it; it never renews a lease. When the client goes away, messages leased to
 * it and not acked come back when their leases end.
 */
function popStream(deps: DisheapDeps, stream: grpc.ServerDuplexStream<PopOpen, PopItem>): void {
  const consumer = `stream-${randomUUID()}`;
  const controller = new AbortController();
  let filter: { topic: string; partitions: number[]; visibilityMs: number | undefined } | null = null;
  let credits = 0;
  let running = false;
  let ended = false;
  const end = (err?: unknown): void => {
    if (ended) return;
    ended = true;
    controller.abort();
    if (err !== undefined) {
      const e = grpcError(err) as Partial<grpc.ServiceError>;
      stream.emit('error', { code: e.code ?? grpc.status.INTERNAL, details: e.details ?? String(err), metadata: e.metadata ?? new grpc.Metadata() });
    } else {
      stream.end();
    }
  };
  const pump = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      while (!ended && filter !== null && credits > 0) {
        const items = await deps.api.pop(filter.topic, filter.partitions, Math.min(credits, 100), filter.visibilityMs, consumer, 5_000, controller.signal);
        for (const item of items) {
          if (ended) return; // Leased but not sent: it comes back when its lease ends.
          credits--;
          stream.write(popItem(item));
        }
      }
    } catch (err) {
      const e = toTopicError(err);
      if (e.code === 'UNAVAILABLE' || e.code === 'DEADLINE_EXCEEDED') {
        // Leaderless for a moment (failover): keep the stream, try again shortly.
        deps.logger.debug({ consumer, err: e.message }, 'pop stream waiting for a leader');
        await new Promise((r) => setTimeout(r, 200));
        running = false;
        if (!ended) void pump();
        return;
      }
      end(err);
    } finally {
      running = false;
    }
  };
  stream.on('data', (msg: PopOpen) => {
    try {
      const kind = msg.kind;
      if (kind === undefined) throw new TopicError('INVALID_ARGUMENT', 'PopOpen must carry flow_control or filter');
      if (kind.$case === 'filter') {
        if (filter !== null) throw new TopicError('INVALID_ARGUMENT', 'a stream takes one PopFilter, first');
        if (kind.value.topic === '') throw new TopicError('INVALID_ARGUMENT', 'PopFilter.topic is required');
        filter = { topic: kind.value.topic, partitions: [...kind.value.partitionIds], visibilityMs: durationMs(kind.value.visibilityTimeout) };
      } else {
        if (filter === null) throw new TopicError('INVALID_ARGUMENT', 'send a PopFilter before FlowControl');
        credits += kind.value.credits;
      }
      void pump();
    } catch (err) {
      end(err);
    }
  });
  stream.on('end', () => end());
  stream.on('cancelled', () => {
    ended = true;
    controller.abort();
  });
  stream.on('error', () => {
    ended = true;
    controller.abort();
  });
}

export function topicExtensionsService(deps: DisheapDeps): TopicExtensionsServiceServer {
  const { api } = deps;
  const call = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) =>
    unary<Req, Res>('leviathan.topic.v1.TopicExtensionsService', method, deps, (req) => guarded(() => fn(req)));
  return {
    pop: unary('leviathan.topic.v1.TopicExtensionsService', 'Pop', deps, (req: PopRequest, c) =>
      guarded(async () => {
        // A client that cancels (or whose deadline passes) stops the long poll: nothing is leased for it after.
        const gone = new AbortController();
        c.on('cancelled', () => gone.abort());
        const items = await api.pop(req.topic, req.partitionIds, req.maxMessages === 0 ? 1 : req.maxMessages, durationMs(req.visibilityTimeout), `pop-${randomUUID()}`, durationMs(req.waitTimeout) ?? 0, gone.signal);
        return { items: items.map(popItem) };
      }),
    ),
    read: call('Read', async (req) => {
      const out = await api.read(req.topic, req.partitionId, Number(req.fromOffset), req.limit);
      return {
        records: out.records.map((r) => ({
          offset: BigInt(r.offset),
          messageId: r.messageId,
          priority: r.priority,
          payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
          enqueuedTime: new Date(r.enqueuedAt),
        })),
        nextOffset: BigInt(out.nextOffset),
      };
    }),
    commitOffset: call('CommitOffset', async (req) => {
      await api.commitOffset(req.group, req.topic, req.partitionId, Number(req.offset));
      return {};
    }),
    addPartitions: call('AddPartitions', async (req) => {
      if (req.count < 1) throw new TopicError('INVALID_ARGUMENT', 'count must be at least 1');
      const t = await api.addPartitions(req.topic, req.count);
      return { partitions: t.partitions.length };
    }),
    fetchOffset: call('FetchOffset', async (req) => {
      const offset = await api.fetchOffset(req.group, req.topic, req.partitionId);
      return offset === null ? {} : { offset: BigInt(offset) };
    }),
  };
}
