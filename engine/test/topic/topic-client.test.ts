/**
 * TopicClient against in-process fake gRPC servers: the retry policy (what is retried, where,
 * and what a failure says about its effect), conversions, and PopStream credits. The real
 * engine is exercised in engine/test/integration/topic-client.test.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { DisheapService } from '../../src/gen/disheap/v1/disheap.js';
import type { EnqueueReq, PopItem, PopOpen } from '../../src/gen/disheap/v1/disheap.js';
import { TopicExtensionsServiceService } from '../../src/gen/leviathan/topic/v1/topic.js';
import { ERROR_CODE_KEY } from '../../src/server/grpc-util.js';
import { TopicClient, TopicClientError, classifyFailure, decide, msToDuration, toEnqueueReq, toPriority } from '../../src/topic/client.js';
import type { TopicMessage } from '../../src/topic/client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('classifyFailure and decide', () => {
  const withCode = (code: string) => classifyFailure(grpc.status.UNAVAILABLE, code, 'x', 'a:1');

  it('reads the leviathan-error-code trailer: NOT_LEADER, UNAVAILABLE and PROPOSAL_DROPPED were not applied', () => {
    for (const c of ['NOT_LEADER', 'UNAVAILABLE', 'PROPOSAL_DROPPED']) {
      const f = withCode(c);
      expect(f).toMatchObject({ code: c, notApplied: true, transient: true });
      expect(decide('write', f, false)).toEqual({ retry: true, mayHaveTakenEffect: false });
    }
  });

  it('a timeout or a node shutting down may have applied a write: retried only when idempotent', () => {
    for (const c of ['TIMEOUT', 'SHUTTING_DOWN']) {
      const f = withCode(c);
      expect(f).toMatchObject({ notApplied: false, transient: true });
      expect(decide('write', f, false)).toEqual({ retry: false, mayHaveTakenEffect: true });
      expect(decide('idempotent', f, false)).toEqual({ retry: true, mayHaveTakenEffect: true });
      expect(decide('read', f, false)).toEqual({ retry: true, mayHaveTakenEffect: false });
    }
  });

  it('a connection never made is certainly not applied; one that broke is unknown', () => {
    const refused = classifyFailure(grpc.status.UNAVAILABLE, '', 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1', 'a:1');
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', notApplied: true, transient: true });
    expect(decide('write', refused, false)).toEqual({ retry: true, mayHaveTakenEffect: false });
    expect(decide('partial', refused, false)).toEqual({ retry: true, mayHaveTakenEffect: false });
    const dropped = classifyFailure(grpc.status.UNAVAILABLE, '', 'Connection dropped', 'a:1');
    expect(dropped).toMatchObject({ notApplied: false, transient: true });
    expect(decide('write', dropped, false)).toEqual({ retry: false, mayHaveTakenEffect: true });
    expect(decide('partial', dropped, false)).toEqual({ retry: false, mayHaveTakenEffect: true });
  });

  it('a refused request is final and changed nothing', () => {
    for (const code of [grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.ALREADY_EXISTS, grpc.status.FAILED_PRECONDITION, grpc.status.OUT_OF_RANGE, grpc.status.UNIMPLEMENTED]) {
      const f = classifyFailure(code, '', 'no', 'a:1');
      expect(f.transient).toBe(false);
      expect(decide('write', f, false)).toEqual({ retry: false, mayHaveTakenEffect: false });
      // ...unless an earlier attempt of the same call may have been applied.
      expect(decide('idempotent', f, true).mayHaveTakenEffect).toBe(true);
    }
  });

  it('a non-atomic batch is retried only when it never reached a node, whatever the trailer says', () => {
    expect(decide('partial', withCode('NOT_LEADER'), false)).toEqual({ retry: false, mayHaveTakenEffect: true });
  });

  it('reads never report an effect', () => {
    expect(decide('read', classifyFailure(grpc.status.INTERNAL, '', 'boom', 'a:1'), true)).toEqual({ retry: false, mayHaveTakenEffect: false });
  });
});

describe('conversions', () => {
  it('priorities are exact int64 from bigints, safe integers and decimal strings', () => {
    expect(toPriority(undefined)).toBe(0n);
    expect(toPriority(-5)).toBe(-5n);
    expect(toPriority('9223372036854775807')).toBe(9223372036854775807n);
    expect(toPriority(-9223372036854775808n)).toBe(-9223372036854775808n);
    expect(() => toPriority('9223372036854775808')).toThrow(RangeError);
    expect(() => toPriority(2 ** 60)).toThrow(TypeError);
    expect(() => toPriority('1.5')).toThrow(TypeError);
  });

  it('builds EnqueueReq: strings as UTF-8, the producer triple, delays as Durations', () => {
    const r = toEnqueueReq('t', 'héllo', { priority: 3, partitionKey: 'k', producer: { id: 'p', epoch: 2, sequence: 9n }, maxRetries: 1, delayMs: 1500 });
    expect(r).toEqual({ topic: 't', payload: Buffer.from('héllo', 'utf8'), priority: 3n, partitionKey: 'k', producerId: 'p', epoch: 2n, sequence: 9n, maxRetries: 1, notBefore: { seconds: 1n, nanos: 500_000_000 } });
    expect(toEnqueueReq('t', new Uint8Array([1, 2])).payload).toEqual(Buffer.from([1, 2]));
    expect(msToDuration(0)).toEqual({ seconds: 0n, nanos: 0 });
    expect(() => toEnqueueReq('t', 'x', { delayMs: -1 })).toThrow(RangeError);
  });
});

// ----- against fake servers ------------------------------------------------------------------

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => void;

interface Fake {
  readonly address: string;
  readonly calls: string[];
  close(): Promise<void>;
}

const servers: grpc.Server[] = [];
const clients: TopicClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
});

function serviceError(code: grpc.status, details: string, serverCode?: string): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (serverCode !== undefined) metadata.set(ERROR_CODE_KEY, serverCode);
  return { code, details, metadata };
}

async function fake(handlers: Record<string, Handler>, popStream?: (s: grpc.ServerDuplexStream<PopOpen, PopItem>) => void): Promise<Fake> {
  const server = new grpc.Server();
  const calls: string[] = [];
  const impl: Record<string, unknown> = {};
  const unimplemented: Handler = (_call, cb) => cb(serviceError(grpc.status.UNIMPLEMENTED, 'not in this fake'));
  for (const name of Object.keys(DisheapService)) {
    if (name === 'popStream') continue;
    const h = handlers[name] ?? unimplemented;
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls.push(name);
      h(call, cb);
    };
  }
  impl.popStream = popStream ?? ((s: grpc.ServerDuplexStream<PopOpen, PopItem>) => s.end());
  server.addService(DisheapService, impl as grpc.UntypedServiceImplementation);
  const ext: Record<string, unknown> = {};
  for (const name of Object.keys(TopicExtensionsServiceService)) {
    const h = handlers[name] ?? unimplemented;
    ext[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls.push(name);
      h(call, cb);
    };
  }
  server.addService(TopicExtensionsServiceService, ext as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  servers.push(server);
  return { address: `127.0.0.1:${port}`, calls, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

/** An address nothing listens on (a node that is down). */
async function deadAddress(): Promise<string> {
  const f = await fake({});
  await f.close();
  return f.address;
}

