/**
 * The topic history checker (engine/test/integration/topic-history.ts) on hand-made histories:
 * a correct one passes, and one history per property breaks exactly that property, so the
 * checker the integration tests rely on provably can fail.
 */
import { describe, expect, it } from 'vitest';
import { byProperty, checkHistory, checkOrder, describeViolations } from '../integration/topic-history.js';
import type { AckEvent, DeliveryEvent, EnqueueEvent, TopicEvent } from '../integration/topic-history.js';

const VIS = 2_000;
/** Leader time and test clock both start here (they are never compared, but readable this way). */
const T = 1_000_000;

function enq(payloadId: string, messageId: string | null, o: Partial<EnqueueEvent> = {}): EnqueueEvent {
  const sequence = Number(payloadId.replace(/\D/g, '')) || 0;
  return {
    type: 'enqueue',
    payloadId,
    producer: { id: 'p', epoch: 1, sequence },
    priority: 0n,
    attempt: 1,
    call: T,
    returned: T + 10,
    outcome: messageId === null ? 'unknown' : 'ok',
    ...(messageId === null ? {} : { messageId, duplicate: false, partition: Number(messageId.split('-')[0]) }),
    ...o,
  };
}

/** A delivery whose lease starts at `start` (leader time). */
function del(messageId: string, payloadId: string, attempts: number, start: number, o: Partial<DeliveryEvent> = {}): DeliveryEvent {
  return {
    type: 'delivery',
    consumer: 'c1',
    messageId,
    partition: Number(messageId.split('-')[0]),
    payloadId,
    priority: 0n,
    enqueuedAt: T,
    attempts,
    leaseToken: `${messageId}.${attempts}.00000000000000${attempts.toString(16).padStart(2, '0')}`,
    leaseDeadline: start + VIS,
    visibilityMs: VIS,
    popIssuedAfter: start - 5,
    receivedAt: start + 5,
    ...o,
  };
}

function ack(d: DeliveryEvent, outcome: AckEvent['outcome'] = 'ok', status?: string): AckEvent {
  return { type: 'ack', messageId: d.messageId, leaseToken: d.leaseToken, call: d.receivedAt + 1, returned: d.receivedAt + 2, outcome, ...(status === undefined ? {} : { status }) };
}

/**
 * A correct history: a1 delivered once and acked; a2 delivered, lease expired (not acked),
 * redelivered exactly at the deadline and acked; a3's first enqueue had an unknown outcome,
 * its retry was answered duplicate=true with the same id; a4's ack had an unknown outcome and
 * its retry got NOT_FOUND (our own ack took effect); a5 ended in the DLQ.
 */
function goodHistory(): TopicEvent[] {
  const d1 = del('0-1', 'a1', 1, T + 100);
  const d2a = del('0-2', 'a2', 1, T + 100);
  const d2b = del('0-2', 'a2', 2, T + 100 + VIS);
  const d3 = del('1-1', 'a3', 1, T + 200);
  const d4 = del('1-2', 'a4', 1, T + 300);
  const d5 = del('2-1', 'a5', 1, T + 300);
  return [
    enq('a1', '0-1'),
    enq('a2', '0-2'),
    enq('a3', null),
    enq('a3', '1-1', { attempt: 2, duplicate: true }),
    enq('a4', '1-2'),
    enq('a5', '2-1'),
    d1,
    ack(d1),
    d2a,
    d2b,
    ack(d2b),
    d3,
    ack(d3),
    d4,
    ack(d4, 'unknown'),
    ack(d4, 'failed', 'NOT_FOUND'),
    d5,
    { type: 'dlq', messageIds: ['2-1'] },
  ];
}

