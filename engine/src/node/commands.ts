/**
 * What a node writes into its Raft logs, and the layout of its snapshots.
 *
 * A normal entry's data starts with a one-byte tag saying who applies it: the group's state
 * machine (SQL, topics, the test key-value store), or the node host itself, which keeps the
 * group's address book (member id → address peers dial) in the log so that every member, and
 * every future member restored from a snapshot, knows how to reach every other member.
 *
 * A snapshot holds the host's own state (the address book) beside the state machine's bytes:
 *   [u32 big-endian length of the JSON header][JSON header][state machine snapshot bytes]
 */
import type { NodeId } from '../raft/index.js';

export const TAG_STATE_MACHINE = 1;
export const TAG_MEMBER_ADDRESS = 2;

export type Command =
  | { readonly tag: typeof TAG_STATE_MACHINE; readonly payload: Uint8Array }
  | { readonly tag: typeof TAG_MEMBER_ADDRESS; readonly member: NodeId; readonly address: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeStateMachineCommand(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = TAG_STATE_MACHINE;
  out.set(payload, 1);
  return out;
}

export function encodeMemberAddress(member: NodeId, address: string): Uint8Array {
  const json = encoder.encode(JSON.stringify({ member, address }));
  const out = new Uint8Array(json.length + 1);
  out[0] = TAG_MEMBER_ADDRESS;
  out.set(json, 1);
  return out;
}

/** Decodes an entry's data; throws on an unknown tag (an entry from a newer version). */
export function decodeCommand(data: Uint8Array): Command {
  const tag = data[0];
  if (tag === TAG_STATE_MACHINE) return { tag, payload: data.subarray(1) };
  if (tag === TAG_MEMBER_ADDRESS) {
    const v = JSON.parse(decoder.decode(data.subarray(1))) as { member?: unknown; address?: unknown };
    if (typeof v.member !== 'string' || typeof v.address !== 'string') throw new Error('invalid member address entry');
    return { tag, member: v.member, address: v.address };
  }
  throw new Error(`unknown command tag ${String(tag)}: written by a newer engine version?`);
}

export interface HostSnapshot {
  readonly addresses: ReadonlyMap<NodeId, string>;
  readonly stateMachine: Uint8Array;
}

export function encodeHostSnapshot(s: HostSnapshot): Uint8Array {
  const header = encoder.encode(JSON.stringify({ version: 1, addresses: Object.fromEntries(s.addresses) }));
  const out = new Uint8Array(4 + header.length + s.stateMachine.length);
  new DataView(out.buffer).setUint32(0, header.length);
  out.set(header, 4);
  out.set(s.stateMachine, 4 + header.length);
  return out;
}

export function decodeHostSnapshot(data: Uint8Array): HostSnapshot {
  // The empty snapshot of a log that was never compacted.
  if (data.length === 0) return { addresses: new Map(), stateMachine: new Uint8Array(0) };
  if (data.length < 4) throw new Error(`snapshot of ${data.length} bytes is too short`);
  const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
  if (4 + len > data.length) throw new Error(`snapshot header of ${len} bytes overruns the snapshot`);
  let header: { version?: unknown; addresses?: unknown };
  try {
    header = JSON.parse(decoder.decode(data.subarray(4, 4 + len))) as typeof header;
  } catch (err) {
    throw new Error(`snapshot header is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof header !== 'object' || header === null) throw new Error('snapshot header is not a JSON object');
  if (header.version !== 1) throw new Error(`unknown snapshot version ${String(header.version)}`);
  const addresses = new Map<NodeId, string>();
  for (const [k, v] of Object.entries((header.addresses ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') addresses.set(k, v);
  }
  return { addresses, stateMachine: data.subarray(4 + len) };
}
