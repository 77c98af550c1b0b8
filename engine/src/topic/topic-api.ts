/**
 * The operations of priority topics in domain terms, shared by the gRPC services (Disheap's
 * API and our extensions) and the HTTP gateway: validation of requests, partition choice,
 * cross-partition pops, the two-phase commit of atomic batches, and errors with a status code.
 *
 * Ordering across partitions (what a pop of n returns when it spans several partitions): the
 * node asks every partition for its best min(n, top_k_bound) ready messages, merges them by
 * priority (the topic's mode), then enqueue time, then partition, then sequence, takes the best
 * n, and pops from each partition as many as it contributed. Each partition hands out its own
 * best messages at the moment the pop applies, so within a partition the order is exact; across
 * partitions a message is passed over only if it was not among its partition's best
 * min(n, top_k_bound) when the candidates were read (it arrived, or became ready, during the
 * pop), or another consumer took the candidates first.
 */
import { randomUUID } from 'node:crypto';
import { NodeError } from '../node/index.js';
import type { TopicRecord, TopicSettings, TxnRecord } from './catalog-state.js';
import { CATALOG_LIMITS, placeReplicas, validateTopicName } from './catalog-state.js';
import { hashKey } from './hash.js';
import type { Candidate, EnqueueArgs, LeasedMessage, Mode, PartitionConfig, PartitionStats, PeekedMessage, ProducerRef } from './partition-state.js';
import { LIMITS, partitionConfig } from './partition-state.js';
import { isGroupFailure } from './topic-runtime.js';
import type { GroupFailure, TopicRuntime } from './topic-runtime.js';

/** gRPC status names; the services map them to codes, the gateway to HTTP statuses. */
export type TopicErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'RESOURCE_EXHAUSTED';

export class TopicError extends Error {
  constructor(
    readonly code: TopicErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TopicError';
  }
}

/** "Forever" for retention: far enough that now + it stays an exact integer. */
export const FOREVER_MS = 1e15;
export const ENGINE_MAX_PAYLOAD_BYTES = 4 << 20;
export const DEFAULT_TOP_K = 64;
const MAX_WAIT_MS = 30_000;

/** Maps a state machine failure (ok: false) to a TopicError. */
export function failureToError(f: GroupFailure): TopicError {
  switch (f.error) {
    case 'NOT_FOUND':
    case 'UNKNOWN_MESSAGE':
      return new TopicError('NOT_FOUND', f.message);
    case 'ALREADY_EXISTS':
      return new TopicError('ALREADY_EXISTS', f.message);
    case 'LEASE_EXPIRED':
    case 'DLQ_DISABLED':
    case 'STALE_EPOCH':
    case 'FAILED_PRECONDITION':
      return new TopicError('FAILED_PRECONDITION', f.message);
    // A conflict with a transaction: nothing happened; the client may retry.
    case 'TXN_DECIDED':
    case 'TXN_PENDING':
      return new TopicError('ABORTED', f.message);
    case 'OUT_OF_RANGE':
      return new TopicError('OUT_OF_RANGE', f.message);
    default:
      return new TopicError('INVALID_ARGUMENT', f.message);
  }
}

function unwrap<T>(r: unknown): T {
  if (isGroupFailure(r)) throw failureToError(r);
  return r as T;
}

export interface MakeHeapArgs {
  readonly topic: string;
  readonly mode: Mode;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly topKBound: number;
  readonly retentionMs: number | null;
  readonly visibilityTimeoutMs: number | null;
  readonly maxRetries: number | null;
  readonly maxPayloadBytes: number | null;
  readonly compressionEnabled: boolean;
  /** null: no dead-letter queue. */
  readonly dlq: { readonly enabled: boolean; readonly retentionMs: number | null } | null;
}

export interface UpdateHeapArgs {
  readonly topic: string;
  readonly retentionMs?: number | null;
  readonly visibilityTimeoutMs?: number;
  readonly maxRetries?: number;
  readonly maxPayloadBytes?: number;
  readonly compressionEnabled?: boolean;
  readonly dlq?: { readonly enabled: boolean; readonly retentionMs: number | null };
}

export interface EnqueueRequest {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly priority: bigint;
  readonly partitionKey?: string;
  readonly producer?: ProducerRef;
  readonly maxRetries?: number;
  /** Delay from now before the message may be delivered. */
  readonly notBeforeMs?: number;
}