describe('topic history checker', () => {
  it('accepts a correct history', () => {
    const r = checkHistory(goodHistory());
    expect(describeViolations(r.violations)).toBe('none');
    expect(r.summary).toMatchObject({ acknowledgedEnqueues: 5, messages: 5, deliveries: 6, redeliveries: 1, acks: 3, ackedByUnknown: 1, duplicateAnswers: 1, unknownEnqueues: 1 });
  });

  it('lost: an acknowledged enqueue never delivered', () => {
    const h = [...goodHistory(), enq('a6', '2-2')];
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'lost').map((v) => v.message)).toEqual([expect.stringContaining('never delivered')]);
    expect(r.violations).toHaveLength(1);
  });

  it('lost: delivered but never acked nor dead-lettered', () => {
    const h = goodHistory().filter((e) => e.type !== 'dlq');
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'lost').map((v) => v.message)).toEqual([expect.stringContaining('2-1')]);
  });

  it('lost: an unknown ack followed by LEASE_EXPIRED (not NOT_FOUND) is not an ack', () => {
    const h = goodHistory().map((e) => (e.type === 'ack' && e.outcome === 'failed' ? { ...e, status: 'FAILED_PRECONDITION' } : e));
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'lost').map((v) => v.message)).toEqual([expect.stringContaining('1-2')]);
  });

  it('overlap: a redelivery leased before the previous lease ended', () => {
    const h = goodHistory().map((e) => (e.type === 'delivery' && e.messageId === '0-2' && e.attempts === 2 ? { ...e, leaseDeadline: e.leaseDeadline - 1 } : e));
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'overlap').map((v) => v.message)).toEqual([expect.stringContaining('1 ms of overlap')]);
    expect(r.violations).toHaveLength(1);
  });

  it('overlap: a lease extension counts, a nack releases', () => {
    const base = goodHistory();
    const d2a = base.find((e): e is DeliveryEvent => e.type === 'delivery' && e.messageId === '0-2' && e.attempts === 1) as DeliveryEvent;
    const extended = [...base, { type: 'extend' as const, leaseToken: d2a.leaseToken, outcome: 'ok' as const, leaseDeadline: d2a.leaseDeadline + 500 }];
    expect(byProperty(checkHistory(extended).violations, 'overlap')).toHaveLength(1);
    const nacked = [...extended, { ...ack(d2a), type: 'nack' as const }];
    expect(byProperty(checkHistory(nacked).violations, 'overlap')).toHaveLength(0);
  });

  it('redelivered-after-ack: a delivery with higher attempts after a successful ack', () => {
    const base = goodHistory();
    const d1 = base.find((e): e is DeliveryEvent => e.type === 'delivery' && e.messageId === '0-1') as DeliveryEvent;
    // Leased again long after the first lease ended (no overlap): still wrong, it was acked.
    const h = [...base, del('0-1', 'a1', 2, d1.leaseDeadline + 10_000)];
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'redelivered-after-ack').map((v) => v.message)).toEqual([expect.stringContaining('acked with attempts 1')]);
    expect(r.violations).toHaveLength(1);
  });

  it('dedup: one payload enqueued as two messages', () => {
    const h = goodHistory().map((e) => (e.type === 'enqueue' && e.payloadId === 'a3' && e.attempt === 2 ? { ...e, messageId: '1-3', duplicate: false } : e));
    const r = checkHistory(h);
    // 1-3 is a second message for a3 (and 1-1, delivered with a3's payload, the first).
    expect(byProperty(r.violations, 'dedup').map((v) => v.message)).toEqual([expect.stringContaining('became 2 messages: 1-1, 1-3')]);
  });

  it('dedup: a payload delivered under two message ids, the second from an unknown enqueue that took effect', () => {
    const h = [...goodHistory(), del('1-9', 'a1', 1, T + 900)];
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'dedup').map((v) => v.message)).toEqual([expect.stringContaining('payload a1 became 2 messages: 0-1, 1-9')]);
  });

  it('dedup: a fresh triple answered duplicate=true', () => {
    const h = goodHistory().map((e) => (e.type === 'enqueue' && e.payloadId === 'a1' ? { ...e, duplicate: true } : e));
    const r = checkHistory(h);
    expect(byProperty(r.violations, 'dedup').map((v) => v.message)).toEqual([expect.stringContaining('first enqueue of payload a1')]);
  });

  it('attempts: the same attempts number delivered twice', () => {
    const base = goodHistory();
    const twin = { ...(base.find((e): e is DeliveryEvent => e.type === 'delivery' && e.messageId === '0-1') as DeliveryEvent), consumer: 'c2', leaseToken: '0-1.1.ffff' };
    const r = checkHistory([...base, twin]);
    expect(byProperty(r.violations, 'attempts').map((v) => v.message)).toEqual([expect.stringContaining('attempts 1 delivered twice')]);
  });

  it('attempts: zero, a token for another attempt, a payload that is not the enqueued one', () => {
    const base = goodHistory();
    const d1 = base.find((e): e is DeliveryEvent => e.type === 'delivery' && e.messageId === '0-1') as DeliveryEvent;
    const other = (f: (d: DeliveryEvent) => DeliveryEvent) => checkHistory(base.map((e) => (e === d1 ? f(d1) : e))).violations.filter((v) => v.property === 'attempts');
    expect(other((d) => ({ ...d, attempts: 0, leaseToken: '0-1.0.00' })).map((v) => v.message)).toEqual([expect.stringContaining('attempts 0')]);
    expect(other((d) => ({ ...d, leaseToken: '0-1.2.00' })).map((v) => v.message)).toEqual([expect.stringContaining('does not name attempts 1')]);
    expect(other((d) => ({ ...d, payloadId: 'zz' }))).toEqual(expect.arrayContaining([expect.objectContaining({ message: expect.stringContaining('delivered with payload zz') })]));
  });

  it('attempts: gaps are counted, not failed (a lost pop answer still counts a delivery)', () => {
    const base = goodHistory().filter((e) => !(e.type === 'delivery' && e.messageId === '0-2' && e.attempts === 1));
    const r = checkHistory(base);
    expect(r.violations).toEqual([]);
    expect(r.summary.attemptGaps).toBe(1);
  });
});

