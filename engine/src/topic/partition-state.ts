/**
 * The deterministic core of one Disheap topic partition: what its Raft group's state machine
 * holds. No I/O, no clock, no Math.random: every change comes from a command applied with the
 * entry's leader-assigned time (`now`, never decreasing along the log) and a seed derived from
 * the entry's (index, term), so every replica reaches the same state.
 *
 * Where a message is (exactly one place at a time):
 *  - ready: in the ready heap, deliverable now;
 *  - delayed: waiting for its not-before or backoff time (`availableAt`);
 *  - leased: delivered to one consumer until its lease deadline;
 *  - dlq: dead-lettered, kept for the DLQ retention, never delivered;
 *  - gone: acked, purged, or dropped by retention (acked ids are never delivered again: the
 *    message no longer exists).
 *
 * Rules decided here:
 *  - Delivery order: priority (mode 'min': lower first; 'max': higher first), then enqueue order
 *    (the partition's sequence), then message id.
 *  - Every command first advances the partition to `now` (the same work as `tick`): leases with
 *    deadline <= now expire, delayed messages whose time came become ready, retention runs. So a
 *    lease at its deadline is already expired for ack/nack/extend, and a pop sees exactly the
 *    messages visible at `now`.
 *  - `attempts` counts deliveries (leases). A delivery that fails (nack or lease expiry) sends
 *    the message to the DLQ when attempts > maxRetries, i.e. a message is delivered at most
 *    maxRetries + 1 times. With the DLQ disabled it is dropped instead and counted
 *    (`droppedTotal`), never silently.
 *  - Nack delay: the override if given, else full jitter in [0, min(maxMs, baseMs * 2^(attempts-1))]
 *    drawn from the entry's seed. A lease expiry returns the message to ready at once.
 *  - Retention (`retentionMs`, from enqueue) drops ready, delayed and leased messages alike
 *    (a later ack of such a lease gets UNKNOWN_MESSAGE); DLQ entries live `dlq.retentionMs` from
 *    the time they were dead-lettered.
 *  - Dedup on (producer id, epoch, sequence) for `dedupWindowMs` from the original enqueue: a
 *    duplicate returns the original id with duplicate=true, even when the original was acked.
 *  - Lease tokens are `${messageId}.${attempt}.${16 hex digits from the seed}`: unique per
 *    delivery; any token other than the message's current live lease gets LEASE_EXPIRED.
 *  - `extend` adds `extensionMs` to the current deadline; the deadline may not end up more than
 *    `maxVisibilityTimeoutMs` after now.
 *  - `moveToDlq` of a DLQ message succeeds (alreadyInDlq); it ends any lease.
 *  - `purge` removes every live message (ends leases) and, with `dlq: true`, the DLQ too; dedup
 *    entries stay, so producer retries are still recognised. It touches neither prepared
 *    transactions, the log, nor consumer-group offsets.
 *  - `configure` (UpdateHeapConfig): a patch merged into the current config (the nested `dlq`
 *    and `backoff` field by field; unknown fields refused), then validated as a whole; `mode` may
 *    not change ('mode is immutable'). It applies from its entry on, to what is already there
 *    too: the partition advances to `now` under the old config, then again under the new one, so
 *    a shorter retention (or DLQ retention, dedup window, txn memory, log bound) drops what it no
 *    longer covers at once, and a longer one keeps messages longer. Enqueue-time checks (payload
 *    size, delay bound, default maxRetries) apply to later enqueues and prepares; leases keep
 *    their deadlines; disabling the DLQ keeps its entries until their DLQ retention.
 *
 * Transactions (this partition as a two-phase-commit participant of an atomic EnqueueBatch; the
 * coordinator lives elsewhere):
 *  - `prepare {txnId, enqueues}` validates every item exactly as enqueue does, all or nothing:
 *    the first invalid item fails the whole prepare with its error code and its index in the
 *    message, and nothing is staged. An item whose producer triple is in the dedup window or
 *    reserved by a staged item (of any prepared txn, this one's earlier items included) is
 *    answered with that message's id and duplicate=true, and is not staged. Every other item
 *    takes its sequence number, hence its message id, at prepare, and is staged: invisible (not
 *    delivered, peeked, returned by `get`, or in the log; counted in `stats().staged`). Its
 *    producer triple is reserved from prepare on: a plain enqueue or prepare with the same
 *    triple is its duplicate until the txn is decided (if it then aborts, the id such a duplicate
 *    was answered with never becomes a message). Items are checked once, at prepare, with
 *    the config of then. A prepared txn stays until decided (never by a timeout here: the
 *    coordinator's recovery loop reads `preparedTxns()`), and survives snapshots.
 *  - `commitTxn` makes the staged messages live at the commit time: enqueuedAt = commit time
 *    (retention and the dedup window run from it, and `live` stays in enqueuedAt order, which the
 *    retention scan relies on), ready, or delayed if notBeforeMs is still ahead at commit; each
 *    gets its log record then, in prepare order. They keep the sequence reserved at prepare:
 *    among equal priorities they are delivered in prepare order, i.e. before messages enqueued
 *    between their prepare and the commit.
 *  - `abortTxn` drops the staged messages and releases their reservations. Their sequence
 *    numbers stay unused; they never took log offsets, so offsets stay dense. Aborting a txn this
 *    partition does not know records it as aborted, so a late prepare for it is refused.
 *  - Idempotency: preparing a prepared txn returns its stored result (the items sent again are
 *    not looked at); preparing a decided one fails TXN_DECIDED (a retried prepare after an abort
 *    never stages orphans); committing a committed txn is 'already-committed' and aborting an
 *    aborted one 'already-aborted'; committing an aborted txn or aborting a committed one fails
 *    TXN_DECIDED; committing an unknown txn answers 'unknown' and changes nothing.
 *  - A decision is remembered for `txnMemoryMs` from the time it was made (repeating it does not
 *    extend that), then forgotten: the txn id is unknown again.
 *
 * The log (Read) and consumer-group offsets:
 *  - Every message that becomes live (enqueue, or commit of a staged one) appends a record
 *    {offset, messageId, priority, payload, enqueuedAt}; offsets are dense from 0. A record is
 *    dropped when enqueuedAt + retentionMs <= now, and oldest first while there are more than
 *    `maxLogRecords`. Pops, acks, nacks, the DLQ and purge do not touch it: it is a log, not the
 *    queue. `read(from, limit)` returns up to min(limit, LIMITS.maxReadBatch) records from
 *    `from`; `from` below the first retained offset, or past the end (the offset the next record
 *    will get), fails OUT_OF_RANGE; `from` at the end returns nothing.
 *  - `commitOffset {group, offset}` stores the group's offset: an integer in [0, end of the log]
 *    (it may move back, and may be below the first retained offset). At most LIMITS.maxGroups
 *    groups per partition; a group is never dropped.
 *
 * Snapshots are version 2 (everything above). A version 1 document (before transactions, the log
 * and offsets) still restores: no transactions, an empty log starting at offset 0, no offsets,
 * and txnMemoryMs / maxLogRecords from the constructor's config (what a replica replaying from
 * the start would have: version 1 had no configure).
 */
import { IndexedHeap } from './priority-queue.js';

export type Mode = 'min' | 'max';

export interface PartitionConfig {
  readonly mode: Mode;
  /** Lease length when a pop does not say. */
  readonly visibilityTimeoutMs: number;
  /** Retries after the first delivery when the enqueue does not say. */
  readonly maxRetries: number;
  /** How long a message may stay in the partition after its enqueue. */
  readonly retentionMs: number;
  readonly dlq: { readonly enabled: boolean; readonly retentionMs: number };
  readonly maxPayloadBytes: number;
  /** 0 turns deduplication off. */
  readonly dedupWindowMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** Upper bound of a lease (pop visibility, and deadline - now after extend). */
  readonly maxVisibilityTimeoutMs: number;
  /** Upper bound of notBeforeMs - now and of a nack's backoff override. */
  readonly maxDelayMs: number;
  /** How long a transaction's decision (commit or abort) is remembered after it was made. */
  readonly txnMemoryMs: number;
  /** Upper bound on the records the log keeps (>= 1); the oldest go first. */
  readonly maxLogRecords: number;
}

/** What `configure` takes: any subset of the fields, the nested ones field by field too. */
export type PartitionConfigPatch = Partial<Omit<PartitionConfig, 'dlq' | 'backoff'>> & {
  readonly dlq?: Partial<PartitionConfig['dlq']>;
  readonly backoff?: Partial<PartitionConfig['backoff']>;
};

export const DEFAULT_PARTITION_CONFIG: PartitionConfig = {
  mode: 'min',
  visibilityTimeoutMs: 30_000,
  maxRetries: 3,
  retentionMs: 7 * 24 * 3600_000,
  dlq: { enabled: true, retentionMs: 7 * 24 * 3600_000 },
  maxPayloadBytes: 1 << 20,
  dedupWindowMs: 3600_000,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  maxVisibilityTimeoutMs: 12 * 3600_000,
  maxDelayMs: 30 * 24 * 3600_000,
  txnMemoryMs: 24 * 3600_000,
  maxLogRecords: 100_000,
};

/** Bounds that do not depend on the topic. */
export const LIMITS = {
  maxPopBatch: 1000,
  maxRetries: 1000,
  maxNameLength: 256,
  maxReasonLength: 1024,
  /** Items of one prepare. */
  maxTxnItems: 1000,
  /** Records of one read. */
  maxReadBatch: 1000,
  /** Consumer groups with an offset in one partition. */
  maxGroups: 10_000,
  minPriority: -(1n << 63n),
  maxPriority: (1n << 63n) - 1n,
} as const;

