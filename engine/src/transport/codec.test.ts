import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';

import * as pb from '../gen/leviathan/raft/v1/raft.js';
import { Random } from '../raft/random.js';
import type {
  ClusterConfig,
  ConfChange,
  Entry,
  HardState,
  Message,
  MessageType,
  SnapshotMeta,
} from '../raft/types.js';
import {
  CodecError,
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeMessage,
  fromProtoEntry,
  fromProtoHardState,
  fromProtoMessage,
  fromProtoSnapshotMeta,
  toProtoEntry,
  toProtoHardState,
  toProtoMessage,
  toProtoSnapshotMeta,
  type Envelope,
} from './codec.js';

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const MAX_U32 = 0xffff_ffff;

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

const config: ClusterConfig = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };
const meta: SnapshotMeta = { index: 42, term: 7, time: 1_700_000_000_000, config };

const entries: Entry[] = [
  { index: 1, term: 1, time: 1_700_000_000_000, kind: 'normal', data: bytes(1, 2, 3) },
  { index: 2, term: 1, time: 1_700_000_000_001, kind: 'normal', data: new Uint8Array(0) },
  { index: 3, term: 2, time: 1_700_000_000_002, kind: 'noop' },
  {
    index: 4,
    term: 2,
    time: 1_700_000_000_003,
    kind: 'config',
    change: { type: 'add-learner', node: 'n4' },
    config: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
  },
  {
    index: 5,
    term: 2,
    time: 1_700_000_000_004,
    kind: 'config',
    change: { type: 'promote', node: 'n4' },
    config: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
  },
  {
    index: 6,
    term: 3,
    time: 1_700_000_000_005,
    kind: 'config',
    change: { type: 'remove', node: 'n1' },
    config: { voters: [], learners: [] },
  },
  { index: MAX, term: MAX, time: MAX, kind: 'normal', data: bytes(0xff) },
  { index: 0, term: 0, time: 0, kind: 'noop' },
  { index: 9, term: 9, time: -1, kind: 'noop' },
];

const h = { from: 'n1', to: 'n2', term: 5 };

