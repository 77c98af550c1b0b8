/**
 * PeerTransport over real gRPC servers on 127.0.0.1: batching and per-sender order, a peer that
 * goes down and comes back on the same port, a full queue behind a blackholed connection and the
 * redial after `stallMs`, an invalid batch, the learn callback, and close().
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftTransportServiceClient, RaftTransportServiceService } from '../../src/gen/leviathan/raft/v1/raft.js';
import type { Entry, Message, NodeId } from '../../src/raft/index.js';
import type { Envelope } from '../../src/transport/codec.js';
import { PEER_SERVER_OPTIONS, PeerTransport } from '../../src/transport/peer-transport.js';
import type { TransportMetrics, TransportOptions } from '../../src/transport/peer-transport.js';
import { FaultProxy } from '../integration/fault-proxy.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Counts what a transport's metrics callbacks report. */
class Counters implements TransportMetrics {
  batches = 0;
  messagesSent = 0;
  messagesReceived = 0;
  reconnects = 0;
  readonly drops = new Map<string, number>();
  sent(_peer: NodeId, messages: number): void {
    this.batches++;
    this.messagesSent += messages;
  }
  dropped(_peer: NodeId, reason: string, messages: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + messages);
  }
  received(messages: number): void {
    this.messagesReceived += messages;
  }
  reconnect(): void {
    this.reconnects++;
  }
}

interface Peer {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly metrics: Counters;
  /** Every envelope delivered to this peer, in delivery order. */
  readonly inbox: Envelope[];
  /** Every (id, address) the learn callback was given. */
  readonly learned: Array<[NodeId, string]>;
  server: grpc.Server | null;
  port: number;
}

const servers = new Set<grpc.Server>();
const transports = new Set<PeerTransport>();
const proxies = new Set<FaultProxy>();
const clients = new Set<grpc.Client>();

afterEach(async () => {
  for (const t of transports) t.close();
  transports.clear();
  for (const c of clients) c.close();
  clients.clear();
  for (const s of servers) s.forceShutdown();
  servers.clear();
  await Promise.all([...proxies].map((p) => p.close()));
  proxies.clear();
});

async function bind(server: grpc.Server, port: number): Promise<number> {
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  servers.add(server);
  return bound;
}

/** Serves an existing transport on a new gRPC server (port 0: any free port). */
async function serve(transport: PeerTransport, port = 0): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(PEER_SERVER_OPTIONS);
  server.addService(RaftTransportServiceService, transport.service());
  return { server, port: await bind(server, port) };
}

/**
 * A transport served on its own gRPC server. `book` is the shared address book the `resolve`
 * callbacks read, so a test can point a member at a proxy or at nothing.
 */
async function startPeer(id: NodeId, book: Map<NodeId, string>, options: Partial<TransportOptions> = {}): Promise<Peer> {
  const metrics = new Counters();
  const inbox: Envelope[] = [];
  const learned: Array<[NodeId, string]> = [];
  // Bound first: the advertised address is the port the server got.
  const server = new grpc.Server(PEER_SERVER_OPTIONS);
  const port = await bind(server, 0);
  const advertise = `127.0.0.1:${port}`;
  const transport = new PeerTransport({
    selfId: id,
    advertise,
    resolve: (to) => book.get(to),
    deliver: (envs) => inbox.push(...envs),
    learn: (from, address) => learned.push([from, address]),
    logger,
    metrics,
    backoffMs: { initial: 20, max: 200 },
    ...options,
  });
  transports.add(transport);
  server.addService(RaftTransportServiceService, transport.service());
  book.set(id, advertise);
  return { id, transport, metrics, inbox, learned, server, port };
}

let nextSeq = 1;

function heartbeat(from: NodeId, to: NodeId, groupId: number, seq: number): Envelope {
  return { groupId, message: { type: 'heartbeat', from, to, term: 1, commit: seq, readRound: 0 } };
}

function append(from: NodeId, to: NodeId, groupId: number, seq: number, entries: number): Envelope {
  const list: Entry[] = [];
  for (let i = 0; i < entries; i++) {
    list.push({ index: seq * 10 + i, term: 1, time: 1_000 + i, kind: 'normal', data: new TextEncoder().encode(`${from}:${seq}:${i}`) });
  }
  return { groupId, message: { type: 'append', from, to, term: 1, prevIndex: seq * 10 - 1, prevTerm: 1, entries: list, commit: seq } };
}