describe('order checker', () => {
  /** Three messages in partition 0 with priorities 5, 1, 3 enqueued before a consumer pops one at a time. */
  function popsInOrder(order: Array<[string, bigint]>, partitionOf = (_: string) => 0): TopicEvent[] {
    const h: TopicEvent[] = [];
    for (const [i, [id, prio]] of order.entries()) h.push(enq(`x${i}`, id, { priority: prio, returned: T }));
    let t = T + 100;
    for (const [id, prio] of order.slice().sort((a, b) => Number(a[1] - b[1]))) {
      void prio;
      h.push(del(id, '', 1, t, { priority: prio, partition: partitionOf(id), popIssuedAfter: t - 5, receivedAt: t + 5 }));
      t += 50;
    }
    return h;
  }
  const payloadless = (h: TopicEvent[]) => h.map((e) => (e.type === 'delivery' ? { ...e, payloadId: '' } : e));

  it('accepts pops in priority order, then enqueue order among equal priorities', () => {
    const h = payloadless(popsInOrder([['0-1', 5n], ['0-2', 1n], ['0-3', 3n], ['0-4', 3n]]));
    expect(checkOrder(h, 'min', 'partition')).toEqual([]);
    expect(checkOrder(h, 'min', 'global')).toEqual([]);
  });

  it('catches a worse message popped while a better one was ready (min mode)', () => {
    const h = payloadless(popsInOrder([['0-1', 5n], ['0-2', 1n], ['0-3', 3n]])).map((e) =>
      // Swap the priorities the pops saw: 3 delivered before 1.
      e.type === 'delivery' && e.messageId === '0-2' ? { ...e, leaseDeadline: e.leaseDeadline + 60, popIssuedAfter: e.popIssuedAfter + 60, receivedAt: e.receivedAt + 60 } : e,
    );
    const v = checkOrder(h, 'min', 'partition');
    expect(v.map((x) => x.message)).toEqual([expect.stringContaining('got 0-3 (priority 3, attempts 1) while 0-2 (priority 1')]);
    // In max mode the same pops are the wrong way round elsewhere.
    expect(checkOrder(h, 'max', 'partition').length).toBeGreaterThan(0);
  });

  it('catches equal priorities popped out of enqueue order', () => {
    const h = payloadless(popsInOrder([['0-1', 2n], ['0-2', 2n]])).map((e) =>
      e.type === 'delivery' ? { ...e, messageId: e.messageId === '0-1' ? '0-2' : '0-1', leaseToken: `${e.messageId === '0-1' ? '0-2' : '0-1'}.1.00` } : e,
    );
    expect(checkOrder(h, 'min', 'partition').map((x) => x.property)).toEqual(['order']);
  });

  it('does not count a message enqueued after the pop was issued, nor one seen only on a redelivery', () => {
    const base = payloadless(popsInOrder([['0-1', 5n], ['0-2', 1n], ['0-3', 3n]]));
    const late = base.map((e) => (e.type === 'delivery' && e.messageId === '0-2' ? { ...e, leaseDeadline: e.leaseDeadline + 200, popIssuedAfter: e.popIssuedAfter + 200, receivedAt: e.receivedAt + 200 } : e));
    expect(checkOrder(late, 'min', 'partition').length).toBeGreaterThan(0);
    const enqueuedLate = late.map((e) => (e.type === 'enqueue' && e.messageId === '0-2' ? { ...e, returned: T + 10_000 } : e));
    expect(checkOrder(enqueuedLate, 'min', 'partition')).toEqual([]);
    const redelivered = late.map((e) => (e.type === 'delivery' && e.messageId === '0-2' ? { ...e, attempts: 2 } : e));
    expect(checkOrder(redelivered, 'min', 'partition')).toEqual([]);
  });

  it('partition scope ignores other partitions; global scope does not', () => {
    const h = payloadless(popsInOrder([['0-1', 5n], ['1-1', 1n]], (id) => Number(id.split('-')[0]))).map((e) =>
      e.type === 'delivery' && e.messageId === '1-1' ? { ...e, leaseDeadline: e.leaseDeadline + 200, popIssuedAfter: e.popIssuedAfter + 200, receivedAt: e.receivedAt + 200 } : e,
    );
    expect(checkOrder(h, 'min', 'partition')).toEqual([]);
    expect(checkOrder(h, 'min', 'global').map((x) => x.property)).toEqual(['order']);
  });
});
