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
 *    entries stay, so producer retries are still recognised.
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
}

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
};

/** Bounds that do not depend on the topic. */
export const LIMITS = {
  maxPopBatch: 1000,
  maxRetries: 1000,
  maxNameLength: 256,
  maxReasonLength: 1024,
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
  if (c.mode !== 'min' && c.mode !== 'max') return `mode must be 'min' or 'max'`;
  const positive: [string, number][] = [
    ['visibilityTimeoutMs', c.visibilityTimeoutMs],
    ['retentionMs', c.retentionMs],
    ['dlq.retentionMs', c.dlq.retentionMs],
    ['maxPayloadBytes', c.maxPayloadBytes],
    ['maxVisibilityTimeoutMs', c.maxVisibilityTimeoutMs],
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

export type PartitionCommand =
  | ({ readonly type: 'enqueue' } & EnqueueArgs)
  | ({ readonly type: 'pop' } & PopArgs)
  | ({ readonly type: 'ack' } & AckArgs)
  | ({ readonly type: 'nack' } & NackArgs)
  | ({ readonly type: 'extend' } & ExtendArgs)
  | { readonly type: 'tick' }
  | ({ readonly type: 'purge' } & PurgeArgs)
  | ({ readonly type: 'moveToDlq' } & MoveToDlqArgs);

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'PAYLOAD_TOO_LARGE'
  | 'PRIORITY_OUT_OF_RANGE'
  | 'DELAY_OUT_OF_RANGE'
  | 'UNKNOWN_MESSAGE'
  | 'LEASE_EXPIRED'
  | 'DLQ_DISABLED';

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
export type PartitionResult = EnqueueResult | PopResult | AckResult | NackResult | ExtendResult | TickResult | PurgeResult | MoveToDlqResult;

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
}

export interface PartitionStats {
  readonly ready: number;
  readonly leased: number;
  readonly delayed: number;
  readonly dlq: number;
  /** Age of the oldest live (not dead-lettered) message at `now`; null when there is none. */
  readonly oldestAgeMs: number | null;
  readonly enqueuedTotal: number;
  readonly ackedTotal: number;
  readonly deadLetteredTotal: number;
  readonly droppedTotal: number;
  readonly expiredTotal: number;
  readonly dlqExpiredTotal: number;
}

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

interface Counters {
  enqueuedTotal: number;
  ackedTotal: number;
  deadLetteredTotal: number;
  droppedTotal: number;
  expiredTotal: number;
  dlqExpiredTotal: number;
}

const zeroCounters = (): Counters => ({ enqueuedTotal: 0, ackedTotal: 0, deadLetteredTotal: 0, droppedTotal: 0, expiredTotal: 0, dlqExpiredTotal: 0 });

const fail = (error: ErrorCode, message: string): Failure => ({ ok: false, error, message });

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
    }
  }

  enqueue(ctx: ApplyContext, a: EnqueueArgs): EnqueueResult {
    const now = this.advance(ctx.now);
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
    let availableAt = now;
    if (a.notBeforeMs !== undefined) {
      if (!Number.isSafeInteger(a.notBeforeMs)) return fail('INVALID_ARGUMENT', 'notBeforeMs must be an integer (ms since the epoch)');
      if (a.notBeforeMs - now > this.config.maxDelayMs) {
        return fail('DELAY_OUT_OF_RANGE', `notBeforeMs is ${a.notBeforeMs - now} ms ahead; the topic allows at most ${this.config.maxDelayMs}`);
      }
      availableAt = Math.max(now, a.notBeforeMs);
    }
    let dedupKey: string | null = null;
    if (a.producer !== undefined) {
      const p = a.producer;
      if (typeof p.id !== 'string' || p.id.length === 0 || p.id.length > LIMITS.maxNameLength) {
        return fail('INVALID_ARGUMENT', `producer id must be a non-empty string of at most ${LIMITS.maxNameLength} characters`);
      }
      if (!isNonNegativeInt(p.epoch) || !isNonNegativeInt(p.sequence)) return fail('INVALID_ARGUMENT', 'producer epoch and sequence must be non-negative integers');
      if (this.config.dedupWindowMs > 0) {
        dedupKey = `${p.id}\u0000${p.epoch}\u0000${p.sequence}`;
        const prior = this.dedup.get(dedupKey);
        if (prior !== undefined) return { ok: true, messageId: prior.messageId, duplicate: true };
      }
    }
    const seq = this.nextSeq++;
    const m: Message = {
      id: `${this.partition}-${seq}`,
      seq,
      priority: a.priority,
      payload: a.payload.slice(),
      enqueuedAt: now,
      maxRetries,
      producer: a.producer === undefined ? null : { id: a.producer.id, epoch: a.producer.epoch, sequence: a.producer.sequence },
      state: availableAt > now ? 'delayed' : 'ready',
      attempts: 0,
      availableAt,
      lease: null,
      dlqAt: null,
      lastReason: null,
    };
    this.live.set(m.id, m);
    (m.state === 'ready' ? this.ready : this.delayed).push(m);
    if (dedupKey !== null) this.dedup.set(dedupKey, { messageId: m.id, at: now });
    this.counters.enqueuedTotal++;
    return { ok: true, messageId: m.id, duplicate: false };
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
      out.push({ messageId: m.id, payload: m.payload, priority: m.priority, enqueuedAt: m.enqueuedAt, attempts: m.attempts, leaseToken: token, leaseDeadline: m.lease.deadline });
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
    return times.length === 0 ? null : Math.min(...times);
  }

  stats(now: number = this.now): PartitionStats {
    const oldest = first(this.live);
    return {
      ready: this.ready.size,
      leased: this.leased.size,
      delayed: this.delayed.size,
      dlq: this.dlq.size,
      oldestAgeMs: oldest === undefined ? null : Math.max(0, now - oldest.enqueuedAt),
      ...this.counters,
    };
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
    return now;
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
    const doc = {
      v: 1,
      partition: this.partition,
      config: encodeConfig(this.config),
      now: this.now,
      nextSeq: this.nextSeq,
      counters: this.counters,
      live: [...this.live.values()].map(encodeMessage),
      dlq: [...this.dlq.values()].map(encodeMessage),
      dedup: [...this.dedup].map(([k, e]) => [k, e.messageId, e.at]),
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
    this.leaseTokens = new Map();
    this.delayed.clear();
    this.leased.clear();
    this.now = 0;
    this.nextSeq = 1;
    this.counters = zeroCounters();
    if (bytes.length === 0) return;
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as SnapshotDoc;
    if (doc.v !== 1) throw new Error(`unknown partition snapshot version ${String(doc.v)}`);
    if (doc.partition !== this.partition) throw new Error(`snapshot of partition ${doc.partition} restored into partition ${this.partition}`);
    const err = validateConfig(doc.config);
    if (err !== null) throw new Error(`snapshot has an invalid config: ${err}`);
    this.config = doc.config;
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
  };
}

function encodeMessage(m: Message): EncodedMessage {
  return {
    id: m.id,
    seq: m.seq,
    priority: m.priority.toString(),
    payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).toString('base64'),
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
    payload: new Uint8Array(Buffer.from(e.payload, 'base64')),
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
