/**
 * The operator's gRPC calls to engine pods: AdminService (Raft status and membership), Disheap
 * (topic creation and settings) and TopicExtensionsService (adding partitions). Every call has a
 * deadline: an engine that hangs must never hang a reconcile. Channels are cached per address and
 * closed when a pod's address changes or the operator stops.
 */
import * as grpc from '@grpc/grpc-js';
import { AdminServiceClient, MemberRole, RaftRole } from '../gen/leviathan/admin/v1/admin.js';
import type { StatusResponse } from '../gen/leviathan/admin/v1/admin.js';
import { DisheapClient, Mode } from '../gen/disheap/v1/disheap.js';
import type { HeapInfo, ListHeapsResp, MakeHeapReq, StatsResp, UpdateHeapConfigReq } from '../gen/disheap/v1/disheap.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import { TopicExtensionsServiceClient } from '../gen/leviathan/topic/v1/topic.js';
import type { DlqPolicyFields, MakeHeapFields, UpdateHeapConfigFields } from '../resources/index.js';

export { MemberRole, RaftRole };
export type { HeapInfo, StatusResponse };

export interface EngineCallOptions {
  /** Deadline of a read (Status, ListHeaps, Stats). */
  readonly readTimeoutMs: number;
  /** Deadline of a change (membership, topic settings): these wait for a commit. */
  readonly writeTimeoutMs: number;
}

export const DEFAULT_ENGINE_CALL_OPTIONS: EngineCallOptions = { readTimeoutMs: 3_000, writeTimeoutMs: 20_000 };

type Callback<R> = (err: grpc.ServiceError | null, res: R) => void;
type Unary<Q, R> = (req: Q, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<R>) => grpc.ClientUnaryCall;

function call<Q, R>(client: grpc.Client, method: string, req: Q, timeoutMs: number): Promise<R> {
  const fn = (client as unknown as Record<string, Unary<Q, R>>)[method];
  if (fn === undefined) throw new Error(`no gRPC method ${method}`);
  return new Promise<R>((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export function durationOf(ms: number): Duration {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export function msOf(d: Duration | undefined): number {
  return d === undefined ? 0 : Number(d.seconds) * 1000 + Math.round(d.nanos / 1_000_000);
}

function dlq(p: DlqPolicyFields): { enabled: boolean; retentionTime: Duration } {
  return { enabled: p.enabled, retentionTime: durationOf(p.retentionTimeMs) };
}

interface Channels {
  readonly admin: InstanceType<typeof AdminServiceClient>;
  readonly disheap: InstanceType<typeof DisheapClient>;
  readonly topics: InstanceType<typeof TopicExtensionsServiceClient>;
}

export class EngineClients {
  private readonly channels = new Map<string, Channels>();

  constructor(private readonly opts: EngineCallOptions = DEFAULT_ENGINE_CALL_OPTIONS) {}

  private at(address: string): Channels {
    let c = this.channels.get(address);
    if (c === undefined) {
      const creds = grpc.credentials.createInsecure();
      // One HTTP/2 connection per pod, shared by the three services.
      const admin = new AdminServiceClient(address, creds);
      const channelOverride = admin.getChannel();
      c = {
        admin,
        disheap: new DisheapClient(address, creds, { channelOverride }),
        topics: new TopicExtensionsServiceClient(address, creds, { channelOverride }),
      };
      this.channels.set(address, c);
    }
    return c;
  }

  /** Closes channels to addresses no longer in use (pods that went away or moved). */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, c] of this.channels) {
      if (addresses.has(address)) continue;
      c.admin.close();
      this.channels.delete(address);
    }
  }

  close(): void {
    this.retain(new Set());
  }

  status(address: string): Promise<StatusResponse> {
    return call(this.at(address).admin, 'status', {}, this.opts.readTimeoutMs);
  }

  async addLearner(address: string, groupId: number, memberId: string, memberAddress: string): Promise<void> {
    await call(this.at(address).admin, 'addLearner', { groupId, memberId, address: memberAddress }, this.opts.writeTimeoutMs);
  }

  async promote(address: string, groupId: number, memberId: string, maxLag: number): Promise<void> {
    await call(this.at(address).admin, 'promote', { groupId, memberId, maxLag }, this.opts.writeTimeoutMs);
  }

  async removeMember(address: string, groupId: number, memberId: string): Promise<void> {
    await call(this.at(address).admin, 'removeMember', { groupId, memberId }, this.opts.writeTimeoutMs);
  }

  async transferLeadership(address: string, groupId: number, targetId: string): Promise<void> {
    await call(this.at(address).admin, 'transferLeadership', { groupId, targetId }, this.opts.writeTimeoutMs);
  }

  /** The topic's settings and stats, or null when the catalog has no such topic. */
  async heap(address: string, topic: string): Promise<HeapInfo | null> {
    let pageToken = '';
    for (;;) {
      const res = await call<object, ListHeapsResp>(this.at(address).disheap, 'listHeaps', { pageSize: 1000, pageToken }, this.opts.readTimeoutMs);
      const found = res.heaps.find((h) => h.topic === topic);
      if (found !== undefined) return found;
      if (res.nextPageToken === '') return null;
      pageToken = res.nextPageToken;
    }
  }

  stats(address: string, topic: string): Promise<StatsResp> {
    return call(this.at(address).disheap, 'stats', { topic }, this.opts.readTimeoutMs);
  }

  async makeHeap(address: string, f: MakeHeapFields): Promise<void> {
    const req: MakeHeapReq = {
      topic: f.topic,
      mode: f.mode === 'MAX' ? Mode.MAX : Mode.MIN,
      partitions: f.partitions,
      replicationFactor: f.replicationFactor,
      topKBound: f.topKBound,
      retentionTime: durationOf(f.retentionTimeMs),
      visibilityTimeoutDefault: durationOf(f.visibilityTimeoutDefaultMs),
      maxRetriesDefault: f.maxRetriesDefault,
      maxPayloadBytes: BigInt(f.maxPayloadBytes),
      compressionEnabled: f.compressionEnabled,
      dlqPolicy: dlq(f.dlqPolicy),
    };
    await call(this.at(address).disheap, 'makeHeap', req, this.opts.writeTimeoutMs);
  }

  async updateHeapConfig(address: string, f: UpdateHeapConfigFields): Promise<void> {
    const req: UpdateHeapConfigReq = {
      topic: f.topic,
      retentionTime: durationOf(f.retentionTimeMs),
      visibilityTimeoutDefault: durationOf(f.visibilityTimeoutDefaultMs),
      maxRetriesDefault: f.maxRetriesDefault,
      dlqPolicy: dlq(f.dlqPolicy),
    };
    await call(this.at(address).disheap, 'updateHeapConfig', req, this.opts.writeTimeoutMs);
  }

  async addPartitions(address: string, topic: string, count: number): Promise<number> {
    const res = await call<object, { partitions: number }>(this.at(address).topics, 'addPartitions', { topic, count }, this.opts.writeTimeoutMs);
    return res.partitions;
  }
}

/** A gRPC status code of an error, or null when it is not a gRPC error. */
export function grpcCode(err: unknown): number | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : null;
}