/** The config with defaults filled in; throws with a clear message when a value is out of range. */
export function partitionConfig(overrides: Partial<PartitionConfig> = {}): PartitionConfig {
  const c: PartitionConfig = { ...DEFAULT_PARTITION_CONFIG, ...overrides };
  const err = validateConfig(c);
  if (err !== null) throw new Error(`invalid partition config: ${err}`);
  return c;
}

export function validateConfig(c: PartitionConfig): string | null {
  if (typeof c !== 'object' || c === null) return 'config must be an object';
  if (c.mode !== 'min' && c.mode !== 'max') return `mode must be 'min' or 'max'`;
  if (typeof c.dlq !== 'object' || c.dlq === null) return 'dlq must be {enabled, retentionMs}';
  if (typeof c.backoff !== 'object' || c.backoff === null) return 'backoff must be {baseMs, maxMs}';
  const positive: [string, number][] = [
    ['visibilityTimeoutMs', c.visibilityTimeoutMs],
    ['retentionMs', c.retentionMs],
    ['dlq.retentionMs', c.dlq.retentionMs],
    ['maxPayloadBytes', c.maxPayloadBytes],
    ['maxVisibilityTimeoutMs', c.maxVisibilityTimeoutMs],
    ['txnMemoryMs', c.txnMemoryMs],
    ['maxLogRecords', c.maxLogRecords],
  ];
  for (const [name, v] of positive) if (!isPositiveInt(v)) return `${name} must be a positive integer`;
  const nonNegative: [string, number][] = [
    ['maxRetries', c.maxRetries],
    ['dedupWindowMs', c.dedupWindowMs],
    ['backoff.baseMs', c.backoff.baseMs],
    ['backoff.maxMs', c.backoff.maxMs],
    ['maxDelayMs', c.maxDelayMs],
  ];
  for (const [name, v] of nonNegative) if (!isNonNegativeInt(v)) return `${name} must be a non-negative integer`;
  if (c.maxRetries > LIMITS.maxRetries) return `maxRetries must be at most ${LIMITS.maxRetries}`;
  if (c.backoff.maxMs < c.backoff.baseMs) return 'backoff.maxMs must be at least backoff.baseMs';
  if (c.visibilityTimeoutMs > c.maxVisibilityTimeoutMs) return 'visibilityTimeoutMs must be at most maxVisibilityTimeoutMs';
  if (typeof c.dlq.enabled !== 'boolean') return 'dlq.enabled must be a boolean';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Commands and results

export interface ProducerRef {
  readonly id: string;
  readonly epoch: number;
  readonly sequence: number;
}

export interface EnqueueArgs {
  readonly payload: Uint8Array;
  readonly priority: bigint;
  readonly producer?: ProducerRef;
  readonly maxRetries?: number;
  /** Absolute time (ms since the epoch) before which the message is not delivered. */
  readonly notBeforeMs?: number;
}
export interface PopArgs {
  readonly max: number;
  readonly visibilityTimeoutMs?: number;
  readonly consumer: string;
}
export interface AckArgs {
  readonly messageId: string;
  readonly leaseToken: string;
}
export interface NackArgs {
  readonly messageId: string;
  readonly leaseToken: string;
  readonly backoffOverrideMs?: number;
  readonly reason?: string;
}
export interface ExtendArgs {
  readonly leaseToken: string;
  readonly extensionMs: number;
}
export interface PurgeArgs {
  readonly dlq?: boolean;
}
export interface MoveToDlqArgs {
  readonly messageId: string;
  readonly reason?: string;
}
export interface ConfigureArgs {
  readonly config: PartitionConfigPatch;
}
export interface PrepareArgs {
  /** 1..LIMITS.maxNameLength characters. */
  readonly txnId: string;
  /** 1..LIMITS.maxTxnItems items. */
  readonly enqueues: readonly EnqueueArgs[];
}
export interface TxnArgs {
  readonly txnId: string;
}
export interface CommitOffsetArgs {
  /** 1..LIMITS.maxNameLength characters. */
  readonly group: string;
  /** The next offset the group will read: an integer in [0, end of the log]. */
  readonly offset: number;
}

export type PartitionCommand =
  | ({ readonly type: 'enqueue' } & EnqueueArgs)
  | ({ readonly type: 'pop' } & PopArgs)
  | ({ readonly type: 'ack' } & AckArgs)
  | ({ readonly type: 'nack' } & NackArgs)
  | ({ readonly type: 'extend' } & ExtendArgs)
  | { readonly type: 'tick' }
  | ({ readonly type: 'purge' } & PurgeArgs)
  | ({ readonly type: 'moveToDlq' } & MoveToDlqArgs)
  | ({ readonly type: 'configure' } & ConfigureArgs)
  | ({ readonly type: 'prepare' } & PrepareArgs)
  | ({ readonly type: 'commitTxn' } & TxnArgs)
  | ({ readonly type: 'abortTxn' } & TxnArgs)
  | ({ readonly type: 'commitOffset' } & CommitOffsetArgs);

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'PAYLOAD_TOO_LARGE'
  | 'PRIORITY_OUT_OF_RANGE'
  | 'DELAY_OUT_OF_RANGE'
  | 'UNKNOWN_MESSAGE'
  | 'LEASE_EXPIRED'
  | 'DLQ_DISABLED'
  /** The transaction was already decided the other way (or at all, for a prepare). */
  | 'TXN_DECIDED'
  /** A read outside the retained log. */
  | 'OUT_OF_RANGE'
  /** The producer triple is staged by another transaction that is not decided yet: retry later. */
  | 'TXN_PENDING'
  /** The producer's epoch is lower than one this partition already accepted from it. */
  | 'STALE_EPOCH';

export interface Failure {
  readonly ok: false;
  readonly error: ErrorCode;
  readonly message: string;
}

export type EnqueueResult = { readonly ok: true; readonly messageId: string; readonly duplicate: boolean } | Failure;

export interface LeasedMessage {
  readonly messageId: string;
  readonly payload: Uint8Array;
  readonly priority: bigint;
  readonly enqueuedAt: number;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  readonly leaseToken: string;
  readonly leaseDeadline: number;
  /** The retry limit that applies to this message. */
  readonly maxRetries: number;
  readonly producer: ProducerRef | null;
}
export type PopResult = { readonly ok: true; readonly messages: readonly LeasedMessage[] } | Failure;
export type AckResult = { readonly ok: true } | Failure;
export type NackResult =
  | {
      readonly ok: true;
      /** retry: back to ready or delayed until `availableAt`; dlq: dead-lettered; dropped: retries exhausted with the DLQ disabled. */
      readonly outcome: 'retry' | 'dlq' | 'dropped';
      readonly availableAt?: number;
    }
  | Failure;
export type ExtendResult = { readonly ok: true; readonly leaseDeadline: number } | Failure;
export type TickResult = { readonly ok: true };
export type PurgeResult = { readonly ok: true; readonly purged: number; readonly purgedDlq: number };
export type MoveToDlqResult = { readonly ok: true; readonly alreadyInDlq: boolean } | Failure;
export type ConfigureResult = { readonly ok: true; readonly config: PartitionConfig } | Failure;
export interface TxnItemResult {
  readonly messageId: string;
  /** The producer triple was already accepted or staged: messageId is that message's. */
  readonly duplicate: boolean;
}
/** One result per item, in item order. */
export type PrepareResult = { readonly ok: true; readonly results: readonly TxnItemResult[] } | Failure;
export type CommitTxnResult = { readonly ok: true; readonly outcome: 'committed' | 'already-committed' | 'unknown' } | Failure;
export type AbortTxnResult = { readonly ok: true; readonly outcome: 'aborted' | 'already-aborted' | 'unknown' } | Failure;
export type CommitOffsetResult = { readonly ok: true } | Failure;
export type PartitionResult =
  | EnqueueResult
  | PopResult
  | AckResult
  | NackResult
  | ExtendResult
  | TickResult
  | PurgeResult
  | MoveToDlqResult
  | ConfigureResult
  | PrepareResult
  | CommitTxnResult
  | AbortTxnResult
  | CommitOffsetResult;

/** What a command is applied with. */
export interface ApplyContext {
  /** The entry's leader-assigned time (ms since the epoch). */
  readonly now: number;
  /** The entry's random seed (`seedFor(index, term)`). */
  readonly seed: bigint;
}

// ---------------------------------------------------------------------------------------------
// Queries

export type MessageState = 'ready' | 'delayed' | 'leased' | 'dlq';

export interface PeekedMessage {
  readonly messageId: string;
  readonly sequence: number;
  readonly priority: bigint;
  readonly payload: Uint8Array;
  readonly enqueuedAt: number;
  readonly attempts: number;
  readonly maxRetries: number;
  readonly state: MessageState;
  readonly isLeased: boolean;
  readonly leaseDeadline: number | null;
  readonly consumer: string | null;
  readonly availableAt: number;
  readonly inDlq: boolean;
  readonly dlqAt: number | null;
  readonly lastReason: string | null;
  readonly producer: ProducerRef | null;
}

export interface PartitionStats {
  readonly ready: number;
  readonly leased: number;
  readonly delayed: number;
  readonly dlq: number;
  /** Messages of prepared, undecided transactions (not deliverable). */
  readonly staged: number;
  /** Prepared, undecided transactions. */
  readonly preparedTxns: number;
  /** Decided transactions still remembered. */
  readonly decidedTxns: number;
  /** Age of the oldest live (not dead-lettered) message at `now`; null when there is none. */
  readonly oldestAgeMs: number | null;
  /** The log's first retained offset (== logEndOffset when it is empty). */
  readonly logFirstOffset: number;
  /** The offset the log's next record will get. */
  readonly logEndOffset: number;
  /** Consumer groups with a stored offset. */
  readonly groups: number;
  /** Messages that became live: enqueued, or committed from a transaction. */
  readonly enqueuedTotal: number;
  /** Deliveries (leases granted), and those of messages delivered before. */
  readonly poppedTotal: number;
  readonly retriedTotal: number;
  readonly nackedTotal: number;
  readonly ackedTotal: number;
  readonly deadLetteredTotal: number;
  readonly droppedTotal: number;
  readonly expiredTotal: number;
  readonly dlqExpiredTotal: number;
  /** Transactions prepared (a repeated prepare not counted), committed, aborted (unknown ones included). */
  readonly txnPreparedTotal: number;
  readonly txnCommittedTotal: number;
  readonly txnAbortedTotal: number;
}

export interface PreparedTxn {
  readonly txnId: string;
  readonly preparedAt: number;
  /** Staged messages (the prepare's duplicates not counted). */
  readonly items: number;
  /** Their ids, in prepare order. */
  readonly messageIds: readonly string[];
}

export type TxnStatus = 'prepared' | 'committed' | 'aborted';

/** One record of the partition's log. */
export interface LogRecord {
  readonly offset: number;
  readonly messageId: string;
  readonly priority: bigint;
  readonly payload: Uint8Array;
  readonly enqueuedAt: number;
}

export type ReadResult =
  | {
      readonly ok: true;
      /** In offset order, from `fromOffset`. */
      readonly records: readonly LogRecord[];
      /** The offset to read from next: fromOffset + records.length. */
      readonly nextOffset: number;
      /** The first retained offset. */
      readonly firstOffset: number;
      /** The offset the next record will get (the end of the log). */
      readonly endOffset: number;
    }
  | Failure;

export interface Candidate {
  readonly messageId: string;
  readonly sequence: number;
  readonly priority: bigint;
  readonly enqueuedAt: number;
}

// ---------------------------------------------------------------------------------------------
// Randomness

const MASK64 = (1n << 64n) - 1n;

/** The seed of the entry at (index, term): the same on every replica, different per entry. */
export function seedFor(index: number, term: number): bigint {
  return ((BigInt(index) << 20n) ^ BigInt(term) ^ 0x70b1c5eedn) & MASK64;
}

/** splitmix64 over a mutable state. */
class Rng {
  constructor(private state: bigint) {}
  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
  /** An integer in [0, n]. */
  upTo(n: number): number {
    return Math.floor((Number(this.next() >> 11n) / 2 ** 53) * (n + 1));
  }
}

// ---------------------------------------------------------------------------------------------
// State

interface Lease {
  token: string;
  consumer: string;
  deadline: number;
}

interface Message {
  readonly id: string;
  readonly seq: number;
  readonly priority: bigint;
  readonly payload: Uint8Array;
  readonly enqueuedAt: number;
  readonly maxRetries: number;
  readonly producer: ProducerRef | null;
  state: MessageState;
  attempts: number;
  /** When it became ready (ready), becomes ready (delayed), or last became ready (others). */
  availableAt: number;
  lease: Lease | null;
  dlqAt: number | null;
  lastReason: string | null;
}

interface DedupEntry {
  readonly messageId: string;
  readonly at: number;
}

/** An enqueue's arguments once checked, with the defaults resolved. */
interface CheckedEnqueue {
  readonly payload: Uint8Array;
  readonly priority: bigint;
  readonly maxRetries: number;
  /** null: deliverable as soon as live. */
  readonly notBeforeMs: number | null;
  readonly producer: ProducerRef | null;
  /** null when the item has no producer or dedup is off. */
  readonly dedupKey: string | null;
}

/** A message of a prepared transaction, with its reserved sequence. */
interface StagedMessage extends CheckedEnqueue {
  readonly id: string;
  readonly seq: number;
}

interface Txn {
  readonly txnId: string;
  readonly preparedAt: number;
  readonly staged: readonly StagedMessage[];
  readonly results: readonly TxnItemResult[];
}

interface Decision {
  readonly outcome: 'committed' | 'aborted';
  readonly at: number;
}

/** A dedup key held by a staged message. */
interface Reservation {
  readonly txnId: string;
  readonly messageId: string;
}

interface Counters {
  enqueuedTotal: number;
  /** Deliveries (leases granted). */
  poppedTotal: number;
  /** Deliveries of a message delivered before. */
  retriedTotal: number;
  nackedTotal: number;
  ackedTotal: number;
  deadLetteredTotal: number;
  droppedTotal: number;
  expiredTotal: number;
  dlqExpiredTotal: number;
  txnPreparedTotal: number;
  txnCommittedTotal: number;
  txnAbortedTotal: number;
}

const zeroCounters = (): Counters => ({
  enqueuedTotal: 0,
  poppedTotal: 0,
  retriedTotal: 0,
  nackedTotal: 0,
  ackedTotal: 0,
  deadLetteredTotal: 0,
  droppedTotal: 0,
  expiredTotal: 0,
  dlqExpiredTotal: 0,
  txnPreparedTotal: 0,
  txnCommittedTotal: 0,
  txnAbortedTotal: 0,
});

const CONFIG_KEYS: readonly (keyof PartitionConfig)[] = [
  'mode',
  'visibilityTimeoutMs',
  'maxRetries',
  'retentionMs',
  'dlq',
  'maxPayloadBytes',
  'dedupWindowMs',
  'backoff',
  'maxVisibilityTimeoutMs',
  'maxDelayMs',
  'txnMemoryMs',
  'maxLogRecords',
];

/** `patch` over `base` (nested objects field by field, undefined fields ignored), or why not. */
export function mergeConfig(base: PartitionConfig, patch: PartitionConfigPatch): PartitionConfig | string {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return 'config must be an object';
  for (const k of Object.keys(patch)) if (!(CONFIG_KEYS as readonly string[]).includes(k)) return `unknown config field ${JSON.stringify(k)}`;
  const nested = <T extends object>(name: string, cur: T, p: unknown): T | string => {
    if (p === undefined || p === null) return cur;
    if (typeof p !== 'object' || Array.isArray(p)) return `${name} must be an object`;
    const out: Record<string, unknown> = { ...(cur as Record<string, unknown>) };
    for (const [k, v] of Object.entries(p)) {
      if (!(k in cur)) return `unknown config field ${JSON.stringify(`${name}.${k}`)}`;
      if (v !== undefined) out[k] = v;
    }
    return out as T;
  };
  const dlq = nested('dlq', base.dlq, patch.dlq);
  if (typeof dlq === 'string') return dlq;
  const backoff = nested('backoff', base.backoff, patch.backoff);
  if (typeof backoff === 'string') return backoff;
  const pick = <K extends keyof PartitionConfig>(k: K): PartitionConfig[K] => (patch[k as keyof PartitionConfigPatch] ?? base[k]) as PartitionConfig[K];
  return encodeConfig({
    mode: pick('mode'),
    visibilityTimeoutMs: pick('visibilityTimeoutMs'),
    maxRetries: pick('maxRetries'),
    retentionMs: pick('retentionMs'),
    dlq,
    maxPayloadBytes: pick('maxPayloadBytes'),
    dedupWindowMs: pick('dedupWindowMs'),
    backoff,
    maxVisibilityTimeoutMs: pick('maxVisibilityTimeoutMs'),
    maxDelayMs: pick('maxDelayMs'),
    txnMemoryMs: pick('txnMemoryMs'),
    maxLogRecords: pick('maxLogRecords'),
  });
}

const fail = (error: ErrorCode, message: string): Failure => ({ ok: false, error, message });

/** INVALID_ARGUMENT unless `v` is a string of 1..LIMITS.maxNameLength characters. */
function checkName(v: unknown, name: string): Failure | null {
  if (typeof v === 'string' && v.length > 0 && v.length <= LIMITS.maxNameLength) return null;
  return fail('INVALID_ARGUMENT', `${name} must be a non-empty string of at most ${LIMITS.maxNameLength} characters`);
}

function isPositiveInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}
function isNonNegativeInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** Strict total order of delivery: negative when `a` goes first. */
export function compareDelivery(mode: Mode, a: { priority: bigint; sequence: number; messageId: string }, b: { priority: bigint; sequence: number; messageId: string }): number {
  if (a.priority !== b.priority) return (a.priority < b.priority) === (mode === 'min') ? -1 : 1;
  if (a.sequence !== b.sequence) return a.sequence < b.sequence ? -1 : 1;
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}