function client(endpoints: string[], timeoutMs = 3_000): TopicClient {
  // Deterministic: always start with the first address.
  const c = new TopicClient(endpoints, { timeoutMs, spread: false });
  clients.push(c);
  return c;
}

const ok: Handler = (_c, cb) => cb(null, { messageId: '0-1', duplicate: false, partitionId: 0 });

describe('TopicClient retries', () => {
  it('moves on to the next address when a node is down, and sticks to the one that answered', async () => {
    const dead = await deadAddress();
    const live = await fake({ enqueue: ok, peek: (_c, cb) => cb(null, { items: [], hasMore: false }) });
    const c = client([dead, live.address]);
    expect(await c.enqueue('t', 'x')).toEqual({ messageId: '0-1', duplicate: false, partition: 0 });
    await c.peek('t');
    expect(live.calls).toEqual(['enqueue', 'peek']);
  });

  it('retries a write the server says was not applied, on the next node', async () => {
    const a = await fake({ ack: (_c, cb) => cb(serviceError(grpc.status.UNAVAILABLE, 'no leader', 'UNAVAILABLE')) });
    const b = await fake({ ack: (_c, cb) => cb(null, {}) });
    const c = client([a.address, b.address]);
    await c.ack({ topic: 't', messageId: '0-1', leaseToken: 'tok' });
    expect(a.calls).toEqual(['ack']);
    expect(b.calls).toEqual(['ack']);
  });

  it('does not retry a write whose outcome is unknown, and says it may have taken effect', async () => {
    const a = await fake({ enqueue: (_c, cb) => cb(serviceError(grpc.status.DEADLINE_EXCEEDED, 'timed out', 'TIMEOUT')) });
    const b = await fake({ enqueue: ok });
    const c = client([a.address, b.address]);
    const err = await c.enqueue('t', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopicClientError);
    expect(err).toMatchObject({ code: 'TIMEOUT', mayHaveTakenEffect: true, address: a.address });
    expect(b.calls).toEqual([]);
  });

  it('retries an enqueue with a producer triple after an unknown outcome (the server deduplicates)', async () => {
    const a = await fake({ enqueue: (_c, cb) => cb(serviceError(grpc.status.DEADLINE_EXCEEDED, 'timed out', 'TIMEOUT')) });
    const b = await fake({ enqueue: (_c, cb) => cb(null, { messageId: '0-1', duplicate: true, partitionId: 0 }) });
    const c = client([a.address, b.address]);
    expect(await c.enqueue('t', 'x', { producer: { id: 'p', epoch: 1, sequence: 1 } })).toEqual({ messageId: '0-1', duplicate: true, partition: 0 });
  });

  it('reports a refused request at once, as not applied', async () => {
    const a = await fake({ makeHeap: (_c, cb) => cb(serviceError(grpc.status.ALREADY_EXISTS, 'topic "t" already exists')) });
    const b = await fake({});
    const c = client([a.address, b.address]);
    await expect(c.makeHeap('t')).rejects.toMatchObject({ code: 'ALREADY_EXISTS', grpcCode: grpc.status.ALREADY_EXISTS, mayHaveTakenEffect: false });
    expect(b.calls).toEqual([]);
  });

  it('gives up at the deadline with the reason, not the deadline', async () => {
    const dead = await deadAddress();
    const c = client([dead], 600);
    const t0 = Date.now();
    const err = (await c.listHeaps().catch((e: unknown) => e)) as TopicClientError;
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/gave up after 600 ms/);
    expect(err.mayHaveTakenEffect).toBe(false);
  });

  it('sends the long-poll wait to Pop and extends the deadline by it', async () => {
    let seen: unknown = null;
    const a = await fake({
      pop: (call, cb) => {
        seen = call.request;
        setTimeout(() => cb(null, { items: [] }), 700);
      },
    });
    const c = client([a.address], 300);
    expect(await c.pop('t', { max: 5, waitMs: 1_000, partitions: [2] })).toEqual([]);
    expect(seen).toMatchObject({ topic: 't', partitionIds: [2], maxMessages: 5, waitTimeout: { seconds: 1n, nanos: 0 } });
  });

  it('a signal cancels a long-poll at once, and it is not retried', async () => {
    const a = await fake({ pop: (_call, cb) => setTimeout(() => cb(null, { items: [] }), 2_000) });
    const c = client([a.address]);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    await expect(c.pop('t', { waitMs: 5_000, signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(a.calls).toEqual(['pop']);
  });

  it('an atomic batch gets a transaction id from the client, so that its retry is safe', async () => {
    const ids: string[] = [];
    let n = 0;
    const handler: Handler = (call, cb) => {
      const req = call.request as { transactionId?: string; requests: EnqueueReq[] };
      ids.push(req.transactionId ?? '');
      if (n++ === 0) cb(serviceError(grpc.status.DEADLINE_EXCEEDED, 'timed out', 'TIMEOUT'));
      else cb(null, { responses: req.requests.map((_, i) => ({ messageId: `0-${i}`, duplicate: false, partitionId: 0 })), transactionId: req.transactionId, allDuplicates: false });
    };
    const a = await fake({ enqueueBatch: handler });
    const b = await fake({ enqueueBatch: handler });
    const c = client([a.address, b.address]);
    const r = await c.enqueueBatch('t', [{ payload: 'a' }, { payload: 'b', priority: 2n }], { atomic: true });
    expect(r.results).toHaveLength(2);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[1]).toBe(ids[0]);
  });
});

describe('PopStream credits', () => {
  /** A server that sends one item per credit, as soon as it holds one, counting what it sent. */
  function creditServer(stats: { sent: number; filters: number }, limit = Infinity) {
    return (s: grpc.ServerDuplexStream<PopOpen, PopItem>): void => {
      let credits = 0;
      s.on('data', (m: PopOpen) => {
        if (m.kind?.$case === 'filter') stats.filters++;
        if (m.kind?.$case === 'flowControl') credits += m.kind.value.credits;
        while (credits > 0 && stats.sent < limit) {
          credits--;
          const n = stats.sent++;
          s.write({ messageId: `0-${n}`, topic: 't', partitionId: 0, payload: Buffer.from(`m${n}`), priority: BigInt(n), leaseToken: `0-${n}.1.ab`, attempts: 1, maxRetries: 3 });
        }
      });
      s.on('end', () => s.end());
      s.on('error', () => undefined);
    };
  }

  it('consume never runs more handlers than credits, and refills a credit per finished message', async () => {
    const stats = { sent: 0, filters: 0 };
    const acks: string[] = [];
    const a = await fake({ ack: (call, cb) => (acks.push((call.request as { messageId: string }).messageId), cb(null, {})) }, creditServer(stats, 20));
    const c = client([a.address]);
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const consumer = c.consume('t', { credits: 3 }, async (m: TopicMessage) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      seen.push(m.messageId);
      await sleep(5 + (Number(m.priority) % 3) * 5);
      running--;
    });
    for (let i = 0; i < 200 && acks.length < 20; i++) await sleep(20);
    await consumer.stop();
    expect(seen).toHaveLength(20);
    expect(acks.sort()).toEqual(seen.sort());
    expect(maxRunning).toBe(3);
    // The server never sent more than the client granted: 3 at first, then one per ack.
    expect(stats.sent).toBe(20);
    expect(consumer.received).toBe(20);
  });

  it('a handler that throws nacks its message', async () => {
    const stats = { sent: 0, filters: 0 };
    const nacks: string[] = [];
    const a = await fake({ nack: (call, cb) => (nacks.push((call.request as { reason: string }).reason), cb(null, {})) }, creditServer(stats, 1));
    const c = client([a.address]);
    const errors: unknown[] = [];
    const consumer = c.consume('t', { credits: 1, onError: (e) => errors.push(e) }, () => {
      throw new Error('cannot handle');
    });
    for (let i = 0; i < 100 && nacks.length === 0; i++) await sleep(20);
    await consumer.stop();
    expect(nacks).toEqual(['cannot handle']);
    expect(errors).toHaveLength(1);
  });

  it('subscribe: taking the next message releases the previous one, so credits bound what is buffered', async () => {
    const stats = { sent: 0, filters: 0 };
    const a = await fake({}, creditServer(stats));
    const c = client([a.address]);
    const sub = c.subscribe('t', { credits: 2 });
    const first = await sub.next();
    await sleep(100);
    expect(first?.messageId).toBe('0-0');
    expect(stats.sent).toBe(2); // 2 credits: the one held and one buffered
    await sub.next();
    await sleep(100);
    expect(stats.sent).toBe(3);
    let n = 0;
    for await (const m of sub) {
      expect(m.payload.toString()).toBe(`m${n + 2}`);
      if (++n === 3) break;
    }
    expect(stats.sent).toBeLessThanOrEqual(6);
    expect(await sub.next()).toBeNull();
  });

  it('reopens the stream on another node when its node goes away, with the credits still free', async () => {
    const s1 = { sent: 0, filters: 0 };
    const s2 = { sent: 0, filters: 0 };
    let stream1: grpc.ServerDuplexStream<PopOpen, PopItem> | null = null;
    const a = await fake({}, (s) => {
      stream1 = s;
      creditServer(s1, 1)(s);
    });
    const b = await fake({}, creditServer(s2));
    const c = client([a.address, b.address]);
    const sub = c.subscribe('t', { credits: 4 });
    const m1 = await sub.next(); // held
    expect(m1?.messageId).toBe('0-0');
    // The node fails the stream: the client moves to b and grants the 3 credits not held.
    (stream1 as unknown as grpc.ServerDuplexStream<PopOpen, PopItem>).emit('error', { code: grpc.status.UNAVAILABLE, details: 'going away', metadata: new grpc.Metadata() });
    for (let i = 0; i < 100 && s2.sent < 3; i++) await sleep(20);
    await sleep(50);
    expect(s2.filters).toBe(1);
    expect(s2.sent).toBe(3);
    sub.close();
  });

  it('a stream refused for good (no such topic) ends consume with the error', async () => {
    const a = await fake({}, (s) => {
      s.on('data', () => s.emit('error', { code: grpc.status.NOT_FOUND, details: 'no topic "t"', metadata: new grpc.Metadata() }));
    });
    const c = client([a.address]);
    const consumer = c.consume('t', { credits: 1 }, () => undefined);
    await expect(consumer.done).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
