/**
 * A TCP proxy that injects network faults, for integration tests of an engine cluster on loopback.
 *
 * Each peer is given the proxy's address instead of the real one; peers speak gRPC over HTTP/2,
 * which the proxy never parses: it moves bytes. Its mode can change at any time:
 *
 * - `pass()`      forward bytes both ways (the default);
 * - `delay(ms)`   forward with `ms` of added one-way latency in each direction;
 * - `blackhole()` a partition: open connections are cut, new ones are accepted but nothing is ever
 *                 forwarded or answered, so clients hang until their own deadlines or keepalives;
 * - `refuse()`    open connections are cut, new ones are reset as soon as they are accepted.
 *
 * Connections cut or hung by a fault stay dead when the mode goes back to `pass()`, as after a real
 * partition: the application has to notice and reconnect. Only new connections are forwarded again.
 *
 * Differences from a real network worth knowing when reading a test's timings:
 * - The client's TCP handshake always completes (the kernel accepts before we see the connection),
 *   so `refuse()` shows up as ECONNRESET (or EOF) right after connecting, not ECONNREFUSED, and
 *   `blackhole()` connects fine and then goes silent rather than hanging in SYN.
 * - Under `blackhole()` our kernel still ACKs what the client sends, so TCP retransmission timeouts
 *   (and TCP_USER_TIMEOUT) never fire: only application-level timeouts and keepalives (HTTP/2 PING)
 *   detect the partition. gRPC keepalive must be on for a peer to notice a hung connection.
 * - `delay(ms)` delays data, not the TCP handshake, and the added round trip is 2 * ms.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** What the proxy currently does with traffic. `delay` is `pass` with added latency. */
export type FaultMode = 'pass' | 'delay' | 'blackhole' | 'refuse';

export interface FaultProxyStats {
  /** TCP connections the listener accepted, whatever the mode (refused and blackholed included). */
  readonly connectionsAccepted: number;
  /** Connections currently held open: forwarded pairs plus hung (blackholed) client sockets. */
  readonly connectionsOpen: number;
  /** Bytes handed to the target, i.e. client -> target. */
  readonly bytesToTarget: number;
  /** Bytes handed back to clients, i.e. target -> client. */
  readonly bytesFromTarget: number;
}

/**
 * Past this many bytes waiting in one direction's delay queue, the source socket is paused until
 * the queue drains, so a fast sender cannot make the proxy buffer without bound.
 */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * Tear a socket down abortively. A cut made by a fault is not a graceful shutdown, so peers get a
 * RST (ECONNRESET) rather than a FIN that could pass for an orderly close.
 */
function cut(socket: Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() on a socket still connecting would wait for the connection to complete
  // before resetting it; there is nothing to reset yet, so just destroy.
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** One queued item: a chunk of data, or `null` for the sender's end of stream (FIN). */
interface Queued {
  readonly dueAt: number;
  readonly chunk: Buffer | null;
}

/**
 * One direction of a forwarded connection. Chunks (and the final FIN) go through a FIFO queue,
 * each stamped with the time it may be delivered; a single timer per direction waits for the head
 * of the queue. Delivery times never decrease along the queue, so bytes stay in order even when
 * the delay changes mid-connection (including back to 0). With no delay and an empty queue,
 * chunks are written straight through without touching a timer.
 */
class Pipe {
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private lastDueAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private disposed = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly currentDelayMs: () => number,
    private readonly onForwarded: (bytes: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.push(null));
    to.on('drain', () => this.updateFlow());
  }

  /** Drop whatever is queued and stop forwarding (the connection is being torn down). */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
  }

  private push(chunk: Buffer | null): void {
    if (this.disposed) return;
    const delay = this.currentDelayMs();
    if (delay <= 0 && this.queue.length === 0) {
      this.deliver(chunk);
    } else {
      const dueAt = Math.max(performance.now() + delay, this.lastDueAt);
      this.lastDueAt = dueAt;
      this.queue.push({ dueAt, chunk });
      if (chunk !== null) this.queuedBytes += chunk.length;
      this.schedule();
    }
    this.updateFlow();
  }

  /** Arm the timer for the head of the queue, unless it is armed already. */
  private schedule(): void {
    if (this.timer !== undefined) return;
    const head = this.queue[0];
    if (head === undefined) return;
    // Timers have millisecond granularity and may fire a fraction early: flush() re-arms if so.
    const wait = Math.max(1, Math.ceil(head.dueAt - performance.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  /** Deliver every item that is due, then wait for the next one. */
  private flush(): void {
    if (this.disposed) return;
    const now = performance.now();
    let delivered = 0;
    while (delivered < this.queue.length && (this.queue[delivered] as Queued).dueAt <= now) {
      const item = this.queue[delivered] as Queued;
      if (item.chunk !== null) this.queuedBytes -= item.chunk.length;
      this.deliver(item.chunk);
      delivered++;
    }
    if (delivered > 0) this.queue.splice(0, delivered);
    this.schedule();
    this.updateFlow();
  }

  private deliver(chunk: Buffer | null): void {
    if (this.to.destroyed) return;
    if (chunk === null) {
      this.to.end();
    } else {
      this.to.write(chunk);
      this.onForwarded(chunk.length);
    }
  }

  /** Backpressure: pause the sender while the receiver's buffer or our delay queue is too full. */
  private updateFlow(): void {
    if (this.disposed || this.from.destroyed) return;
    const shouldPause = this.queuedBytes > MAX_QUEUED_BYTES || this.to.writableNeedDrain;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.from.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.from.resume();
    }
  }
}

/** A forwarded connection: the accepted client socket, its socket to the target, both directions. */
class Link {
  private readonly pipes: Pipe[];

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    proxy: { delayMs: () => number; countToTarget: (n: number) => void; countFromTarget: (n: number) => void },
    onGone: (link: Link) => void,
  ) {
    this.pipes = [
      new Pipe(client, upstream, proxy.delayMs, proxy.countToTarget),
      new Pipe(upstream, client, proxy.delayMs, proxy.countFromTarget),
    ];
    let closed = 0;
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      // Errors are expected (resets, refused upstream); 'close' below handles them.
      socket.on('error', () => {});
      socket.on('close', (hadError) => {
        // A broken side breaks the whole connection, and the other side hears a reset. After a
        // clean close (FIN both ways) the other side closes by itself once its queued bytes and
        // FIN are delivered, so leave it alone.
        if (hadError) this.cut();
        if (++closed === 2) onGone(this);
      });
    }
  }

  /** Cut both sides now, dropping anything still queued. */
  cut(): void {
    for (const pipe of this.pipes) pipe.dispose();
    cut(this.client);
    cut(this.upstream);
  }
}

