/**
 * What a node writes into its logs (tagged commands) and the layout of its snapshots.
 */
import { describe, expect, it } from 'vitest';
import {
  TAG_MEMBER_ADDRESS,
  TAG_STATE_MACHINE,
  decodeCommand,
  decodeHostSnapshot,
  encodeHostSnapshot,
  encodeMemberAddress,
  encodeStateMachineCommand,
} from '../../src/node/commands.js';

const enc = new TextEncoder();

/** A snapshot with a hand-made header. */
function withHeader(header: string, tail: Uint8Array = new Uint8Array(0), declaredLength?: number): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(4 + h.length + tail.length);
  new DataView(out.buffer).setUint32(0, declaredLength ?? h.length);
  out.set(h, 4);
  out.set(tail, 4 + h.length);
  return out;
}

describe('commands', () => {
  it('round-trips a state-machine command, its first byte being the tag', () => {
    const payload = new Uint8Array([0, 1, 2, 255, 2, 1]);
    const data = encodeStateMachineCommand(payload);
    expect(data[0]).toBe(TAG_STATE_MACHINE);
    expect(data.length).toBe(payload.length + 1);
    const cmd = decodeCommand(data);
    expect(cmd.tag).toBe(TAG_STATE_MACHINE);
    if (cmd.tag !== TAG_STATE_MACHINE) throw new Error('unreachable');
    expect([...cmd.payload]).toEqual([...payload]);
  });

  it('round-trips an empty state-machine command', () => {
    const cmd = decodeCommand(encodeStateMachineCommand(new Uint8Array(0)));
    expect(cmd).toMatchObject({ tag: TAG_STATE_MACHINE });
    if (cmd.tag !== TAG_STATE_MACHINE) throw new Error('unreachable');
    expect(cmd.payload.length).toBe(0);
  });

  it('round-trips member-address entries, including non-ASCII and IPv6 addresses', () => {
    for (const [member, address] of [
      ['node-1@9f3a02c4', '10.0.0.1:7400'],
      ['nœud-2@00000000', '[::1]:7400'],
      ['', ''],
    ] as const) {
      const data = encodeMemberAddress(member, address);
      expect(data[0]).toBe(TAG_MEMBER_ADDRESS);
      expect(decodeCommand(data)).toEqual({ tag: TAG_MEMBER_ADDRESS, member, address });
    }
  });

  it('rejects an unknown tag, an empty entry and malformed member-address entries', () => {
    expect(() => decodeCommand(new Uint8Array([9, 1, 2]))).toThrow(/unknown command tag 9/);
    expect(() => decodeCommand(new Uint8Array([0]))).toThrow(/unknown command tag 0/);
    expect(() => decodeCommand(new Uint8Array(0))).toThrow(/unknown command tag undefined/);
    const tagged = (s: string): Uint8Array => new Uint8Array([TAG_MEMBER_ADDRESS, ...enc.encode(s)]);
    expect(() => decodeCommand(tagged('{"member":"a"}'))).toThrow(/invalid member address entry/);
    expect(() => decodeCommand(tagged('{"member":1,"address":"x"}'))).toThrow(/invalid member address entry/);
    expect(() => decodeCommand(tagged('{"member":'))).toThrow(SyntaxError);
    // Invalid UTF-8.
    expect(() => decodeCommand(new Uint8Array([TAG_MEMBER_ADDRESS, 0xff, 0xfe]))).toThrow(TypeError);
  });
});

describe('host snapshots', () => {
  it('round-trip the address book and the state machine bytes', () => {
    const addresses = new Map([
      ['a@1', '127.0.0.1:1'],
      ['b@2', '[::1]:2'],
    ]);
    const stateMachine = new Uint8Array([5, 4, 3, 2, 1, 0, 255]);
    const data = encodeHostSnapshot({ addresses, stateMachine });
    const back = decodeHostSnapshot(data);
    expect(back.addresses).toEqual(addresses);
    expect([...back.stateMachine]).toEqual([...stateMachine]);
  });

  it('round-trip an empty address book and empty state', () => {
    const data = encodeHostSnapshot({ addresses: new Map(), stateMachine: new Uint8Array(0) });
    expect(data.length).toBeGreaterThan(4);
    const back = decodeHostSnapshot(data);
    expect(back.addresses.size).toBe(0);
    expect(back.stateMachine.length).toBe(0);
  });

  it('decode from a view into a larger buffer (non-zero byteOffset)', () => {
    const data = encodeHostSnapshot({ addresses: new Map([['a@1', 'h:1']]), stateMachine: new Uint8Array([9, 8]) });
    const padded = new Uint8Array(data.length + 10);
    padded.set(data, 7);
    const back = decodeHostSnapshot(padded.subarray(7, 7 + data.length));
    expect(back.addresses).toEqual(new Map([['a@1', 'h:1']]));
    expect([...back.stateMachine]).toEqual([9, 8]);
  });

  it('decode the empty snapshot of a never-compacted log as empty state', () => {
    const back = decodeHostSnapshot(new Uint8Array(0));
    expect(back.addresses.size).toBe(0);
    expect(back.stateMachine.length).toBe(0);
  });

  it('fail clearly on truncated, garbage and unknown-version snapshots', () => {
    const good = encodeHostSnapshot({ addresses: new Map([['a@1', 'h:1']]), stateMachine: new Uint8Array([1, 2, 3]) });
    expect(() => decodeHostSnapshot(good.subarray(0, 3))).toThrow(/snapshot of 3 bytes is too short/);
    // The header cut short: its declared length overruns the bytes.
    const headerLength = new DataView(good.buffer).getUint32(0);
    expect(() => decodeHostSnapshot(good.subarray(0, 4 + headerLength - 1))).toThrow(
      new RegExp(`snapshot header of ${headerLength} bytes overruns the snapshot`),
    );
    // Garbage: a huge declared length.
    expect(() => decodeHostSnapshot(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2]))).toThrow(/overruns the snapshot/);
    // Garbage: a header that is not JSON, or not UTF-8.
    expect(() => decodeHostSnapshot(withHeader('not json'))).toThrow(/snapshot header is not valid JSON/);
    expect(() => decodeHostSnapshot(new Uint8Array([0, 0, 0, 2, 0xff, 0xfe]))).toThrow(/snapshot header is not valid JSON/);
    // Unknown or missing version.
    expect(() => decodeHostSnapshot(withHeader('{"version":2,"addresses":{}}'))).toThrow(/unknown snapshot version 2/);
    expect(() => decodeHostSnapshot(withHeader('{"addresses":{}}'))).toThrow(/unknown snapshot version undefined/);
    expect(() => decodeHostSnapshot(withHeader('null'))).toThrow(/snapshot header is not a JSON object/);
  });

  it('ignore non-string addresses and accept a missing address book', () => {
    const back = decodeHostSnapshot(withHeader('{"version":1,"addresses":{"a":"h:1","b":7}}', new Uint8Array([1])));
    expect(back.addresses).toEqual(new Map([['a', 'h:1']]));
    expect([...back.stateMachine]).toEqual([1]);
    expect(decodeHostSnapshot(withHeader('{"version":1}')).addresses.size).toBe(0);
  });
});
