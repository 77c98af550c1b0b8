/**
 * The load generator of the topic benchmark: one set of workloads, run against any work queue
 * behind the small `QueueSystem` interface (Leviathan topics in leviathan-queue.ts, NATS
 * JetStream work-queue streams in nats-queue.ts), so both systems get exactly the same load.
 *
 * Every cell gets a fresh queue (a new topic / stream, deleted afterwards), runs `warmupSeconds`
 * unmeasured, then `seconds` measured; an operation counts if it completes inside the measured
 * window. Payloads are 128 bytes whose first 8 hold the send time (performance.now(): producers
 * and consumers share this process's clock).
 *
 *   enqueue    C producers, each with one enqueue outstanding; latency = enqueue call to the
 *              system's acknowledgement (replicated, durable as the system defines it).
 *   pop+ack    C consumers over a prefilled backlog, each with at most `window` messages
 *              delivered and not yet acked (flow control), acking every message and waiting for
 *              the ack's confirmation; throughput = confirmed acks/s, latency = receipt to ack
 *              confirmed. The warm-up ends early once a tenth of the backlog is acked, and the
 *              window ends early when the backlog is empty (the window's length is reported), so
 *              a consumer faster than the backlog was sized for is still measured, briefly.
 *   end-to-end C producers and C consumers at once on an empty queue; throughput = messages
 *              received/s, latency = enqueue call to the consumer's receipt (the consumer acks
 *              each, as above, outside the latency).
 */

import { readFileSync } from 'node:fs';

export const PAYLOAD_BYTES = 128;

