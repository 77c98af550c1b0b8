// Pins the Disheap wire schema (proto/disheap/v1/disheap.proto): existing Disheap clients encode
// field numbers and wire types, not names, so a renumbered or retyped field would silently
// corrupt their messages. Each message is encoded fully populated with our generated code and
// the raw bytes are read back tag by tag with @bufbuild/protobuf's BinaryReader, independently of
// the generated decoder. The tables below are the contract: change them only together with
// Disheap itself.
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import {
  AckReq,
  DeleteHeapReq,
  DisheapService,
  DLQPolicy,
  EnqueueBatchReq,
  EnqueueBatchResp,
  EnqueueReq,
  EnqueueResp,
  ExtendReq,
  FlowControl,
  HeapInfo,
  HeapStats,
  ListHeapsReq,
  ListHeapsResp,
  MakeHeapReq,
  MakeHeapResp,
  Mode,
  MoveToDlqReq,
  NackReq,
  PartitionStats,
  PeekItem,
  PeekReq,
  PeekResp,
  PopFilter,
  PopItem,
  PopOpen,
  PurgeReq,
  StatsReq,
  StatsResp,
  UpdateHeapConfigReq,
} from '../../src/gen/disheap/v1/disheap.js';
import type { Duration } from '../../src/gen/google/protobuf/duration.js';
import { TopicExtensionsServiceService } from '../../src/gen/leviathan/topic/v1/topic.js';

/** How a field is written: scalars are also decoded and compared with the fixture's value. */
type FieldType = 'string' | 'bytes' | 'int64' | 'uint64' | 'uint32' | 'bool' | 'enum' | 'message' | 'packed';
/** [field number, type] or [field number, type, 'optional'] (proto3 explicit presence). */
type FieldSpec = readonly [number, FieldType] | readonly [number, FieldType, 'optional'];

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  create(): T;
}

interface Row {
  readonly name: string;
  /** Keyed by the proto field name (snake_case, as in the .proto). */
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly full: Readonly<Record<string, unknown>>;
  encode(message: Record<string, unknown>): Uint8Array;
  empty(): Record<string, unknown>;
}

function row<T extends object>(name: string, codec: Codec<T>, full: T, fields: Record<string, FieldSpec>): Row {
  return {
    name,
    fields,
    full: full as Record<string, unknown>,
    encode: (message) => codec.encode(message as T).finish(),
    empty: () => ({ ...codec.create() }) as Record<string, unknown>,
  };
}

const camel = (snake: string): string => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function wireTypeOf(type: FieldType): WireType {
  return type === 'string' || type === 'bytes' || type === 'message' || type === 'packed'
    ? WireType.LengthDelimited
    : WireType.Varint;
}

interface RawField {
  wireType: WireType;
  /** Each occurrence's bytes after the tag (length prefix included for length-delimited). */
  values: Uint8Array[];
}

/** Splits an encoded message into its top-level fields, by number, without a schema. */
function readFields(bytes: Uint8Array): Map<number, RawField> {
  const reader = new BinaryReader(bytes);
  const fields = new Map<number, RawField>();
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    const value = reader.skip(wireType, no);
    const seen = fields.get(no);
    if (seen === undefined) fields.set(no, { wireType, values: [value] });
    else {
      expect(seen.wireType, `field ${no} wire type`).toBe(wireType);
      seen.values.push(value);
    }
  }
  return fields;
}

function decodeScalar(type: FieldType, raw: Uint8Array): unknown {
  const reader = new BinaryReader(raw);
  switch (type) {
    case 'string':
      return reader.string();
    case 'bytes':
      return Buffer.from(reader.bytes());
    case 'int64':
      return BigInt(reader.int64());
    case 'uint64':
      return BigInt(reader.uint64());
    case 'uint32':
      return reader.uint32();
    case 'bool':
      return reader.bool();
    case 'enum':
      return reader.int32();
    default:
      return undefined;
  }
}

/** The zero value of a scalar like the fixture's (what proto3 omits unless the field is optional). */
function zeroLike(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      return '';
    case 'number':
      return 0;
    case 'bigint':
      return 0n;
    case 'boolean':
      return false;
    default:
      return Buffer.alloc(0);
  }
}

const seconds = (s: number): Duration => ({ seconds: BigInt(s), nanos: 5 });
const at = (ms: number): Date => new Date(ms);
/** Beyond 2^53: must survive exactly (forceLong=bigint). */
const BIG = 2n ** 60n + 3n;

