/**
 * Codec between the Raft core's messages (`../raft/types.ts`) and their protobuf wire format
 * (`proto/leviathan/raft/v1/raft.proto`, generated into `../gen/` by `npm run gen`).
 *
 * Encoding checks that every number fits its wire type and is exactly representable: indices,
 * terms, offsets and group ids must be integers in [0, 2^53-1], times safe integers, checksums
 * uint32. Decoding checks that every required oneof and sub-message is present and every enum
 * known, and turns any failure (truncated or corrupt bytes, a uint64 above 2^53-1, ...) into a
 * `CodecError`: it never returns a half-built object.
 *
 * Byte fields (`data`, `chunk`) come out of decoding as plain `Uint8Array`s that own their
 * memory (not views into the input buffer, and not Node `Buffer`s).
 */
import * as pb from '../gen/leviathan/raft/v1/raft.js';
import type {
  ClusterConfig,
  ConfChange,
  Entry,
  HardState,
  Message,
  NodeId,
  SnapshotMeta,
} from '../raft/types.js';

/** Bytes or a value that cannot be converted between the wire format and the core's types. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
}

/** A message together with the Raft group it belongs to, as carried by the transport. */
export interface Envelope {
  readonly groupId: number;
  readonly message: Message;
}

// ---------------------------------------------------------------------------------------------
// Bytes

/** Encodes one message for `groupId` as a `RaftEnvelope`. */
export function encodeMessage(groupId: number, m: Message): Uint8Array {
  return encodeWith(pb.RaftEnvelope, toProtoEnvelope({ groupId, message: m }));
}

/** Decodes the bytes of one `RaftEnvelope`. */
export function decodeMessage(bytes: Uint8Array): Envelope {
  return fromProtoEnvelope(decodeWith(pb.RaftEnvelope, bytes, 'RaftEnvelope'), 'envelope');
}

/** Encodes messages for any number of groups as one `RaftBatch`, keeping their order. */
export function encodeBatch(envelopes: readonly Envelope[]): Uint8Array {
  return encodeWith(pb.RaftBatch, toProtoBatch(envelopes));
}

/** Decodes the bytes of one `RaftBatch`; fails as a whole if any message in it is invalid. */
export function decodeBatch(bytes: Uint8Array): Envelope[] {
  return fromProtoBatch(decodeWith(pb.RaftBatch, bytes, 'RaftBatch'));
}

function encodeWith<T>(fns: pb.MessageFns<T>, value: T): Uint8Array {
  try {
    return fns.encode(value).finish();
  } catch (err) {
    // The converters validate every field first, so this is not expected.
    throw new CodecError(`cannot encode: ${errorText(err)}`, { cause: err });
  }
}

