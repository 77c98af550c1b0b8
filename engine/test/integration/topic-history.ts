/**
 * A history checker for Disheap topics: pure functions over what clients saw (enqueues with
 * their outcome, deliveries, acks, nacks, a final look at the dead-letter queue), no I/O.
 *
 * Times: `leaseDeadline` (and the lease start derived from it) are the partition leader's entry
 * times, the same clock on every replica; they are only compared with each other, within one
 * message (lease overlap) or one partition (order of pops). `call`, `returned`, `popIssuedAfter`
 * and `receivedAt` are the test process's clock; they are only compared with each other. So the
 * checks never mix the two clocks.
 *
 * Properties (each a list of violations, empty when it holds):
 *  - lost:      every enqueue acknowledged to its producer (ok, with a message id) has that
 *               message delivered and then acked (an Ack that returned ok, or an Ack of unknown
 *               outcome followed by NOT_FOUND for the same lease: our own Ack took effect), or
 *               it is in the dead-letter queue at the end. A message never delivered is lost.
 *  - overlap:   two deliveries of one message must not hold live leases at the same time:
 *               sorted by attempts, each lease starts (deadline - visibility) at or after the
 *               previous one's deadline (extended, if an Extend returned ok), unless the previous
 *               one was released by a Nack that returned ok.
 *  - redelivered-after-ack: after an Ack of the delivery with attempts = k returned ok, no
 *               delivery of that message with attempts > k exists (clock-free).
 *  - dedup:     a payload id (one producer triple) maps to one message id, in every enqueue
 *               response and in every delivery; the first call for a triple is never answered
 *               duplicate = true (nothing else used that triple).
 *  - attempts:  a message's attempts numbers are >= 1 and unique (gaps are allowed: a pop whose
 *               answer was lost to a crash still counted one); a lease token names its message
 *               and attempts (`<id>.<attempts>.<hex>`); a delivery's payload is the one enqueued
 *               under its message id.
 *  - order:     (see `checkOrder`) no delivery passed over a better message that was visible
 *               at that time and delivered later for the first time.
 */

export interface ProducerTriple {
  readonly id: string;
  readonly epoch: number;
  readonly sequence: number;
}

/** One Enqueue call (a retry of the same triple is another event with attempt + 1). */
export interface EnqueueEvent {
  readonly type: 'enqueue';
  /** The workload's unique id of the payload (one per producer triple). */
  readonly payloadId: string;
  readonly producer: ProducerTriple;
  readonly priority: bigint;
  /** 1 for the first call for this triple, then 2, 3, ... */
  readonly attempt: number;
  readonly call: number;
  readonly returned: number;
  readonly outcome: 'ok' | 'unknown' | 'failed';
  readonly messageId?: string;
  readonly duplicate?: boolean;
  readonly partition?: number;
  readonly error?: string;
}

/** One PopItem a consumer received. */
export interface DeliveryEvent {
  readonly type: 'delivery';
  readonly consumer: string;
  readonly messageId: string;
  readonly partition: number;
  readonly payloadId: string;
  readonly priority: bigint;
  /** PopItem.enqueued_time (leader time). */
  readonly enqueuedAt: number;
  readonly attempts: number;
  readonly leaseToken: string;
  /** PopItem.lease_deadline (leader time, ms). */
  readonly leaseDeadline: number;
  /** The visibility timeout the pop asked for: the lease started at leaseDeadline - visibilityMs. */
  readonly visibilityMs: number;
  /** A time (test clock) before which the pop that delivered this item was surely not issued. */
  readonly popIssuedAfter: number;
  readonly receivedAt: number;
}

export interface AckEvent {
  readonly type: 'ack' | 'nack';
  readonly messageId: string;
  readonly leaseToken: string;
  readonly call: number;
  readonly returned: number;
  readonly outcome: 'ok' | 'unknown' | 'failed';
  /** The gRPC status name of a failure (NOT_FOUND, FAILED_PRECONDITION, ...). */
  readonly status?: string;
}

export interface ExtendEvent {
  readonly type: 'extend';
  readonly leaseToken: string;
  readonly outcome: 'ok' | 'unknown' | 'failed';
  /** The new deadline (leader time) when ok. */
  readonly leaseDeadline?: number;
}

/** What a final Peek include_dlq saw in the dead-letter queue. */
export interface DlqEvent {
  readonly type: 'dlq';
  readonly messageIds: readonly string[];
}