export class PartitionState {
  private config: PartitionConfig;
  private readonly initialConfig: PartitionConfig;
  private now = 0;
  private nextSeq = 1;
  private counters: Counters = zeroCounters();
  /** Live messages (ready, delayed, leased) in enqueue order: the retention scan reads the front. */
  private live = new Map<string, Message>();
  /** Dead-lettered messages in the order they arrived there (dlqAt never decreases). */
  private dlq = new Map<string, Message>();
  /** Dedup key to original id, in enqueue order. */
  private dedup = new Map<string, DedupEntry>();
  private leaseTokens = new Map<string, string>();
  /** Prepared, undecided transactions, in prepare order. */
  private prepared = new Map<string, Txn>();
  /** Dedup keys of staged messages (never expire while staged). */
  private reservations = new Map<string, Reservation>();
  /** Decided transactions in decision order (`at` never decreases). */
  private decided = new Map<string, Decision>();
  /** The log's retained records are `log[logHead..]`; the next one gets offset `logEnd`. */
  private log: LogRecord[] = [];
  private logHead = 0;
  private logEnd = 0;
  /** Consumer group to its committed offset. */
  private offsets = new Map<string, number>();
  /**
   * Producer id to the highest epoch accepted from it and when, in `at` order; kept for the
   * dedup window after the producer's last accepted message (fencing needs dedup on).
   */
  private producers = new Map<string, { epoch: number; at: number }>();
  /** Messages staged in `prepared`. */
  private stagedCount = 0;
  private ready: IndexedHeap<string, Message>;
  private readonly delayed = new IndexedHeap<string, Message>(
    (a, b) => (a.availableAt !== b.availableAt ? a.availableAt < b.availableAt : a.seq < b.seq),
    (m) => m.id,
  );
  private readonly leased = new IndexedHeap<string, Message>(
    (a, b) => {
      const da = (a.lease as Lease).deadline;
      const db = (b.lease as Lease).deadline;
      return da !== db ? da < db : a.seq < b.seq;
    },
    (m) => m.id,
  );