/** The sequence number each test message carries in its commit field. */
function seqOf(m: Message): number {
  if (m.type === 'heartbeat' || m.type === 'append') return m.commit;
  throw new Error(`unexpected message type ${m.type}`);
}

describe('PeerTransport over real gRPC', () => {
  it('delivers thousands of messages of two groups complete and in per-sender order, batched', async () => {
    const book = new Map<NodeId, string>();
    const a = await startPeer('a', book);
    const b = await startPeer('b', book);
    const c = await startPeer('c', book);

    // a and c both send to b, a also to c; 10 bursts, each queued within one turn of the event loop.
    const expected = new Map<string, Envelope[]>();
    const record = (from: NodeId, to: NodeId, env: Envelope): Envelope => {
      const key = `${from}->${to}`;
      expected.set(key, [...(expected.get(key) ?? []), env]);
      return env;
    };
    let total = 0;
    for (let burst = 0; burst < 10; burst++) {
      for (const [from, to] of [['a', 'b'], ['c', 'b'], ['a', 'c']] as const) {
        const sender = from === 'a' ? a : c;
        const out: Envelope[] = [];
        for (let i = 0; i < 200; i++) {
          const seq = nextSeq++;
          const group = i % 2;
          out.push(record(from, to, i % 20 === 0 ? append(from, to, group, seq, 3) : heartbeat(from, to, group, seq)));
        }
        // Half in one call, the rest one message per call: both belong to the same turn.
        sender.transport.send(out.slice(0, 100));
        for (const env of out.slice(100)) sender.transport.send([env]);
        total += out.length;
      }
      if (burst % 3 === 2) await sleep(10);
      else await nextTurn();
    }
    expect(total).toBe(6_000);

    await until('every message delivered', () => b.inbox.length === 4_000 && c.inbox.length === 2_000);
    await sleep(50);
    expect(b.inbox.length).toBe(4_000);
    expect(c.inbox.length).toBe(2_000);

    for (const [receiver, name] of [[b, 'b'], [c, 'c']] as const) {
      for (const from of ['a', 'c']) {
        const want = expected.get(`${from}->${name}`) ?? [];
        const got = receiver.inbox.filter((e) => e.message.from === from);
        expect(got.length).toBe(want.length);
        // Same messages, same order (per sender), same payloads and groups.
        expect(got).toEqual(want);
      }
    }
    // Messages of both groups arrived.
    expect(new Set(b.inbox.map((e) => e.groupId))).toEqual(new Set([0, 1]));

    // Batching: far fewer RaftBatches written than messages.
    expect(a.metrics.messagesSent).toBe(4_000);
    expect(c.metrics.messagesSent).toBe(2_000);
    const batches = a.metrics.batches + c.metrics.batches;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(6_000 / 20);
    expect(b.metrics.messagesReceived).toBe(4_000);
    expect(c.metrics.messagesReceived).toBe(2_000);
    expect(a.metrics.drops.size + c.metrics.drops.size).toBe(0);
  });

  it('tells the receiver the sender id and advertised address (learn)', async () => {
    const book = new Map<NodeId, string>();
    const a = await startPeer('a', book);
    const b = await startPeer('b', book);
    a.transport.send([heartbeat('a', 'b', 7, 1)]);
    await until('delivery', () => b.inbox.length === 1);
    expect(b.learned).toEqual([['a', `127.0.0.1:${a.port}`]]);
    expect(b.inbox[0]).toEqual(heartbeat('a', 'b', 7, 1));
    expect(a.learned).toEqual([]);
    // Messages to self are not sent anywhere.
    a.transport.send([heartbeat('a', 'a', 7, 2)]);
    await sleep(50);
    expect(a.inbox).toEqual([]);
    expect(a.transport.linkStates().has('a')).toBe(false);
    expect(a.transport.linkStates().get('b')).toMatchObject({ connected: true, address: `127.0.0.1:${b.port}` });
  });

  it('drops messages for a peer that is down and reconnects once it is back on the same port', async () => {
    const book = new Map<NodeId, string>();
    const a = await startPeer('a', book);
    const b = await startPeer('b', book);
    let seq = 0;
    a.transport.send([heartbeat('a', 'b', 1, ++seq)]);
    await until('first delivery', () => b.inbox.length === 1);

    b.server!.forceShutdown();
    servers.delete(b.server!);
    b.server = null;
    // Keep sending while the peer is down: the stream fails, its queue is dropped, and the link
    // retries with backoff.
    const before = b.inbox.length;
    for (let i = 0; i < 30; i++) {
      a.transport.send([heartbeat('a', 'b', 1, ++seq)]);
      await sleep(10);
    }
    expect(b.inbox.length).toBe(before);
    expect(a.metrics.reconnects).toBeGreaterThan(0);

    // A new server on the same port, same receiving transport.
    const restarted = await serve(b.transport, b.port);
    expect(restarted.port).toBe(b.port);
    b.server = restarted.server;
    const restartSeq = seq;
    const t0 = Date.now();
    const deadline = t0 + 5_000;
    while (!b.inbox.some((e) => seqOf(e.message) > restartSeq)) {
      if (Date.now() > deadline) throw new Error('delivery did not resume within 5 s');
      a.transport.send([heartbeat('a', 'b', 1, ++seq)]);
      await sleep(10);
    }
    expect(Date.now() - t0).toBeLessThan(5_000);
    // After resuming, everything sent is delivered, in order.
    const resumedAt = seq;
    for (let i = 0; i < 50; i++) a.transport.send([heartbeat('a', 'b', 1, ++seq)]);
    await until('the rest delivered', () => b.inbox.some((e) => seqOf(e.message) === seq));
    const after = b.inbox.map((e) => seqOf(e.message)).filter((s) => s > resumedAt);
    expect(after).toEqual(Array.from({ length: 50 }, (_, i) => resumedAt + 1 + i));
    const all = b.inbox.map((e) => seqOf(e.message));
    expect(all).toEqual([...all].sort((x, y) => x - y));
  });

  it('drops with queue-full behind a blackholed connection, then redials after stallMs and delivers', async () => {
    const book = new Map<NodeId, string>();
    const b = await startPeer('b', book);
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: b.port });
    proxies.add(proxy);
    proxy.blackhole();
    book.set('b', proxy.address);
    const a = await startPeer('a', book, { maxQueueBytes: 64 << 10, stallMs: 500 });

    // Appends with 8 KiB entries, 64 KiB a turn. A call still waiting for its connection takes a
    // bounded amount into grpc-js's own buffers (its 1 MiB per-call retry buffer, then the
    // Writable's 16 objects); after that write() says stop, the link's queue fills and further
    // messages are dropped.
    let seq = 0;
    const big = new Uint8Array(8_192).fill(7);
    const bigAppend = (n: number): Envelope => ({
      groupId: 1,
      message: { type: 'append', from: 'a', to: 'b', term: 1, prevIndex: n, prevTerm: 1, commit: n, entries: [{ index: n + 1, term: 1, time: 0, kind: 'normal', data: big }] },
    });
    const t0 = Date.now();
    while (Date.now() - t0 < 700) {
      const burst: Envelope[] = [];
      for (let i = 0; i < 8; i++) burst.push(bigAppend(++seq));
      a.transport.send(burst);
      await sleep(5);
    }
    expect(b.inbox).toEqual([]);
    expect(a.metrics.drops.get('queue-full') ?? 0).toBeGreaterThan(0);
    // The handshake never completed within stallMs: the link gave up and redialled.
    expect(a.metrics.reconnects).toBeGreaterThan(0);
    expect(proxy.stats().connectionsAccepted).toBeGreaterThan(0);

    proxy.pass();
    const passAt = seq;
    const deadline = Date.now() + 5_000;
    while (!b.inbox.some((e) => seqOf(e.message) > passAt)) {
      if (Date.now() > deadline) throw new Error('delivery did not resume within 5 s of pass()');
      a.transport.send([heartbeat('a', 'b', 1, ++seq)]);
      await sleep(20);
    }
    // A new connection carried it: the blackholed ones stay dead.
    expect(proxy.stats().bytesToTarget).toBeGreaterThan(0);
    const delivered = b.inbox.map((e) => seqOf(e.message));
    expect(delivered).toEqual([...delivered].sort((x, y) => x - y));
  });

  it('drops a single message that exceeds the queue bound at once', async () => {
    const book = new Map<NodeId, string>();
    const a = await startPeer('a', book, { maxQueueBytes: 1_000 });
    const b = await startPeer('b', book);
    const out: Envelope[] = [];
    for (let i = 1; i <= 40; i++) out.push(heartbeat('a', 'b', 1, i));
    a.transport.send(out);
    // 15 heartbeats of 64 bytes fit in 1,000 bytes; the remaining 25 of that turn are dropped.
    expect(a.metrics.drops.get('queue-full')).toBe(25);
    await until('delivery', () => b.inbox.length === 15);
    await sleep(50);
    expect(b.inbox.map((e) => seqOf(e.message))).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });

  it('drops messages for a member with no known address', async () => {
    const book = new Map<NodeId, string>();
    const a = await startPeer('a', book);
    a.transport.send([heartbeat('a', 'nobody', 1, 1), heartbeat('a', 'nobody', 1, 2)]);
    await until('drop', () => a.metrics.drops.get('no-address') === 2);
  });

  it('drops an invalid batch without crashing the receiver, which keeps serving valid ones', async () => {
    const book = new Map<NodeId, string>();
    const b = await startPeer('b', book);
    const client = new RaftTransportServiceClient(`127.0.0.1:${b.port}`, grpc.credentials.createInsecure());
    clients.add(client);
    const metadata = new grpc.Metadata();
    metadata.set('leviathan-from', 'x');
    metadata.set('leviathan-from-address', '127.0.0.1:1');
    const done = new Promise<number>((resolve, reject) => {
      const call = client.send(metadata, (err, res) => (err ? reject(err) : resolve(res.batchesReceived)));
      const valid = { groupId: 3, message: { from: 'x', to: 'b', term: 2, body: { $case: 'heartbeat' as const, value: { commit: 5, readRound: 0 } } } };
      call.write({ messages: [valid] });
      // The envelope's message is missing.
      call.write({ messages: [valid, { groupId: 3 }] });
      // The message's body oneof is unset.
      call.write({ messages: [{ groupId: 3, message: { from: 'x', to: 'b', term: 2 } }] });
      call.write({ messages: [{ ...valid, message: { ...valid.message, term: 3 } }] });
      call.end();
    });
    expect(await done).toBe(4);
    // Only the two valid batches were delivered; the invalid ones as a whole were dropped.
    expect(b.inbox.map((e) => [e.groupId, e.message.type, e.message.term])).toEqual([
      [3, 'heartbeat', 2],
      [3, 'heartbeat', 3],
    ]);
    expect(b.metrics.messagesReceived).toBe(2);
    expect(b.learned).toEqual([['x', '127.0.0.1:1']]);

    // The receiver still serves transports.
    const a = await startPeer('a', book);
    a.transport.send([heartbeat('a', 'b', 1, 99)]);
    await until('valid delivery after invalid batches', () => b.inbox.length === 3);
    expect(b.inbox[2]).toEqual(heartbeat('a', 'b', 1, 99));
  });

  it('stops delivering once closed, on both sides', async () => {
    const book = new Map<NodeId, string>();
    const a = await startPeer('a', book);
    const b = await startPeer('b', book);
    const c = await startPeer('c', book);
    a.transport.send([heartbeat('a', 'b', 1, 1), heartbeat('a', 'c', 1, 1)]);
    c.transport.send([heartbeat('c', 'a', 1, 1)]);
    await until('delivery', () => b.inbox.length === 1 && c.inbox.length === 1 && a.inbox.length === 1);

    // A closed receiver delivers nothing more, even though its server still accepts the stream;
    // the sender's other links are unaffected.
    b.transport.close();
    a.transport.send([heartbeat('a', 'b', 1, 2), heartbeat('a', 'c', 1, 2)]);
    await until('delivery to c', () => c.inbox.length === 2);
    await sleep(100);
    expect(b.inbox.length).toBe(1);

    // A closed sender sends nothing and keeps no links.
    c.transport.close();
    expect(c.transport.linkStates().size).toBe(0);
    c.transport.send([heartbeat('c', 'a', 1, 2)]);
    expect(c.transport.linkStates().size).toBe(0);
    await sleep(100);
    expect(a.inbox.length).toBe(1);
    a.transport.close();
    expect(a.transport.linkStates().size).toBe(0);
  });
});