export interface EnqueueOutcome {
  readonly messageId: string;
  readonly duplicate: boolean;
  readonly partition: number;
}

export interface PoppedItem extends LeasedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly maxRetries: number;
  readonly producer: ProducerRef | null;
}

export interface PeekOutcome {
  readonly items: Array<PeekedMessage & { readonly partition: number; readonly producer?: ProducerRef | null }>;
  readonly hasMore: boolean;
}

export interface PartitionReport {
  readonly partition: number;
  readonly groupId: number;
  readonly stats: PartitionStats;
  readonly leader: string | null;
  readonly replicas: readonly string[];
  readonly healthy: boolean;
}

export { hashKey };

/** The partition of a message id (`<partition>-<sequence>`) or lease token (`<message id>.<n>.<hex>`). */
export function partitionOfId(id: string): number | null {
  const m = /^(\d+)-\d+(?:\.|$)/.exec(id);
  return m === null ? null : Number(m[1]);
}

export function messageIdOfToken(token: string): string | null {
  const m = /^(\d+-\d+)\.\d+\.[0-9a-f]+$/.exec(token);
  return m === null ? null : (m[1] as string);
}

function compareCandidates(mode: Mode, a: Candidate & { partition: number }, b: Candidate & { partition: number }): number {
  if (a.priority !== b.priority) return (a.priority < b.priority) === (mode === 'min') ? -1 : 1;
  if (a.enqueuedAt !== b.enqueuedAt) return a.enqueuedAt - b.enqueuedAt;
  if (a.partition !== b.partition) return a.partition - b.partition;
  return a.sequence - b.sequence;
}

export class TopicApi {
  private readonly roundRobin = new Map<string, number>();

  constructor(
    readonly runtime: TopicRuntime,
    readonly requestTimeoutMs: number,
  ) {}

  // ----- admin ------------------------------------------------------------------------------