  constructor(
    readonly partition: number,
    config: PartitionConfig = DEFAULT_PARTITION_CONFIG,
  ) {
    const err = validateConfig(config);
    if (err !== null) throw new Error(`invalid partition config: ${err}`);
    this.config = config;
    this.initialConfig = config;
    this.ready = this.makeReadyHeap();
  }

  get currentConfig(): PartitionConfig {
    return this.config;
  }

  /** The time of the last applied command. */
  get lastTime(): number {
    return this.now;
  }

  private makeReadyHeap(): IndexedHeap<string, Message> {
    const min = this.config.mode === 'min';
    return new IndexedHeap<string, Message>(
      (a, b) => {
        if (a.priority !== b.priority) return a.priority < b.priority === min;
        if (a.seq !== b.seq) return a.seq < b.seq;
        return a.id < b.id;
      },
      (m) => m.id,
    );
  }

  // ----- commands ---------------------------------------------------------------------------

  apply(cmd: PartitionCommand, ctx: ApplyContext): PartitionResult {
    switch (cmd.type) {
      case 'enqueue':
        return this.enqueue(ctx, cmd);
      case 'pop':
        return this.pop(ctx, cmd);
      case 'ack':
        return this.ack(ctx, cmd);
      case 'nack':
        return this.nack(ctx, cmd);
      case 'extend':
        return this.extend(ctx, cmd);
      case 'tick':
        return this.tick(ctx);
      case 'purge':
        return this.purge(ctx, cmd);
      case 'moveToDlq':
        return this.moveToDlq(ctx, cmd);
      case 'configure':
        return this.configure(ctx, cmd);
      case 'prepare':
        return this.prepare(ctx, cmd);
      case 'commitTxn':
        return this.commitTxn(ctx, cmd);
      case 'abortTxn':
        return this.abortTxn(ctx, cmd);
      case 'commitOffset':
        return this.commitOffset(ctx, cmd);
    }
  }

  enqueue(ctx: ApplyContext, a: EnqueueArgs): EnqueueResult {
    const now = this.advance(ctx.now);
    const e = this.checkEnqueue(a, now);
    if ('ok' in e) return e;
    const prior = this.priorFor(e.dedupKey);
    if (prior !== null) return { ok: true, messageId: prior, duplicate: true };
    const refused = this.refuseProducer(e, null);
    if (refused !== null) return refused;
    const seq = this.nextSeq++;
    const m = this.makeLive({ ...e, id: `${this.partition}-${seq}`, seq }, now);
    return { ok: true, messageId: m.id, duplicate: false };
  }

  /** An enqueue's arguments checked against the config at `now`, or the first thing wrong. */
  private checkEnqueue(a: EnqueueArgs, now: number): CheckedEnqueue | Failure {
    if (typeof a !== 'object' || a === null) return fail('INVALID_ARGUMENT', 'an enqueue must be an object');
    if (!(a.payload instanceof Uint8Array)) return fail('INVALID_ARGUMENT', 'payload must be bytes');
    if (a.payload.length > this.config.maxPayloadBytes) {
      return fail('PAYLOAD_TOO_LARGE', `payload is ${a.payload.length} bytes; the topic allows at most ${this.config.maxPayloadBytes}`);
    }
    if (typeof a.priority !== 'bigint') return fail('INVALID_ARGUMENT', 'priority must be an integer');
    if (a.priority < LIMITS.minPriority || a.priority > LIMITS.maxPriority) {
      return fail('PRIORITY_OUT_OF_RANGE', `priority ${a.priority} is outside the int64 range`);
    }
    const maxRetries = a.maxRetries ?? this.config.maxRetries;
    if (!isNonNegativeInt(maxRetries) || maxRetries > LIMITS.maxRetries) {
      return fail('INVALID_ARGUMENT', `maxRetries must be an integer in [0, ${LIMITS.maxRetries}]`);
    }
    if (a.notBeforeMs !== undefined) {
      if (!Number.isSafeInteger(a.notBeforeMs)) return fail('INVALID_ARGUMENT', 'notBeforeMs must be an integer (ms since the epoch)');
      if (a.notBeforeMs - now > this.config.maxDelayMs) {
        return fail('DELAY_OUT_OF_RANGE', `notBeforeMs is ${a.notBeforeMs - now} ms ahead; the topic allows at most ${this.config.maxDelayMs}`);
      }
    }
    let dedupKey: string | null = null;
    if (a.producer !== undefined) {
      const p = a.producer;
      if (typeof p.id !== 'string' || p.id.length === 0 || p.id.length > LIMITS.maxNameLength) {
        return fail('INVALID_ARGUMENT', `producer id must be a non-empty string of at most ${LIMITS.maxNameLength} characters`);
      }
      if (!isNonNegativeInt(p.epoch) || !isNonNegativeInt(p.sequence)) return fail('INVALID_ARGUMENT', 'producer epoch and sequence must be non-negative integers');
      if (this.config.dedupWindowMs > 0) dedupKey = `${p.id}\u0000${p.epoch}\u0000${p.sequence}`;
    }
    return {
      payload: a.payload.slice(),
      priority: a.priority,
      maxRetries,
      notBeforeMs: a.notBeforeMs ?? null,
      producer: a.producer === undefined ? null : { id: a.producer.id, epoch: a.producer.epoch, sequence: a.producer.sequence },
      dedupKey,
    };
  }

  /**
   * The id of the message already holding this dedup key: in the window, or staged by
   * `txnId` itself (an earlier item of the same batch). A key staged by another, undecided
   * transaction is not answered here (see refuseProducer): that message may never exist.
   */
  private priorFor(dedupKey: string | null, txnId: string | null = null): string | null {
    if (dedupKey === null) return null;
    const inWindow = this.dedup.get(dedupKey);
    if (inWindow !== undefined) return inWindow.messageId;
    const reserved = this.reservations.get(dedupKey);
    return reserved !== undefined && reserved.txnId === txnId ? reserved.messageId : null;
  }

  /** Why a new (not duplicate) message of this producer must be refused now, if it must. */
  private refuseProducer(e: CheckedEnqueue, txnId: string | null): Failure | null {
    if (e.dedupKey === null || e.producer === null) return null;
    const reserved = this.reservations.get(e.dedupKey);
    if (reserved !== undefined && reserved.txnId !== txnId) {
      return fail('TXN_PENDING', `producer ${e.producer.id} epoch ${e.producer.epoch} sequence ${e.producer.sequence} is staged by transaction ${reserved.txnId}, not decided yet: retry shortly`);
    }
    const seen = this.producers.get(e.producer.id);
    if (seen !== undefined && e.producer.epoch < seen.epoch) {
      return fail('STALE_EPOCH', `producer ${e.producer.id} epoch ${e.producer.epoch} is older than epoch ${seen.epoch}, already accepted: a newer instance of this producer took over`);
    }
    return null;
  }

  /** Makes a message live at `now` (ready, or delayed until its not-before), with its dedup entry and log record. */
  private makeLive(s: StagedMessage, now: number): Message {
    const availableAt = Math.max(now, s.notBeforeMs ?? now);
    const m: Message = {
      id: s.id,
      seq: s.seq,
      priority: s.priority,
      payload: s.payload,
      enqueuedAt: now,
      maxRetries: s.maxRetries,
      producer: s.producer,
      state: availableAt > now ? 'delayed' : 'ready',
      attempts: 0,
      availableAt,
      lease: null,
      dlqAt: null,
      lastReason: null,
    };
    this.live.set(m.id, m);
    (m.state === 'ready' ? this.ready : this.delayed).push(m);
    if (s.dedupKey !== null && this.config.dedupWindowMs > 0) {
      // Delete first so that the map stays in `at` order (the key cannot be there: a staged
      // key is never also in the window, but this keeps the expiry scan right regardless).
      this.dedup.delete(s.dedupKey);
      this.dedup.set(s.dedupKey, { messageId: m.id, at: now });
    }
    if (s.producer !== null && this.config.dedupWindowMs > 0) {
      const seen = this.producers.get(s.producer.id);
      this.producers.delete(s.producer.id);
      this.producers.set(s.producer.id, { epoch: Math.max(s.producer.epoch, seen?.epoch ?? 0), at: now });
    }
    this.appendRecord({ offset: this.logEnd, messageId: m.id, priority: m.priority, payload: m.payload, enqueuedAt: now });
    this.counters.enqueuedTotal++;
    return m;
  }