const dlqPolicy: DLQPolicy = { enabled: true, retentionTime: seconds(86_400) };
const heapStats: HeapStats = {
  totalMessages: BIG,
  inflightMessages: 2n,
  dlqMessages: 3n,
  totalEnqueues: 4n,
  totalPops: 5n,
  totalAcks: 6n,
  totalNacks: 7n,
  totalRetries: 8n,
  totalTimeouts: 9n,
  partitionStats: {
    0: { partitionId: 0, messages: 1n, inflight: 0n, leaderNode: 'n1', replicaNodes: ['n1'], isHealthy: true },
    1: { partitionId: 1, messages: 2n, inflight: 1n, leaderNode: 'n2', replicaNodes: ['n2'], isHealthy: false },
  },
};
const enqueueReq: EnqueueReq = {
  topic: 'jobs',
  payload: Buffer.from([1, 2, 3]),
  priority: -(2n ** 62n),
  partitionKey: 'customer-7',
  producerId: 'producer-a',
  epoch: 11n,
  sequence: BIG,
  maxRetries: 4,
  notBefore: seconds(30),
};
const enqueueResp: EnqueueResp = { messageId: 'm-1', duplicate: true, partitionId: 3 };
const popItem: PopItem = {
  messageId: 'm-1',
  topic: 'jobs',
  partitionId: 2,
  payload: Buffer.from('hello'),
  priority: BIG,
  enqueuedTime: at(1_700_000_000_000),
  leaseToken: 'lease-1',
  leaseDeadline: at(1_700_000_030_000),
  attempts: 2,
  maxRetries: 5,
  producerId: 'producer-a',
  epoch: 12n,
  sequence: 13n,
};
const peekItem: PeekItem = {
  messageId: 'm-2',
  topic: 'jobs',
  partitionId: 1,
  payload: Buffer.from('peek'),
  priority: -7n,
  enqueuedTime: at(1_700_000_000_000),
  attempts: 3,
  maxRetries: 6,
  isLeased: true,
  leaseDeadline: at(1_700_000_060_000),
  inDlq: true,
  producerId: 'producer-b',
  epoch: 14n,
  sequence: 15n,
};
const heapInfo: HeapInfo = {
  topic: 'jobs',
  mode: Mode.MAX,
  partitions: 8,
  replicationFactor: 3,
  topKBound: 64,
  retentionTime: seconds(3_600),
  visibilityTimeoutDefault: seconds(30),
  maxRetriesDefault: 5,
  maxPayloadBytes: BIG,
  compressionEnabled: true,
  dlqPolicy,
  createdAt: at(1_600_000_000_000),
  updatedAt: at(1_600_000_100_000),
  stats: heapStats,
};

