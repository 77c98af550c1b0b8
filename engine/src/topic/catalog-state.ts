/**
 * The topic catalog: what group 0 of a topic node set replicates. Deterministic like the
 * partitions (time only from the entry, no I/O), so every node agrees on:
 *
 *  - which heaps (topics) exist, their configuration (with a version that partitions catch up
 *    to), and where each partition lives: its Raft group id (allocated here, never reused) and
 *    its replicas (member ids at creation; the first is the preferred leader);
 *  - which groups were deleted (tombstones: a node drops a local group only when it is listed
 *    here, never because the catalog does not mention it yet);
 *  - the coordinator records of atomic batches (two-phase commit across partitions):
 *    `txnBegin` is written before any participant prepares, so every prepared transaction is
 *    known here; `txnDecide` is written once (the first decision wins, a later one gets the
 *    recorded one back); `txnEnd` after every participant applied the decision. Ended records
 *    are remembered for `txnMemoryMs` so a client retrying with the same transaction id gets
 *    the original answer.
 */
import type { PartitionConfig } from './partition-state.js';
import { validateConfig } from './partition-state.js';

export const CATALOG_GROUP = 0;

export const CATALOG_LIMITS = {
  maxPartitions: 256,
  maxTopicLength: 200,
  maxTopKBound: 1000,
  txnMemoryMs: 24 * 3600_000,
} as const;

/** Letters, digits, '.', '_', '-'; starts with a letter or digit. */
const TOPIC_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface PartitionPlacement {
  readonly index: number;
  readonly groupId: number;
  /** Member ids (name@incarnation) of the group's initial voters; the first is the preferred leader. */
  readonly replicas: readonly string[];
}

export interface TopicSettings {
  readonly replicationFactor: number;
  /** How many heads of each partition a cross-partition pop compares. */
  readonly topKBound: number;
  /** Recorded for Disheap clients; payloads are stored as given (see docs). */
  readonly compressionEnabled: boolean;
}