  pop(ctx: ApplyContext, a: PopArgs): PopResult {
    const now = this.advance(ctx.now);
    if (!isPositiveInt(a.max) || a.max > LIMITS.maxPopBatch) return fail('INVALID_ARGUMENT', `max must be an integer in [1, ${LIMITS.maxPopBatch}]`);
    const visibility = a.visibilityTimeoutMs ?? this.config.visibilityTimeoutMs;
    if (!isPositiveInt(visibility) || visibility > this.config.maxVisibilityTimeoutMs) {
      return fail('INVALID_ARGUMENT', `visibilityTimeoutMs must be an integer in [1, ${this.config.maxVisibilityTimeoutMs}]`);
    }
    if (typeof a.consumer !== 'string' || a.consumer.length === 0 || a.consumer.length > LIMITS.maxNameLength) {
      return fail('INVALID_ARGUMENT', `consumer must be a non-empty string of at most ${LIMITS.maxNameLength} characters`);
    }
    const rng = new Rng(ctx.seed);
    const out: LeasedMessage[] = [];
    while (out.length < a.max) {
      const m = this.ready.pop();
      if (m === undefined) break;
      m.attempts++;
      const token = `${m.id}.${m.attempts}.${rng.next().toString(16).padStart(16, '0')}`;
      m.lease = { token, consumer: a.consumer, deadline: now + visibility };
      m.state = 'leased';
      this.leased.push(m);
      this.leaseTokens.set(token, m.id);
      out.push({
        messageId: m.id,
        payload: m.payload,
        priority: m.priority,
        enqueuedAt: m.enqueuedAt,
        attempts: m.attempts,
        leaseToken: token,
        leaseDeadline: m.lease.deadline,
        maxRetries: m.maxRetries,
        producer: m.producer,
      });
      this.counters.poppedTotal++;
      if (m.attempts > 1) this.counters.retriedTotal++;
    }
    return { ok: true, messages: out };
  }

  ack(ctx: ApplyContext, a: AckArgs): AckResult {
    this.advance(ctx.now);
    const m = this.holder(a.messageId, a.leaseToken);
    if ('ok' in m) return m;
    this.endLease(m);
    this.live.delete(m.id);
    this.counters.ackedTotal++;
    return { ok: true };
  }

  nack(ctx: ApplyContext, a: NackArgs): NackResult {
    const now = this.advance(ctx.now);
    if (a.backoffOverrideMs !== undefined && (!isNonNegativeInt(a.backoffOverrideMs) || a.backoffOverrideMs > this.config.maxDelayMs)) {
      return fail('DELAY_OUT_OF_RANGE', `backoffOverrideMs must be an integer in [0, ${this.config.maxDelayMs}]`);
    }
    if (a.reason !== undefined && (typeof a.reason !== 'string' || a.reason.length > LIMITS.maxReasonLength)) {
      return fail('INVALID_ARGUMENT', `reason must be a string of at most ${LIMITS.maxReasonLength} characters`);
    }
    const m = this.holder(a.messageId, a.leaseToken);
    if ('ok' in m) return m;
    this.endLease(m);
    this.counters.nackedTotal++;
    m.lastReason = a.reason ?? 'nack';
    const delay = a.backoffOverrideMs ?? new Rng(ctx.seed).upTo(backoffCap(this.config, m.attempts));
    const outcome = this.failDelivery(m, now, delay);
    return outcome === 'retry' ? { ok: true, outcome, availableAt: m.availableAt } : { ok: true, outcome };
  }

  extend(ctx: ApplyContext, a: ExtendArgs): ExtendResult {
    const now = this.advance(ctx.now);
    if (!isPositiveInt(a.extensionMs)) return fail('INVALID_ARGUMENT', 'extensionMs must be a positive integer');
    const id = typeof a.leaseToken === 'string' ? this.leaseTokens.get(a.leaseToken) : undefined;
    const m = id === undefined ? undefined : this.live.get(id);
    if (m === undefined || m.lease === null) {
      return fail('LEASE_EXPIRED', 'the lease token is not a live lease: it expired, was released, or its message was leased again');
    }
    const deadline = m.lease.deadline + a.extensionMs;
    if (deadline - now > this.config.maxVisibilityTimeoutMs) {
      return fail('INVALID_ARGUMENT', `the lease would end ${deadline - now} ms from now; the topic allows at most ${this.config.maxVisibilityTimeoutMs}`);
    }
    m.lease.deadline = deadline;
    this.leased.update(m.id);
    return { ok: true, leaseDeadline: deadline };
  }

  tick(ctx: ApplyContext): TickResult {
    this.advance(ctx.now);
    return { ok: true };
  }

  purge(ctx: ApplyContext, a: PurgeArgs = {}): PurgeResult {
    this.advance(ctx.now);
    const purged = this.live.size;
    this.live.clear();
    this.ready.clear();
    this.delayed.clear();
    this.leased.clear();
    this.leaseTokens.clear();
    let purgedDlq = 0;
    if (a.dlq === true) {
      purgedDlq = this.dlq.size;
      this.dlq.clear();
    }
    return { ok: true, purged, purgedDlq };
  }

  moveToDlq(ctx: ApplyContext, a: MoveToDlqArgs): MoveToDlqResult {
    const now = this.advance(ctx.now);
    if (!this.config.dlq.enabled) return fail('DLQ_DISABLED', 'the topic has no dead-letter queue');
    if (a.reason !== undefined && (typeof a.reason !== 'string' || a.reason.length > LIMITS.maxReasonLength)) {
      return fail('INVALID_ARGUMENT', `reason must be a string of at most ${LIMITS.maxReasonLength} characters`);
    }
    if (this.dlq.has(a.messageId)) return { ok: true, alreadyInDlq: true };
    const m = this.live.get(a.messageId);
    if (m === undefined) return fail('UNKNOWN_MESSAGE', `no message ${a.messageId} (acked, expired, or never enqueued)`);
    this.detach(m);
    m.lastReason = a.reason ?? 'moved to the dead-letter queue';
    this.toDlq(m, now);
    return { ok: true, alreadyInDlq: false };
  }

  configure(ctx: ApplyContext, a: ConfigureArgs): ConfigureResult {
    const now = this.advance(ctx.now);
    const merged = mergeConfig(this.config, a.config);
    if (typeof merged === 'string') return fail('INVALID_ARGUMENT', merged);
    if (merged.mode !== this.config.mode) return fail('INVALID_ARGUMENT', 'mode is immutable');
    const err = validateConfig(merged);
    if (err !== null) return fail('INVALID_ARGUMENT', err);
    this.config = merged;
    this.advance(now);
    return { ok: true, config: merged };
  }

  prepare(ctx: ApplyContext, a: PrepareArgs): PrepareResult {
    const now = this.advance(ctx.now);
    const bad = checkName(a.txnId, 'txnId');
    if (bad !== null) return bad;
    const decided = this.decided.get(a.txnId);
    if (decided !== undefined) return fail('TXN_DECIDED', `transaction ${a.txnId} was already ${decided.outcome}`);
    const known = this.prepared.get(a.txnId);
    if (known !== undefined) return { ok: true, results: known.results.map((r) => ({ ...r })) };
    if (!Array.isArray(a.enqueues) || a.enqueues.length === 0 || a.enqueues.length > LIMITS.maxTxnItems) {
      return fail('INVALID_ARGUMENT', `enqueues must be a list of 1 to ${LIMITS.maxTxnItems} items`);
    }
    const checked: CheckedEnqueue[] = [];
    for (const [i, item] of a.enqueues.entries()) {
      const e = this.checkEnqueue(item, now);
      if ('ok' in e) return fail(e.error, `item ${i}: ${e.message}`);
      checked.push(e);
    }
    const staged: StagedMessage[] = [];
    const results: TxnItemResult[] = [];
    // All or nothing: refusals are found before anything is staged.
    for (const [i, e] of checked.entries()) {
      if (this.priorFor(e.dedupKey) !== null) continue;
      const refused = this.refuseProducer(e, a.txnId);
      if (refused !== null) return fail(refused.error, `item ${i}: ${refused.message}`);
    }
    for (const e of checked) {
      const prior = this.priorFor(e.dedupKey, a.txnId);
      if (prior !== null) {
        results.push({ messageId: prior, duplicate: true });
        continue;
      }
      const seq = this.nextSeq++;
      const m: StagedMessage = { ...e, id: `${this.partition}-${seq}`, seq };
      staged.push(m);
      if (m.dedupKey !== null) this.reservations.set(m.dedupKey, { txnId: a.txnId, messageId: m.id });
      results.push({ messageId: m.id, duplicate: false });
    }
    this.prepared.set(a.txnId, { txnId: a.txnId, preparedAt: now, staged, results });
    this.stagedCount += staged.length;
    this.counters.txnPreparedTotal++;
    return { ok: true, results: results.map((r) => ({ ...r })) };
  }

