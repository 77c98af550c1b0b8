/**
 * The topic client, HTTP gateway and CLI against 3 real topic nodes (`--state-machine topic`):
 * TopicClient end to end (ordering, exact int64 priorities, dedup, nack/extend, log replay,
 * offsets, consume() credits), the client carrying on through the other addresses when a node is
 * killed, the HTTP/JSON gateway on a node's HTTP port, and `leviathan-topic` as a process.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TopicClient, TopicClientError } from '../../src/topic/client.js';
import type { TopicMessage } from '../../src/topic/client.js';
import type { EngineCluster } from './engine-cluster.js';
import { sleep, waitFor } from './engine-cluster.js';
import { useCluster } from './helpers.js';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const CLI = join(REPO, 'engine/src/cli/topic.ts');
const MAX = 9223372036854775807n;
const MIN = -9223372036854775808n;

function clientOf(c: EngineCluster, options: { spread?: boolean; endpoints?: string[] } = {}): TopicClient {
  return c.adopt(new TopicClient(options.endpoints ?? c.nodes.map((n) => n.address), { timeoutMs: 20_000, ...(options.spread === undefined ? {} : { spread: options.spread }) }));
}

/** Creates a topic and waits until every partition has a leader (an enqueue to each succeeds). */
async function makeTopic(client: TopicClient, topic: string, partitions: number, extra: Parameters<TopicClient['makeHeap']>[1] = {}): Promise<void> {
  await client.makeHeap(topic, { partitions, replicationFactor: 3, ...extra });
  await waitFor(`leaders of ${topic}'s partitions`, async () => {
    const s = await client.stats(topic);
    return s.partitions.length === partitions && s.partitions.every((p) => p.leader !== '' && p.healthy);
  }, 30_000, 200);
}

/** Pops until `count` messages came (or the wait runs out). */
async function popAll(client: TopicClient, topic: string, count: number, o: { visibilityTimeoutMs?: number } = {}): Promise<TopicMessage[]> {
  const got: TopicMessage[] = [];
  const deadline = Date.now() + 30_000;
  while (got.length < count && Date.now() < deadline) got.push(...(await client.pop(topic, { max: count - got.length, waitMs: 2_000, ...o })));
  return got;
}