export interface Producer {
  /** Enqueues one message; resolves once the system acknowledged it. */
  send(payload: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface Consumer {
  /** Starts receiving (all of a cell's consumers are set up first, then started together). */
  start(): void;
  /** Stops receiving, waits for the acks in flight; messages delivered and not acked are left to the system. */
  close(): Promise<void>;
}

/** A message as a consumer sees it: `ack` resolves once the system confirmed the ack. */
export interface Delivery {
  readonly payload: Uint8Array;
  ack(): Promise<void>;
}

/** One fresh queue, for one cell. */
export interface Queue {
  producer(i: number): Promise<Producer>;
  /**
   * Sets up consumer i (connection and all); once started, `handle` is called for every message,
   * and at most `window` messages are delivered to it whose `handle` has not resolved yet.
   */
  consumer(i: number, window: number, handle: (d: Delivery) => Promise<void>): Promise<Consumer>;
  /** Enqueues `n` messages as fast as the system takes them (not measured). */
  prefill(n: number, payload: () => Uint8Array): Promise<void>;
  delete(): Promise<void>;
}

export interface QueueSystem {
  readonly name: string;
  /** CPU seconds (user + system) the system's server processes have used so far; NaN if unknown. */
  serverCpuSeconds(): number;
  /** A fresh queue; `consumers` × `window` is what the cell may hold unacked at once. */
  createQueue(cell: string, consumers: number, window: number): Promise<Queue>;
}

export type WorkloadKind = 'enqueue' | 'pop+ack' | 'end-to-end';

export interface CellOptions {
  kind: WorkloadKind;
  clients: number;
  seconds: number;
  warmupSeconds: number;
  /** Unacked messages per consumer. */
  window: number;
  /** pop+ack: messages enqueued before the cell. */
  prefill?: number;
}

export interface CellResult {
  kind: WorkloadKind;
  clients: number;
  /** Operations counted in the measured window (enqueues, confirmed acks, receipts). */
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string;
  /** pop+ack: the backlog ran out this many seconds into the measured window. */
  drainedAfter?: number;
  /** Server CPU time (all nodes, user + system) per counted operation above the idle rate, in microseconds. */
  serverCpuUsPerOp: number;
}

/** CPU seconds (user + system) used so far by the given Linux processes; NaN elsewhere. */
export function processCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  try {
    for (const pid of pids) {
      // After "pid (comm) " come state (field 3), ..., utime (14) and stime (15).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    }
  } catch {
    return NaN;
  }
  return ticks / CLOCK_TICKS;
}

/** USER_HZ: the unit of /proc/<pid>/stat times (100 on every common Linux). */
const CLOCK_TICKS = 100;

export function makePayload(): Uint8Array {
  const b = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  b.writeDoubleLE(performance.now(), 0);
  return b;
}

export function sentAt(payload: Uint8Array): number {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).readDoubleLE(0);
}

/** Runs one cell on a fresh queue of `system` and deletes the queue afterwards. */
export async function runCell(system: QueueSystem, o: CellOptions): Promise<CellResult> {
  const cell = `${o.kind === 'pop+ack' ? 'popack' : o.kind === 'end-to-end' ? 'e2e' : 'enqueue'}-${o.clients}-${Date.now().toString(36)}`;
  const queue = await system.createQueue(cell, o.clients, o.window);
  try {
    // The servers' CPU rate with the queue in place and no load (heartbeats, timers), subtracted
    // from the window's so that a slow system is not charged its idle time per message.
    const idle0 = system.serverCpuSeconds();
    const t0 = performance.now();
    await sleep(IDLE_PROBE_MS);
    const idleRate = (system.serverCpuSeconds() - idle0) / ((performance.now() - t0) / 1000);
    if (o.kind === 'pop+ack' && (o.prefill ?? 0) > 0) await queue.prefill(o.prefill as number, makePayload);
    return await measure(queue, o, () => system.serverCpuSeconds(), idleRate);
  } finally {
    await queue.delete().catch((err: unknown) => console.error(`  ${system.name}: deleting the queue of ${cell} failed: ${(err as Error).message}`));
  }
}

const IDLE_PROBE_MS = 1500;

async function measure(queue: Queue, o: CellOptions, serverCpu: () => number, idleCpuRate: number): Promise<CellResult> {
  const latencies: number[] = [];
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stop = false;
  let measuring = false;
  let windowStart = 0;
  let drainedAt: number | undefined;
  const fail = (err: unknown): void => {
    if (measuring) errors++;
    firstError ??= err instanceof Error ? err.message : String(err);
  };

  const producers: Producer[] = [];
  const consumers: Consumer[] = [];
  const loops: Promise<void>[] = [];
  let inflight = 0;
  let acked = 0;

  if (o.kind !== 'enqueue') {
    const handle = async (d: Delivery): Promise<void> => {
      inflight++;
      const received = performance.now();
      try {
        if (o.kind === 'end-to-end' && measuring) {
          latencies.push(received - sentAt(d.payload));
          ops++;
        }
        await d.ack();
        acked++;
        if (o.kind === 'pop+ack') {
          // Acks confirmed inside the window count, as enqueues do (whenever they were sent).
          if (measuring) {
            latencies.push(performance.now() - received);
            ops++;
          }
          if (acked === o.prefill && drainedAt === undefined) drainedAt = performance.now();
        }
      } catch (err) {
        fail(err);
      } finally {
        inflight--;
      }
    };
    consumers.push(...(await Promise.all(Array.from({ length: o.clients }, (_, i) => queue.consumer(i, o.window, handle)))));
  }
  if (o.kind !== 'pop+ack') producers.push(...(await Promise.all(Array.from({ length: o.clients }, (_, i) => queue.producer(i)))));
  for (const c of consumers) c.start();
  if (o.kind !== 'pop+ack') {
    for (const p of producers) {
      loops.push(
        (async () => {
          while (!stop) {
            const t0 = performance.now();
            try {
              await p.send(makePayload());
              if (measuring && o.kind === 'enqueue') {
                latencies.push(performance.now() - t0);
                ops++;
              }
            } catch (err) {
              fail(err);
              if (!measuring) await sleep(10); // don't spin on a queue that is not ready
            }
          }
        })(),
      );
    }
  }

  // pop+ack: the warm-up also ends once a tenth of the backlog is acked, so that a fast consumer
  // still has most of it left to measure.
  const warmupEnd = performance.now() + o.warmupSeconds * 1000;
  while (performance.now() < warmupEnd && !(o.kind === 'pop+ack' && acked >= (o.prefill ?? 0) / 10)) await sleep(Math.min(20, warmupEnd - performance.now()));
  measuring = true;
  windowStart = performance.now();
  const cpuStart = serverCpu();
  // pop+ack: end the window early if the backlog runs out.
  const until = windowStart + o.seconds * 1000;
  while (performance.now() < until && drainedAt === undefined) await sleep(Math.min(50, until - performance.now()));
  measuring = false;
  const cpuEnd = serverCpu();
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const windowEnd = Math.min(performance.now(), drainedAt ?? Infinity);
  stop = true;

  await Promise.all(loops);
  await Promise.all(consumers.map((c) => c.close()));
  // Let acks already sent finish before the queue goes away.
  const deadline = Date.now() + 10_000;
  while (inflight > 0 && Date.now() < deadline) await sleep(20);
  await Promise.all(producers.map((p) => p.close()));

  const seconds = Math.max(1e-3, (windowEnd - windowStart) / 1000);
  latencies.sort((a, b) => a - b);
  const r: CellResult = {
    kind: o.kind,
    clients: o.clients,
    ops,
    seconds,
    opsPerSec: ops / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
    serverCpuUsPerOp: ops === 0 ? NaN : (Math.max(0, cpuEnd - cpuStart - idleCpuRate * windowSeconds) * 1e6) / ops,
  };
  if (firstError !== undefined) r.firstError = firstError;
  if (drainedAt !== undefined && drainedAt < until) r.drainedAfter = Math.max(0, (drainedAt - windowStart) / 1000);
  return r;
}

export function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

/** Runs `task` for every i in [0, n) with at most `concurrency` at once. */
export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