export class FaultProxy {
  /** The port the proxy listens on. */
  readonly port: number;
  /** `host:port` to hand to clients in place of the target's address. */
  readonly address: string;

  private currentMode: FaultMode = 'pass';
  private delayMs = 0;
  private readonly links = new Set<Link>();
  /** Client sockets accepted under blackhole(): read and discarded, never answered. */
  private readonly hung = new Set<Socket>();
  private accepted = 0;
  private bytesToTarget = 0;
  private bytesFromTarget = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { readonly host: string; readonly port: number },
    host: string,
    port: number,
  ) {
    this.port = port;
    this.address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    server.on('connection', (socket) => this.onConnection(socket));
    // Errors on accepted sockets are handled per socket; a listener error after startup (e.g.
    // EMFILE) must not crash the test process, and connections simply fail.
    server.on('error', () => {});
  }

  /**
   * Start a proxy in front of `target`, listening on `listen` (default 127.0.0.1, any free port).
   * Resolves once listening.
   */
  static async start(target: { host: string; port: number }, listen?: { host?: string; port?: number }): Promise<FaultProxy> {
    const host = listen?.host ?? '127.0.0.1';
    // allowHalfOpen: a client's FIN is forwarded as a FIN, not answered by closing its connection.
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: listen?.port ?? 0 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    if (bound === null || typeof bound === 'string') throw new Error('fault proxy: listener has no TCP address');
    return new FaultProxy(server, { host: target.host, port: target.port }, host, bound.port);
  }

  /** The current mode. */
  get mode(): FaultMode {
    return this.currentMode;
  }

  /** Forward bytes both ways with no added latency. Connections cut or hung earlier stay dead. */
  pass(): void {
    this.currentMode = 'pass';
    this.delayMs = 0;
  }

  /**
   * Forward with `ms` of added one-way latency in each direction (so round trips gain 2 * ms).
   * Applies to open connections too, from their next chunk on; byte order is always preserved.
   */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`fault proxy: delay must be a finite number >= 0, got ${ms}`);
    this.currentMode = 'delay';
    this.delayMs = ms;
  }

  /**
   * Partition: cut every open connection now; accept new ones but never forward nor answer
   * anything on them (data received is discarded). They stay hung even after `pass()`.
   */
  blackhole(): void {
    this.currentMode = 'blackhole';
    this.cutLinks();
  }

  /** Cut every open connection (hung ones included) and reset new ones as soon as they arrive. */
  refuse(): void {
    this.currentMode = 'refuse';
    this.cutLinks();
    for (const socket of this.hung) cut(socket);
  }

  /** Counters since start. */
  stats(): FaultProxyStats {
    return {
      connectionsAccepted: this.accepted,
      connectionsOpen: this.links.size + this.hung.size,
      bytesToTarget: this.bytesToTarget,
      bytesFromTarget: this.bytesFromTarget,
    };
  }

  /** Stop listening and destroy every connection. Resolves once the listener is closed. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      // server.close() waits for accepted connections to end, so end them first.
      this.server.close(() => resolve());
      this.cutLinks();
      for (const socket of this.hung) cut(socket);
    });
    return this.closing;
  }

  private cutLinks(): void {
    for (const link of this.links) link.cut();
  }

  private onConnection(client: Socket): void {
    this.accepted++;
    if (this.closing !== undefined) {
      cut(client);
      return;
    }
    switch (this.currentMode) {
      case 'refuse':
        client.on('error', () => {});
        cut(client);
        return;
      case 'blackhole':
        this.hung.add(client);
        client.on('error', () => {});
        client.on('close', () => this.hung.delete(client));
        // Keep reading so the client never sees a full window, and throw the data away.
        client.on('data', () => {});
        return;
      case 'pass':
      case 'delay': {
        const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
        const link = new Link(
          client,
          upstream,
          {
            delayMs: () => this.delayMs,
            countToTarget: (n) => (this.bytesToTarget += n),
            countFromTarget: (n) => (this.bytesFromTarget += n),
          },
          (gone) => this.links.delete(gone),
        );
        this.links.add(link);
        return;
      }
    }
  }
}