  commitTxn(ctx: ApplyContext, a: TxnArgs): CommitTxnResult {
    const now = this.advance(ctx.now);
    const bad = checkName(a.txnId, 'txnId');
    if (bad !== null) return bad;
    const decided = this.decided.get(a.txnId);
    if (decided !== undefined) {
      return decided.outcome === 'committed' ? { ok: true, outcome: 'already-committed' } : fail('TXN_DECIDED', `transaction ${a.txnId} was aborted; it cannot commit`);
    }
    const t = this.prepared.get(a.txnId);
    if (t === undefined) return { ok: true, outcome: 'unknown' };
    this.dropPrepared(t);
    for (const m of t.staged) this.makeLive(m, now);
    this.decided.set(a.txnId, { outcome: 'committed', at: now });
    this.counters.txnCommittedTotal++;
    return { ok: true, outcome: 'committed' };
  }

  abortTxn(ctx: ApplyContext, a: TxnArgs): AbortTxnResult {
    const now = this.advance(ctx.now);
    const bad = checkName(a.txnId, 'txnId');
    if (bad !== null) return bad;
    const decided = this.decided.get(a.txnId);
    if (decided !== undefined) {
      return decided.outcome === 'aborted' ? { ok: true, outcome: 'already-aborted' } : fail('TXN_DECIDED', `transaction ${a.txnId} was committed; it cannot abort`);
    }
    const t = this.prepared.get(a.txnId);
    if (t !== undefined) this.dropPrepared(t);
    this.decided.set(a.txnId, { outcome: 'aborted', at: now });
    this.counters.txnAbortedTotal++;
    return { ok: true, outcome: t === undefined ? 'unknown' : 'aborted' };
  }

  commitOffset(ctx: ApplyContext, a: CommitOffsetArgs): CommitOffsetResult {
    this.advance(ctx.now);
    const bad = checkName(a.group, 'group');
    if (bad !== null) return bad;
    if (!isNonNegativeInt(a.offset) || a.offset > this.logEnd) {
      return fail('INVALID_ARGUMENT', `offset must be an integer in [0, ${this.logEnd}] (the end of the log)`);
    }
    if (!this.offsets.has(a.group) && this.offsets.size >= LIMITS.maxGroups) {
      return fail('INVALID_ARGUMENT', `the partition already holds offsets for ${LIMITS.maxGroups} consumer groups, the most it allows; group ${a.group} is new`);
    }
    this.offsets.set(a.group, a.offset);
    return { ok: true };
  }

  // ----- queries ----------------------------------------------------------------------------

  /**
   * Live messages in delivery order (ready, delayed and leased alike, each flagged), then, with
   * `includeDlq`, dead-lettered ones in the same order.
   */
  peek(limit: number, includeDlq = false): PeekedMessage[] {
    const min = this.config.mode === 'min';
    const order = (x: Message, y: Message): number => {
      if (x.priority !== y.priority) return (x.priority < y.priority) === min ? -1 : 1;
      return x.seq - y.seq;
    };
    const live = [...this.live.values()].sort(order);
    const all = includeDlq ? live.concat([...this.dlq.values()].sort(order)) : live;
    return all.slice(0, Math.max(0, limit)).map(peeked);
  }

  /** The partition's best `k` ready messages, in delivery order: heads for a cross-partition pop. */
  candidates(k: number): Candidate[] {
    return this.ready.top(k).map((m) => ({ messageId: m.id, sequence: m.seq, priority: m.priority, enqueuedAt: m.enqueuedAt }));
  }

  /**
   * The earliest time at which a tick would change something (a lease deadline, a delayed
   * message's release, a retention or dedup expiry); null when nothing is pending.
   */
  nextDeadline(): number | null {
    const times: number[] = [];
    const lease = this.leased.peek();
    if (lease !== undefined) times.push((lease.lease as Lease).deadline);
    const delayed = this.delayed.peek();
    if (delayed !== undefined) times.push(delayed.availableAt);
    const oldest = first(this.live);
    if (oldest !== undefined) times.push(oldest.enqueuedAt + this.config.retentionMs);
    const oldestDlq = first(this.dlq);
    if (oldestDlq !== undefined) times.push((oldestDlq.dlqAt as number) + this.config.dlq.retentionMs);
    const dedup = first(this.dedup);
    if (dedup !== undefined) times.push(dedup.at + this.config.dedupWindowMs);
    const decision = first(this.decided);
    if (decision !== undefined) times.push(decision.at + this.config.txnMemoryMs);
    const record = this.log[this.logHead];
    if (record !== undefined) times.push(record.enqueuedAt + this.config.retentionMs);
    return times.length === 0 ? null : Math.min(...times);
  }

  stats(now: number = this.now): PartitionStats {
    const oldest = first(this.live);
    return {
      ready: this.ready.size,
      leased: this.leased.size,
      delayed: this.delayed.size,
      dlq: this.dlq.size,
      staged: this.stagedCount,
      preparedTxns: this.prepared.size,
      decidedTxns: this.decided.size,
      oldestAgeMs: oldest === undefined ? null : Math.max(0, now - oldest.enqueuedAt),
      logFirstOffset: this.logFirst(),
      logEndOffset: this.logEnd,
      groups: this.offsets.size,
      ...this.counters,
    };
  }

  /**
   * Up to min(limit, LIMITS.maxReadBatch) log records from `fromOffset`, as of the last applied
   * command. OUT_OF_RANGE below the first retained offset or past the end of the log.
   */
  read(fromOffset: number, limit: number): ReadResult {
    if (!isNonNegativeInt(fromOffset)) return fail('INVALID_ARGUMENT', 'fromOffset must be a non-negative integer');
    if (!isPositiveInt(limit)) return fail('INVALID_ARGUMENT', 'limit must be a positive integer');
    const firstOffset = this.logFirst();
    const endOffset = this.logEnd;
    if (fromOffset < firstOffset) {
      return fail('OUT_OF_RANGE', `offset ${fromOffset} is no longer retained: the first retained offset is ${firstOffset}`);
    }
    if (fromOffset > endOffset) {
      return fail('OUT_OF_RANGE', `offset ${fromOffset} is past the end of the log: the next offset is ${endOffset}`);
    }
    const n = Math.min(limit, LIMITS.maxReadBatch, endOffset - fromOffset);
    const start = this.logHead + (fromOffset - firstOffset);
    return { ok: true, records: this.log.slice(start, start + n), nextOffset: fromOffset + n, firstOffset, endOffset };
  }

  /** The log's first retained offset and the offset its next record will get. */
  logBounds(): { firstOffset: number; endOffset: number } {
    return { firstOffset: this.logFirst(), endOffset: this.logEnd };
  }

  /** The group's committed offset; null when it never committed one here. */
  fetchOffset(group: string): number | null {
    return this.offsets.get(group) ?? null;
  }

  /** Prepared, undecided transactions in prepare order (for the coordinator's recovery loop). */
  preparedTxns(): PreparedTxn[] {
    return [...this.prepared.values()].map((t) => ({ txnId: t.txnId, preparedAt: t.preparedAt, items: t.staged.length, messageIds: t.staged.map((m) => m.id) }));
  }

  /** What this partition knows of a transaction: null when unknown (never seen, or forgotten). */
  txnStatus(txnId: string): TxnStatus | null {
    if (this.prepared.has(txnId)) return 'prepared';
    return this.decided.get(txnId)?.outcome ?? null;
  }

  /** One message wherever it is (null when gone). */
  get(messageId: string): PeekedMessage | null {
    const m = this.live.get(messageId) ?? this.dlq.get(messageId);
    return m === undefined ? null : peeked(m);
  }