const rows: Row[] = [
  row(
    'MakeHeapReq',
    MakeHeapReq,
    {
      topic: 'jobs',
      mode: Mode.MAX,
      partitions: 8,
      replicationFactor: 3,
      topKBound: 64,
      retentionTime: seconds(3_600),
      visibilityTimeoutDefault: seconds(30),
      maxRetriesDefault: 5,
      maxPayloadBytes: BIG,
      compressionEnabled: true,
      dlqPolicy,
    },
    {
      topic: [1, 'string'],
      mode: [2, 'enum'],
      partitions: [3, 'uint32'],
      replication_factor: [4, 'uint32'],
      top_k_bound: [5, 'uint32'],
      retention_time: [6, 'message'],
      visibility_timeout_default: [7, 'message'],
      max_retries_default: [8, 'uint32'],
      max_payload_bytes: [9, 'uint64'],
      compression_enabled: [10, 'bool'],
      dlq_policy: [11, 'message'],
    },
  ),
  row('MakeHeapResp', MakeHeapResp, { topic: 'jobs', heapId: 'h-1' }, { topic: [1, 'string'], heap_id: [2, 'string'] }),
  row('DLQPolicy', DLQPolicy, dlqPolicy, { enabled: [1, 'bool'], retention_time: [2, 'message'] }),
  row(
    'DeleteHeapReq',
    DeleteHeapReq,
    { topic: 'jobs', force: true, confirmationToken: 'jobs' },
    { topic: [1, 'string'], force: [2, 'bool'], confirmation_token: [3, 'string'] },
  ),
  row(
    'UpdateHeapConfigReq',
    UpdateHeapConfigReq,
    {
      topic: 'jobs',
      retentionTime: seconds(60),
      visibilityTimeoutDefault: seconds(10),
      maxRetriesDefault: 2,
      maxPayloadBytes: BIG,
      compressionEnabled: true,
      dlqPolicy,
    },
    {
      topic: [1, 'string'],
      retention_time: [2, 'message', 'optional'],
      visibility_timeout_default: [3, 'message', 'optional'],
      max_retries_default: [4, 'uint32', 'optional'],
      max_payload_bytes: [5, 'uint64', 'optional'],
      compression_enabled: [6, 'bool', 'optional'],
      dlq_policy: [7, 'message', 'optional'],
    },
  ),
  row('ListHeapsReq', ListHeapsReq, { pageSize: 50, pageToken: 'p-2' }, { page_size: [1, 'uint32'], page_token: [2, 'string'] }),
  row(
    'ListHeapsResp',
    ListHeapsResp,
    { heaps: [heapInfo, { ...heapInfo, topic: 'other' }], nextPageToken: 'p-3' },
    { heaps: [1, 'message'], next_page_token: [2, 'string'] },
  ),
  row('HeapInfo', HeapInfo, heapInfo, {
    topic: [1, 'string'],
    mode: [2, 'enum'],
    partitions: [3, 'uint32'],
    replication_factor: [4, 'uint32'],
    top_k_bound: [5, 'uint32'],
    retention_time: [6, 'message'],
    visibility_timeout_default: [7, 'message'],
    max_retries_default: [8, 'uint32'],
    max_payload_bytes: [9, 'uint64'],
    compression_enabled: [10, 'bool'],
    dlq_policy: [11, 'message'],
    created_at: [12, 'message'],
    updated_at: [13, 'message'],
    stats: [14, 'message'],
  }),
  row('HeapStats', HeapStats, heapStats, {
    total_messages: [1, 'uint64'],
    inflight_messages: [2, 'uint64'],
    dlq_messages: [3, 'uint64'],
    total_enqueues: [4, 'uint64'],
    total_pops: [5, 'uint64'],
    total_acks: [6, 'uint64'],
    total_nacks: [7, 'uint64'],
    total_retries: [8, 'uint64'],
    total_timeouts: [9, 'uint64'],
    partition_stats: [10, 'message'],
  }),
  row(
    'PartitionStats',
    PartitionStats,
    { partitionId: 4, messages: BIG, inflight: 2n, leaderNode: 'n1', replicaNodes: ['n1', 'n2', 'n3'], isHealthy: true },
    {
      partition_id: [1, 'uint32'],
      messages: [2, 'uint64'],
      inflight: [3, 'uint64'],
      leader_node: [4, 'string'],
      replica_nodes: [5, 'string'],
      is_healthy: [6, 'bool'],
    },
  ),
  row(
    'StatsReq',
    StatsReq,
    { topic: 'jobs', partitionId: 3 },
    { topic: [1, 'string', 'optional'], partition_id: [2, 'uint32', 'optional'] },
  ),
  row(
    'StatsResp',
    StatsResp,
    { globalStats: heapStats, topicStats: { jobs: heapStats, other: heapStats } },
    { global_stats: [1, 'message'], topic_stats: [2, 'message'] },
  ),
  row(
    'PurgeReq',
    PurgeReq,
    { topic: 'jobs', partitionId: 2, force: true, confirmationToken: 'jobs' },
    {
      topic: [1, 'string'],
      partition_id: [2, 'uint32', 'optional'],
      force: [3, 'bool'],
      confirmation_token: [4, 'string'],
    },
  ),
  row(
    'MoveToDlqReq',
    MoveToDlqReq,
    { topic: 'jobs', messageId: 'm-1', reason: 'poison' },
    { topic: [1, 'string'], message_id: [2, 'string'], reason: [3, 'string', 'optional'] },
  ),
  row('EnqueueReq', EnqueueReq, enqueueReq, {
    topic: [1, 'string'],
    payload: [2, 'bytes'],
    priority: [3, 'int64'],
    partition_key: [4, 'string', 'optional'],
    producer_id: [5, 'string', 'optional'],
    epoch: [6, 'uint64', 'optional'],
    sequence: [7, 'uint64', 'optional'],
    max_retries: [8, 'uint32', 'optional'],
    not_before: [9, 'message', 'optional'],
  }),
  row('EnqueueResp', EnqueueResp, enqueueResp, {
    message_id: [1, 'string'],
    duplicate: [2, 'bool'],
    partition_id: [3, 'uint32'],
  }),
  row(
    'EnqueueBatchReq',
    EnqueueBatchReq,
    { requests: [enqueueReq, { ...enqueueReq, priority: 1n }], transactionId: 'tx-1' },
    { requests: [1, 'message'], transaction_id: [2, 'string', 'optional'] },
  ),
  row(
    'EnqueueBatchResp',
    EnqueueBatchResp,
    { responses: [enqueueResp, enqueueResp], transactionId: 'tx-1', allDuplicates: true },
    { responses: [1, 'message'], transaction_id: [2, 'string'], all_duplicates: [3, 'bool'] },
  ),
  // PopOpen's oneof `kind`: one row per case, each alone on the wire.
  row('PopOpen (flow_control)', PopOpen, { kind: { $case: 'flowControl', value: { credits: 10 } } }, { kind: [1, 'message'] }),
  row(
    'PopOpen (filter)',
    PopOpen,
    { kind: { $case: 'filter', value: { topic: 'jobs', partitionIds: [0, 2], visibilityTimeout: seconds(15) } } },
    { kind: [2, 'message'] },
  ),
  row('FlowControl', FlowControl, { credits: 100 }, { credits: [1, 'uint32'] }),
  row(
    'PopFilter',
    PopFilter,
    { topic: 'jobs', partitionIds: [0, 2, 300], visibilityTimeout: seconds(15) },
    { topic: [1, 'string'], partition_ids: [2, 'packed'], visibility_timeout: [3, 'message', 'optional'] },
  ),
  row('PopItem', PopItem, popItem, {
    message_id: [1, 'string'],
    topic: [2, 'string'],
    partition_id: [3, 'uint32'],
    payload: [4, 'bytes'],
    priority: [5, 'int64'],
    enqueued_time: [6, 'message'],
    lease_token: [7, 'string'],
    lease_deadline: [8, 'message'],
    attempts: [9, 'uint32'],
    max_retries: [10, 'uint32'],
    producer_id: [11, 'string', 'optional'],
    epoch: [12, 'uint64', 'optional'],
    sequence: [13, 'uint64', 'optional'],
  }),
  row(
    'AckReq',
    AckReq,
    { topic: 'jobs', messageId: 'm-1', leaseToken: 'lease-1' },
    { topic: [1, 'string'], message_id: [2, 'string'], lease_token: [3, 'string'] },
  ),
  row(
    'NackReq',
    NackReq,
    { topic: 'jobs', messageId: 'm-1', leaseToken: 'lease-1', backoffOverride: seconds(5), reason: 'busy' },
    {
      topic: [1, 'string'],
      message_id: [2, 'string'],
      lease_token: [3, 'string'],
      backoff_override: [4, 'message', 'optional'],
      reason: [5, 'string', 'optional'],
    },
  ),
  row(
    'ExtendReq',
    ExtendReq,
    { topic: 'jobs', leaseToken: 'lease-1', extension: seconds(20) },
    { topic: [1, 'string'], lease_token: [2, 'string'], extension: [3, 'message'] },
  ),
  row(
    'PeekReq',
    PeekReq,
    { topic: 'jobs', partitionId: 1, limit: 25, includeDlq: true },
    {
      topic: [1, 'string'],
      partition_id: [2, 'uint32', 'optional'],
      limit: [3, 'uint32', 'optional'],
      include_dlq: [4, 'bool'],
    },
  ),
  row(
    'PeekResp',
    PeekResp,
    { items: [peekItem, { ...peekItem, messageId: 'm-3' }], hasMore: true },
    { items: [1, 'message'], has_more: [2, 'bool'] },
  ),
  row('PeekItem', PeekItem, peekItem, {
    message_id: [1, 'string'],
    topic: [2, 'string'],
    partition_id: [3, 'uint32'],
    payload: [4, 'bytes'],
    priority: [5, 'int64'],
    enqueued_time: [6, 'message'],
    attempts: [7, 'uint32'],
    max_retries: [8, 'uint32'],
    is_leased: [9, 'bool'],
    lease_deadline: [10, 'message', 'optional'],
    in_dlq: [11, 'bool'],
    producer_id: [12, 'string', 'optional'],
    epoch: [13, 'uint64', 'optional'],
    sequence: [14, 'uint64', 'optional'],
  }),
];

