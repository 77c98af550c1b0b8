/**
 * The peer transport: Raft messages between engine nodes over gRPC (`RaftTransportService.Send`,
 * a client stream per peer).
 *
 * Each destination member gets a `PeerLink` with its own queue and stream, so a slow or dead
 * peer never holds up the others. Messages queued in one turn of the event loop go out as one
 * `RaftBatch` (batching), a link stops writing while the HTTP/2 stream is flow-controlled
 * (backpressure) and drops messages once its queue is full, and a failed stream is reopened
 * with exponential backoff and jitter. Dropping is always safe: Raft recovers lost messages
 * by itself (retries, probes, heartbeats), and a backlog of stale messages is worth less than
 * fresh ones. Snapshots are already cut into chunks by the core, each chunk its own message, so
 * they stream through the same links.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RaftTransportServiceClient } from '../gen/leviathan/raft/v1/raft.js';
import type { RaftBatch, RaftTransportServiceServer } from '../gen/leviathan/raft/v1/raft.js';
import { entrySize } from '../raft/index.js';
import type { Message, NodeId } from '../raft/index.js';
import { CodecError, fromProtoBatch, toProtoEnvelope } from './codec.js';
import type { Envelope } from './codec.js';

export interface TransportOptions {
  readonly selfId: NodeId;
  /** This node's own address, told to every peer it streams to. */
  readonly advertise: string;
  /** The address (host:port) of a member, or undefined while it is not known. */
  readonly resolve: (id: NodeId) => string | undefined;
  /** Called with every batch received from a peer, in order. */
  readonly deliver: (envelopes: Envelope[]) => void;
  /** A peer told its id and address when it opened a stream to this node. */
  readonly learn?: (id: NodeId, address: string) => void;
  readonly logger: Logger;
  readonly metrics?: TransportMetrics;
  /** A link drops messages beyond this many queued bytes (default 64 MiB). */
  readonly maxQueueBytes?: number;
  /** Upper bound of one RaftBatch written to a stream (default 4 MiB). */
  readonly maxBatchBytes?: number;
  /** Reconnect backoff: first delay and cap, in ms (default 50 and 2,000). */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /** A stream that cannot connect, or stays flow-controlled, this long is presumed dead and reopened (default 5 s). */
  readonly stallMs?: number;
}

/** Counters the transport reports; the server wires them to Prometheus. */
export interface TransportMetrics {
  sent(peer: NodeId, messages: number, bytes: number): void;
  dropped(peer: NodeId, reason: 'queue-full' | 'no-address' | 'disconnected', messages: number): void;
  received(messages: number): void;
  reconnect(peer: NodeId): void;
}

/**
 * gRPC channel options for peer links: detect a dead peer within a few seconds. The timeout
 * leaves room for an event loop stalled by load (a 2 s timeout dropped healthy links under a
 * benchmark); Raft's own timeouts, not keepalive, decide leadership.
 */
export const PEER_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 2_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.max_send_message_length': 64 << 20,
  'grpc.max_receive_message_length': 64 << 20,
  // Each link's channel gets its own connections: a link that gives up on a connection stuck in
  // its handshake must not be handed the same stuck connection by grpc-js's shared pool.
  'grpc.use_local_subchannel_pool': 1,
};

/**
 * Options of the engine's one gRPC server (peers and clients alike). Peers ping from their side
 * (PEER_CHANNEL_OPTIONS), so the server accepts pings every second. Its own pings only clean up
 * connections of clients that vanished: rare and patient, so that a busy client (or a busy
 * server) is never cut off mid-call.
 */
export const PEER_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 1_000,
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
};

/** Rough wire size of a message, for the queue bound. */
export function messageSize(m: Message): number {
  switch (m.type) {
    case 'append': {
      let n = 64;
      for (const e of m.entries) n += entrySize(e);
      return n;
    }
    case 'snapshot':
      return 128 + m.chunk.length;
    default:
      return 64;
  }
}

export class PeerTransport {
  private readonly links = new Map<NodeId, PeerLink>();
  private closed = false;

