/**
 * NATS JetStream behind the benchmark's QueueSystem, with the official Node client (`nats` 2.x):
 *
 *   queue      a stream with retention `workqueue`, storage `file`, 3 replicas, subjects
 *              <stream>.0 .. <stream>.<partitions-1> (the "partitions": one stream, as one
 *              Leviathan topic, and one Raft group for all of them where Leviathan has one per
 *              partition), and one durable pull consumer over all of them: explicit ack, ack
 *              wait 30 s (Leviathan's default visibility timeout), max_ack_pending = consumers ×
 *              window (what Leviathan's credits allow in total), replicas as the stream's.
 *   producer   js.publish, which resolves with the PubAck once the stream's leader stored the
 *              message on a majority: an acknowledged enqueue. Subjects round-robin.
 *   consumer   the durable consumer's consume() with max_messages = window (pulls refilled at
 *              nats.js's default threshold), at most `window` messages handed to the handler and
 *              not yet acked; each ack is `ackAck()` (the server confirms it, as Leviathan's Ack
 *              RPC does) or, with ackMode 'ack', the fire-and-forget `ack()` (confirmed by
 *              nobody; reported separately, not in the ratios).
 *
 * Client i connects to server i mod 3 only, each on its own connection; a server forwards
 * JetStream traffic to the stream's leader.
 */
import { AckPolicy, RetentionPolicy, StorageType, connect, nanos } from 'nats';
import type { JsMsg, NatsConnection } from 'nats';
import type { Consumer, Delivery, Producer, Queue, QueueSystem } from './queue-load.js';
import { pool, processCpuSeconds, sleep } from './queue-load.js';

const DURABLE = 'bench';
const TIMEOUT_MS = 10_000;

export class NatsQueues implements QueueSystem {
  readonly name: string;

  constructor(
    private readonly servers: string[],
    private readonly pids: () => number[],
    private readonly ackMode: 'ackAck' | 'ack' = 'ackAck',
    private readonly partitions = 3,
  ) {
    this.name = ackMode === 'ack' ? 'nats (plain ack)' : 'nats';
  }

  serverCpuSeconds(): number {
    return processCpuSeconds(this.pids());
  }

  async createQueue(cell: string, consumers: number, window: number): Promise<Queue> {
    const stream = `bench_${cell.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const nc = await connect({ servers: this.servers, timeout: TIMEOUT_MS });
    try {
      const jsm = await nc.jetstreamManager({ timeout: TIMEOUT_MS });
      await jsm.streams.add({
        name: stream,
        subjects: Array.from({ length: this.partitions }, (_, p) => `${stream}.${p}`),
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: 3,
      });
      await jsm.consumers.add(stream, {
        durable_name: DURABLE,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(30_000),
        max_ack_pending: consumers * window,
      });
      await waitCurrent(nc, stream);
    } finally {
      await nc.close();
    }
    return new NatsQueue(stream, this.servers, this.partitions, this.ackMode);
  }
}

/** Waits (up to 20 s) until the stream and its consumer have a leader and every replica is current. */
async function waitCurrent(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await nc.jetstreamManager({ timeout: TIMEOUT_MS });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const s = await jsm.streams.info(stream);
      const c = await jsm.consumers.info(stream, DURABLE);
      const ready = (cl: typeof s.cluster): boolean => cl?.leader !== undefined && (cl.replicas ?? []).length === 2 && (cl.replicas ?? []).every((r) => r.current);
      if (ready(s.cluster) && ready(c.cluster)) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) {
      console.error(`  nats: ${stream} not fully replicated after 20 s; measuring anyway`);
      return;
    }
    await sleep(200);
  }
}

class NatsQueue implements Queue {
  private next = 0;

  constructor(
    private readonly stream: string,
    private readonly servers: string[],
    private readonly partitions: number,
    private readonly ackMode: 'ackAck' | 'ack',
  ) {}

  private connect(i: number): Promise<NatsConnection> {
    return connect({ servers: this.servers[i % this.servers.length], noRandomize: true, timeout: TIMEOUT_MS });
  }

  private subject(): string {
    return `${this.stream}.${this.next++ % this.partitions}`;
  }

  async producer(i: number): Promise<Producer> {
    const nc = await this.connect(i);
    const js = nc.jetstream({ timeout: TIMEOUT_MS });
    return {
      send: async (payload) => {
        await js.publish(this.subject(), payload);
      },
      close: () => nc.close(),
    };
  }

  async consumer(i: number, window: number, handle: (d: Delivery) => Promise<void>): Promise<Consumer> {
    const nc = await this.connect(i);
    const js = nc.jetstream({ timeout: TIMEOUT_MS });
    const consumer = await js.consumers.get(this.stream, DURABLE);
    const pending = new Set<Promise<void>>();
    let wake: (() => void) | null = null;
    let closed = false;
    let messages: Awaited<ReturnType<typeof consumer.consume>> | null = null;
    let loop: Promise<void> = Promise.resolve();
    const ackAck = this.ackMode === 'ackAck';
    const run = async (): Promise<void> => {
      const it = await consumer.consume({ max_messages: window });
      messages = it;
      if (closed) it.stop(); // closed while the pull was being set up
      for await (const m of it) {
        const d: Delivery = {
          payload: m.data,
          ack: async () => {
            if (ackAck) await confirmAck(m);
            else m.ack();
          },
        };
        const h: Promise<void> = handle(d).finally(() => {
          pending.delete(h);
          wake?.();
        });
        pending.add(h);
        // The iterator is not read further (and so nothing more is pulled) while `window`
        // messages are being handled.
        while (pending.size >= window && !closed) await new Promise<void>((r) => (wake = r));
        if (closed) break;
      }
    };
    return {
      start: () => {
        loop = run();
      },
      close: async () => {
        closed = true;
        wake?.();
        (messages as { stop(): void } | null)?.stop();
        await loop.catch(() => undefined);
        await Promise.allSettled([...pending]);
        await nc.close();
      },
    };
  }

  async prefill(n: number, payload: () => Uint8Array): Promise<void> {
    const conns = await Promise.all(this.servers.map((_, i) => this.connect(i)));
    try {
      const jss = conns.map((nc) => nc.jetstream({ timeout: TIMEOUT_MS }));
      await pool(n, 64, async (k) => {
        await (jss[k % jss.length] as ReturnType<NatsConnection['jetstream']>).publish(this.subject(), payload());
      });
    } finally {
      await Promise.all(conns.map((nc) => nc.close()));
    }
  }

  async delete(): Promise<void> {
    const nc = await this.connect(0);
    try {
      const jsm = await nc.jetstreamManager({ timeout: TIMEOUT_MS });
      await jsm.streams.delete(this.stream);
    } finally {
      await nc.close();
    }
  }
}

async function confirmAck(m: JsMsg): Promise<void> {
  if (!(await m.ackAck({ timeout: TIMEOUT_MS }))) throw new Error('ackAck: the server did not confirm the ack');
}