export type TopicEvent = EnqueueEvent | DeliveryEvent | AckEvent | ExtendEvent | DlqEvent;

export interface Violation {
  readonly property: 'lost' | 'overlap' | 'redelivered-after-ack' | 'dedup' | 'attempts' | 'order';
  readonly message: string;
}

export interface HistorySummary {
  readonly enqueueCalls: number;
  readonly acknowledgedEnqueues: number;
  readonly unknownEnqueues: number;
  readonly duplicateAnswers: number;
  readonly messages: number;
  readonly deliveries: number;
  readonly redeliveries: number;
  readonly acks: number;
  /** Messages counted as acked because an unknown Ack was followed by NOT_FOUND. */
  readonly ackedByUnknown: number;
  readonly attemptGaps: number;
}

export interface CheckResult {
  readonly violations: Violation[];
  readonly summary: HistorySummary;
}

const byProperty = (v: Violation[], p: Violation['property']): Violation[] => v.filter((x) => x.property === p);
export { byProperty };

function group<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const arr = m.get(k);
    if (arr === undefined) m.set(k, [x]);
    else arr.push(x);
  }
  return m;
}

/** Checks lost, overlap, redelivered-after-ack, dedup and attempts (order: `checkOrder`). */
export function checkHistory(history: readonly TopicEvent[]): CheckResult {
  const violations: Violation[] = [];
  const v = (property: Violation['property'], message: string): void => {
    violations.push({ property, message });
  };
  const enqueues = history.filter((e): e is EnqueueEvent => e.type === 'enqueue');
  const deliveries = history.filter((e): e is DeliveryEvent => e.type === 'delivery');
  const acks = history.filter((e): e is AckEvent => e.type === 'ack');
  const nacks = history.filter((e): e is AckEvent => e.type === 'nack');
  const extends_ = history.filter((e): e is ExtendEvent => e.type === 'extend');
  const dlq = new Set(history.flatMap((e) => (e.type === 'dlq' ? e.messageIds : [])));

  // ----- dedup: one message id per payload id ------------------------------------------------
  const idsOfPayload = new Map<string, Set<string>>();
  const note = (payloadId: string, messageId: string): void => {
    const s = idsOfPayload.get(payloadId) ?? new Set<string>();
    s.add(messageId);
    idsOfPayload.set(payloadId, s);
  };
  for (const e of enqueues) if (e.outcome === 'ok' && e.messageId !== undefined) note(e.payloadId, e.messageId);
  for (const d of deliveries) note(d.payloadId, d.messageId);
  for (const [payloadId, ids] of idsOfPayload) {
    if (ids.size > 1) v('dedup', `payload ${payloadId} became ${ids.size} messages: ${[...ids].sort().join(', ')}`);
  }
  for (const e of enqueues) {
    if (e.outcome === 'ok' && e.attempt === 1 && e.duplicate === true) {
      v('dedup', `the first enqueue of payload ${e.payloadId} (producer ${e.producer.id}/${e.producer.epoch}/${e.producer.sequence}) was answered duplicate=true (${e.messageId})`);
    }
  }

  // ----- attempts and integrity of deliveries -------------------------------------------------
  const payloadOfMessage = new Map<string, string>();
  for (const e of enqueues) if (e.outcome === 'ok' && e.messageId !== undefined && !payloadOfMessage.has(e.messageId)) payloadOfMessage.set(e.messageId, e.payloadId);
  const deliveriesOf = group(deliveries, (d) => d.messageId);
  let attemptGaps = 0;
  for (const [messageId, ds] of deliveriesOf) {
    const seen = new Map<number, DeliveryEvent>();
    for (const d of ds) {
      if (!Number.isSafeInteger(d.attempts) || d.attempts < 1) v('attempts', `${messageId}: a delivery with attempts ${d.attempts}`);
      const prev = seen.get(d.attempts);
      if (prev !== undefined) {
        v('attempts', `${messageId}: attempts ${d.attempts} delivered twice (to ${prev.consumer} with ${prev.leaseToken} and to ${d.consumer} with ${d.leaseToken})`);
      }
      seen.set(d.attempts, d);
      const m = /^(.+)\.(\d+)\.[0-9a-f]+$/.exec(d.leaseToken);
      if (m === null || m[1] !== messageId || Number(m[2]) !== d.attempts) v('attempts', `${messageId}: lease token ${d.leaseToken} does not name attempts ${d.attempts} of this message`);
      const payloadId = payloadOfMessage.get(messageId);
      if (payloadId !== undefined && payloadId !== d.payloadId) v('attempts', `${messageId} was enqueued with payload ${payloadId} but delivered with payload ${d.payloadId}`);
    }
    const max = Math.max(...seen.keys());
    attemptGaps += max - seen.size;
  }

  // ----- overlap of live leases ---------------------------------------------------------------
  const nackedOk = new Set(nacks.filter((n) => n.outcome === 'ok').map((n) => n.leaseToken));
  const extendedTo = new Map<string, number>();
  for (const x of extends_) if (x.outcome === 'ok' && x.leaseDeadline !== undefined) extendedTo.set(x.leaseToken, Math.max(extendedTo.get(x.leaseToken) ?? 0, x.leaseDeadline));
  for (const [messageId, ds] of deliveriesOf) {
    const sorted = [...ds].sort((a, b) => a.attempts - b.attempts);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as DeliveryEvent;
      const cur = sorted[i] as DeliveryEvent;
      if (prev.attempts === cur.attempts) continue; // reported under attempts
      if (nackedOk.has(prev.leaseToken)) continue;
      const prevEnd = Math.max(prev.leaseDeadline, extendedTo.get(prev.leaseToken) ?? 0);
      const curStart = cur.leaseDeadline - cur.visibilityMs;
      if (curStart < prevEnd) {
        v(
          'overlap',
          `${messageId}: attempts ${cur.attempts} (to ${cur.consumer}) leased from ${curStart} while attempts ${prev.attempts} (to ${prev.consumer}) held it until ${prevEnd} (${prevEnd - curStart} ms of overlap)`,
        );
      }
    }
  }

  // ----- no delivery after a successful ack -------------------------------------------------
  const attemptsOfToken = new Map(deliveries.map((d) => [d.leaseToken, d.attempts]));
  for (const a of acks) {
    if (a.outcome !== 'ok') continue;
    const k = attemptsOfToken.get(a.leaseToken) ?? Number(/\.(\d+)\.[0-9a-f]+$/.exec(a.leaseToken)?.[1] ?? NaN);
    const later = (deliveriesOf.get(a.messageId) ?? []).filter((d) => d.attempts > k);
    for (const d of later) v('redelivered-after-ack', `${a.messageId}: acked with attempts ${k} (${a.leaseToken}), then delivered again with attempts ${d.attempts} to ${d.consumer}`);
  }

  // ----- no acknowledged enqueue lost ---------------------------------------------------------
  const ackedOk = new Set(acks.filter((a) => a.outcome === 'ok').map((a) => a.messageId));
  const unknownTokens = new Set(acks.filter((a) => a.outcome === 'unknown').map((a) => a.leaseToken));
  const ackedByUnknown = new Set(
    acks.filter((a) => a.outcome === 'failed' && a.status === 'NOT_FOUND' && unknownTokens.has(a.leaseToken) && !ackedOk.has(a.messageId)).map((a) => a.messageId),
  );
  const acknowledged = new Map<string, EnqueueEvent>();
  for (const e of enqueues) if (e.outcome === 'ok' && e.messageId !== undefined && !acknowledged.has(e.payloadId)) acknowledged.set(e.payloadId, e);
  for (const [payloadId, e] of acknowledged) {
    const id = e.messageId as string;
    const delivered = deliveriesOf.has(id);
    if (ackedOk.has(id) || ackedByUnknown.has(id) || dlq.has(id)) {
      if (!delivered && !dlq.has(id)) v('lost', `${id} (payload ${payloadId}) was acked without ever being delivered`);
      continue;
    }
    v('lost', `payload ${payloadId}, enqueue acknowledged as ${id}, was ${delivered ? `delivered ${deliveriesOf.get(id)?.length ?? 0} time(s) but never acked` : 'never delivered'} and is not in the dead-letter queue`);
  }

  const summary: HistorySummary = {
    enqueueCalls: enqueues.length,
    acknowledgedEnqueues: acknowledged.size,
    unknownEnqueues: enqueues.filter((e) => e.outcome === 'unknown').length,
    duplicateAnswers: enqueues.filter((e) => e.outcome === 'ok' && e.duplicate === true).length,
    messages: deliveriesOf.size,
    deliveries: deliveries.length,
    redeliveries: deliveries.filter((d) => d.attempts > 1).length,
    acks: acks.filter((a) => a.outcome === 'ok').length,
    ackedByUnknown: ackedByUnknown.size,
    attemptGaps,
  };
  return { violations, summary };
}