/** At least one sample per message type; the mapped type makes a missing one a compile error. */
const samples: { [K in MessageType]: Extract<Message, { type: K }>[] } = {
  vote: [
    { ...h, type: 'vote', preVote: false, lastIndex: 10, lastTerm: 4, transfer: false },
    { ...h, type: 'vote', preVote: true, lastIndex: MAX, lastTerm: MAX, transfer: true },
  ],
  'vote-response': [
    { ...h, type: 'vote-response', preVote: false, granted: true },
    { ...h, type: 'vote-response', preVote: true, granted: false },
  ],
  append: [
    { ...h, type: 'append', prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
    { ...h, type: 'append', prevIndex: 0, prevTerm: 0, entries, commit: 3 },
    {
      ...h,
      type: 'append',
      prevIndex: MAX - 1,
      prevTerm: MAX,
      entries: [{ index: MAX, term: MAX, time: 1, kind: 'noop' }],
      commit: MAX,
    },
  ],
  'append-response': [
    { ...h, type: 'append-response', success: true, index: 12, hintIndex: 0, hintTerm: 0 },
    { ...h, type: 'append-response', success: false, index: MAX, hintIndex: MAX, hintTerm: MAX },
  ],
  heartbeat: [
    { ...h, type: 'heartbeat', commit: 0, readRound: 0 },
    { ...h, type: 'heartbeat', commit: MAX, readRound: MAX },
  ],
  'heartbeat-response': [
    { ...h, type: 'heartbeat-response', readRound: 0 },
    { ...h, type: 'heartbeat-response', readRound: MAX },
  ],
  snapshot: [
    {
      ...h,
      type: 'snapshot',
      meta,
      offset: 0,
      chunk: bytes(9, 8, 7),
      totalBytes: 3,
      chunkChecksum: 0x1234_5678,
      checksum: MAX_U32,
    },
    {
      ...h,
      type: 'snapshot',
      meta: { index: MAX, term: MAX, time: MAX, config: { voters: [], learners: [] } },
      offset: MAX,
      chunk: new Uint8Array(0),
      totalBytes: MAX,
      chunkChecksum: 0,
      checksum: 0,
    },
  ],
  'snapshot-response': [
    { ...h, type: 'snapshot-response', index: 42, nextOffset: 3, done: true, reject: false },
    { ...h, type: 'snapshot-response', index: MAX, nextOffset: MAX, done: false, reject: true },
  ],
  'timeout-now': [
    { ...h, type: 'timeout-now' },
    { from: '', to: '', term: 0, type: 'timeout-now' },
  ],
  'read-index': [
    { ...h, type: 'read-index', context: 'read-1' },
    { ...h, type: 'read-index', context: '' },
  ],
  'read-index-response': [
    { ...h, type: 'read-index-response', context: 'read-1', index: 17 },
    {
      from: 'π-ノード-🚀',
      to: 'n2',
      term: MAX,
      type: 'read-index-response',
      context: '',
      index: MAX,
    },
  ],
};

const allSamples: Message[] = Object.values(samples).flat();

function roundTrip(groupId: number, m: Message): Envelope {
  return decodeMessage(encodeMessage(groupId, m));
}

function expectCodecError(f: () => unknown, pattern: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(CodecError);
  expect((thrown as Error).message).toMatch(pattern);
}

describe('message round trip', () => {
  for (const [type, list] of Object.entries(samples)) {
    it(`round-trips ${type}`, () => {
      for (const m of list) {
        expect(roundTrip(1, m)).toStrictEqual({ groupId: 1, message: m });
        expect(fromProtoMessage(toProtoMessage(m))).toStrictEqual(m);
      }
    });
  }

  it('keeps group ids from 0 to 2^53-1', () => {
    const m = allSamples[0]!;
    for (const groupId of [0, 1, 2 ** 32, MAX]) {
      expect(roundTrip(groupId, m).groupId).toBe(groupId);
    }
  });

  it('round-trips every entry kind through the entry converters', () => {
    for (const e of entries) {
      expect(fromProtoEntry(toProtoEntry(e))).toStrictEqual(e);
      const wire = pb.Entry.encode(toProtoEntry(e)).finish();
      expect(fromProtoEntry(pb.Entry.decode(wire))).toStrictEqual(e);
    }
  });

  it('decodes bytes as plain Uint8Arrays that do not alias the input', () => {
    const m = samples.append[1]!;
    const wire = encodeMessage(3, m);
    const decoded = decodeMessage(wire).message;
    if (decoded.type !== 'append') throw new Error('expected an append');
    const data = (decoded.entries[0] as Entry & { kind: 'normal' }).data;
    expect(Buffer.isBuffer(data)).toBe(false);
    expect(data.constructor).toBe(Uint8Array);
    wire.fill(0);
    expect(data).toStrictEqual(bytes(1, 2, 3));
  });

  it('encodes a Buffer-backed view at an offset correctly', () => {
    const backing = bytes(0, 0, 5, 6, 7, 0);
    const view = backing.subarray(2, 5);
    const m: Message = {
      ...h,
      type: 'append',
      prevIndex: 0,
      prevTerm: 0,
      commit: 0,
      entries: [{ index: 1, term: 1, time: 1, kind: 'normal', data: view }],
    };
    const decoded = roundTrip(1, m).message;
    expect(decoded).toStrictEqual({ ...m, entries: [{ ...m.entries[0], data: bytes(5, 6, 7) }] });
  });

  it('encodes deterministically', () => {
    for (const m of allSamples) {
      const wire = encodeMessage(7, m);
      expect(encodeMessage(7, decodeMessage(wire).message)).toStrictEqual(wire);
    }
  });
});

describe('batches', () => {
  it('round-trips messages for many groups in order', () => {
    const envelopes: Envelope[] = allSamples.map((message, i) => ({ groupId: i * 1000, message }));
    expect(decodeBatch(encodeBatch(envelopes))).toStrictEqual(envelopes);
  });

  it('round-trips an empty batch', () => {
    expect(decodeBatch(encodeBatch([]))).toStrictEqual([]);
    expect(decodeBatch(new Uint8Array(0))).toStrictEqual([]);
  });
});

describe('hard state and snapshot meta', () => {
  it('round-trips hard state, keeping a null vote distinct from an empty one', () => {
    const states: HardState[] = [
      { term: 0, vote: null, commit: 0 },
      { term: 3, vote: 'n2', commit: 9 },
      { term: MAX, vote: '', commit: MAX },
    ];
    for (const s of states) {
      const wire = pb.HardState.encode(toProtoHardState(s)).finish();
      expect(fromProtoHardState(pb.HardState.decode(wire))).toStrictEqual(s);
    }
  });

  it('round-trips snapshot meta', () => {
    const wire = pb.SnapshotMeta.encode(toProtoSnapshotMeta(meta)).finish();
    expect(fromProtoSnapshotMeta(pb.SnapshotMeta.decode(wire))).toStrictEqual(meta);
  });
});

// ---------------------------------------------------------------------------------------------
// Randomized round trip

function randomU64(rnd: Random): number {
  switch (rnd.int(0, 5)) {
    case 0:
      return 0;
    case 1:
      return MAX;
    case 2:
      return rnd.int(0, 100);
    case 3:
      return rnd.uint32();
    default:
      // Up to 2^53-1: 21 high bits and 32 low bits.
      return (rnd.uint32() >>> 11) * 2 ** 32 + rnd.uint32();
  }
}

function randomI64(rnd: Random): number {
  const v = randomU64(rnd);
  // Not -0: the wire has no negative zero, and the core never produces one.
  return v !== 0 && rnd.chance(0.1) ? -v : v;
}

const NAMES = ['', 'n1', 'n2', 'pod-0.leviathan#3f2a', 'ü', '節点', '🦑'];

function randomString(rnd: Random): string {
  if (rnd.chance(0.7)) return rnd.pick(NAMES);
  let s = '';
  const n = rnd.int(0, 20);
  for (let i = 0; i < n; i++) s += String.fromCodePoint(rnd.int(0x20, 0x2fff));
  return s;
}

function randomBytes(rnd: Random): Uint8Array {
  const n = rnd.chance(0.2) ? 0 : rnd.int(1, rnd.chance(0.05) ? 5000 : 40);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rnd.int(0, 255);
  return b;
}

function randomConfig(rnd: Random): ClusterConfig {
  const list = (): string[] => Array.from({ length: rnd.int(0, 5) }, () => randomString(rnd));
  return { voters: list(), learners: list() };
}

function randomChange(rnd: Random): ConfChange {
  const node = randomString(rnd);
  return { type: rnd.pick(['add-learner', 'promote', 'remove'] as const), node };
}

function randomEntry(rnd: Random): Entry {
  const header = { index: randomU64(rnd), term: randomU64(rnd), time: randomI64(rnd) };
  switch (rnd.int(0, 2)) {
    case 0:
      return { ...header, kind: 'normal', data: randomBytes(rnd) };
    case 1:
      return { ...header, kind: 'noop' };
    default:
      return { ...header, kind: 'config', change: randomChange(rnd), config: randomConfig(rnd) };
  }
}

const TYPES = Object.keys(samples) as MessageType[];

function randomMessage(rnd: Random): Message {
  const header = { from: randomString(rnd), to: randomString(rnd), term: randomU64(rnd) };
  const type = rnd.pick(TYPES);
  const bool = (): boolean => rnd.chance(0.5);
  switch (type) {
    case 'vote':
      return {
        ...header,
        type,
        preVote: bool(),
        lastIndex: randomU64(rnd),
        lastTerm: randomU64(rnd),
        transfer: bool(),
      };
    case 'vote-response':
      return { ...header, type, preVote: bool(), granted: bool() };
    case 'append':
      return {
        ...header,
        type,
        prevIndex: randomU64(rnd),
        prevTerm: randomU64(rnd),
        entries: Array.from({ length: rnd.int(0, 6) }, () => randomEntry(rnd)),
        commit: randomU64(rnd),
      };
    case 'append-response':
      return {
        ...header,
        type,
        success: bool(),
        index: randomU64(rnd),
        hintIndex: randomU64(rnd),
        hintTerm: randomU64(rnd),
      };
    case 'heartbeat':
      return { ...header, type, commit: randomU64(rnd), readRound: randomU64(rnd) };
    case 'heartbeat-response':
      return { ...header, type, readRound: randomU64(rnd) };
    case 'snapshot':
      return {
        ...header,
        type,
        meta: {
          index: randomU64(rnd),
          term: randomU64(rnd),
          time: randomI64(rnd),
          config: randomConfig(rnd),
        },
        offset: randomU64(rnd),
        chunk: randomBytes(rnd),
        totalBytes: randomU64(rnd),
        chunkChecksum: rnd.uint32(),
        checksum: rnd.uint32(),
      };
    case 'snapshot-response':
      return {
        ...header,
        type,
        index: randomU64(rnd),
        nextOffset: randomU64(rnd),
        done: bool(),
        reject: bool(),
      };
    case 'timeout-now':
      return { ...header, type };
    case 'read-index':
      return { ...header, type, context: randomString(rnd) };
    case 'read-index-response':
      return { ...header, type, context: randomString(rnd), index: randomU64(rnd) };
  }
}

describe('randomized round trip', () => {
  it('round-trips 3000 random messages, singly and as batches', () => {
    const rnd = new Random(0x5eed);
    const seen = new Set<MessageType>();
    let batch: Envelope[] = [];
    for (let i = 0; i < 3000; i++) {
      const envelope: Envelope = { groupId: randomU64(rnd), message: randomMessage(rnd) };
      seen.add(envelope.message.type);
      expect(roundTrip(envelope.groupId, envelope.message)).toStrictEqual(envelope);
      batch.push(envelope);
      if (batch.length === 50) {
        expect(decodeBatch(encodeBatch(batch))).toStrictEqual(batch);
        batch = [];
      }
    }
    expect(seen.size).toBe(TYPES.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Invalid input

/** Bytes of a `RaftEnvelope` around a hand-built protobuf message, which may be invalid. */
function envelopeBytes(groupId: number, message: pb.Message): Uint8Array {
  return pb.RaftEnvelope.encode({ groupId, message }).finish();
}

describe('decoding invalid input', () => {
  it('rejects garbage', () => {
    expectCodecError(() => decodeMessage(bytes(0xff, 0xff, 0xff, 0xff)), /invalid RaftEnvelope/);
    expectCodecError(() => decodeMessage(bytes(0x12, 0x05, 0x01)), /invalid RaftEnvelope/);
    expectCodecError(() => decodeBatch(bytes(0x0a, 0x80)), /invalid RaftBatch/);
    expectCodecError(() => decodeMessage(new Uint8Array(0)), /envelope\.message: required/);
  });

  it('rejects every truncation of a valid envelope', () => {
    const wire = encodeMessage(9, samples.snapshot[0]!);
    for (let n = 0; n < wire.length; n++) {
      expect(() => decodeMessage(wire.subarray(0, n))).toThrow(CodecError);
    }
  });

  it('throws only CodecError on random bytes', () => {
    const rnd = new Random(7);
    for (let i = 0; i < 2000; i++) {
      const garbage = randomBytes(rnd);
      for (const decode of [decodeMessage, decodeBatch]) {
        try {
          decode(garbage);
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError);
        }
      }
    }
  });

  it('rejects a batch in which one message has no oneof set', () => {
    const good = toProtoMessage(samples.heartbeat[0]!);
    const wire = pb.RaftBatch.encode({
      messages: [
        { groupId: 1, message: good },
        { groupId: 2, message: { from: 'n1', to: 'n2', term: 1 } },
      ],
    }).finish();
    expectCodecError(() => decodeBatch(wire), /batch\.messages\[1\]\.message\.body: unset/);
  });

  it('rejects a batch in which an envelope has no message', () => {
    const wire = pb.RaftBatch.encode({ messages: [{ groupId: 1 }] }).finish();
    expectCodecError(() => decodeBatch(wire), /batch\.messages\[0\]\.message: required/);
  });

  it('rejects a message type this version does not know', () => {
    // A Message with `from` set and a body in field 15, as a newer sender might send.
    const message = new BinaryWriter()
      .uint32((1 << 3) | 2)
      .string('n1')
      .uint32((15 << 3) | 2)
      .bytes(new Uint8Array(0))
      .finish();
    const wire = new BinaryWriter()
      .uint32((1 << 3) | 0)
      .uint64(4)
      .uint32((2 << 3) | 2)
      .bytes(message)
      .finish();
    expectCodecError(() => decodeMessage(wire), /envelope\.message\.body: unset, or of a type/);
  });

  const pbConfig: pb.ClusterConfig = { voters: ['n1', 'n2', 'n3'], learners: [] };

  it('rejects an entry without a kind, and a config entry without its change or config', () => {
    const append = (entry: pb.Entry): pb.Message => ({
      ...h,
      body: { $case: 'append', value: { prevIndex: 0, prevTerm: 0, commit: 0, entries: [entry] } },
    });
    const head = { index: 1, term: 1, time: 1 };
    expectCodecError(
      () => decodeMessage(envelopeBytes(1, append(head))),
      /envelope\.message\.append\.entries\[0\]\.kind: unset/,
    );
    const noChange = append({ ...head, kind: { $case: 'config', value: { config: pbConfig } } });
    expectCodecError(
      () => decodeMessage(envelopeBytes(1, noChange)),
      /entries\[0\]\.config\.change: required/,
    );
    const change = { type: pb.ConfChangeType.CONF_CHANGE_TYPE_REMOVE, node: 'n1' };
    expectCodecError(
      () =>
        decodeMessage(
          envelopeBytes(1, append({ ...head, kind: { $case: 'config', value: { change } } })),
        ),
      /entries\[0\]\.config\.config: required/,
    );
  });

  it('rejects an unspecified or unknown conf change type', () => {
    for (const type of [pb.ConfChangeType.CONF_CHANGE_TYPE_UNSPECIFIED, 7 as pb.ConfChangeType]) {
      const entry: pb.Entry = {
        index: 1,
        term: 1,
        time: 1,
        kind: { $case: 'config', value: { change: { type, node: 'n1' }, config: pbConfig } },
      };
      const message: pb.Message = {
        ...h,
        body: {
          $case: 'append',
          value: { prevIndex: 0, prevTerm: 0, commit: 0, entries: [entry] },
        },
      };
      expectCodecError(
        () => decodeMessage(envelopeBytes(1, message)),
        new RegExp(
          `entries\\[0\\]\\.config\\.change\\.type: unspecified or unknown conf change type ${type}`,
        ),
      );
    }
  });

  it('rejects a snapshot chunk without meta, and meta without config', () => {
    const chunk = (m: pb.SnapshotMeta | undefined): pb.Message => ({
      ...h,
      body: {
        $case: 'snapshot',
        value: {
          meta: m,
          offset: 0,
          chunk: Buffer.alloc(0),
          totalBytes: 0,
          chunkChecksum: 0,
          checksum: 0,
        },
      },
    });
    expectCodecError(
      () => decodeMessage(envelopeBytes(1, chunk(undefined))),
      /envelope\.message\.snapshot\.meta: required/,
    );
    expectCodecError(
      () => decodeMessage(envelopeBytes(1, chunk({ index: 1, term: 1, time: 1 }))),
      /envelope\.message\.snapshot\.meta\.config: required/,
    );
  });

  it('rejects uint64 values above 2^53-1', () => {
    const heartbeat = new BinaryWriter()
      .uint32((1 << 3) | 0)
      .uint64(2n ** 53n)
      .finish();
    const message = new BinaryWriter().uint32((8 << 3) | 2).bytes(heartbeat).finish();
    const wire = new BinaryWriter().uint32((2 << 3) | 2).bytes(message).finish();
    expectCodecError(() => decodeMessage(wire), /invalid RaftEnvelope.*MAX_SAFE_INTEGER/);
    const tooLargeGroup = new BinaryWriter().uint32((1 << 3) | 0).uint64(2n ** 64n - 1n).finish();
    expectCodecError(() => decodeMessage(tooLargeGroup), /invalid RaftEnvelope/);
  });
});

describe('encoding invalid values', () => {
  it('rejects numbers that do not fit their wire type', () => {
    const hb = samples.heartbeat[0]!;
    expectCodecError(() => encodeMessage(-1, hb), /groupId: expected an integer in \[0, 2\^53-1\]/);
    expectCodecError(() => encodeMessage(2 ** 53, hb), /groupId/);
    expectCodecError(() => encodeMessage(1, { ...hb, term: 1.5 }), /message\.term.*1\.5/);
    expectCodecError(
      () => encodeMessage(1, { ...hb, commit: Number.NaN }),
      /heartbeat\.commit.*NaN/,
    );
    const snap = samples.snapshot[0]!;
    expectCodecError(() => encodeMessage(1, { ...snap, checksum: 2 ** 32 }), /snapshot\.checksum/);
    expectCodecError(
      () => encodeMessage(1, { ...snap, meta: { ...meta, time: Infinity } }),
      /snapshotMeta\.time/,
    );
    const entry: Entry = { index: 1, term: -2, time: 0, kind: 'noop' };
    const append: Message = {
      ...h,
      type: 'append',
      prevIndex: 0,
      prevTerm: 0,
      commit: 0,
      entries: [entry],
    };
    expectCodecError(() => encodeMessage(1, append), /entry\.term.*-2/);
  });

  it('rejects a message type the codec does not know', () => {
    const bogus = { ...h, type: 'gossip' } as unknown as Message;
    expectCodecError(() => encodeMessage(1, bogus), /unknown message type "gossip"/);
  });
});