const SCALARS: readonly FieldType[] = ['string', 'bytes', 'int64', 'uint64', 'uint32', 'bool', 'enum'];

describe('Disheap wire schema (disheap.v1)', () => {
  describe.each(rows)('$name', (r) => {
    it('puts every field, and nothing else, at its number with its wire type', () => {
      const fields = readFields(r.encode(r.full));
      const actual = [...fields].map(([no, f]) => [no, f.wireType]).sort((a, b) => a[0]! - b[0]!);
      const expected = Object.values(r.fields)
        .map(([no, type]) => [no, wireTypeOf(type)])
        .sort((a, b) => a[0]! - b[0]!);
      expect(actual).toEqual(expected);
    });

    it.each(Object.entries(r.fields))('%s is written alone at its number', (name, [no, type]) => {
      const key = camel(name);
      const full = readFields(r.encode(r.full));
      // A oneof row has a single field, which is the whole message.
      const alone = readFields(r.encode(key in r.full ? { ...r.empty(), [key]: r.full[key] } : r.full));
      expect([...alone.keys()]).toEqual([no]);
      expect(alone.get(no)!.wireType).toBe(wireTypeOf(type));
      expect(alone.get(no)!.values).toEqual(full.get(no)!.values);
      if (SCALARS.includes(type)) {
        const values = full.get(no)!.values.map((raw) => decodeScalar(type, raw));
        const fixture = r.full[key];
        expect(Array.isArray(fixture) ? values : values[0]).toEqual(
          typeof fixture === 'object' && fixture !== null && !Array.isArray(fixture) ? Buffer.from(fixture as Uint8Array) : fixture,
        );
      }
    });

    const scalars = Object.entries(r.fields).filter(([name, [, type]]) => SCALARS.includes(type) && !Array.isArray(r.full[camel(name)]));
    if (scalars.length > 0) {
      it.each(scalars)('%s: presence matches its optional-ness', (name, spec) => {
        const key = camel(name);
        const zero = readFields(r.encode({ ...r.empty(), [key]: zeroLike(r.full[key]) }));
        // proto3 writes a zero scalar only when the field is `optional` (explicit presence).
        expect([...zero.keys()]).toEqual(spec[2] === 'optional' ? [spec[0]] : []);
      });
    }
  });

  it('keeps 64-bit integers exact beyond 2^53', () => {
    const decoded = PopItem.decode(PopItem.encode(popItem).finish());
    expect(decoded.priority).toBe(BIG);
    expect(EnqueueReq.decode(EnqueueReq.encode(enqueueReq).finish()).priority).toBe(-(2n ** 62n));
  });

  it('numbers Mode MIN = 0, MAX = 1', () => {
    expect(Mode.MIN).toBe(0);
    expect(Mode.MAX).toBe(1);
  });

  it('serves every RPC at its Disheap method path with its streaming shape', () => {
    const shape = Object.values(DisheapService).map((m) => [m.path, m.requestStream, m.responseStream]);
    const unary = (rpc: string) => [`/disheap.v1.Disheap/${rpc}`, false, false];
    expect(shape).toEqual([
      unary('MakeHeap'),
      unary('DeleteHeap'),
      unary('UpdateHeapConfig'),
      unary('ListHeaps'),
      unary('Stats'),
      unary('Purge'),
      unary('MoveToDLQ'),
      unary('Enqueue'),
      unary('EnqueueBatch'),
      ['/disheap.v1.Disheap/PopStream', true, true],
      unary('Ack'),
      unary('Nack'),
      unary('Extend'),
      unary('Peek'),
    ]);
  });

  it('keeps our extensions in their own service', () => {
    expect(Object.values(TopicExtensionsServiceService).map((m) => m.path)).toEqual([
      '/leviathan.topic.v1.TopicExtensionsService/Pop',
      '/leviathan.topic.v1.TopicExtensionsService/Read',
      '/leviathan.topic.v1.TopicExtensionsService/CommitOffset',
      '/leviathan.topic.v1.TopicExtensionsService/FetchOffset',
      '/leviathan.topic.v1.TopicExtensionsService/AddPartitions',
    ]);
  });
});
