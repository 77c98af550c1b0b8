import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftError, Random, RawNode, entrySize } from '../../src/raft/index.js';
import type { Entry, Message, NodeId } from '../../src/raft/index.js';
import { Cluster, command } from '../harness/cluster.js';
import { Tap, cut, logOf, shape } from './helpers.js';

const CONFIG = { voters: ['a', 'b', 'c'], learners: [] };

/**
 * Checks, for each message as it leaves its sender, that what it depends on is already durable
 * in the sender's storage. In the lockstep harness a member persists a Ready, then its messages
 * are delivered before it handles another Ready, so the sender's storage at delivery time is
 * exactly what it had persisted when it sent the message.
 */
class ContractChecker {
  readonly counts = { votes: 0, grants: 0, appends: 0, acks: 0, snapshotsDone: 0, other: 0 };

  constructor(private readonly c: Cluster) {}

  check(m: Message): void {
    const s = this.c.get(m.from).storage;
    const hs = s.hardState();
    const where = `${m.type} ${m.from}->${m.to} @${m.term}`;
    const preVote = (m.type === 'vote' || m.type === 'vote-response') && m.preVote;
    if (!preVote) expect(m.term, `${where}: term not persisted`).toBeLessThanOrEqual(hs.term);
    switch (m.type) {
      case 'vote':
        if (!m.preVote) {
          this.counts.votes++;
          expect([hs.term, hs.vote], `${where}: own vote not persisted`).toEqual([m.term, m.from]);
          expect(s.lastIndex(), `${where}: advertised log not persisted`).toBeGreaterThanOrEqual(m.lastIndex);
        }
        break;
      case 'vote-response':
        if (!m.preVote && m.granted) {
          this.counts.grants++;
          expect([hs.term, hs.vote], `${where}: granted vote not persisted`).toEqual([m.term, m.to]);
        }
        break;
      case 'append': {
        const last = m.entries.at(-1);
        if (last) {
          this.counts.appends++;
          expect(s.lastIndex(), `${where}: entries sent before persisted`).toBeGreaterThanOrEqual(last.index);
          expect(s.term(last.index)).toBe(last.term);
        }
        break;
      }
      case 'append-response':
        if (m.success) {
          this.counts.acks++;
          expect(s.lastIndex(), `${where}: acknowledged entries not persisted`).toBeGreaterThanOrEqual(m.index);
        }
        break;
      case 'snapshot-response':
        if (m.done) {
          this.counts.snapshotsDone++;
          expect(Math.max(s.snapshot().meta.index, hs.commit), `${where}: snapshot not persisted`).toBeGreaterThanOrEqual(m.index);
        }
        break;
      default:
        this.counts.other++;
    }
  }

  /** Every member's persisted commit index is within its persisted log. */
  checkStorage(): void {
    for (const [id, m] of this.c.members) {
      expect(m.storage.hardState().commit, `${id}: commit beyond its log`).toBeLessThanOrEqual(m.storage.lastIndex());
    }
  }
}

function isRaftError(e: unknown): boolean {
  return e instanceof RaftError;
}

