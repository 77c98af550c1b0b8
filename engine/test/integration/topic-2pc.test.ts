/**
 * Atomic EnqueueBatch (two-phase commit across partitions) on real processes. Every batch has
 * three items whose partition keys land on the three partitions of the topic, so there are
 * three participants. The test failpoint LEVIATHAN_FAILPOINT makes the node that coordinates a
 * batch SIGKILL itself after every participant prepared (txn-after-prepare) or after the
 * decision is in the catalog (txn-after-decide); the catalog leader's recovery loop aborts a
 * transaction still preparing after --txn-timeout-ms (2 s here) and delivers decisions.
 *
 *  (a) Happy path: all three visible once; a retry with the same transaction id returns the same
 *      ids and adds nothing (Stats total_enqueues, Peek).
 *  (b) Coordinator killed between prepare and commit (a node that does not lead the catalog):
 *      the call fails; the batch is aborted within the txn timeout plus a few seconds: nothing
 *      of it is ever visible (Peek, Pop), no partition keeps anything staged (each partition
 *      leader's own counters), and a retry with the same id fails ABORTED.
 *  (c) Coordinator killed after the commit decision: all three become visible exactly once with
 *      no client retry; a retry returns the same ids.
 *  (d) A participant's leader killed during batches: each batch is all or nothing (by payload),
 *      and consistent with what the call and a retry answered.
 *
 * How each can fail: (b) would see staged or visible messages if aborts were not delivered, or
 * a commit if recovery decided wrongly; (c) would see nothing if decided commits were not
 * redelivered; (d) counts each payload, so a half-committed batch is caught. (b) and (c) were
 * seen failing against deliberately broken engines: a recovery loop that never aborts a
 * preparing transaction (b: still staged after the timeout), and one that does not redeliver
 * commits (c: the batch never became visible).
 */
import { describe, expect, it } from 'vitest';
import type { EnqueueReq } from '../../src/gen/disheap/v1/disheap.js';
import { hashKey } from '../../src/topic/topic-api.js';
import { sleep, waitFor } from './engine-cluster.js';
import type { EngineCluster } from './engine-cluster.js';
import { RpcError, heapReq, makeTopic, ms, partitionLeaders, partitionState, retryNotApplied, topicStats, useSharedTopicCluster, waitTopicReady } from './topic-helpers.js';
import type { TopicClients } from './topic-helpers.js';

const TXN_TIMEOUT_MS = 2_000;
const shared = useSharedTopicCluster({ size: 3, flags: ['--txn-timeout-ms', String(TXN_TIMEOUT_MS)] });

/** A partition key for each of `n` partitions (the engine places keys by fnv-1a % n). */
function keysFor(n: number): string[] {
  const keys: string[] = [];
  for (let p = 0; p < n; p++) {
    for (let i = 0; ; i++) {
      if (hashKey(`key-${i}`) % n === p) {
        keys.push(`key-${i}`);
        break;
      }
    }
  }
  return keys;
}
const KEYS = keysFor(3);

/** A batch of three items, one per partition, with payloads `<tag>/<i>`. */
function batch(topic: string, tag: string): EnqueueReq[] {
  return KEYS.map((partitionKey, i) => ({ topic, payload: Buffer.from(`${tag}/${i}`), priority: BigInt(i), partitionKey }));
}

/** How many times each payload is live in the topic (Peek of everything, dead letters too). */
async function visible(clients: TopicClients, topic: string): Promise<Map<string, string[]>> {
  const r = await retryNotApplied('Peek', () => clients.any().peek({ topic, limit: 1000, includeDlq: true }));
  const out = new Map<string, string[]>();
  for (const i of r.items) {
    const p = i.payload.toString('utf8');
    out.set(p, [...(out.get(p) ?? []), i.messageId]);
  }
  return out;
}

async function staged(cluster: EngineCluster, groups: readonly number[]): Promise<{ staged: number; prepared: number }> {
  const all = await Promise.all(groups.map((g) => partitionState(cluster, g)));
  return { staged: all.reduce((a, s) => a + s.staged, 0), prepared: all.reduce((a, s) => a + s.preparedTxns, 0) };
}

/** Restarts node i with the failpoint armed (SIGTERM first), and waits until it serves the topic. */
async function armFailpoint(cluster: EngineCluster, clients: TopicClients, topic: string, i: number, failpoint: string): Promise<void> {
  await cluster.node(i).stop();
  cluster.startNode(i, [], { LEVIATHAN_FAILPOINT: failpoint });
  await waitFor(`node-${i} ready`, () => cluster.node(i).ready(), 30_000);
  await waitTopicReady(clients, topic, i);
}

/** A node that is not the catalog leader (and, if possible, not `avoid`). */
async function nonCatalogLeader(cluster: EngineCluster, avoid: number[] = []): Promise<number> {
  const leader = await cluster.waitLeader(0);
  const others = [0, 1, 2].filter((i) => i !== leader);
  return others.find((i) => !avoid.includes(i)) ?? (others[0] as number);
}