function decodeWith<T>(fns: pb.MessageFns<T>, bytes: Uint8Array, what: string): T {
  try {
    return fns.decode(bytes);
  } catch (err) {
    throw new CodecError(`invalid ${what} (${bytes.length} bytes): ${errorText(err)}`, {
      cause: err,
    });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Envelopes and batches

export function toProtoEnvelope(e: Envelope): pb.RaftEnvelope {
  return { groupId: u64(e.groupId, 'groupId'), message: toProtoMessage(e.message) };
}

export function fromProtoEnvelope(p: pb.RaftEnvelope, path = 'envelope'): Envelope {
  const message = required(p.message, `${path}.message`);
  return { groupId: p.groupId, message: fromProtoMessage(message, `${path}.message`) };
}

export function toProtoBatch(envelopes: readonly Envelope[]): pb.RaftBatch {
  return { messages: envelopes.map(toProtoEnvelope) };
}

/** Converts a decoded `RaftBatch` (for example, one handed over by a gRPC server). */
export function fromProtoBatch(p: pb.RaftBatch): Envelope[] {
  return p.messages.map((e, i) => fromProtoEnvelope(e, `batch.messages[${i}]`));
}

// ---------------------------------------------------------------------------------------------
// Messages

export function toProtoMessage(m: Message): pb.Message {
  const header = { from: m.from, to: m.to, term: u64(m.term, 'message.term') };
  switch (m.type) {
    case 'vote':
      return {
        ...header,
        body: {
          $case: 'vote',
          value: {
            preVote: m.preVote,
            lastIndex: u64(m.lastIndex, 'vote.lastIndex'),
            lastTerm: u64(m.lastTerm, 'vote.lastTerm'),
            transfer: m.transfer,
          },
        },
      };
    case 'vote-response':
      return {
        ...header,
        body: { $case: 'voteResponse', value: { preVote: m.preVote, granted: m.granted } },
      };
    case 'append':
      return {
        ...header,
        body: {
          $case: 'append',
          value: {
            prevIndex: u64(m.prevIndex, 'append.prevIndex'),
            prevTerm: u64(m.prevTerm, 'append.prevTerm'),
            entries: m.entries.map(toProtoEntry),
            commit: u64(m.commit, 'append.commit'),
          },
        },
      };
    case 'append-response':
      return {
        ...header,
        body: {
          $case: 'appendResponse',
          value: {
            success: m.success,
            index: u64(m.index, 'append-response.index'),
            hintIndex: u64(m.hintIndex, 'append-response.hintIndex'),
            hintTerm: u64(m.hintTerm, 'append-response.hintTerm'),
          },
        },
      };
    case 'heartbeat':
      return {
        ...header,
        body: {
          $case: 'heartbeat',
          value: {
            commit: u64(m.commit, 'heartbeat.commit'),
            readRound: u64(m.readRound, 'heartbeat.readRound'),
          },
        },
      };
    case 'heartbeat-response':
      return {
        ...header,
        body: {
          $case: 'heartbeatResponse',
          value: { readRound: u64(m.readRound, 'heartbeat-response.readRound') },
        },
      };
    case 'snapshot':
      return {
        ...header,
        body: {
          $case: 'snapshot',
          value: {
            meta: toProtoSnapshotMeta(m.meta),
            offset: u64(m.offset, 'snapshot.offset'),
            chunk: toBuffer(m.chunk),
            totalBytes: u64(m.totalBytes, 'snapshot.totalBytes'),
            chunkChecksum: u32(m.chunkChecksum, 'snapshot.chunkChecksum'),
            checksum: u32(m.checksum, 'snapshot.checksum'),
          },
        },
      };
    case 'snapshot-response':
      return {
        ...header,
        body: {
          $case: 'snapshotResponse',
          value: {
            index: u64(m.index, 'snapshot-response.index'),
            nextOffset: u64(m.nextOffset, 'snapshot-response.nextOffset'),
            done: m.done,
            reject: m.reject,
          },
        },
      };
    case 'timeout-now':
      return { ...header, body: { $case: 'timeoutNow', value: {} } };
    case 'read-index':
      return { ...header, body: { $case: 'readIndex', value: { context: m.context } } };
    case 'read-index-response':
      return {
        ...header,
        body: {
          $case: 'readIndexResponse',
          value: { context: m.context, index: u64(m.index, 'read-index-response.index') },
        },
      };
    default: {
      // Adding a message variant to the core must add a case above.
      const unknown: never = m;
      throw new CodecError(`unknown message type ${JSON.stringify((unknown as Message).type)}`);
    }
  }
}

export function fromProtoMessage(p: pb.Message, path = 'message'): Message {
  const body = required(p.body, `${path}.body`, 'unset, or of a type this version does not know');
  const header = { from: p.from, to: p.to, term: p.term };
  switch (body.$case) {
    case 'vote': {
      const v = body.value;
      return {
        ...header,
        type: 'vote',
        preVote: v.preVote,
        lastIndex: v.lastIndex,
        lastTerm: v.lastTerm,
        transfer: v.transfer,
      };
    }
    case 'voteResponse':
      return {
        ...header,
        type: 'vote-response',
        preVote: body.value.preVote,
        granted: body.value.granted,
      };
    case 'append': {
      const v = body.value;
      return {
        ...header,
        type: 'append',
        prevIndex: v.prevIndex,
        prevTerm: v.prevTerm,
        entries: v.entries.map((e, i) => fromProtoEntry(e, `${path}.append.entries[${i}]`)),
        commit: v.commit,
      };
    }
    case 'appendResponse': {
      const v = body.value;
      return {
        ...header,
        type: 'append-response',
        success: v.success,
        index: v.index,
        hintIndex: v.hintIndex,
        hintTerm: v.hintTerm,
      };
    }
    case 'heartbeat':
      return {
        ...header,
        type: 'heartbeat',
        commit: body.value.commit,
        readRound: body.value.readRound,
      };
    case 'heartbeatResponse':
      return { ...header, type: 'heartbeat-response', readRound: body.value.readRound };
    case 'snapshot': {
      const v = body.value;
      const metaPath = `${path}.snapshot.meta`;
      return {
        ...header,
        type: 'snapshot',
        meta: fromProtoSnapshotMeta(required(v.meta, metaPath), metaPath),
        offset: v.offset,
        chunk: fromBuffer(v.chunk),
        totalBytes: v.totalBytes,
        chunkChecksum: v.chunkChecksum,
        checksum: v.checksum,
      };
    }
    case 'snapshotResponse': {
      const v = body.value;
      return {
        ...header,
        type: 'snapshot-response',
        index: v.index,
        nextOffset: v.nextOffset,
        done: v.done,
        reject: v.reject,
      };
    }
    case 'timeoutNow':
      return { ...header, type: 'timeout-now' };
    case 'readIndex':
      return { ...header, type: 'read-index', context: body.value.context };
    case 'readIndexResponse':
      return {
        ...header,
        type: 'read-index-response',
        context: body.value.context,
        index: body.value.index,
      };
    default: {
      const unknown: never = body;
      throw new CodecError(
        `${path}.body: unknown case ${JSON.stringify((unknown as { $case: unknown }).$case)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Entries

export function toProtoEntry(e: Entry): pb.Entry {
  const header = {
    index: u64(e.index, 'entry.index'),
    term: u64(e.term, 'entry.term'),
    time: i64(e.time, 'entry.time'),
  };
  switch (e.kind) {
    case 'normal':
      return { ...header, kind: { $case: 'normal', value: { data: toBuffer(e.data) } } };
    case 'noop':
      return { ...header, kind: { $case: 'noop', value: {} } };
    case 'config':
      return {
        ...header,
        kind: {
          $case: 'config',
          value: { change: toProtoConfChange(e.change), config: toProtoClusterConfig(e.config) },
        },
      };
    default: {
      const unknown: never = e;
      throw new CodecError(`unknown entry kind ${JSON.stringify((unknown as Entry).kind)}`);
    }
  }
}

export function fromProtoEntry(p: pb.Entry, path = 'entry'): Entry {
  const kind = required(p.kind, `${path}.kind`, 'unset, or of a kind this version does not know');
  const header = { index: p.index, term: p.term, time: p.time };
  switch (kind.$case) {
    case 'normal':
      return { ...header, kind: 'normal', data: fromBuffer(kind.value.data) };
    case 'noop':
      return { ...header, kind: 'noop' };
    case 'config': {
      const v = kind.value;
      const changePath = `${path}.config.change`;
      return {
        ...header,
        kind: 'config',
        change: fromProtoConfChange(required(v.change, changePath), changePath),
        config: fromProtoClusterConfig(required(v.config, `${path}.config.config`)),
      };
    }
    default: {
      const unknown: never = kind;
      throw new CodecError(
        `${path}.kind: unknown case ${JSON.stringify((unknown as { $case: unknown }).$case)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Membership, hard state, snapshot metadata

export function toProtoClusterConfig(c: ClusterConfig): pb.ClusterConfig {
  return { voters: [...c.voters], learners: [...c.learners] };
}

export function fromProtoClusterConfig(p: pb.ClusterConfig): ClusterConfig {
  return { voters: [...p.voters], learners: [...p.learners] };
}

export function toProtoConfChange(c: ConfChange): pb.ConfChange {
  switch (c.type) {
    case 'add-learner':
      return { type: pb.ConfChangeType.CONF_CHANGE_TYPE_ADD_LEARNER, node: c.node };
    case 'promote':
      return { type: pb.ConfChangeType.CONF_CHANGE_TYPE_PROMOTE, node: c.node };
    case 'remove':
      return { type: pb.ConfChangeType.CONF_CHANGE_TYPE_REMOVE, node: c.node };
    default: {
      const unknown: never = c;
      throw new CodecError(`unknown conf change ${JSON.stringify((unknown as ConfChange).type)}`);
    }
  }
}

export function fromProtoConfChange(p: pb.ConfChange, path = 'change'): ConfChange {
  const node: NodeId = p.node;
  // Compared as numbers: the decoder passes unknown enum values through unchanged.
  switch (p.type as number) {
    case pb.ConfChangeType.CONF_CHANGE_TYPE_ADD_LEARNER:
      return { type: 'add-learner', node };
    case pb.ConfChangeType.CONF_CHANGE_TYPE_PROMOTE:
      return { type: 'promote', node };
    case pb.ConfChangeType.CONF_CHANGE_TYPE_REMOVE:
      return { type: 'remove', node };
    default:
      throw new CodecError(`${path}.type: unspecified or unknown conf change type ${p.type}`);
  }
}

export function toProtoHardState(h: HardState): pb.HardState {
  const p: pb.HardState = {
    term: u64(h.term, 'hardState.term'),
    commit: u64(h.commit, 'hardState.commit'),
  };
  if (h.vote !== null) p.vote = h.vote;
  return p;
}

export function fromProtoHardState(p: pb.HardState): HardState {
  return { term: p.term, vote: p.vote ?? null, commit: p.commit };
}

export function toProtoSnapshotMeta(m: SnapshotMeta): pb.SnapshotMeta {
  return {
    index: u64(m.index, 'snapshotMeta.index'),
    term: u64(m.term, 'snapshotMeta.term'),
    time: i64(m.time, 'snapshotMeta.time'),
    config: toProtoClusterConfig(m.config),
  };
}

export function fromProtoSnapshotMeta(p: pb.SnapshotMeta, path = 'snapshotMeta'): SnapshotMeta {
  return {
    index: p.index,
    term: p.term,
    time: p.time,
    config: fromProtoClusterConfig(required(p.config, `${path}.config`)),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function required<T>(value: T | undefined, path: string, detail = 'required but missing'): T {
  if (value === undefined) throw new CodecError(`${path}: ${detail}`);
  return value;
}

const MAX_U32 = 0xffff_ffff;

/** A uint64 field: an integer in [0, 2^53-1], so that it decodes back to the same number. */
function u64(v: number, field: string): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new CodecError(`${field}: expected an integer in [0, 2^53-1], got ${v}`);
  }
  return v;
}

function i64(v: number, field: string): number {
  if (!Number.isSafeInteger(v)) {
    throw new CodecError(`${field}: expected a safe integer, got ${v}`);
  }
  return v;
}

function u32(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U32) {
    throw new CodecError(`${field}: expected an integer in [0, 2^32-1], got ${v}`);
  }
  return v;
}

/** A Buffer view of the same memory (the generated code types bytes fields as Buffer). */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A plain Uint8Array view of a decoded Buffer. The generated decoder already copied the bytes
 * out of the input, so the result does not pin the whole received frame; a plain Uint8Array
 * keeps `slice()` copying, unlike Buffer's.
 */
function fromBuffer(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