describe('the Ready contract: what a message depends on is durable before it is sent', () => {
  it('a candidate’s Ready carries its new term and self-vote together with its vote requests', () => {
    const b = new RawNode({ id: 'b', storage: new MemoryStorage(CONFIG), preVote: false });
    b.campaign();
    const rd = b.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 'b', commit: 0 });
    expect(rd.messages.map((m) => m.type === 'vote' && [m.to, m.term])).toEqual([
      ['a', 1],
      ['c', 1],
    ]);
  });

  it('a follower’s Ready carries the received entries together with the acknowledgement of them', () => {
    const storage = new MemoryStorage(CONFIG);
    const b = new RawNode({ id: 'b', storage });
    const entries: Entry[] = [
      { index: 1, term: 1, time: 0, kind: 'noop' },
      { index: 2, term: 1, time: 0, kind: 'normal', data: command('k', 'v') },
    ];
    b.step({ type: 'append', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, entries, commit: 0 });
    const rd = b.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(rd.hardState?.term).toBe(1);
    const ack = rd.messages.find((m) => m.type === 'append-response');
    expect(ack?.type === 'append-response' && [ack.success, ack.index]).toEqual([true, 2]);
    // Nothing is stable until the driver says so.
    expect(storage.lastIndex()).toBe(0);
  });

  it('a leader counts its own entries only once persisted: a single voter commits after advance()', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [] });
    const a = new RawNode({ id: 'a', storage });
    a.campaign();
    const rd = a.ready();
    expect(rd.entries.map((e) => e.kind)).toEqual(['noop']);
    expect(rd.committedEntries).toEqual([]);
    expect(a.raft.log.committed).toBe(0);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    a.advance(rd);
    expect(a.raft.log.committed).toBe(1);
    const next = a.ready();
    expect(next.hardState?.commit).toBe(1);
    expect(next.committedEntries.map((e) => e.index)).toEqual([1]);
  });

  it.each([1, 2, 3, 4, 5])('holds for every message through elections, partitions, crashes and snapshots (seed %i)', (seed) => {
    const ids: NodeId[] = ['a', 'b', 'c', 'd', 'e'];
    const c = new Cluster(ids, { snapshotChunkBytes: 64 });
    const checker = new ContractChecker(c);
    const tap = new Tap(c);
    let partition: ((m: Message) => Message | null) | null = null;
    tap.inner = (m) => {
      checker.check(m);
      return partition ? partition(m) : m;
    };
    const r = new Random(seed);
    let n = 0;
    for (let step = 0; step < 400; step++) {
      const leader = c.leaders()[0];
      const roll = r.float();
      if (roll < 0.45 && leader !== undefined) {
        try {
          c.node(leader).propose(command(`k${r.int(0, 9)}`, String(n++)));
        } catch (e) {
          if (!isRaftError(e)) throw e;
        }
      } else if (roll < 0.5) {
        const shuffled = [...ids].sort(() => r.float() - 0.5);
        const k = r.int(1, 2);
        partition = cut(shuffled.slice(0, k), shuffled.slice(k));
      } else if (roll < 0.56) {
        partition = null;
      } else if (roll < 0.6) {
        const up = ids.filter((id) => !c.isDown(id));
        if (up.length > 3) c.crash(r.pick(up));
      } else if (roll < 0.68) {
        const down = ids.filter((id) => c.isDown(id));
        if (down.length > 0) c.restart(r.pick(down), { snapshotChunkBytes: 64 });
      } else if (roll < 0.72) {
        const up = ids.filter((id) => !c.isDown(id));
        c.compact(r.pick(up));
      }
      c.tickAll(1);
      checker.checkStorage();
    }
    partition = null;
    for (const id of ids) if (c.isDown(id)) c.restart(id, { snapshotChunkBytes: 64 });
    c.tickAll(60);
    checker.checkStorage();
    expect(checker.counts.votes).toBeGreaterThan(0);
    expect(checker.counts.grants).toBeGreaterThan(0);
    expect(checker.counts.appends).toBeGreaterThan(20);
    expect(checker.counts.acks).toBeGreaterThan(20);
    expect(checker.counts.snapshotsDone).toBeGreaterThan(0);
    // And the cluster converged: every member's log is the leader's.
    const leader = c.leaders()[0] as NodeId;
    expect(leader).toBeDefined();
    for (const id of ids) {
      expect(c.node(id).raft.log.committed).toBe(c.node(leader).raft.log.committed);
      expect(c.get(id).kv).toEqual(c.get(leader).kv);
    }
  });
});

describe('crash and restart from storage alone', () => {
  it('a follower restarts with its term, vote, log, commit and configuration, and rebuilds its state machine', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) c.put('a', `k${i}`, String(i));
    c.tickAll(1);
    const before = c.node('b').status();
    const log = shape(c, 'b');
    const kv = new Map(c.get('b').kv);
    c.crash('b');
    const b = c.restart('b');
    const after = b.node.status();
    expect([after.term, after.vote, after.commit, after.lastIndex]).toEqual([before.term, before.vote, before.commit, before.lastIndex]);
    expect(after.config).toEqual(before.config);
    expect(shape(c, 'b')).toEqual(log);
    expect(after.role).toBe('follower');
    // The state machine restarts empty and re-applies the committed log.
    expect(b.kv.size).toBe(0);
    c.stabilize();
    expect(b.kv).toEqual(kv);
    expect(b.applied.map((e) => e.index)).toEqual(Array.from({ length: before.commit }, (_, i) => i + 1));
  });

  it('a leader that crashes restarts as a follower of the same term, with its vote and log', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.put('a', 'k', 'v');
    const before = c.node('a').status();
    c.crash('a');
    const a = c.restart('a');
    expect(a.node.status().term).toBe(before.term);
    expect(a.node.status().vote).toBe('a');
    expect(a.node.status().role).toBe('follower');
    expect(a.node.status().lastIndex).toBe(before.lastIndex);
    expect(a.node.status().commit).toBe(before.commit);
  });

  it('entries a member acknowledged survive its crash, so a committed entry is never lost', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = (m) => (m.to === 'c' || m.from === 'c' ? null : m);
    const { index } = c.put('a', 'k', 'v');
    expect(c.node('a').raft.log.committed).toBe(index);
    // Both holders of the entry that matter crash and restart; the entry is in b's storage.
    c.crash('a');
    c.crash('b');
    c.restart('b');
    tap.inner = null;
    const entries = logOf(c, 'b');
    expect(entries.find((e) => e.index === index)?.term).toBe(c.node('b').raft.term);
    c.restart('a');
    c.tickAll(40);
    for (const id of ['a', 'b', 'c']) expect(c.get(id).kv.get('k')).toBe('v');
  });
});

