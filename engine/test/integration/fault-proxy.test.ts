/**
 * FaultProxy against a real TCP echo server on 127.0.0.1: every mode, switching between them,
 * and the counters.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.js';

/** An echo server that remembers its sockets so that it can be closed promptly. */
async function startEcho(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client socket plus what happened to it, so that tests can await outcomes. */
interface Client {
  readonly socket: Socket;
  received: Buffer;
  /** Set once the socket has closed, with the error code if it failed (e.g. ECONNRESET). */
  ended: { error: string | undefined } | undefined;
  /** Resolves when the socket closes. */
  readonly closed: Promise<void>;
}

const clients: Client[] = [];

/** Connect to `port`; resolves once the TCP handshake is done. */
async function connect(port: number): Promise<Client> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let onClose: () => void = () => {};
  const client: Client = {
    socket,
    received: Buffer.alloc(0),
    ended: undefined,
    closed: new Promise<void>((resolve) => (onClose = resolve)),
  };
  clients.push(client);
  let error: string | undefined;
  socket.on('data', (chunk: Buffer) => (client.received = Buffer.concat([client.received, chunk])));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  socket.on('close', () => {
    client.ended = { error };
    onClose();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return client;
}

/** Resolves true once `client` has received at least `bytes` bytes in total, false after `timeoutMs`. */
async function waitForBytes(client: Client, bytes: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (client.received.length < bytes) {
    if (client.ended !== undefined || performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

/** Resolves true if `client` closes within `timeoutMs`. */
async function closesWithin(client: Client, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const result = await Promise.race([client.closed.then(() => true as const), timedOut]);
  clearTimeout(timer);
  return result;
}

/** Send `text` and wait for it to come back; returns the elapsed round trip in ms. */
async function echo(client: Client, text: string, timeoutMs = 2000): Promise<number> {
  const before = client.received.length;
  const start = performance.now();
  client.socket.write(text);
  const ok = await waitForBytes(client, before + Buffer.byteLength(text), timeoutMs);
  expect(ok, `echo of ${JSON.stringify(text)}`).toBe(true);
  expect(client.received.subarray(before).toString()).toBe(text);
  return performance.now() - start;
}

describe('FaultProxy', () => {
  let server: Awaited<ReturnType<typeof startEcho>>;
  let proxy: FaultProxy;

  beforeEach(async () => {
    server = await startEcho();
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: server.port });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await proxy.close();
    await server.close();
  });

  it('listens on 127.0.0.1 and forwards both ways in pass mode', async () => {
    expect(proxy.port).toBeGreaterThan(0);
    expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
    expect(proxy.mode).toBe('pass');
    const c = await connect(proxy.port);
    await echo(c, 'hello');
    await echo(c, 'world');
  });

  it('forwards half-closes: a client FIN reaches the target and the target FIN comes back', async () => {
    const c = await connect(proxy.port);
    c.socket.end('bye');
    expect(await closesWithin(c, 1000)).toBe(true);
    expect(c.received.toString()).toBe('bye');
    expect(c.ended?.error).toBeUndefined();
  });

  it('delay adds at least the delay in each direction and keeps byte order', async () => {
    const c = await connect(proxy.port);
    const baseline = await echo(c, 'warm-up');
    proxy.delay(100);
    expect(proxy.mode).toBe('delay');
    const delayed = await echo(c, 'slow');
    // One-way 100 ms each way: at least 200 ms per round trip (1 ms slack for clock granularity).
    expect(delayed).toBeGreaterThanOrEqual(199);
    expect(delayed).toBeLessThan(baseline + 1500);

    // Many small writes spread over time, with the delay dropping to 0 midway: order holds.
    const parts = Array.from({ length: 50 }, (_, i) => `<${i}>`);
    const before = c.received.length;
    for (const [i, p] of parts.entries()) {
      c.socket.write(p);
      if (i === 25) proxy.pass();
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const expected = parts.join('');
    expect(await waitForBytes(c, before + expected.length, 2000)).toBe(true);
    expect(c.received.subarray(before).toString()).toBe(expected);
  });

  it('blackhole cuts open connections and silently swallows new ones', async () => {
    const open = await connect(proxy.port);
    await echo(open, 'before');
    proxy.blackhole();
    expect(proxy.mode).toBe('blackhole');
    expect(await closesWithin(open, 1000)).toBe(true);

    const toTarget = proxy.stats().bytesToTarget;
    const c = await connect(proxy.port); // the handshake completes...
    c.socket.write('anyone there?');
    expect(await waitForBytes(c, 1, 300)).toBe(false); // ...but nothing comes back,
    expect(c.ended).toBeUndefined(); // and the connection just hangs.
    expect(proxy.stats().bytesToTarget).toBe(toTarget);
  });

  it('refuse cuts open connections and resets new ones at once', async () => {
    const open = await connect(proxy.port);
    await echo(open, 'before');
    proxy.refuse();
    expect(proxy.mode).toBe('refuse');
    expect(await closesWithin(open, 1000)).toBe(true);

    // The handshake may complete before the reset arrives; either way the socket dies quickly.
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    const start = performance.now();
    const outcome = await new Promise<string>((resolve) => {
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      socket.on('close', () => resolve('close'));
      socket.on('data', () => resolve('data'));
    });
    socket.destroy();
    expect(outcome).not.toBe('data');
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('back to pass: new connections work, connections hung by the blackhole stay dead', async () => {
    proxy.blackhole();
    const hung = await connect(proxy.port);
    hung.socket.write('lost');
    proxy.refuse();
    proxy.blackhole();
    const hung2 = await connect(proxy.port);
    proxy.pass();
    expect(proxy.mode).toBe('pass');

    const fresh = await connect(proxy.port);
    await echo(fresh, 'back');
    hung2.socket.write('still lost');
    expect(await waitForBytes(hung2, 1, 200)).toBe(false);
    // refuse() cut the first hung connection.
    expect(hung.ended).toBeDefined();
  });

  it('resets the client when the target is down', async () => {
    await server.close();
    const c = await connect(proxy.port);
    expect(await closesWithin(c, 1000)).toBe(true);
    expect(c.received.length).toBe(0);
  });

  it('counts connections and bytes each way', async () => {
    expect(proxy.stats()).toEqual({ connectionsAccepted: 0, connectionsOpen: 0, bytesToTarget: 0, bytesFromTarget: 0 });
    const a = await connect(proxy.port);
    await echo(a, '12345');
    const b = await connect(proxy.port);
    await echo(b, 'abc');
    expect(proxy.stats()).toMatchObject({ connectionsAccepted: 2, bytesToTarget: 8, bytesFromTarget: 8 });

    proxy.blackhole();
    const c = await connect(proxy.port);
    c.socket.write('dropped');
    await new Promise((r) => setTimeout(r, 50));
    proxy.refuse();
    const d = net.connect({ host: '127.0.0.1', port: proxy.port });
    d.on('error', () => {});
    await new Promise((r) => d.on('close', r));
    const s = proxy.stats();
    expect(s).toMatchObject({ connectionsAccepted: 4, bytesToTarget: 8, bytesFromTarget: 8 });
    // Everything was cut: nothing is left open once the close events have run.
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.stats().connectionsOpen).toBe(0);
  });

  it('close stops listening and destroys open connections', async () => {
    const c = await connect(proxy.port);
    await echo(c, 'x');
    proxy.delay(50);
    c.socket.write('queued when closing');
    await proxy.close();
    await proxy.close(); // idempotent
    expect(await closesWithin(c, 1000)).toBe(true);
    await expect(connect(proxy.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
