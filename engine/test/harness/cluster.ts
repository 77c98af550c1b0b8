/**
 * A lockstep in-memory cluster for unit tests: every member is a RawNode over MemoryStorage,
 * Ready batches are handled exactly as the contract says (persist, send, apply, advance), and
 * messages are delivered by the test, optionally through a filter that drops or rewrites them.
 * Restarting a member rebuilds it from what its storage holds, nothing else.
 */
import { MemoryStorage, RawNode } from '../../src/raft/index.js';
import type { ClusterConfig, Entry, Message, NodeId, RaftOptions, ReadState, Ready } from '../../src/raft/index.js';

export interface Member {
  readonly id: NodeId;
  node: RawNode;
  readonly storage: MemoryStorage;
  /** Every entry applied, in order (rebuilt from the snapshot's record on restart). */
  applied: Entry[];
  readStates: ReadState[];
  /** The state machine: a simple register of the last applied normal entry per key. */
  readonly kv: Map<string, string>;
}

export type Filter = (m: Message) => Message | null;

export type MemberOptions = Partial<Omit<RaftOptions, 'id' | 'storage'>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes `key=value` as a command; anything else is an opaque payload. */
export function command(key: string, value: string): Uint8Array {
  return encoder.encode(`${key}=${value}`);
}

export class Cluster {
  readonly members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered. */
  inFlight: Message[] = [];
  filter: Filter | null = null;
  private down = new Set<NodeId>();
  private seed = 1;

  constructor(
    ids: readonly NodeId[],
    private readonly options: MemberOptions = {},
    initialVoters: readonly NodeId[] = ids,
  ) {
    const config: ClusterConfig = { voters: [...initialVoters], learners: [] };
    for (const id of ids) {
      const storage = new MemoryStorage(initialVoters.includes(id) ? config : undefined);
      this.members.set(id, this.makeMember(id, storage));
    }
  }

  /** Adds a new, empty member (not in any configuration yet). */
  addEmpty(id: NodeId, options: MemberOptions = {}): Member {
    const m = this.makeMember(id, new MemoryStorage(), options);
    this.members.set(id, m);
    return m;
  }

  private makeMember(id: NodeId, storage: MemoryStorage, extra: MemberOptions = {}): Member {
    const node = new RawNode({ id, storage, randomSeed: this.seed++, ...this.options, ...extra });
    return { id, node, storage, applied: [], readStates: [], kv: new Map() };
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: NodeId): RawNode {
    return this.get(id).node;
  }

  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => !this.down.has(m.id) && m.node.raft.role === 'leader').map((m) => m.id);
  }

  /** Handles every member's Ready once; returns whether anything happened. */
  processReady(): boolean {
    let any = false;
    for (const m of this.members.values()) {
      if (this.down.has(m.id) || !m.node.hasReady()) continue;
      any = true;
      this.handle(m, m.node.ready());
    }
    return any;
  }

  private handle(m: Member, rd: Ready): void {
    if (rd.snapshot) {
      m.storage.applySnapshot(rd.snapshot);
      const restored = JSON.parse(decoder.decode(rd.snapshot.data) || '{"kv":[],"applied":0}') as { kv: [string, string][] };
      m.kv.clear();
      for (const [k, v] of restored.kv) m.kv.set(k, v);
    }
    m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    this.inFlight.push(...rd.messages);
    for (const e of rd.committedEntries) {
      m.applied.push(e);
      if (e.kind === 'normal') {
        const text = decoder.decode(e.data);
        const eq = text.indexOf('=');
        if (eq > 0) m.kv.set(text.slice(0, eq), text.slice(eq + 1));
      }
    }
    m.readStates.push(...rd.readStates);
    m.node.advance(rd);
  }

  /** Delivers every message in flight (through the filter), once. */
  deliverOnce(): boolean {
    const batch = this.inFlight;
    this.inFlight = [];
    for (const original of batch) {
      const msg = this.filter ? this.filter(original) : original;
      if (msg === null || this.down.has(msg.to)) continue;
      this.members.get(msg.to)?.node.step(msg);
    }
    return batch.length > 0;
  }

  /** Runs Ready handling and delivery until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      const a = this.processReady();
      const b = this.deliverOnce();
      if (!a && !b) return;
    }
    throw new Error('cluster did not stabilize');
  }

  tickAll(times = 1): void {
    for (let t = 0; t < times; t++) {
      for (const m of this.members.values()) if (!this.down.has(m.id)) m.node.tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign and settles; returns the leader afterwards. */
  elect(id: NodeId): NodeId {
    this.node(id).campaign();
    this.stabilize();
    const leaders = this.leaders();
    if (leaders.length !== 1) throw new Error(`expected one leader, got [${leaders.join(', ')}]`);
    return leaders[0] as NodeId;
  }

  /** Proposes `key=value` on `id` and settles. */
  put(id: NodeId, key: string, value: string): { index: number; term: number } {
    const r = this.node(id).propose(command(key, value));
    this.stabilize();
    return r;
  }

  /** Crashes a member: its in-memory state is gone, its storage stays. */
  crash(id: NodeId): void {
    this.down.add(id);
  }

  /** Restarts a crashed member from its storage alone. */
  restart(id: NodeId, extra: MemberOptions = {}): Member {
    const old = this.get(id);
    this.down.delete(id);
    const fresh = this.makeMember(id, old.storage, extra);
    // The state machine restarts from the snapshot and re-applies the committed log.
    const snap = old.storage.snapshot();
    if (snap.data.length > 0) {
      const restored = JSON.parse(decoder.decode(snap.data)) as { kv: [string, string][] };
      for (const [k, v] of restored.kv) fresh.kv.set(k, v);
    }
    this.members.set(id, fresh);
    return fresh;
  }

  isDown(id: NodeId): boolean {
    return this.down.has(id);
  }

  /** Compacts `id`'s log through its applied index with a snapshot of its state machine. */
  compact(id: NodeId, index?: number): void {
    const m = this.get(id);
    const at = index ?? m.node.raft.log.applied;
    const data = encoder.encode(JSON.stringify({ kv: [...m.kv.entries()] }));
    m.storage.compact(at, m.node.raft.configs.at(at), data);
  }

  /** Drops all messages between the two groups (both ways) until healed. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    const cut = (x: NodeId, y: NodeId): boolean => (a.includes(x) && b.includes(y)) || (b.includes(x) && a.includes(y));
    this.filter = (m) => (cut(m.from, m.to) ? null : m);
  }

  isolate(id: NodeId): void {
    this.filter = (m) => (m.from === id || m.to === id ? null : m);
  }

  heal(): void {
    this.filter = null;
  }

  /** The data of every applied normal entry, as strings. */
  appliedData(id: NodeId): string[] {
    return this.get(id).applied.flatMap((e) => (e.kind === 'normal' ? [decoder.decode(e.data)] : []));
  }
}
