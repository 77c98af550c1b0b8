/**
 * Leviathan topics behind the benchmark's QueueSystem, through the Disheap gRPC API with the
 * generated client (what a Disheap client would use):
 *
 *   queue      MakeHeap: MIN mode, `partitions` partitions (default 3), replication_factor 3,
 *              everything else at its default (visibility timeout 30 s, no DLQ); the cell waits
 *              until every partition has a leader on its preferred replica (the leaders the
 *              runtime balances to), so no leadership hand-over lands in the window.
 *   producer   unary Enqueue, priority 0, no partition key (the server spreads messages round-
 *              robin over partitions), 10 s deadline.
 *   consumer   one PopStream: PopFilter for the topic (all partitions), `window` credits up
 *              front, then credits back in batches of window/4 as acks complete (so at most
 *              `window` messages leased and not yet acked, like a NATS pull consumer's batch
 *              refilled at its threshold); each message is acked with a unary Ack, which is a
 *              replicated entry on the partition's Raft group.
 *
 * Client i talks to node i mod 3, each over its own connection (a local subchannel pool), as
 * the NATS clients do; a node forwards what it does not lead to the partition's leader.
 */
import * as grpc from '@grpc/grpc-js';
import { DisheapClient, Mode } from '../../src/gen/disheap/v1/disheap.js';
import type { EnqueueReq, PopItem, PopOpen, StatsResp } from '../../src/gen/disheap/v1/disheap.js';
import type { Consumer, Delivery, Producer, Queue, QueueSystem } from './queue-load.js';
import { pool, processCpuSeconds, sleep } from './queue-load.js';

const DEADLINE_MS = 10_000;

function newClient(address: string): DisheapClient {
  return new DisheapClient(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

/** Calls a unary method with a deadline; `start` passes the callback to the generated client. */
function unary<Res>(what: string, start: (md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => {
    start(new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(new Error(`${what}: ${err.details || err.message}`)) : resolve(res)));
  });
}

function enqueue(client: DisheapClient, topic: string, payload: Uint8Array): Promise<unknown> {
  const req: EnqueueReq = { topic, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), priority: 0n };
  return unary('Enqueue', (md, o, cb) => client.enqueue(req, md, o, cb));
}

export class LeviathanQueues implements QueueSystem {
  readonly name = 'leviathan';

  constructor(
    private readonly addresses: string[],
    private readonly pids: () => number[],
    private readonly partitions = 3,
  ) {}

  serverCpuSeconds(): number {
    return processCpuSeconds(this.pids());
  }

  async createQueue(cell: string): Promise<Queue> {
    const topic = `bench-${cell}`;
    const admin = newClient(this.addresses[0] as string);
    try {
      const req = { topic, mode: Mode.MIN, partitions: this.partitions, replicationFactor: 3, topKBound: 0, maxRetriesDefault: 0, maxPayloadBytes: 0n, compressionEnabled: false };
      await unary('MakeHeap', (md, o, cb) => admin.makeHeap(req, md, o, cb));
      await waitBalanced(admin, topic, this.partitions);
    } finally {
      admin.close();
    }
    return new LeviathanQueue(topic, this.addresses);
  }
}

/** Waits (up to 20 s) until every partition answers and is led by its preferred replica. */
async function waitBalanced(admin: DisheapClient, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = 'no answer';
  for (;;) {
    try {
      const s = await unary<StatsResp>('Stats', (md, o, cb) => admin.stats({ topic }, md, o, cb));
      const ps = Object.values(s.topicStats[topic]?.partitionStats ?? {});
      const ok = ps.length === partitions && ps.every((p) => p.isHealthy && p.leaderNode !== '' && p.leaderNode === p.replicaNodes[0]);
      if (ok) return;
      last = ps.map((p) => `p${p.partitionId}: leader ${p.leaderNode || 'none'}, preferred ${p.replicaNodes[0] ?? '?'}`).join('; ');
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      console.error(`  leviathan: ${topic} not balanced after 20 s (${last}); measuring anyway`);
      return;
    }
    await sleep(200);
  }
}