  constructor(private readonly options: TransportOptions) {}

  /** Queues messages for their destinations; returns at once. */
  send(envelopes: readonly Envelope[]): void {
    if (this.closed) return;
    for (const env of envelopes) {
      const to = env.message.to;
      if (to === this.options.selfId) continue;
      let link = this.links.get(to);
      if (link === undefined) {
        link = new PeerLink(to, this.options);
        this.links.set(to, link);
      }
      link.enqueue(env);
    }
  }

  /** Closes the link to a member that left every group, so its stream and timers go away. */
  forget(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  /** Ids of members with an open link, and their state, for status pages. */
  linkStates(): Map<NodeId, { connected: boolean; queuedBytes: number; address: string | undefined }> {
    const out = new Map<NodeId, { connected: boolean; queuedBytes: number; address: string | undefined }>();
    for (const [id, link] of this.links) out.set(id, link.state());
    return out;
  }

  /** The server side: the `Send` handler to register with a grpc.Server. */
  service(): RaftTransportServiceServer {
    return {
      send: (call, callback) => {
        let batches = 0;
        const from = call.metadata.get('leviathan-from')[0];
        const fromAddress = call.metadata.get('leviathan-from-address')[0];
        if (typeof from === 'string' && typeof fromAddress === 'string') this.options.learn?.(from, fromAddress);
        call.on('data', (batch: RaftBatch) => {
          batches++;
          let envelopes: Envelope[];
          try {
            envelopes = fromProtoBatch(batch);
          } catch (err) {
            if (!(err instanceof CodecError)) throw err;
            this.options.logger.warn({ err: err.message, peer: call.getPeer() }, 'dropping an invalid Raft batch');
            return;
          }
          this.options.metrics?.received(envelopes.length);
          if (!this.closed) this.options.deliver(envelopes);
        });
        call.on('end', () => callback(null, { batchesReceived: batches }));
        call.on('error', () => {
          // The sender went away; it reconnects by itself.
        });
      },
    };
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}

/** One destination: a queue, and at most one open stream. */
class PeerLink {
  private queue: Envelope[] = [];
  private queuedBytes = 0;
  private client: InstanceType<typeof RaftTransportServiceClient> | null = null;
  private clientAddress: string | undefined;
  private stream: grpc.ClientWritableStream<RaftBatch> | null = null;
  private writable = true;
  private blockedSince = 0;
  private flushScheduled = false;
  private backoffTimer: NodeJS.Timeout | null = null;
  private backoff: number;
  private closed = false;
  private lastWarn = 0;

  constructor(
    private readonly id: NodeId,
    private readonly options: TransportOptions,
  ) {
    this.backoff = options.backoffMs?.initial ?? 50;
  }

  state(): { connected: boolean; queuedBytes: number; address: string | undefined } {
    return { connected: this.stream !== null, queuedBytes: this.queuedBytes, address: this.clientAddress };
  }

  enqueue(env: Envelope): void {
    if (this.closed) return;
    const size = messageSize(env.message);
    if (this.queuedBytes + size > (this.options.maxQueueBytes ?? 64 << 20)) {
      this.options.metrics?.dropped(this.id, 'queue-full', 1);
      this.stallCheck();
      return;
    }
    this.queue.push(env);
    this.queuedBytes += size;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    // setImmediate: everything the node produces in this turn of the event loop goes out as
    // one batch.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed || this.backoffTimer !== null || this.queue.length === 0) return;
    if (this.stream === null && !this.open()) return;
    const maxBatch = this.options.maxBatchBytes ?? 4 << 20;
    while (this.writable && this.stream !== null && this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length) {
        const size = messageSize((this.queue[n] as Envelope).message);
        if (n > 0 && bytes + size > maxBatch) break;
        bytes += size;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.queuedBytes -= bytes;
      const ok = this.stream.write({ messages: batch.map(toProtoEnvelope) });
      this.options.metrics?.sent(this.id, n, bytes);
      if (!ok) {
        // HTTP/2 flow control: wait for the peer to read before writing more.
        this.writable = false;
        this.blockedSince = Date.now();
        const stream = this.stream;
        stream.once('drain', () => {
          if (this.stream !== stream) return;
          this.writable = true;
          this.scheduleFlush();
        });
      }
    }
  }

  /** A link that has been flow-controlled for too long is reopened: the peer is stuck or gone. */
  private stallCheck(): void {
    if (this.writable || this.stream === null) return;
    if (Date.now() - this.blockedSince > (this.options.stallMs ?? 5_000)) {
      this.fail(new Error(`stream blocked for over ${this.options.stallMs ?? 5_000} ms`));
    }
  }

  private open(): boolean {
    const address = this.options.resolve(this.id);
    if (address === undefined) {
      this.options.metrics?.dropped(this.id, 'no-address', this.queue.length);
      this.dropQueue();
      this.warn({ peer: this.id }, 'no address known for peer; dropping its messages');
      return false;
    }
    if (this.client === null || this.clientAddress !== address) {
      this.client?.close();
      this.client = new RaftTransportServiceClient(address, grpc.credentials.createInsecure(), PEER_CHANNEL_OPTIONS);
      this.clientAddress = address;
    }
    const metadata = new grpc.Metadata();
    metadata.set('leviathan-from', this.options.selfId);
    metadata.set('leviathan-from-address', this.options.advertise);
    const stream = this.client.send(metadata, (err) => {
      if (this.stream === stream) this.fail(err ?? new Error('peer closed the stream'));
    });
    stream.on('error', (err: Error) => {
      if (this.stream === stream) this.fail(err);
    });
    // A peer that accepts the TCP connection but never answers the HTTP/2 handshake (a
    // partition that swallows packets, a hung process) leaves the channel CONNECTING for good:
    // grpc-js has no handshake timeout, and keepalive pings only run on established connections.
    // Give up after stallMs and dial again on a fresh channel.
    const connectMs = this.options.stallMs ?? 5_000;
    this.client.waitForReady(Date.now() + connectMs, (err) => {
      if (err && this.stream === stream) this.fail(new Error(`no connection within ${connectMs} ms`), true);
    });
    this.stream = stream;
    this.writable = true;
    return true;
  }

  /** Drops the stream and reconnects after a backoff; `redial` also discards the channel. */
  private fail(err: Error, redial = false): void {
    const stream = this.stream;
    this.stream = null;
    this.writable = true;
    if (stream !== null) {
      stream.removeAllListeners('drain');
      // A cancelled call's errors are expected and already handled.
      stream.on('error', () => undefined);
      stream.cancel();
    }
    if (redial) {
      this.client?.close();
      this.client = null;
    }
    if (this.closed) return;
    this.options.metrics?.dropped(this.id, 'disconnected', this.queue.length);
    this.dropQueue();
    this.options.metrics?.reconnect(this.id);
    this.warn({ peer: this.id, address: this.clientAddress, err: err.message }, 'peer stream failed; reconnecting');
    const max = this.options.backoffMs?.max ?? 2_000;
    // Full jitter: spreads the reconnects of many nodes after a shared failure.
    const delay = Math.round(this.backoff / 2 + (Math.random() * this.backoff) / 2);
    this.backoff = Math.min(max, this.backoff * 2);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      this.flush();
    }, delay);
    // Reset the backoff once a stream has carried traffic for a while.
    setTimeout(() => {
      if (this.stream !== null && this.writable) this.backoff = this.options.backoffMs?.initial ?? 50;
    }, delay + 1_000).unref();
  }

  private dropQueue(): void {
    this.queue = [];
    this.queuedBytes = 0;
  }

  /** At most one warning per second per peer: a dead peer must not flood the log. */
  private warn(fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.lastWarn < 1_000) return;
    this.lastWarn = now;
    this.options.logger.warn(fields, msg);
  }

  close(): void {
    this.closed = true;
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    const stream = this.stream;
    this.stream = null;
    if (stream !== null) {
      stream.on('error', () => undefined);
      stream.end();
    }
    this.client?.close();
    this.client = null;
    this.dropQueue();
  }
}