describe('TopicClient on 3 topic nodes', () => {
  const start = useCluster();

  it('creates a topic; enqueues, pops in priority order and acks; exact int64; dedup; nack, extend, read, offsets; consume() with credits', async () => {
    const cluster = await start({ size: 3, stateMachine: 'topic' });
    const client = clientOf(cluster);
    await makeTopic(client, 'jobs', 3, { dlq: true, visibilityTimeoutMs: 5_000 });
    await expect(client.makeHeap('jobs', { partitions: 3 })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', mayHaveTakenEffect: false });
    expect((await client.listAllHeaps()).map((h) => [h.topic, h.partitions, h.replicationFactor, h.dlq.enabled])).toEqual([['jobs', 3, 3, true]]);

    // Priorities spread over the partitions: a pop of all of them comes out best first (min mode).
    const priorities = [MAX, 5n, -3n, 0n, MIN, 42n, 7n, -3n, 1n];
    for (const [i, p] of priorities.entries()) await client.enqueue('jobs', `m${i}`, { priority: p, partitionKey: `k${i}` });
    const peeked = await client.peek('jobs', { limit: 20 });
    expect(peeked.items.map((m) => m.priority).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual([...priorities].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const popped = await popAll(client, 'jobs', priorities.length);
    expect(popped.map((m) => m.priority)).toEqual([...priorities].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(popped[0]?.priority).toBe(MIN);
    expect(popped.at(-1)?.priority).toBe(MAX);
    expect(popped.every((m) => m.attempts === 1 && m.leaseToken !== '' && m.leaseDeadline instanceof Date)).toBe(true);
    for (const m of popped) await client.ack(m);
    await expect(client.ack(popped[0] as TopicMessage)).rejects.toBeInstanceOf(TopicClientError);

    // Idempotent producer: the same triple twice is one message.
    const producer = { id: 'p1', epoch: 1, sequence: 1 };
    const first = await client.enqueue('jobs', 'once', { producer });
    const again = await client.enqueue('jobs', 'once', { producer });
    expect(again).toEqual({ ...first, duplicate: true });

    // Nack gives it back at once; extend pushes the lease out.
    const [m1] = await popAll(client, 'jobs', 1);
    expect(m1?.payload.toString()).toBe('once');
    await client.nack(m1 as TopicMessage, { backoffMs: 0, reason: 'try again' });
    const [m2] = await popAll(client, 'jobs', 1);
    expect(m2?.messageId).toBe(first.messageId);
    expect(m2?.attempts).toBe(2);
    await client.extend(m2 as TopicMessage, 20_000);
    await client.ack(m2 as TopicMessage);

    // The log keeps what was enqueued; offsets are stored per group.
    const p0 = first.partition;
    const log = await client.read('jobs', p0, 0, { limit: 100 });
    expect(log.records.map((r) => r.messageId)).toContain(first.messageId);
    expect(log.nextOffset).toBe(log.records.length);
    expect(await client.fetchOffset('g', 'jobs', p0)).toBeNull();
    await client.commitOffset('g', 'jobs', p0, log.nextOffset);
    expect(await client.fetchOffset('g', 'jobs', p0)).toBe(log.nextOffset);

    // consume(): never more handlers than credits; every message handled and acked once.
    const n = 16;
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) ids.add((await client.enqueue('jobs', `c${i}`, { priority: i })).messageId);
    let running = 0;
    let maxRunning = 0;
    const handled: string[] = [];
    const consumer = client.consume('jobs', { credits: 4 }, async (m) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(30);
      handled.push(m.messageId);
      running--;
    });
    await waitFor('every message consumed', async () => handled.length >= n, 30_000, 50);
    await consumer.stop();
    expect(maxRunning).toBeGreaterThan(1);
    expect(maxRunning).toBeLessThanOrEqual(4);
    expect(new Set(handled)).toEqual(ids);
    const stats = await client.stats('jobs');
    expect(stats.totalMessages).toBe(0);
    expect(stats.inflightMessages).toBe(0);
    expect(stats.totalAcks).toBe(priorities.length + 1 + n);
  });

  it('keeps working through the other addresses while a node is killed', async () => {
    const cluster = await start({ size: 3, stateMachine: 'topic' });
    const setup = clientOf(cluster);
    await makeTopic(setup, 'orders', 3, { visibilityTimeoutMs: 3_000 });
    // This client tries node 0 first, and a stream consumer keeps running across the kill.
    const client = clientOf(cluster, { spread: false });
    const received = new Set<string>();
    const consumer = client.consume('orders', { credits: 2 }, (m) => {
      received.add(m.payload.toString());
    });
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      await client.enqueue('orders', `before-${i}`, { producer: { id: 'w', epoch: 1, sequence: i } });
      sent.push(`before-${i}`);
    }
    await waitFor('the first messages consumed', async () => sent.every((s) => received.has(s)), 20_000, 50);

    await cluster.node(0).kill();
    // Enqueues with a producer triple are retried safely whatever happened to an attempt.
    for (let i = 5; i < 15; i++) {
      await client.enqueue('orders', `after-${i}`, { producer: { id: 'w', epoch: 1, sequence: i } });
      sent.push(`after-${i}`);
    }
    await waitFor('every message consumed after the kill', async () => sent.every((s) => received.has(s)), 40_000, 100);
    await consumer.stop();

    // Unary calls too: node 0 refuses connections, the client moves on. What is left (a message
    // whose ack went to node 0 as it died, one the stream server leased as the stream closed)
    // comes back when its lease ends: drain until empty.
    await client.enqueue('orders', 'last', { priority: -1, producer: { id: 'w', epoch: 1, sequence: 99 } });
    const drained: string[] = [];
    await waitFor(
      'the topic drained',
      async () => {
        for (const m of await client.pop('orders', { max: 10, waitMs: 500 })) {
          drained.push(m.payload.toString());
          await client.ack(m);
        }
        return drained.includes('last') && (await client.stats('orders')).totalMessages === 0;
      },
      30_000,
      0,
    );
    expect(drained.every((p) => p === 'last' || sent.includes(p))).toBe(true);

    // A client that knows only the dead node says so.
    const lonely = clientOf(cluster, { endpoints: [cluster.node(0).address] });
    const err = (await lonely.listHeaps({ timeoutMs: 1_000 }).catch((e: unknown) => e)) as TopicClientError;
    expect(err).toBeInstanceOf(TopicClientError);
    expect(err.code).toBe('UNAVAILABLE');
  });
});

describe('HTTP gateway and CLI on 3 topic nodes', () => {
  const start = useCluster();

  /** fetch to a node's gateway, retried while it answers 503 (a partition still electing). */
  async function http(c: EngineCluster, node: number, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    for (let i = 0; ; i++) {
      const res = await fetch(`http://127.0.0.1:${c.node(node).httpPort}${path}`, {
        method,
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        signal: AbortSignal.timeout(30_000),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status !== 503 || i >= 20) return { status: res.status, json };
      await sleep(250);
    }
  }

  function cli(c: EngineCluster, args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const endpoints = c.nodes.filter((n) => n.running).map((n) => n.address).join(',');
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, '--endpoints', endpoints, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdin.end(stdin ?? '');
    return new Promise((res) => p.on('exit', (code) => res({ code, stdout, stderr })));
  }

  it('serves /v1/topics: create, enqueue with an exact int64 priority, pop, ack, peek, errors with the right status', async () => {
    const c = await start({ size: 3, stateMachine: 'topic' });
    const created = await http(c, 1, 'POST', '/v1/topics', { topic: 'web', partitions: 2, replication_factor: 3, dlq: true });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ topic: 'web', partitions: 2, replication_factor: 3, mode: 'min', dlq: { enabled: true } });
    expect((await http(c, 2, 'POST', '/v1/topics', { topic: 'web' })).status).toBe(409);

    const big = await http(c, 2, 'POST', '/v1/topics/web/messages', '{"payload":"biggest","priority":"9223372036854775807"}');
    expect(big.status).toBe(201);
    // A bare JSON integer beyond 2^53 is exact too.
    expect((await http(c, 0, 'POST', '/v1/topics/web/messages', '{"payload":"big2","priority":9223372036854775806}')).status).toBe(201);
    expect((await http(c, 0, 'POST', '/v1/topics/web/messages', { payload_base64: Buffer.from([0, 255]).toString('base64'), priority: -1 })).status).toBe(201);

    const peek = await http(c, 0, 'GET', '/v1/topics/web/peek?limit=10');
    expect(peek.status).toBe(200);
    const items = peek.json.messages as Array<Record<string, unknown>>;
    expect(items.map((m) => m.priority)).toEqual(['-1', '9223372036854775806', '9223372036854775807']);
    expect(items[0]).toMatchObject({ payload_base64: 'AP8=' });
    expect(items[0]?.payload).toBeUndefined();
    expect(items[2]).toMatchObject({ payload: 'biggest', message_id: big.json.message_id });

    const popped = await http(c, 1, 'POST', '/v1/topics/web/pop', { max: 3, wait_ms: 1000 });
    expect(popped.status).toBe(200);
    const ms = popped.json.messages as Array<Record<string, unknown>>;
    expect(ms.map((m) => m.priority)).toEqual(['-1', '9223372036854775806', '9223372036854775807']);
    for (const m of ms) expect((await http(c, 2, 'POST', '/v1/topics/web/ack', { message_id: m.message_id, lease_token: m.lease_token })).status).toBe(200);
    const again = await http(c, 2, 'POST', '/v1/topics/web/ack', { message_id: ms[0]?.message_id, lease_token: ms[0]?.lease_token });
    expect(again.status).toBe(404);
    expect(again.json).toMatchObject({ error: { code: 'NOT_FOUND' } });

    const stats = await http(c, 0, 'GET', '/v1/topics/web/stats');
    expect(stats.json).toMatchObject({ topic: 'web', messages: 0, acked_total: 3, enqueued_total: 3 });
    expect((stats.json.partitions as unknown[]).length).toBe(2);

    // Errors: status and {error: {code, message}}.
    expect((await http(c, 0, 'POST', '/v1/topics/web/messages', { payload: 'x', priority: '9223372036854775808' })).status).toBe(400);
    expect((await http(c, 0, 'POST', '/v1/topics/nosuch/messages', { payload: 'x' })).json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await http(c, 0, 'GET', '/v1/topics/web/partitions/0/log?from=1000')).status).toBe(416);
    expect((await http(c, 0, 'GET', '/v1/topics/web/pop')).status).toBe(405);
    expect((await http(c, 0, 'DELETE', '/v1/topics/web?confirm=other')).status).toBe(409);
    expect((await http(c, 0, 'POST', '/v1/topics/web/messages', { payload: 'x'.repeat(9 << 20) })).status).toBe(413);
    // The engine's own routes still answer.
    // (Readiness asks every group for a leader: allow for a leadership hand-over in progress.)
    await waitFor('node 0 ready', async () => (await fetch(`http://127.0.0.1:${c.node(0).httpPort}/readyz`)).status === 200, 15_000, 100);
  });

  it('leviathan-topic: enqueue, pop --ack, stats, tail with Ctrl-C, exit codes', async () => {
    const c = await start({ size: 3, stateMachine: 'topic' });
    const created = await cli(c, ['create', 'cli', '--partitions', '2', '--replication-factor', '3']);
    expect(created, created.stderr).toMatchObject({ code: 0 });
    expect(created.stdout).toContain('created topic cli');

    const enq = await cli(c, ['enqueue', 'cli', 'from-cli', '--priority', '-9223372036854775808']);
    expect(enq.code, enq.stderr).toBe(0);
    expect(enq.stdout).toMatch(/^enqueued \d+-\d+ to partition \d/);
    const fromStdin = await cli(c, ['--json', 'enqueue', 'cli', '--priority', '5'], 'piped payload');
    expect(fromStdin.code, fromStdin.stderr).toBe(0);

    const pop = await cli(c, ['--json', 'pop', 'cli', '--ack', '--max', '5', '--wait', '2s']);
    expect(pop.code, pop.stderr).toBe(0);
    const popped = JSON.parse(pop.stdout) as Array<Record<string, unknown>>;
    expect(popped.map((m) => [m.priority, m.payload, m.acked])).toEqual([
      ['-9223372036854775808', 'from-cli', true],
      ['5', 'piped payload', true],
    ]);

    const stats = await cli(c, ['stats', 'cli']);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toContain('topic cli: 0 messages');
    expect(stats.stdout).toContain('acked 2');

    // tail prints and acks each message until Ctrl-C, then exits 0.
    const client = clientOf(c);
    for (let i = 0; i < 3; i++) await client.enqueue('cli', `t${i}`, { priority: i });
    const endpoints = c.nodes.map((n) => n.address).join(',');
    const tail = spawn(process.execPath, ['--import', 'tsx', CLI, '--endpoints', endpoints, 'tail', 'cli', '--credits', '2'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    tail.stdout.on('data', (d: Buffer) => (out += d.toString()));
    tail.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((res) => tail.on('exit', (code) => res(code)));
    await waitFor('tail printing 3 messages', async () => out.trim().split('\n').filter((l) => l !== '').length >= 3, 30_000, 100);
    await sleep(300); // let the last ack go out
    tail.kill('SIGINT');
    expect(await exited, err).toBe(0);
    expect(out).toMatch(/priority=0 attempts=1 "t0"/);
    expect(err).toContain('tail: 3 messages acked');
    expect((await client.stats('cli')).totalMessages).toBe(0);

    // Exit codes: 1 when the server refuses, 2 for a usage error.
    const missing = await cli(c, ['pop', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND');
    expect((await cli(c, ['pop', 'cli', '--max', '0'])).code).toBe(2);
    expect((await cli(c, ['delete', 'cli'])).code).toBe(2);
  });
});