describe('a member restarted in the middle of an election does not vote twice in a term', () => {
  /** b votes for a in term 1 and crashes before its answer gets out; c then asks in term 1. */
  function voteThenCrash(lose: boolean): { c: Cluster; tap: Tap } {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false });
    const tap = new Tap(c);
    tap.inner = (m) => (m.from === 'a' && m.to === 'b' ? m : null);
    c.node('a').campaign();
    c.processReady(); // a persists and sends its vote request
    c.deliverOnce(); // only b receives it
    c.processReady(); // b persists its vote and "sends" the grant...
    c.crash('b'); // ...and crashes
    c.inFlight = []; // the grant is lost with it
    expect(c.get('b').storage.hardState()).toEqual({ term: 1, vote: 'a', commit: 0 });
    if (lose) c.get('b').storage.setHardState({ term: 0, vote: null, commit: 0 });
    c.restart('b');
    tap.inner = (m) => (m.from === 'a' || m.to === 'a' ? null : m);
    tap.clear();
    c.node('c').campaign();
    c.stabilize();
    return { c, tap };
  }

  it('the restarted member refuses a second candidate in the same term', () => {
    const { c, tap } = voteThenCrash(false);
    expect(c.node('c').raft.term).toBe(1);
    const answers = tap.of('vote-response', { from: 'b', to: 'c' });
    expect(answers.map((m) => [m.term, m.granted])).toEqual([[1, false]]);
    expect(c.node('b').raft.vote).toBe('a');
    expect(c.node('c').raft.role).not.toBe('leader');
  });

  it('contrast: had the vote not been durable, it would have voted again and c would lead term 1 too', () => {
    const { c, tap } = voteThenCrash(true);
    expect(tap.of('vote-response', { from: 'b', to: 'c' }).map((m) => m.granted)).toEqual([true]);
    expect(c.node('c').raft.role).toBe('leader');
    expect(c.node('c').raft.term).toBe(1);
  });
});

describe('the driver’s side of the contract', () => {
  it('committed entries are handed out in order, in batches bounded by maxApplyBytes, none skipped', () => {
    const c = new Cluster(['a', 'b', 'c'], { maxApplyBytes: 200 });
    c.elect('a');
    const batches: number[][] = [];
    const a = c.get('a');
    for (let i = 0; i < 10; i++) c.node('a').propose(command(`k${i}`, 'x'.repeat(40)));
    // Drive the cluster, recording a's apply batches.
    for (let round = 0; round < 100; round++) {
      const before = a.applied.length;
      const moved = c.processReady();
      if (a.applied.length > before) batches.push(a.applied.slice(before).map((e) => e.index));
      const delivered = c.deliverOnce();
      if (!moved && !delivered) break;
    }
    expect(batches.length).toBeGreaterThan(2);
    const byIndex = new Map(a.applied.map((e) => [e.index, e] as const));
    for (const b of batches) {
      // Within the limit, except that a batch always holds at least one entry.
      const sizes = b.map((i) => entrySize(byIndex.get(i) as Entry));
      if (b.length > 1) expect(sizes.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(200);
    }
    // The no-op (index 1) was applied during the election; then 2..11, each exactly once.
    expect(batches.flat()).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
  });

  it('a member restarted with `applied` does not apply those entries again', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 4; i++) c.put('a', `k${i}`, String(i));
    c.tickAll(1);
    const commit = c.node('b').raft.log.committed;
    c.crash('b');
    const b = c.restart('b', { applied: commit - 1 });
    c.stabilize();
    expect(b.applied.map((e) => e.index)).toEqual([commit]);
  });

  it('ready() twice without advance(), or advance() with another Ready, is refused', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [] });
    const n = new RawNode({ id: 'a', storage });
    n.campaign();
    const rd = n.ready();
    expect(() => n.ready()).toThrow(/before advance/);
    expect(() => n.advance({ ...rd })).toThrow(/not the outstanding one/);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    n.advance(rd);
    // The no-op is now durable and committed: the next Ready applies it.
    expect(n.hasReady()).toBe(true);
    expect(n.ready().committedEntries.map((e) => e.index)).toEqual([1]);
  });

  it('nothing is pending on an idle node', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.stabilize();
    for (const id of ['a', 'b', 'c']) expect(c.node(id).hasReady()).toBe(false);
  });

  it('invalid options are refused when the node is built', () => {
    const storage = new MemoryStorage(CONFIG);
    expect(() => new RawNode({ id: '', storage })).toThrow(RaftError);
    expect(() => new RawNode({ id: 'a', storage, electionTicks: 3, heartbeatTicks: 3 })).toThrow(RaftError);
    expect(() => new RawNode({ id: 'a', storage, heartbeatTicks: 0 })).toThrow(RaftError);
  });
});
