/**
 * The raft core over LogStore: members persist every Ready in SQLite, crash (close the file) and
 * restart from it alone, and the cluster carries on — including a follower brought back by a
 * snapshot after the leader compacted the entries it missed.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RawNode } from '../../src/raft/index.js';
import type { Message, NodeId } from '../../src/raft/index.js';
import { memberId } from '../../src/storage/index.js';
import type { LogStore } from '../../src/storage/index.js';
import { open, useTempDir } from './helpers.js';

const tmp = useTempDir();
const GROUP = 42;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Member {
  readonly id: NodeId;
  readonly file: string;
  store: LogStore;
  node: RawNode;
  /** The state machine: every normal entry applied, in order. */
  state: string[];
}

/** Starts (or restarts) a member from its file alone: the state machine from the snapshot, the rest from the log. */
function start(file: string, store = open(file)): Member {
  const id = memberId(store.identity()!);
  const snap = store.group(GROUP).snapshot();
  const state = snap.data.length > 0 ? (JSON.parse(decoder.decode(snap.data)) as string[]) : [];
  return { id, file, store, node: new RawNode({ id, storage: store.group(GROUP) }), state };
}

/** Persists, sends, applies and advances every pending Ready of `m`, as the contract says. */
function handle(m: Member): Message[] {
  const out: Message[] = [];
  while (m.node.hasReady()) {
    const rd = m.node.ready();
    m.store.persist([{ groupId: GROUP, snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState }]);
    out.push(...rd.messages);
    if (rd.snapshot) m.state = JSON.parse(decoder.decode(rd.snapshot.data)) as string[];
    for (const e of rd.committedEntries) if (e.kind === 'normal') m.state.push(decoder.decode(e.data));
    m.node.advance(rd);
  }
  return out;
}

class Cluster {
  readonly members = new Map<NodeId, Member>();
  readonly down = new Set<NodeId>();

  add(m: Member): void {
    this.members.set(m.id, m);
    this.down.delete(m.id);
  }

  get(id: NodeId): Member {
    return this.members.get(id)!;
  }

  up(): Member[] {
    return [...this.members.values()].filter((m) => !this.down.has(m.id));
  }

  stabilize(): void {
    for (let round = 0; round < 1000; round++) {
      const msgs = this.up().flatMap(handle);
      if (msgs.length === 0) return;
      for (const msg of msgs) if (!this.down.has(msg.to)) this.members.get(msg.to)?.node.step(msg);
    }
    throw new Error('did not stabilize');
  }

  tick(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const m of this.up()) m.node.tick(1_000_000 + i);
      this.stabilize();
    }
  }

  crash(id: NodeId): void {
    this.get(id).store.close();
    this.down.add(id);
  }

  restart(id: NodeId): Member {
    const m = start(this.get(id).file);
    this.add(m);
    return m;
  }

  propose(leader: Member, values: string[]): void {
    for (const v of values) leader.node.propose(encoder.encode(v));
    this.stabilize();
  }
}

const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('the raft core on LogStore', () => {
  it('a single voter campaigns, commits, survives a restart and continues', () => {
    const file = path.join(tmp.dir(), 'raft.db');
    const store = open(file);
    store.createGroup(GROUP, { voters: [memberId(store.initIdentity('solo'))], learners: [] });
    let m = start(file, store);
    m.node.campaign();
    handle(m);
    expect(m.node.status().role).toBe('leader');
    for (const v of values('x', 10)) m.node.propose(encoder.encode(v));
    handle(m);
    expect(m.state).toEqual(values('x', 10));
    const hs = m.store.group(GROUP).hardState();
    const log = m.store.group(GROUP).entries(1, m.store.group(GROUP).lastIndex() + 1, Infinity);
    expect(hs.commit).toBe(11); // the leader's empty entry, then ten proposals
    m.store.close();

    m = start(file);
    expect(m.store.group(GROUP).hardState()).toEqual(hs);
    expect(m.store.group(GROUP).entries(1, 12, Infinity)).toEqual(log);
    handle(m); // re-applies the committed log
    expect(m.state).toEqual(values('x', 10));
    m.node.campaign();
    handle(m);
    m.node.propose(encoder.encode('after'));
    handle(m);
    expect(m.state).toEqual([...values('x', 10), 'after']);
    expect(m.store.group(GROUP).hardState().term).toBe(hs.term + 1);
    m.store.close();
  });

  it('three members replicate, compact, catch a follower up by snapshot and restart from disk', () => {
    const c = new Cluster();
    const files = ['a', 'b', 'c'].map((name) => path.join(tmp.dir(), `${name}.db`));
    const stores = files.map((file, i) => {
      const s = open(file);
      s.initIdentity(['a', 'b', 'c'][i]!);
      return s;
    });
    const voters = stores.map((s) => memberId(s.identity()!));
    for (const [i, s] of stores.entries()) {
      s.createGroup(GROUP, { voters, learners: [] });
      c.add(start(files[i]!, s));
    }
    const [a, b, third] = voters as [NodeId, NodeId, NodeId];

    c.get(a).node.campaign();
    c.stabilize();
    c.propose(c.get(a), values('v', 20));
    for (const id of voters) expect(c.get(id).state).toEqual(values('v', 20));

    // c misses 30 entries, which the leader then compacts away.
    c.crash(third);
    c.propose(c.get(a), values('w', 30));
    const leader = c.get(a);
    const applied = leader.node.raft.log.applied;
    leader.store.compact(GROUP, applied, leader.node.raft.configs.at(applied), encoder.encode(JSON.stringify(leader.state)));
    expect(leader.store.group(GROUP).firstIndex()).toBe(applied + 1);

    c.restart(third);
    c.tick(3);
    const expected = [...values('v', 20), ...values('w', 30)];
    expect(c.get(third).state).toEqual(expected);
    expect(c.get(third).store.group(GROUP).snapshot().meta.index).toBe(applied);

    // Everyone crashes; each comes back from its file alone, and a new leader carries on.
    for (const id of voters) c.crash(id);
    for (const id of voters) c.restart(id);
    c.stabilize();
    for (const id of voters) expect(c.get(id).state).toEqual(expected);
    c.get(b).node.campaign();
    c.stabilize();
    expect(c.get(b).node.status().role).toBe('leader');
    c.propose(c.get(b), ['last']);
    for (const id of voters) {
      expect(c.get(id).state).toEqual([...expected, 'last']);
      c.get(id).store.close();
    }
  });
});