  /** Throws when the internal structures disagree (for tests and debugging). */
  checkInvariants(): void {
    const count = { ready: 0, delayed: 0, leased: 0 };
    for (const m of this.live.values()) {
      if (m.state === 'dlq') throw new Error(`${m.id}: live but in state dlq`);
      if (this.dlq.has(m.id)) throw new Error(`${m.id}: both live and in the DLQ`);
      count[m.state]++;
      if (this.ready.has(m.id) !== (m.state === 'ready')) throw new Error(`${m.id}: ready heap disagrees with state ${m.state}`);
      if (this.delayed.has(m.id) !== (m.state === 'delayed')) throw new Error(`${m.id}: delayed heap disagrees with state ${m.state}`);
      if (this.leased.has(m.id) !== (m.state === 'leased')) throw new Error(`${m.id}: lease heap disagrees with state ${m.state}`);
      if ((m.lease !== null) !== (m.state === 'leased')) throw new Error(`${m.id}: lease field disagrees with state ${m.state}`);
      if (m.lease !== null && (m.lease.deadline <= this.now || this.leaseTokens.get(m.lease.token) !== m.id)) throw new Error(`${m.id}: bad lease`);
      if (m.state === 'delayed' && m.availableAt <= this.now) throw new Error(`${m.id}: delayed past its time`);
      if (m.enqueuedAt + this.config.retentionMs <= this.now) throw new Error(`${m.id}: kept past retention`);
    }
    for (const m of this.dlq.values()) {
      if (m.state !== 'dlq' || m.lease !== null || m.dlqAt === null) throw new Error(`${m.id}: bad DLQ entry`);
      if (m.dlqAt + this.config.dlq.retentionMs <= this.now) throw new Error(`${m.id}: kept past DLQ retention`);
    }
    if (count.ready !== this.ready.size || count.delayed !== this.delayed.size || count.leased !== this.leased.size) throw new Error('heap sizes disagree with messages');
    if (this.leaseTokens.size !== this.leased.size) throw new Error('lease token index disagrees with leases');
    let last = -Infinity;
    for (const m of this.live.values()) {
      if (m.enqueuedAt < last) throw new Error(`${m.id}: live messages out of enqueue order`);
      last = m.enqueuedAt;
    }
    last = -Infinity;
    for (const [k, e] of this.dedup) {
      if (e.at < last) throw new Error(`dedup entries out of order at ${e.messageId}`);
      if (e.at + this.config.dedupWindowMs <= this.now) throw new Error(`${e.messageId}: dedup entry kept past the window`);
      if (this.reservations.has(k)) throw new Error(`${e.messageId}: dedup key both in the window and reserved`);
      last = e.at;
    }
    // Transactions: staged messages are nowhere else, each reservation is a staged message's key.
    let staged = 0;
    let reserved = 0;
    const stagedIds = new Set<string>();
    for (const [id, t] of this.prepared) {
      if (t.txnId !== id || this.decided.has(id)) throw new Error(`transaction ${id}: prepared and decided, or misfiled`);
      if (t.results.filter((r) => !r.duplicate).length !== t.staged.length) throw new Error(`transaction ${id}: results disagree with staged messages`);
      for (const m of t.staged) {
        staged++;
        if (this.live.has(m.id) || this.dlq.has(m.id) || stagedIds.has(m.id)) throw new Error(`${m.id}: staged and elsewhere`);
        if (m.seq >= this.nextSeq || m.id !== `${this.partition}-${m.seq}`) throw new Error(`${m.id}: bad staged sequence`);
        stagedIds.add(m.id);
        if (m.dedupKey !== null) {
          reserved++;
          const r = this.reservations.get(m.dedupKey);
          if (r === undefined || r.messageId !== m.id || r.txnId !== id) throw new Error(`${m.id}: dedup key not reserved for it`);
        }
      }
    }
    if (staged !== this.stagedCount) throw new Error('staged count disagrees with prepared transactions');
    if (reserved !== this.reservations.size) throw new Error('reservations disagree with staged messages');
    last = -Infinity;
    for (const [id, d] of this.decided) {
      if (d.at < last) throw new Error(`decided transactions out of order at ${id}`);
      if (d.at + this.config.txnMemoryMs <= this.now) throw new Error(`transaction ${id}: remembered past txnMemoryMs`);
      last = d.at;
    }
    // The log: dense offsets ending at logEnd, in enqueue order, within retention and the bound.
    const records = this.log.length - this.logHead;
    if (this.logHead < 0 || records < 0 || records > this.config.maxLogRecords) throw new Error(`log holds ${records} records, bound ${this.config.maxLogRecords}`);
    last = -Infinity;
    for (let i = this.logHead; i < this.log.length; i++) {
      const r = this.log[i] as LogRecord;
      if (r.offset !== this.logEnd - (this.log.length - i)) throw new Error(`log record ${r.offset} at the wrong place`);
      if (r.enqueuedAt < last) throw new Error(`log record ${r.offset} out of enqueue order`);
      if (r.enqueuedAt + this.config.retentionMs <= this.now) throw new Error(`log record ${r.offset} kept past retention`);
      if (stagedIds.has(r.messageId)) throw new Error(`log record ${r.offset} of a staged message`);
      last = r.enqueuedAt;
    }
    if (this.offsets.size > LIMITS.maxGroups) throw new Error('too many consumer groups');
    for (const [g, o] of this.offsets) if (!isNonNegativeInt(o) || o > this.logEnd) throw new Error(`group ${g}: offset ${o} past the end of the log`);
  }

  // ----- internals --------------------------------------------------------------------------

  /** Moves the partition to `time` (never backwards) and does everything due by then. */
  private advance(time: number): number {
    const now = Math.max(this.now, Number.isFinite(time) ? Math.floor(time) : this.now);
    this.now = now;
    for (let m = this.leased.peek(); m !== undefined && (m.lease as Lease).deadline <= now; m = this.leased.peek()) {
      this.endLease(m);
      m.lastReason = 'lease expired';
      this.failDelivery(m, now, 0);
    }
    for (let m = this.delayed.peek(); m !== undefined && m.availableAt <= now; m = this.delayed.peek()) {
      this.delayed.pop();
      m.state = 'ready';
      this.ready.push(m);
    }
    for (let m = first(this.live); m !== undefined && m.enqueuedAt + this.config.retentionMs <= now; m = first(this.live)) {
      this.detach(m);
      this.live.delete(m.id);
      this.counters.expiredTotal++;
    }
    for (let m = first(this.dlq); m !== undefined && (m.dlqAt as number) + this.config.dlq.retentionMs <= now; m = first(this.dlq)) {
      this.dlq.delete(m.id);
      this.counters.dlqExpiredTotal++;
    }
    for (let e = firstEntry(this.dedup); e !== undefined && e[1].at + this.config.dedupWindowMs <= now; e = firstEntry(this.dedup)) {
      this.dedup.delete(e[0]);
    }
    for (let e = firstEntry(this.decided); e !== undefined && e[1].at + this.config.txnMemoryMs <= now; e = firstEntry(this.decided)) {
      this.decided.delete(e[0]);
    }
    for (let e = firstEntry(this.producers); e !== undefined && e[1].at + this.config.dedupWindowMs <= now; e = firstEntry(this.producers)) {
      this.producers.delete(e[0]);
    }
    this.trimLog(now);
    return now;
  }

  private logFirst(): number {
    return this.logEnd - (this.log.length - this.logHead);
  }

  private appendRecord(r: LogRecord): void {
    this.log.push(r);
    this.logEnd++;
    this.trimLog(this.now);
  }

  /** Drops the log's records past retention, and the oldest beyond maxLogRecords. */
  private trimLog(now: number): void {
    const cutoff = now - this.config.retentionMs;
    while (this.logHead < this.log.length) {
      const r = this.log[this.logHead] as LogRecord;
      if (r.enqueuedAt > cutoff && this.log.length - this.logHead <= this.config.maxLogRecords) break;
      this.logHead++;
    }
    // Compact once the dropped prefix is large and at least half the array.
    if (this.logHead === this.log.length) {
      this.log = [];
      this.logHead = 0;
    } else if (this.logHead >= 1024 && this.logHead * 2 >= this.log.length) {
      this.log = this.log.slice(this.logHead);
      this.logHead = 0;
    }
  }

  /** Takes a prepared transaction out (its staged messages and reservations), undecided yet. */
  private dropPrepared(t: Txn): void {
    this.prepared.delete(t.txnId);
    for (const m of t.staged) if (m.dedupKey !== null) this.reservations.delete(m.dedupKey);
    this.stagedCount -= t.staged.length;
  }

  /** The live message leased under this token, or why not. */
  private holder(messageId: string, token: string): Message | Failure {
    const m = typeof messageId === 'string' ? this.live.get(messageId) : undefined;
    if (m === undefined) {
      if (typeof messageId === 'string' && this.dlq.has(messageId)) return fail('LEASE_EXPIRED', `message ${messageId} was moved to the dead-letter queue`);
      return fail('UNKNOWN_MESSAGE', `no message ${String(messageId)} (acked, expired, or never enqueued)`);
    }
    if (m.lease === null || m.lease.token !== token) {
      return fail('LEASE_EXPIRED', `the lease token is not message ${messageId}'s live lease: it expired, was released, or the message was leased again`);
    }
    return m;
  }

  /** Takes a leased message out of the lease structures (state set by the caller). */
  private endLease(m: Message): void {
    if (m.lease === null) return;
    this.leased.remove(m.id);
    this.leaseTokens.delete(m.lease.token);
    m.lease = null;
  }

  /** Takes a live message out of whichever heap holds it. */
  private detach(m: Message): void {
    if (m.state === 'leased') this.endLease(m);
    else if (m.state === 'ready') this.ready.remove(m.id);
    else if (m.state === 'delayed') this.delayed.remove(m.id);
  }

  /** A delivery failed (lease already ended): retry after `delay`, or dead-letter. */
  private failDelivery(m: Message, now: number, delay: number): 'retry' | 'dlq' | 'dropped' {
    if (m.attempts > m.maxRetries) {
      if (this.config.dlq.enabled) {
        this.toDlq(m, now);
        return 'dlq';
      }
      this.live.delete(m.id);
      this.counters.droppedTotal++;
      return 'dropped';
    }
    m.availableAt = now + delay;
    if (delay > 0) {
      m.state = 'delayed';
      this.delayed.push(m);
    } else {
      m.state = 'ready';
      this.ready.push(m);
    }
    return 'retry';
  }

  /** Moves a detached live message to the DLQ. */
  private toDlq(m: Message, now: number): void {
    this.live.delete(m.id);
    m.state = 'dlq';
    m.dlqAt = now;
    this.dlq.set(m.id, m);
    this.counters.deadLetteredTotal++;
  }

  // ----- snapshots --------------------------------------------------------------------------

  snapshot(): Uint8Array {
    const doc: SnapshotDoc = {
      v: 2,
      partition: this.partition,
      config: encodeConfig(this.config),
      now: this.now,
      nextSeq: this.nextSeq,
      counters: this.counters,
      live: [...this.live.values()].map(encodeMessage),
      dlq: [...this.dlq.values()].map(encodeMessage),
      dedup: [...this.dedup].map(([k, e]) => [k, e.messageId, e.at]),
      producers: [...this.producers].map(([id, e]) => [id, e.epoch, e.at]),
      prepared: [...this.prepared.values()].map((t) => ({
        txnId: t.txnId,
        preparedAt: t.preparedAt,
        staged: t.staged.map(encodeStaged),
        results: t.results.map((r) => [r.messageId, r.duplicate]),
      })),
      decided: [...this.decided].map(([id, d]) => [id, d.outcome, d.at]),
      logEnd: this.logEnd,
      log: this.log.slice(this.logHead).map((r) => [r.messageId, r.priority.toString(), base64(r.payload), r.enqueuedAt]),
      offsets: [...this.offsets],
    };
    return new TextEncoder().encode(JSON.stringify(doc));
  }