describe('atomic EnqueueBatch (2PC) on real processes', () => {
  it('(a) commits on every partition; a retry with the same transaction id returns the same ids and adds nothing', async () => {
    const { clients } = shared();
    await makeTopic(clients, heapReq('tx-a'));
    const first = await clients.disheap(1).enqueueBatch({ requests: batch('tx-a', 'a'), transactionId: 'txn-a' });
    expect(first.transactionId).toBe('txn-a');
    expect(first.responses.map((r) => r.partitionId).sort()).toEqual([0, 1, 2]);
    expect(first.responses.every((r) => !r.duplicate)).toBe(true);
    expect(first.allDuplicates).toBe(false);
    const seen = await visible(clients, 'tx-a');
    expect(Object.fromEntries(seen)).toEqual({ 'a/0': [first.responses[0]?.messageId], 'a/1': [first.responses[1]?.messageId], 'a/2': [first.responses[2]?.messageId] });

    for (const via of [1, 2, 0]) {
      const again = await clients.disheap(via).enqueueBatch({ requests: batch('tx-a', 'a'), transactionId: 'txn-a' });
      expect(again.responses.map((r) => r.messageId)).toEqual(first.responses.map((r) => r.messageId));
    }
    const stats = await topicStats(clients, 'tx-a');
    expect(stats.totalEnqueues).toBe(3n);
    expect(stats.totalMessages).toBe(3n);
    expect((await visible(clients, 'tx-a')).size).toBe(3);
    // The same id for a different batch is refused, not merged.
    await expect(clients.disheap(0).enqueueBatch({ requests: batch('tx-a', 'other'), transactionId: 'txn-a' })).rejects.toMatchObject({ status: 'FAILED_PRECONDITION' });
  }, 60_000);

  it('(b) coordinator killed between prepare and commit: the batch is aborted, never visible, nothing stays staged, a retry fails ABORTED', async () => {
    const { cluster, clients } = shared();
    const groups = await makeTopic(clients, heapReq('tx-b'));
    const coordinator = await nonCatalogLeader(cluster);
    await armFailpoint(cluster, clients, 'tx-b', coordinator, 'txn-after-prepare');
    const catalogLeader = await cluster.waitLeader(0);
    expect(catalogLeader).not.toBe(coordinator);

    const t0 = Date.now();
    const err = await clients
      .disheap(coordinator)
      .enqueueBatch({ requests: batch('tx-b', 'b'), transactionId: 'txn-b' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).status).toMatch(/UNAVAILABLE|CANCELLED|INTERNAL|UNKNOWN/);
    await cluster.node(coordinator).waitExit(5_000);

    // Within the txn timeout plus a few seconds, the recovery loop aborts it everywhere. Until
    // then and after, nothing of it is visible.
    const resolvedIn = await waitFor(
      'the batch aborted on every participant',
      async () => {
        expect([...(await visible(clients, 'tx-b')).keys()]).toEqual([]);
        const s = await staged(cluster, groups);
        return s.staged === 0 && s.prepared === 0 ? Date.now() - t0 : null;
      },
      TXN_TIMEOUT_MS + 8_000,
      200,
    );
    const retry = await clients
      .disheap(catalogLeader)
      .enqueueBatch({ requests: batch('tx-b', 'b'), transactionId: 'txn-b' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(retry).toMatchObject({ status: 'ABORTED' });
    // Still nothing visible, and a pop finds nothing.
    const popped = await clients.ext(catalogLeader).pop({ topic: 'tx-b', partitionIds: [], maxMessages: 10, waitTimeout: ms(1_000) });
    expect(popped.items).toEqual([]);
    expect((await visible(clients, 'tx-b')).size).toBe(0);
    const stats = await topicStats(clients, 'tx-b');
    expect(stats.totalEnqueues).toBe(0n);
    console.log(`2pc (b): aborted on every participant ${resolvedIn} ms after the call (txn timeout ${TXN_TIMEOUT_MS} ms)`);
    expect(cluster.logs()).toMatch(/resolved an in-doubt transaction/);

    cluster.startNode(coordinator);
    await waitFor(`node-${coordinator} ready`, () => cluster.node(coordinator).ready(), 30_000);
  }, 90_000);

  it('(c) coordinator killed after the commit decision: every item becomes visible exactly once without a retry; a retry returns the same ids', async () => {
    const { cluster, clients } = shared();
    const groups = await makeTopic(clients, heapReq('tx-c'));
    const coordinator = await nonCatalogLeader(cluster);
    await armFailpoint(cluster, clients, 'tx-c', coordinator, 'txn-after-decide');

    const err = await clients
      .disheap(coordinator)
      .enqueueBatch({ requests: batch('tx-c', 'c'), transactionId: 'txn-c' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RpcError);
    await cluster.node(coordinator).waitExit(5_000);

    const seen = await waitFor(
      'the committed batch visible',
      async () => {
        const v = await visible(clients, 'tx-c');
        return v.size === 3 ? v : null;
      },
      15_000,
      200,
    );
    expect([...seen.entries()].sort()).toEqual([
      ['c/0', [expect.stringMatching(/^0-/)]],
      ['c/1', [expect.stringMatching(/^1-/)]],
      ['c/2', [expect.stringMatching(/^2-/)]],
    ]);
    const other = [0, 1, 2].find((i) => i !== coordinator) as number;
    const retry = await clients.disheap(other).enqueueBatch({ requests: batch('tx-c', 'c'), transactionId: 'txn-c' });
    expect(retry.responses.map((r) => r.messageId)).toEqual(['c/0', 'c/1', 'c/2'].map((p) => seen.get(p)?.[0]));
    await waitFor('nothing staged', async () => (await staged(cluster, groups)).staged === 0, 10_000, 200);
    const stats = await topicStats(clients, 'tx-c');
    expect(stats.totalEnqueues).toBe(3n);
    expect((await visible(clients, 'tx-c')).size).toBe(3);

    cluster.startNode(coordinator);
    await waitFor(`node-${coordinator} ready`, () => cluster.node(coordinator).ready(), 30_000);
  }, 90_000);

  it('(d) a participant leader killed during batches: each batch is all or nothing', async () => {
    const { cluster, clients } = shared();
    const groups = await makeTopic(clients, heapReq('tx-d'));
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round++) {
      const leaders = await partitionLeaders(cluster, groups);
      // Kill the leader of partition `round`, coordinating through another node.
      const victim = leaders[round] ?? 0;
      const via = [0, 1, 2].find((i) => i !== victim) as number;
      const txnId = `txn-d-${round}`;
      const call = clients
        .disheap(via)
        .enqueueBatch({ requests: batch('tx-d', `d${round}`), transactionId: txnId }, 20_000)
        .then(
          (r) => ({ ok: true as const, ids: r.responses.map((x) => x.messageId) }),
          (e: unknown) => ({ ok: false as const, err: e as RpcError }),
        );
      await sleep(round * 15);
      await cluster.node(victim).kill();
      const answer = await call;
      cluster.startNode(victim);
      await waitFor(`node-${victim} ready`, () => cluster.node(victim).ready(), 30_000);
      await waitTopicReady(clients, 'tx-d');
      // Wait until no participant holds it prepared (decided and delivered, or aborted by recovery).
      await waitFor('no prepared transaction left', async () => (await staged(cluster, groups)).prepared === 0, TXN_TIMEOUT_MS + 15_000, 200);

      const v = await visible(clients, 'tx-d');
      const mine = ['0', '1', '2'].map((i) => v.get(`d${round}/${i}`) ?? []);
      const counts = mine.map((ids) => ids.length);
      expect([[0, 0, 0], [1, 1, 1]], `round ${round}: copies of each item ${JSON.stringify(counts)}`).toContainEqual(counts);
      const committed = counts[0] === 1;
      if (answer.ok) expect(committed, `round ${round}: the call answered ok`).toBe(true);
      if (!answer.ok && answer.err.status === 'ABORTED') expect(committed).toBe(false);
      if (answer.ok) expect(answer.ids).toEqual(mine.map((ids) => ids[0]));
      // A retry agrees with what is visible.
      const retry = await retryNotApplied('EnqueueBatch retry', () => clients.disheap(via).enqueueBatch({ requests: batch('tx-d', `d${round}`), transactionId: txnId })).then(
        (r) => r.responses.map((x) => x.messageId),
        (e: unknown) => e as RpcError,
      );
      let retryCommitted = false;
      if (committed) expect(retry).toEqual(mine.map((ids) => ids[0]));
      else if (Array.isArray(retry)) {
        // The first attempt never reached the coordinator record (it failed before txnBegin,
        // e.g. the killed node led the catalog): the retry is the transaction's first run, and
        // then it must be visible exactly once, with the ids it answered.
        expect(answer.ok).toBe(false);
        const after = await visible(clients, 'tx-d');
        const ids = ['0', '1', '2'].map((i) => after.get(`d${round}/${i}`) ?? []);
        expect(ids.map((x) => x.length), `round ${round}: copies after the retry`).toEqual([1, 1, 1]);
        expect(retry).toEqual(ids.map((x) => x[0]));
        retryCommitted = true;
      } else expect(retry).toMatchObject({ status: 'ABORTED' });
      outcomes.push(`${answer.ok ? 'ok' : answer.err.status}->${committed ? 'committed' : retryCommitted ? 'committed by the retry' : 'aborted'}`);
    }
    console.log(`2pc (d): participant leader killed in 3 batches: ${outcomes.join(', ')}`);
    // Whatever committed, committed once: visible messages are exactly the committed batches.
    const stats = await topicStats(clients, 'tx-d');
    expect(Number(stats.totalEnqueues)).toBe(3 * outcomes.filter((o) => o.includes('committed')).length);
  }, 120_000);
});