  async makeHeap(a: MakeHeapArgs): Promise<TopicRecord> {
    const nameErr = validateTopicName(a.topic);
    if (nameErr !== null) throw new TopicError('INVALID_ARGUMENT', nameErr);
    const members = this.runtime.members();
    const partitions = a.partitions === 0 ? 1 : a.partitions;
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > CATALOG_LIMITS.maxPartitions) {
      throw new TopicError('INVALID_ARGUMENT', `partitions must be in [1, ${CATALOG_LIMITS.maxPartitions}]`);
    }
    const rf = a.replicationFactor === 0 ? Math.min(3, members.length) : a.replicationFactor;
    if (rf > members.length) throw new TopicError('FAILED_PRECONDITION', `replication_factor ${rf} needs ${rf} topic nodes; this cluster has ${members.length}`);
    const topK = a.topKBound === 0 ? DEFAULT_TOP_K : a.topKBound;
    if (topK > CATALOG_LIMITS.maxTopKBound) throw new TopicError('INVALID_ARGUMENT', `top_k_bound must be at most ${CATALOG_LIMITS.maxTopKBound}`);
    const maxPayload = a.maxPayloadBytes === null || a.maxPayloadBytes === 0 ? ENGINE_MAX_PAYLOAD_BYTES : a.maxPayloadBytes;
    if (maxPayload > ENGINE_MAX_PAYLOAD_BYTES) throw new TopicError('INVALID_ARGUMENT', `max_payload_bytes must be at most ${ENGINE_MAX_PAYLOAD_BYTES} (the engine limit)`);
    let config: PartitionConfig;
    try {
      config = partitionConfig({
        mode: a.mode,
        retentionMs: a.retentionMs === null || a.retentionMs === 0 ? FOREVER_MS : a.retentionMs,
        ...(a.visibilityTimeoutMs === null || a.visibilityTimeoutMs === 0 ? {} : { visibilityTimeoutMs: a.visibilityTimeoutMs }),
        ...(a.maxRetries === null ? {} : { maxRetries: a.maxRetries }),
        maxPayloadBytes: maxPayload,
        dlq: a.dlq === null ? { enabled: false, retentionMs: FOREVER_MS } : { enabled: a.dlq.enabled, retentionMs: a.dlq.retentionMs === null || a.dlq.retentionMs === 0 ? FOREVER_MS : a.dlq.retentionMs },
      });
    } catch (err) {
      throw new TopicError('INVALID_ARGUMENT', (err as Error).message.replace(/^invalid partition config: /, ''));
    }
    const settings: TopicSettings = { replicationFactor: rf, topKBound: topK, compressionEnabled: a.compressionEnabled };
    // Rotate the first replica by a hash of the name so that small topics do not all lead on one node.
    const placements = placeReplicas(members, partitions, rf, hashKey(a.topic) % members.length);
    const r = await this.runtime.proposeCatalog({ type: 'makeHeap', name: a.topic, settings, config, placements }, this.requestTimeoutMs);
    return unwrap<{ topic: TopicRecord }>(r).topic;
  }

  async deleteHeap(topic: string, confirmation: string): Promise<void> {
    if (confirmation !== topic) throw new TopicError('FAILED_PRECONDITION', `deleting a topic needs confirmation_token set to the topic name ("${topic}")`);
    unwrap(await this.runtime.proposeCatalog({ type: 'deleteHeap', name: topic }, this.requestTimeoutMs));
  }

  async updateHeap(a: UpdateHeapArgs): Promise<TopicRecord> {
    const config: { -readonly [K in keyof PartitionConfig]?: PartitionConfig[K] } = {};
    if (a.retentionMs !== undefined) config.retentionMs = a.retentionMs === null || a.retentionMs === 0 ? FOREVER_MS : a.retentionMs;
    if (a.visibilityTimeoutMs !== undefined) config.visibilityTimeoutMs = a.visibilityTimeoutMs;
    if (a.maxRetries !== undefined) config.maxRetries = a.maxRetries;
    if (a.maxPayloadBytes !== undefined) {
      if (a.maxPayloadBytes > ENGINE_MAX_PAYLOAD_BYTES) throw new TopicError('INVALID_ARGUMENT', `max_payload_bytes must be at most ${ENGINE_MAX_PAYLOAD_BYTES}`);
      config.maxPayloadBytes = a.maxPayloadBytes === 0 ? ENGINE_MAX_PAYLOAD_BYTES : a.maxPayloadBytes;
    }
    if (a.dlq !== undefined) config.dlq = { enabled: a.dlq.enabled, retentionMs: a.dlq.retentionMs === null || a.dlq.retentionMs === 0 ? FOREVER_MS : a.dlq.retentionMs };
    const r = await this.runtime.proposeCatalog(
      { type: 'updateHeap', name: a.topic, config, ...(a.compressionEnabled === undefined ? {} : { compressionEnabled: a.compressionEnabled }) },
      this.requestTimeoutMs,
    );
    return unwrap<{ topic: TopicRecord }>(r).topic;
  }

  /** Adds partitions to a topic (they may grow, never shrink). */
  async addPartitions(topic: string, count: number): Promise<TopicRecord> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const members = this.runtime.members();
    if (t.settings.replicationFactor > members.length) throw new TopicError('FAILED_PRECONDITION', 'not enough topic nodes for the replication factor');
    const placements = placeReplicas(members, count, t.settings.replicationFactor, (hashKey(topic) + t.partitions.length) % members.length);
    return unwrap<{ topic: TopicRecord }>(await this.runtime.proposeCatalog({ type: 'addPartitions', name: topic, placements }, this.requestTimeoutMs)).topic;
  }

  async listHeaps(pageSize: number, pageToken: string): Promise<{ topics: TopicRecord[]; nextPageToken: string }> {
    await this.runtime.catalogBarrier(this.requestTimeoutMs);
    const size = pageSize === 0 ? 100 : Math.min(pageSize, 1000);
    let after = '';
    if (pageToken !== '') {
      after = Buffer.from(pageToken, 'base64url').toString('utf8');
      if (validateTopicName(after) !== null) throw new TopicError('INVALID_ARGUMENT', 'page_token is not one this server issued');
    }
    const all = this.runtime.catalog.state.listTopics().filter((t) => t.name > after);
    const page = all.slice(0, size);
    const last = page[page.length - 1];
    return { topics: page, nextPageToken: all.length > size && last !== undefined ? Buffer.from(last.name, 'utf8').toString('base64url') : '' };
  }

  async partitionReports(topic: string, partition?: number): Promise<PartitionReport[]> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const placements = partition === undefined ? t.partitions : [this.placement(t, partition)];
    return Promise.all(
      placements.map(async (p) => {
        let stats: PartitionStats;
        let healthy = true;
        try {
          stats = await this.runtime.query<PartitionStats>(p.groupId, { type: 'stats' }, this.requestTimeoutMs);
        } catch {
          healthy = false;
          stats = { ready: 0, leased: 0, delayed: 0, dlq: 0, oldestAgeMs: null, enqueuedTotal: 0, ackedTotal: 0, deadLetteredTotal: 0, droppedTotal: 0, expiredTotal: 0, dlqExpiredTotal: 0 } as PartitionStats;
        }
        const leader = this.runtime.leaderOf(p.groupId);
        return { partition: p.index, groupId: p.groupId, stats, leader, replicas: p.replicas, healthy };
      }),
    );
  }

  async purge(topic: string, confirmation: string, partition?: number): Promise<void> {
    if (confirmation !== topic) throw new TopicError('FAILED_PRECONDITION', `purging needs confirmation_token set to the topic name ("${topic}")`);
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const placements = partition === undefined ? t.partitions : [this.placement(t, partition)];
    await Promise.all(placements.map(async (p) => unwrap(await this.runtime.proposePartition(p.groupId, { type: 'purge', dlq: true }, this.requestTimeoutMs))));
  }

  async moveToDlq(topic: string, messageId: string, reason?: string): Promise<void> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const p = this.placementOfId(t, messageId);
    unwrap(await this.runtime.proposePartition(p.groupId, { type: 'moveToDlq', messageId, ...(reason === undefined ? {} : { reason }) }, this.requestTimeoutMs));
  }

  // ----- data -------------------------------------------------------------------------------

  private placement(t: TopicRecord, partition: number) {
    const p = t.partitions[partition];
    if (p === undefined) throw new TopicError('INVALID_ARGUMENT', `topic "${t.name}" has partitions 0..${t.partitions.length - 1}; there is no partition ${partition}`);
    return p;
  }

  private placementOfId(t: TopicRecord, id: string) {
    const partition = partitionOfId(id);
    if (partition === null) throw new TopicError('INVALID_ARGUMENT', `"${id}" is not a message id or lease token of this server`);
    const p = t.partitions[partition];
    if (p === undefined) throw new TopicError('NOT_FOUND', `no message ${id} in topic "${t.name}"`);
    return p;
  }

  /** `salt` (an atomic batch's id and item index) makes the choice the same on every retry. */
  private choosePartition(t: TopicRecord, r: EnqueueRequest, salt?: string): number {
    const n = t.partitions.length;
    if (r.partitionKey !== undefined) return hashKey(r.partitionKey) % n;
    // A retry of the same producer triple must land where the original did, to be recognised.
    if (r.producer !== undefined) return hashKey(`${r.producer.id}\u0000${r.producer.epoch}\u0000${r.producer.sequence}`) % n;
    if (salt !== undefined) return hashKey(salt) % n;
    const next = this.roundRobin.get(t.name) ?? Math.floor(Math.random() * n);
    this.roundRobin.set(t.name, next + 1);
    return next % n;
  }

  private enqueueArgs(r: EnqueueRequest): EnqueueArgs {
    if (r.notBeforeMs !== undefined && (!Number.isSafeInteger(r.notBeforeMs) || r.notBeforeMs < 0)) throw new TopicError('INVALID_ARGUMENT', 'not_before must be a non-negative duration');
    return {
      payload: r.payload,
      priority: r.priority,
      ...(r.producer === undefined ? {} : { producer: r.producer }),
      ...(r.maxRetries === undefined ? {} : { maxRetries: r.maxRetries }),
      ...(r.notBeforeMs === undefined || r.notBeforeMs === 0 ? {} : { notBeforeMs: Date.now() + r.notBeforeMs }),
    };
  }

  async enqueue(r: EnqueueRequest): Promise<EnqueueOutcome> {
    const t = await this.runtime.topic(r.topic, this.requestTimeoutMs);
    const partition = this.choosePartition(t, r);
    const p = this.placement(t, partition);
    const res = unwrap<{ messageId: string; duplicate: boolean }>(await this.runtime.proposePartition(p.groupId, { type: 'enqueue', ...this.enqueueArgs(r) }, this.requestTimeoutMs));
    return { messageId: res.messageId, duplicate: res.duplicate, partition };
  }

  /**
   * Without a transaction id: each request on its own, in order; the first failure fails the
   * call. With one: all or nothing across partitions, by two-phase commit with the catalog as
   * the coordinator's durable record; a retry with the same id returns the first outcome.
   */
  async enqueueBatch(requests: readonly EnqueueRequest[], transactionId?: string): Promise<{ responses: EnqueueOutcome[]; transactionId: string }> {
    if (requests.length === 0) throw new TopicError('INVALID_ARGUMENT', 'a batch needs at least one request');
    if (requests.length > 1000) throw new TopicError('INVALID_ARGUMENT', 'a batch holds at most 1000 requests');
    if (transactionId === undefined) {
      const responses: EnqueueOutcome[] = [];
      for (const r of requests) responses.push(await this.enqueue(r));
      return { responses, transactionId: '' };
    }
    const topicName = requests[0]?.topic as string;
    if (requests.some((r) => r.topic !== topicName)) throw new TopicError('INVALID_ARGUMENT', 'an atomic batch must stay within one topic');
    const txnId = transactionId === '' ? randomUUID() : transactionId;
    const t = await this.runtime.topic(topicName, this.requestTimeoutMs);
    const byPartition = new Map<number, number[]>();
    requests.forEach((r, i) => {
      const p = this.choosePartition(t, r, `${txnId}#${i}`);
      byPartition.set(p, [...(byPartition.get(p) ?? []), i]);
    });
    const participants = [...byPartition.keys()].sort((a, b) => a - b).map((partition) => ({ partition, groupId: this.placement(t, partition).groupId }));
    const fingerprint = batchFingerprint(requests);
    const begun = await this.runtime.proposeCatalog({ type: 'txnBegin', txnId, topic: topicName, participants, fingerprint }, this.requestTimeoutMs);
    let txn = unwrap<{ txn: TxnRecord }>(begun).txn;
    if (txn.participants.map((p) => `${p.partition}:${p.groupId}`).join() !== participants.map((p) => `${p.partition}:${p.groupId}`).join()) {
      // Only if the topic grew between two attempts: never prepare outside the recorded set.
      throw new TopicError('FAILED_PRECONDITION', `transaction ${txnId} began on other partitions (the topic changed since); it will be aborted`);
    }
    if (txn.state === 'committed') return { responses: txn.responses as EnqueueOutcome[], transactionId: txnId };
    if (txn.state === 'aborted') throw new TopicError('ABORTED', `transaction ${txnId} was aborted${txn.reason === null ? '' : `: ${txn.reason}`}`);

    // Phase one: every participant stages its part (invisible until commit).
    const responses: EnqueueOutcome[] = new Array<EnqueueOutcome>(requests.length);
    let failure: TopicError | null = null;
    await Promise.all(
      participants.map(async ({ partition, groupId }) => {
        const indexes = byPartition.get(partition) as number[];
        try {
          const args = indexes.map((i) => this.enqueueArgs(requests[i] as EnqueueRequest));
          const r = unwrap<{ results: Array<{ messageId: string; duplicate: boolean }> }>(await this.runtime.proposePartition(groupId, { type: 'prepare', txnId, enqueues: args }, this.requestTimeoutMs));
          r.results.forEach((res, k) => {
            responses[indexes[k] as number] = { messageId: res.messageId, duplicate: res.duplicate, partition };
          });
        } catch (err) {
          failure ??= err instanceof TopicError ? err : toTopicError(err);
        }
      }),
    );
    crashPoint('txn-after-prepare');
    // Phase two: the decision is durable in the catalog before any participant hears it.
    const decided = await this.runtime.proposeCatalog(
      failure === null ? { type: 'txnDecide', txnId, commit: true, responses } : { type: 'txnDecide', txnId, commit: false, reason: (failure as TopicError).message },
      this.requestTimeoutMs,
    );
    txn = unwrap<{ txn: TxnRecord }>(decided).txn;
    crashPoint('txn-after-decide');
    try {
      txn = await this.runtime.finishTxn(txn, 'aborted');
    } catch {
      // The decision is durable: the catalog leader's recovery loop delivers it.
    }
    if (txn.state === 'committed') return { responses: txn.responses as EnqueueOutcome[], transactionId: txnId };
    // The abort is durable: whatever made a prepare fail (even a timeout), the outcome is known now.
    const cause = failure as TopicError | null; // assigned in the prepare callbacks above
    const why = cause?.message ?? txn.reason;
    throw new TopicError(
      cause?.code === 'INVALID_ARGUMENT' ? 'INVALID_ARGUMENT' : 'ABORTED',
      `transaction ${txnId} was aborted${why === null ? '' : `: ${why}`}`,
    );
  }

  /**
   * Leases up to `max` of the best ready messages across `partitions` (all when empty).
   * With `waitMs`, waits that long for a first message.
   */
  async pop(topic: string, partitions: readonly number[], max: number, visibilityTimeoutMs: number | undefined, consumer: string, waitMs = 0, signal?: AbortSignal): Promise<PoppedItem[]> {
    if (!Number.isSafeInteger(max) || max < 1 || max > LIMITS.maxPopBatch) throw new TopicError('INVALID_ARGUMENT', `max must be in [1, ${LIMITS.maxPopBatch}]`);
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const placements = partitions.length === 0 ? t.partitions : [...new Set(partitions)].map((p) => this.placement(t, p));
    const until = Date.now() + Math.min(Math.max(0, waitMs), MAX_WAIT_MS);
    for (;;) {
      // A caller that went away must not get messages leased to it that nobody will receive.
      if (aborted(signal)) return [];
      const items = await this.popOnce(t, placements, max, visibilityTimeoutMs, consumer);
      const left = until - Date.now();
      if (items.length > 0 || left <= 0 || aborted(signal)) return items;
      await this.waitReady(placements.map((p) => p.groupId), Math.min(left, 5_000), signal);
    }
  }

  private async popOnce(t: TopicRecord, placements: TopicRecord['partitions'], max: number, visibilityTimeoutMs: number | undefined, consumer: string): Promise<PoppedItem[]> {
    const vis = visibilityTimeoutMs === undefined ? {} : { visibilityTimeoutMs };
    let counts: Array<{ groupId: number; partition: number; n: number }>;
    if (placements.length === 1) {
      const p = placements[0] as TopicRecord['partitions'][number];
      counts = [{ groupId: p.groupId, partition: p.index, n: max }];
    } else {
      const k = Math.min(max, t.settings.topKBound);
      const heads = await Promise.all(
        placements.map(async (p) => {
          try {
            const c = await this.runtime.query<Candidate[]>(p.groupId, { type: 'candidates', k }, this.requestTimeoutMs);
            return c.map((x) => ({ ...x, partition: p.index, groupId: p.groupId }));
          } catch {
            return []; // A partition without a leader right now: pop from the others.
          }
        }),
      );
      const best = heads.flat().sort((a, b) => compareCandidates(t.config.mode, a, b)).slice(0, max);
      const per = new Map<number, { groupId: number; partition: number; n: number }>();
      for (const c of best) {
        const e = per.get(c.groupId) ?? { groupId: c.groupId, partition: c.partition, n: 0 };
        e.n++;
        per.set(c.groupId, e);
      }
      counts = [...per.values()];
    }
    const popped = await Promise.all(
      counts.map(async ({ groupId, partition, n }) => {
        const r = unwrap<{ messages: LeasedMessage[] }>(await this.runtime.proposePartition(groupId, { type: 'pop', max: n, consumer, ...vis }, this.requestTimeoutMs));
        return r.messages.map((m) => ({ ...m, topic: t.name, partition }));
      }),
    );
    return popped.flat().sort((a, b) => compareCandidates(t.config.mode, { ...a, sequence: seqOf(a.messageId) }, { ...b, sequence: seqOf(b.messageId) }));
  }

  /** Resolves when any of the partitions may have a ready message, after `timeoutMs` at most. */
  private async waitReady(groupIds: readonly number[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const waits = groupIds.map((g) =>
      this.runtime.query<boolean>(g, { type: 'waitReady', timeoutMs }, timeoutMs + this.requestTimeoutMs).then(
        (ready) => (ready ? undefined : new Promise<void>(() => {})),
        () => sleep(Math.min(timeoutMs, 250)),
      ),
    );
    const aborted = signal === undefined ? [] : [new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))];
    await Promise.race([...waits, sleep(timeoutMs), ...aborted]);
  }

  async ack(topic: string, messageId: string, leaseToken: string): Promise<void> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const p = this.placementOfId(t, messageId);
    unwrap(await this.runtime.proposePartition(p.groupId, { type: 'ack', messageId, leaseToken }, this.requestTimeoutMs));
  }

  async nack(topic: string, messageId: string, leaseToken: string, backoffOverrideMs?: number, reason?: string): Promise<void> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const p = this.placementOfId(t, messageId);
    unwrap(
      await this.runtime.proposePartition(
        p.groupId,
        { type: 'nack', messageId, leaseToken, ...(backoffOverrideMs === undefined ? {} : { backoffOverrideMs }), ...(reason === undefined ? {} : { reason }) },
        this.requestTimeoutMs,
      ),
    );
  }

  async extend(topic: string, leaseToken: string, extensionMs: number): Promise<number> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const messageId = messageIdOfToken(leaseToken);
    if (messageId === null) throw new TopicError('INVALID_ARGUMENT', 'lease_token is not a lease token of this server');
    const p = this.placementOfId(t, messageId);
    return unwrap<{ leaseDeadline: number }>(await this.runtime.proposePartition(p.groupId, { type: 'extend', leaseToken, extensionMs }, this.requestTimeoutMs)).leaseDeadline;
  }

  async peek(topic: string, partition: number | undefined, limit: number, includeDlq: boolean): Promise<PeekOutcome> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const placements = partition === undefined ? t.partitions : [this.placement(t, partition)];
    const all = await Promise.all(
      placements.map(async (p) => {
        const items = await this.runtime.query<PeekedMessage[]>(p.groupId, { type: 'peek', limit: limit + 1, includeDlq }, this.requestTimeoutMs);
        return items.map((m) => ({ ...m, partition: p.index }));
      }),
    );
    const mode = t.config.mode;
    const merged = all.flat().sort((a, b) => {
      if (a.inDlq !== b.inDlq) return a.inDlq ? 1 : -1;
      return compareCandidates(mode, { ...a, sequence: a.sequence }, { ...b, sequence: b.sequence });
    });
    return { items: merged.slice(0, limit), hasMore: merged.length > limit };
  }

  async read(topic: string, partition: number, fromOffset: number, limit: number): Promise<{ records: Array<{ offset: number; messageId: string; priority: bigint; payload: Uint8Array; enqueuedAt: number }>; nextOffset: number }> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const p = this.placement(t, partition);
    return unwrap(await this.runtime.query(p.groupId, { type: 'read', fromOffset, limit: limit === 0 ? 100 : Math.min(limit, 1000) }, this.requestTimeoutMs));
  }

  async commitOffset(group: string, topic: string, partition: number, offset: number): Promise<void> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const p = this.placement(t, partition);
    unwrap(await this.runtime.proposePartition(p.groupId, { type: 'commitOffset', group, offset }, this.requestTimeoutMs));
  }

  async fetchOffset(group: string, topic: string, partition: number): Promise<number | null> {
    const t = await this.runtime.topic(topic, this.requestTimeoutMs);
    const p = this.placement(t, partition);
    return this.runtime.query<number | null>(p.groupId, { type: 'fetchOffset', group }, this.requestTimeoutMs);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A function, not an inline check, so TypeScript does not narrow `aborted` across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function seqOf(messageId: string): number {
  return Number(messageId.slice(messageId.indexOf('-') + 1));
}

/** Identifies a batch's content, so a transaction id reused for another batch is refused. */
function batchFingerprint(requests: readonly EnqueueRequest[]): string {
  const h = (s: string): string => hashKey(s).toString(16);
  return requests
    .map((r) => h(`${r.partitionKey ?? ''}|${r.priority}|${Buffer.from(r.payload).toString('base64')}|${r.producer ? `${r.producer.id}/${r.producer.epoch}/${r.producer.sequence}` : ''}`))
    .join('.');
}

export function toTopicError(err: unknown): TopicError {
  if (err instanceof TopicError) return err;
  if (err instanceof NodeError) {
    switch (err.code) {
      case 'TIMEOUT':
        return new TopicError('DEADLINE_EXCEEDED', err.message);
      case 'NOT_FOUND':
        return new TopicError('NOT_FOUND', err.message);
      case 'INVALID_ARGUMENT':
        return new TopicError('INVALID_ARGUMENT', err.message);
      case 'FAILED_PRECONDITION':
        return new TopicError('FAILED_PRECONDITION', err.message);
      default:
        return new TopicError('UNAVAILABLE', err.message);
    }
  }
  return new TopicError('UNAVAILABLE', err instanceof Error ? err.message : String(err));
}

/**
 * A test failpoint: with LEVIATHAN_FAILPOINT=<name> the process dies at that point (as kill -9
 * would), so tests can crash a coordinator between the two phases. Never set in production.
 */
function crashPoint(name: string): void {
  if (process.env.LEVIATHAN_FAILPOINT === name) {
    process.kill(process.pid, 'SIGKILL');
  }
}

export type { Mode };