  /** Replaces the whole state (empty bytes: the initial state, with the constructor's config). */
  restore(bytes: Uint8Array): void {
    this.config = this.initialConfig;
    this.ready = this.makeReadyHeap();
    this.live = new Map();
    this.dlq = new Map();
    this.dedup = new Map();
    this.producers = new Map();
    this.leaseTokens = new Map();
    this.delayed.clear();
    this.leased.clear();
    this.now = 0;
    this.nextSeq = 1;
    this.counters = zeroCounters();
    this.prepared = new Map();
    this.reservations = new Map();
    this.decided = new Map();
    this.stagedCount = 0;
    this.log = [];
    this.logHead = 0;
    this.logEnd = 0;
    this.offsets = new Map();
    if (bytes.length === 0) return;
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as SnapshotDoc;
    if (doc.v !== 1 && doc.v !== 2) throw new Error(`unknown partition snapshot version ${String(doc.v)}`);
    if (doc.partition !== this.partition) throw new Error(`snapshot of partition ${doc.partition} restored into partition ${this.partition}`);
    // Version 1 predates txnMemoryMs and maxLogRecords: they come from the constructor's config,
    // which is what a replica replaying the log from the start would have (v1 had no configure).
    const config = doc.v === 1 ? encodeConfig({ ...doc.config, txnMemoryMs: this.initialConfig.txnMemoryMs, maxLogRecords: this.initialConfig.maxLogRecords }) : doc.config;
    const err = validateConfig(config);
    if (err !== null) throw new Error(`snapshot has an invalid config: ${err}`);
    this.config = config;
    this.ready = this.makeReadyHeap();
    this.now = doc.now;
    this.nextSeq = doc.nextSeq;
    this.counters = { ...zeroCounters(), ...doc.counters };
    for (const e of doc.live) {
      const m = decodeMessage(e);
      this.live.set(m.id, m);
      if (m.state === 'ready') this.ready.push(m);
      else if (m.state === 'delayed') this.delayed.push(m);
      else if (m.state === 'leased' && m.lease !== null) {
        this.leased.push(m);
        this.leaseTokens.set(m.lease.token, m.id);
      } else throw new Error(`snapshot: live message ${m.id} in state ${m.state}`);
    }
    for (const e of doc.dlq) {
      const m = decodeMessage(e);
      this.dlq.set(m.id, m);
    }
    for (const [k, id, at] of doc.dedup) this.dedup.set(k, { messageId: id, at });
    for (const [id, epoch, at] of doc.producers ?? []) this.producers.set(id, { epoch, at });
    if (doc.v === 1) return;
    for (const e of doc.prepared) {
      const staged = e.staged.map(decodeStaged);
      const t: Txn = { txnId: e.txnId, preparedAt: e.preparedAt, staged, results: e.results.map(([messageId, duplicate]) => ({ messageId, duplicate })) };
      this.prepared.set(t.txnId, t);
      this.stagedCount += staged.length;
      for (const m of staged) if (m.dedupKey !== null) this.reservations.set(m.dedupKey, { txnId: t.txnId, messageId: m.id });
    }
    for (const [id, outcome, at] of doc.decided) this.decided.set(id, { outcome, at });
    this.logEnd = doc.logEnd;
    const firstOffset = doc.logEnd - doc.log.length;
    this.log = doc.log.map(([messageId, priority, payload, enqueuedAt], i) => ({
      offset: firstOffset + i,
      messageId,
      priority: BigInt(priority),
      payload: unbase64(payload),
      enqueuedAt,
    }));
    for (const [group, offset] of doc.offsets) this.offsets.set(group, offset);
  }
}

/** The nack backoff bound for a message delivered `attempts` times: min(maxMs, baseMs * 2^(attempts-1)). */
export function backoffCap(c: PartitionConfig, attempts: number): number {
  let cap = c.backoff.baseMs;
  for (let i = 1; i < attempts && cap < c.backoff.maxMs; i++) cap *= 2;
  return Math.min(cap, c.backoff.maxMs);
}

function first<V>(map: Map<string, V>): V | undefined {
  for (const v of map.values()) return v;
  return undefined;
}
function firstEntry<V>(map: Map<string, V>): [string, V] | undefined {
  for (const e of map) return e;
  return undefined;
}

function peeked(m: Message): PeekedMessage {
  return {
    messageId: m.id,
    sequence: m.seq,
    priority: m.priority,
    payload: m.payload,
    enqueuedAt: m.enqueuedAt,
    attempts: m.attempts,
    maxRetries: m.maxRetries,
    state: m.state,
    isLeased: m.lease !== null,
    leaseDeadline: m.lease?.deadline ?? null,
    consumer: m.lease?.consumer ?? null,
    availableAt: m.availableAt,
    inDlq: m.state === 'dlq',
    dlqAt: m.dlqAt,
    lastReason: m.lastReason,
    producer: m.producer,
  };
}

interface EncodedMessage {
  id: string;
  seq: number;
  priority: string;
  payload: string;
  enqueuedAt: number;
  maxRetries: number;
  producer: ProducerRef | null;
  state: MessageState;
  attempts: number;
  availableAt: number;
  lease: Lease | null;
  dlqAt: number | null;
  lastReason: string | null;
}

interface EncodedStaged {
  id: string;
  seq: number;
  priority: string;
  payload: string;
  maxRetries: number;
  notBeforeMs: number | null;
  producer: ProducerRef | null;
  dedupKey: string | null;
}

/** Version 1 has the fields up to `dedup`; version 2 adds the rest. */
interface SnapshotDoc {
  v: number;
  partition: number;
  config: PartitionConfig;
  now: number;
  nextSeq: number;
  counters: Counters;
  live: EncodedMessage[];
  dlq: EncodedMessage[];
  dedup: [string, string, number][];
  /** Since format 2 (absent in earlier format-2 snapshots too: read as empty). */
  producers?: [string, number, number][];
  prepared: { txnId: string; preparedAt: number; staged: EncodedStaged[]; results: [string, boolean][] }[];
  decided: [string, Decision['outcome'], number][];
  /** The offset the next record gets; the records are the ones just before it. */
  logEnd: number;
  /** [messageId, priority, payload (base64), enqueuedAt] */
  log: [string, string, string, number][];
  offsets: [string, number][];
}

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}
function unbase64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function encodeStaged(m: StagedMessage): EncodedStaged {
  return {
    id: m.id,
    seq: m.seq,
    priority: m.priority.toString(),
    payload: base64(m.payload),
    maxRetries: m.maxRetries,
    notBeforeMs: m.notBeforeMs,
    producer: m.producer,
    dedupKey: m.dedupKey,
  };
}

function decodeStaged(e: EncodedStaged): StagedMessage {
  return {
    id: e.id,
    seq: e.seq,
    priority: BigInt(e.priority),
    payload: unbase64(e.payload),
    maxRetries: e.maxRetries,
    notBeforeMs: e.notBeforeMs,
    producer: e.producer,
    dedupKey: e.dedupKey,
  };
}

/** The config with its keys in a fixed order, whatever order the caller built it in. */
function encodeConfig(c: PartitionConfig): PartitionConfig {
  return {
    mode: c.mode,
    visibilityTimeoutMs: c.visibilityTimeoutMs,
    maxRetries: c.maxRetries,
    retentionMs: c.retentionMs,
    dlq: { enabled: c.dlq.enabled, retentionMs: c.dlq.retentionMs },
    maxPayloadBytes: c.maxPayloadBytes,
    dedupWindowMs: c.dedupWindowMs,
    backoff: { baseMs: c.backoff.baseMs, maxMs: c.backoff.maxMs },
    maxVisibilityTimeoutMs: c.maxVisibilityTimeoutMs,
    maxDelayMs: c.maxDelayMs,
    txnMemoryMs: c.txnMemoryMs,
    maxLogRecords: c.maxLogRecords,
  };
}

function encodeMessage(m: Message): EncodedMessage {
  return {
    id: m.id,
    seq: m.seq,
    priority: m.priority.toString(),
    payload: base64(m.payload),
    enqueuedAt: m.enqueuedAt,
    maxRetries: m.maxRetries,
    producer: m.producer,
    state: m.state,
    attempts: m.attempts,
    availableAt: m.availableAt,
    lease: m.lease === null ? null : { token: m.lease.token, consumer: m.lease.consumer, deadline: m.lease.deadline },
    dlqAt: m.dlqAt,
    lastReason: m.lastReason,
  };
}

function decodeMessage(e: EncodedMessage): Message {
  return {
    id: e.id,
    seq: e.seq,
    priority: BigInt(e.priority),
    payload: unbase64(e.payload),
    enqueuedAt: e.enqueuedAt,
    maxRetries: e.maxRetries,
    producer: e.producer,
    state: e.state,
    attempts: e.attempts,
    availableAt: e.availableAt,
    lease: e.lease,
    dlqAt: e.dlqAt,
    lastReason: e.lastReason,
  };
}