export type OrderMode = 'min' | 'max';

/**
 * Order of pops. A delivery d1 passed over message m2 wrongly when m2 is better than d1's
 * message and was certainly ready when d1's pop was issued and still ready when it applied:
 *  - m2's enqueue returned ok (test clock) before d1.popIssuedAfter, so it was live at d1's pop;
 *  - m2's observed delivery d2 has attempts = 1 and came after d1 (so m2 was never leased
 *    before d1): within a partition d2's lease started later (leader time), or, in any scope,
 *    d2's pop was issued after d1 was received (test clock);
 *  - no not-before delays or nacks in the workload (a precondition of the caller), so a live,
 *    never-leased message is ready.
 * "Better": in scope 'partition', priority (by mode) then the partition's enqueue order (the
 * sequence in the message id); in scope 'global', priority, then enqueue time, then partition,
 * then sequence (the documented cross-partition order, exact for one consumer popping one at a
 * time when everything was enqueued before: the top-K bound then never cuts a candidate).
 */
export function checkOrder(history: readonly TopicEvent[], mode: OrderMode, scope: 'partition' | 'global'): Violation[] {
  const out: Violation[] = [];
  const enqueuedBy = new Map<string, number>();
  for (const e of history) {
    if (e.type === 'enqueue' && e.outcome === 'ok' && e.messageId !== undefined) enqueuedBy.set(e.messageId, Math.min(enqueuedBy.get(e.messageId) ?? Infinity, e.returned));
  }
  const deliveries = history.filter((e): e is DeliveryEvent => e.type === 'delivery');
  const firsts = deliveries.filter((d) => d.attempts === 1);
  const seq = (id: string): number => Number(id.slice(id.indexOf('-') + 1));
  const better = (a: DeliveryEvent, b: DeliveryEvent): boolean => {
    if (a.priority !== b.priority) return (a.priority < b.priority) === (mode === 'min');
    if (scope === 'global') {
      if (a.enqueuedAt !== b.enqueuedAt) return a.enqueuedAt < b.enqueuedAt;
      if (a.partition !== b.partition) return a.partition < b.partition;
    }
    return seq(a.messageId) < seq(b.messageId);
  };
  const start = (d: DeliveryEvent): number => d.leaseDeadline - d.visibilityMs;
  for (const d1 of deliveries) {
    for (const d2 of firsts) {
      if (d2.messageId === d1.messageId) continue;
      if (scope === 'partition' && d2.partition !== d1.partition) continue;
      const visible = (enqueuedBy.get(d2.messageId) ?? Infinity) < d1.popIssuedAfter;
      if (!visible || !better(d2, d1)) continue;
      const after = (d2.partition === d1.partition && start(d2) > start(d1)) || d2.popIssuedAfter > d1.receivedAt;
      if (!after) continue;
      out.push({
        property: 'order',
        message: `${d1.consumer} got ${d1.messageId} (priority ${d1.priority}, attempts ${d1.attempts}) while ${d2.messageId} (priority ${d2.priority}, partition ${d2.partition}) was ready and better; ${d2.messageId} was first delivered later`,
      });
    }
  }
  return out;
}

/** A short report of violations for assertion messages (at most `max` lines). */
export function describeViolations(vs: readonly Violation[], max = 20): string {
  if (vs.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const x of vs) counts.set(x.property, (counts.get(x.property) ?? 0) + 1);
  // At most `max` lines, taken round-robin over the properties so that each one shows.
  const byProp = [...counts.keys()].map((p) => vs.filter((x) => x.property === p));
  const picked: Violation[] = [];
  for (let i = 0; picked.length < Math.min(max, vs.length); i++) for (const list of byProp) if (list[i] !== undefined && picked.length < max) picked.push(list[i] as Violation);
  const lines = [`${vs.length} violation(s): ${[...counts].map(([p, n]) => `${p} ${n}`).join(', ')}`, ...picked.map((x) => `[${x.property}] ${x.message}`)];
  if (vs.length > max) lines.push(`... and ${vs.length - max} more`);
  return lines.join('\n');
}