class LeviathanQueue implements Queue {
  constructor(
    private readonly topic: string,
    private readonly addresses: string[],
  ) {}

  private address(i: number): string {
    return this.addresses[i % this.addresses.length] as string;
  }

  async producer(i: number): Promise<Producer> {
    const client = newClient(this.address(i));
    const topic = this.topic;
    return {
      send: async (payload) => {
        await enqueue(client, topic, payload);
      },
      close: async () => client.close(),
    };
  }

  async consumer(i: number, window: number, handle: (d: Delivery) => Promise<void>): Promise<Consumer> {
    const client = newClient(this.address(i));
    const topic = this.topic;
    const pending = new Set<Promise<void>>();
    const refill = Math.max(1, Math.floor(window / 4));
    let closed = false;
    let call: grpc.ClientDuplexStream<PopOpen, PopItem> | undefined;
    let owed = 0; // acks done whose credit has not been given back yet
    const send = (m: PopOpen): void => {
      if (!closed) call?.write(m);
    };
    // A stream that fails (e.g. its connection dropped) is reopened, as a real consumer would,
    // with credits for what it is not still handling; leases of the old one run out by themselves.
    const open = (): void => {
      const c = client.popStream();
      call = c;
      owed = 0;
      c.on('data', (item: PopItem) => {
        const d: Delivery = {
          payload: item.payload,
          ack: async () => {
            const req = { topic, messageId: item.messageId, leaseToken: item.leaseToken };
            await unary('Ack', (md, o, cb) => client.ack(req, md, o, cb));
          },
        };
        const h = handle(d).finally(() => {
          pending.delete(h);
          if (call !== c) return;
          owed++;
          if (owed >= refill) {
            send({ kind: { $case: 'flowControl', value: { credits: owed } } });
            owed = 0;
          }
        });
        pending.add(h);
      });
      c.on('error', (err: grpc.ServiceError) => {
        if (closed || call !== c) return;
        console.error(`  leviathan: consumer ${i}: PopStream failed (${err.details || err.message}); reopening`);
        setTimeout(() => {
          if (!closed) open();
        }, 100);
      });
      send({ kind: { $case: 'filter', value: { topic, partitionIds: [] } } });
      send({ kind: { $case: 'flowControl', value: { credits: Math.max(1, window - pending.size) } } });
    };
    return {
      start: open,
      close: async () => {
        closed = true;
        call?.cancel();
        await Promise.allSettled([...pending]); // acks in flight still use the client
        client.close();
      },
    };
  }

  /**
   * Atomic EnqueueBatch calls of up to 500 messages, 4 at a time: one prepare entry per partition
   * per batch instead of one entry per message (the fastest way in; not measured). Messages
   * without a partition key spread round-robin over the partitions within each batch.
   */
  async prefill(n: number, payload: () => Uint8Array): Promise<void> {
    const clients = this.addresses.map((a) => newClient(a));
    const batch = 500;
    try {
      await pool(Math.ceil(n / batch), 4, async (b) => {
        const requests: EnqueueReq[] = [];
        for (let k = b * batch; k < Math.min(n, (b + 1) * batch); k++) {
          const p = payload();
          requests.push({ topic: this.topic, payload: Buffer.from(p.buffer, p.byteOffset, p.byteLength), priority: 0n });
        }
        const client = clients[b % clients.length] as DisheapClient;
        await unary('EnqueueBatch', (md, o, cb) => client.enqueueBatch({ requests, transactionId: '' }, md, o, cb));
      });
    } finally {
      for (const c of clients) c.close();
    }
  }

  async delete(): Promise<void> {
    const admin = newClient(this.addresses[0] as string);
    try {
      const req = { topic: this.topic, force: true, confirmationToken: this.topic };
      await unary('DeleteHeap', (md, o, cb) => admin.deleteHeap(req, md, o, cb));
    } finally {
      admin.close();
    }
  }
}