export interface TopicRecord {
  readonly name: string;
  readonly heapId: string;
  readonly settings: TopicSettings;
  readonly config: PartitionConfig;
  /** Raised by every configuration change; partitions apply configs up to this version. */
  readonly configVersion: number;
  readonly partitions: readonly PartitionPlacement[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface TxnParticipant {
  readonly partition: number;
  readonly groupId: number;
}

export type TxnState = 'preparing' | 'committed' | 'aborted';

export interface TxnRecord {
  readonly txnId: string;
  readonly topic: string;
  readonly participants: readonly TxnParticipant[];
  /** Identifies the request, so a reused transaction id with a different batch is refused. */
  readonly fingerprint: string;
  readonly state: TxnState;
  readonly beganAt: number;
  readonly decidedAt: number | null;
  readonly endedAt: number | null;
  /** With a commit: the per-request responses, as the coordinator computed them (opaque JSON). */
  readonly responses: unknown;
  readonly reason: string | null;
}

export type CatalogCommand =
  | {
      readonly type: 'makeHeap';
      readonly name: string;
      readonly settings: TopicSettings;
      readonly config: PartitionConfig;
      /** Replicas per partition, in partition order. */
      readonly placements: readonly (readonly string[])[];
    }
  | { readonly type: 'deleteHeap'; readonly name: string }
  | { readonly type: 'updateHeap'; readonly name: string; readonly config: Partial<PartitionConfig>; readonly compressionEnabled?: boolean }
  | { readonly type: 'addPartitions'; readonly name: string; readonly placements: readonly (readonly string[])[] }
  | { readonly type: 'txnBegin'; readonly txnId: string; readonly topic: string; readonly participants: readonly TxnParticipant[]; readonly fingerprint: string }
  | { readonly type: 'txnDecide'; readonly txnId: string; readonly commit: boolean; readonly responses?: unknown; readonly reason?: string }
  | { readonly type: 'txnEnd'; readonly txnId: string }
  | { readonly type: 'tick' };

export type CatalogErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'FAILED_PRECONDITION';

export interface CatalogFailure {
  readonly ok: false;
  readonly error: CatalogErrorCode;
  readonly message: string;
}

export type CatalogResult =
  | { readonly ok: true; readonly topic: TopicRecord }
  | { readonly ok: true; readonly deleted: readonly number[] }
  | { readonly ok: true; readonly txn: TxnRecord; readonly created: boolean }
  | { readonly ok: true }
  | CatalogFailure;

const fail = (error: CatalogErrorCode, message: string): CatalogFailure => ({ ok: false, error, message });

export function validateTopicName(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'topic name must be a non-empty string';
  if (name.length > CATALOG_LIMITS.maxTopicLength) return `topic name must be at most ${CATALOG_LIMITS.maxTopicLength} characters`;
  if (!TOPIC_NAME.test(name)) return `topic name "${name}" may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit`;
  return null;
}

/**
 * Spreads `partitions` partitions over `members` (sorted ids), `rf` replicas each, rotating the
 * first replica (the preferred leader) so that leaders are balanced: partition p starts at
 * member (offset + p) mod n.
 */
export function placeReplicas(members: readonly string[], partitions: number, rf: number, offset = 0): string[][] {
  const sorted = [...members].sort();
  const n = sorted.length;
  const out: string[][] = [];
  for (let p = 0; p < partitions; p++) {
    const replicas: string[] = [];
    for (let r = 0; r < rf; r++) replicas.push(sorted[(offset + p + r) % n] as string);
    out.push(replicas);
  }
  return out;
}

export class CatalogState {
  private now = 0;
  private nextGroupId = 1;
  private topics = new Map<string, TopicRecord>();
  private tombstones = new Set<number>();
  private txns = new Map<string, TxnRecord>();

  get lastTime(): number {
    return this.now;
  }

  apply(cmd: CatalogCommand, now: number): CatalogResult {
    this.advance(now);
    switch (cmd.type) {
      case 'makeHeap':
        return this.makeHeap(cmd);
      case 'deleteHeap':
        return this.deleteHeap(cmd.name);
      case 'updateHeap':
        return this.updateHeap(cmd);
      case 'addPartitions':
        return this.addPartitions(cmd.name, cmd.placements);
      case 'txnBegin':
        return this.txnBegin(cmd);
      case 'txnDecide':
        return this.txnDecide(cmd);
      case 'txnEnd':
        return this.txnEnd(cmd.txnId);
      case 'tick':
        return { ok: true };
      default:
        return fail('INVALID_ARGUMENT', `unknown catalog command ${JSON.stringify((cmd as { type: unknown }).type)}`);
    }
  }

  // ----- queries ------------------------------------------------------------------------------

  topic(name: string): TopicRecord | undefined {
    return this.topics.get(name);
  }

  /** Topics in name order. */
  listTopics(): TopicRecord[] {
    return [...this.topics.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  isTombstoned(groupId: number): boolean {
    return this.tombstones.has(groupId);
  }

  /** Every live partition group: where it belongs. */
  partitionGroups(): Array<{ topic: TopicRecord; placement: PartitionPlacement }> {
    const out: Array<{ topic: TopicRecord; placement: PartitionPlacement }> = [];
    for (const topic of this.topics.values()) for (const placement of topic.partitions) out.push({ topic, placement });
    return out;
  }

  txn(txnId: string): TxnRecord | undefined {
    return this.txns.get(txnId);
  }

  /** Transactions not ended yet (a recovery loop drives them to the end). */
  openTxns(): TxnRecord[] {
    return [...this.txns.values()].filter((t) => t.endedAt === null);
  }

  // ----- commands -----------------------------------------------------------------------------

  private makeHeap(cmd: Extract<CatalogCommand, { type: 'makeHeap' }>): CatalogResult {
    const nameErr = validateTopicName(cmd.name);
    if (nameErr !== null) return fail('INVALID_ARGUMENT', nameErr);
    if (this.topics.has(cmd.name)) return fail('ALREADY_EXISTS', `topic "${cmd.name}" already exists`);
    const settingsErr = validateSettings(cmd.settings);
    if (settingsErr !== null) return fail('INVALID_ARGUMENT', settingsErr);
    const configErr = validateConfig(cmd.config);
    if (configErr !== null) return fail('INVALID_ARGUMENT', configErr);
    const placementErr = validatePlacements(cmd.placements, cmd.settings.replicationFactor, 0);
    if (placementErr !== null) return fail('INVALID_ARGUMENT', placementErr);
    const partitions = cmd.placements.map((replicas, index) => ({ index, groupId: this.nextGroupId++, replicas: [...replicas] }));
    const topic: TopicRecord = {
      name: cmd.name,
      heapId: `${cmd.name}#${partitions[0]?.groupId ?? 0}`,
      settings: { ...cmd.settings },
      config: cmd.config,
      configVersion: 1,
      partitions,
      createdAt: this.now,
      updatedAt: this.now,
    };
    this.topics.set(cmd.name, topic);
    return { ok: true, topic };
  }

  private deleteHeap(name: string): CatalogResult {
    const topic = this.topics.get(name);
    if (topic === undefined) return fail('NOT_FOUND', `no topic "${name}"`);
    this.topics.delete(name);
    const deleted = topic.partitions.map((p) => p.groupId);
    for (const g of deleted) this.tombstones.add(g);
    return { ok: true, deleted };
  }

  private updateHeap(cmd: Extract<CatalogCommand, { type: 'updateHeap' }>): CatalogResult {
    const topic = this.topics.get(cmd.name);
    if (topic === undefined) return fail('NOT_FOUND', `no topic "${cmd.name}"`);
    if (cmd.config.mode !== undefined && cmd.config.mode !== topic.config.mode) return fail('INVALID_ARGUMENT', 'mode is immutable');
    const config: PartitionConfig = {
      ...topic.config,
      ...cmd.config,
      dlq: { ...topic.config.dlq, ...(cmd.config.dlq ?? {}) },
      backoff: { ...topic.config.backoff, ...(cmd.config.backoff ?? {}) },
    };
    const err = validateConfig(config);
    if (err !== null) return fail('INVALID_ARGUMENT', err);
    const updated: TopicRecord = {
      ...topic,
      config,
      settings: { ...topic.settings, compressionEnabled: cmd.compressionEnabled ?? topic.settings.compressionEnabled },
      configVersion: topic.configVersion + 1,
      updatedAt: this.now,
    };
    this.topics.set(cmd.name, updated);
    return { ok: true, topic: updated };
  }

  private addPartitions(name: string, placements: readonly (readonly string[])[]): CatalogResult {
    const topic = this.topics.get(name);
    if (topic === undefined) return fail('NOT_FOUND', `no topic "${name}"`);
    const err = validatePlacements(placements, topic.settings.replicationFactor, topic.partitions.length);
    if (err !== null) return fail('INVALID_ARGUMENT', err);
    const added = placements.map((replicas, i) => ({ index: topic.partitions.length + i, groupId: this.nextGroupId++, replicas: [...replicas] }));
    const updated: TopicRecord = { ...topic, partitions: [...topic.partitions, ...added], updatedAt: this.now };
    this.topics.set(name, updated);
    return { ok: true, topic: updated };
  }

  private txnBegin(cmd: Extract<CatalogCommand, { type: 'txnBegin' }>): CatalogResult {
    if (typeof cmd.txnId !== 'string' || cmd.txnId.length === 0 || cmd.txnId.length > 256) return fail('INVALID_ARGUMENT', 'transaction id must be 1 to 256 characters');
    const existing = this.txns.get(cmd.txnId);
    if (existing !== undefined) {
      if (existing.fingerprint !== cmd.fingerprint || existing.topic !== cmd.topic) {
        return fail('FAILED_PRECONDITION', `transaction id "${cmd.txnId}" was already used for a different batch`);
      }
      return { ok: true, txn: existing, created: false };
    }
    const topic = this.topics.get(cmd.topic);
    if (topic === undefined) return fail('NOT_FOUND', `no topic "${cmd.topic}"`);
    if (cmd.participants.length === 0) return fail('INVALID_ARGUMENT', 'a transaction needs at least one participant');
    for (const p of cmd.participants) {
      if (topic.partitions[p.partition]?.groupId !== p.groupId) return fail('FAILED_PRECONDITION', `partition ${p.partition} of "${cmd.topic}" is not group ${p.groupId}`);
    }
    const txn: TxnRecord = {
      txnId: cmd.txnId,
      topic: cmd.topic,
      participants: cmd.participants.map((p) => ({ partition: p.partition, groupId: p.groupId })),
      fingerprint: cmd.fingerprint,
      state: 'preparing',
      beganAt: this.now,
      decidedAt: null,
      endedAt: null,
      responses: null,
      reason: null,
    };
    this.txns.set(cmd.txnId, txn);
    return { ok: true, txn, created: true };
  }

  private txnDecide(cmd: Extract<CatalogCommand, { type: 'txnDecide' }>): CatalogResult {
    const txn = this.txns.get(cmd.txnId);
    if (txn === undefined) return fail('NOT_FOUND', `no transaction "${cmd.txnId}"`);
    if (txn.state !== 'preparing') return { ok: true, txn, created: false };
    const decided: TxnRecord = {
      ...txn,
      state: cmd.commit ? 'committed' : 'aborted',
      decidedAt: this.now,
      responses: cmd.commit ? (cmd.responses ?? null) : null,
      reason: cmd.reason ?? null,
    };
    this.txns.set(cmd.txnId, decided);
    return { ok: true, txn: decided, created: true };
  }

  private txnEnd(txnId: string): CatalogResult {
    const txn = this.txns.get(txnId);
    if (txn === undefined) return fail('NOT_FOUND', `no transaction "${txnId}"`);
    if (txn.state === 'preparing') return fail('FAILED_PRECONDITION', `transaction "${txnId}" is not decided yet`);
    if (txn.endedAt !== null) return { ok: true, txn, created: false };
    const ended: TxnRecord = { ...txn, endedAt: this.now };
    this.txns.set(txnId, ended);
    return { ok: true, txn: ended, created: true };
  }

  private advance(now: number): void {
    this.now = Math.max(this.now, Number.isFinite(now) ? Math.floor(now) : this.now);
    for (const [id, t] of this.txns) {
      if (t.endedAt !== null && t.endedAt + CATALOG_LIMITS.txnMemoryMs <= this.now) this.txns.delete(id);
    }
  }

  // ----- snapshots ----------------------------------------------------------------------------

  snapshot(): Uint8Array {
    const doc: CatalogSnapshot = {
      v: 1,
      now: this.now,
      nextGroupId: this.nextGroupId,
      topics: this.listTopics(),
      tombstones: [...this.tombstones].sort((a, b) => a - b),
      txns: [...this.txns.values()],
    };
    return new TextEncoder().encode(JSON.stringify(doc));
  }

  restore(bytes: Uint8Array): void {
    this.now = 0;
    this.nextGroupId = 1;
    this.topics = new Map();
    this.tombstones = new Set();
    this.txns = new Map();
    if (bytes.length === 0) return;
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as CatalogSnapshot;
    if (doc.v !== 1) throw new Error(`unknown catalog snapshot version ${String(doc.v)}`);
    this.now = doc.now;
    this.nextGroupId = doc.nextGroupId;
    for (const t of doc.topics) this.topics.set(t.name, t);
    for (const g of doc.tombstones) this.tombstones.add(g);
    for (const t of doc.txns) this.txns.set(t.txnId, t);
  }
}

interface CatalogSnapshot {
  v: number;
  now: number;
  nextGroupId: number;
  topics: TopicRecord[];
  tombstones: number[];
  txns: TxnRecord[];
}

function validateSettings(s: TopicSettings): string | null {
  if (!Number.isSafeInteger(s.replicationFactor) || s.replicationFactor < 1) return 'replication_factor must be at least 1';
  if (!Number.isSafeInteger(s.topKBound) || s.topKBound < 1 || s.topKBound > CATALOG_LIMITS.maxTopKBound) return `top_k_bound must be in [1, ${CATALOG_LIMITS.maxTopKBound}]`;
  if (typeof s.compressionEnabled !== 'boolean') return 'compression_enabled must be a boolean';
  return null;
}

function validatePlacements(placements: readonly (readonly string[])[], rf: number, existing: number): string | null {
  if (!Array.isArray(placements) || placements.length === 0) return 'partitions must be at least 1';
  if (existing + placements.length > CATALOG_LIMITS.maxPartitions) return `a topic has at most ${CATALOG_LIMITS.maxPartitions} partitions`;
  for (const replicas of placements) {
    if (!Array.isArray(replicas) || replicas.length !== rf) return `every partition needs exactly replication_factor (${rf}) replicas`;
    if (new Set(replicas).size !== replicas.length) return 'a partition cannot have the same replica twice';
    if (replicas.some((r) => typeof r !== 'string' || r.length === 0)) return 'replica ids must be non-empty strings';
  }
  return null;
}
