import { describe, expect, it } from 'vitest';
import type { Entry, Message, NodeId } from '../../src/raft/index.js';
import { Cluster, command } from '../harness/cluster.js';
import type { MemberOptions } from '../harness/cluster.js';
import { Tap, alone, logOf, payloads, shape } from './helpers.js';

type Append = Extract<Message, { type: 'append' }>;

/** Log matching: wherever two logs hold an entry with the same index and term, they agree up to it. */
function expectLogMatching(c: Cluster, ids: readonly NodeId[]): void {
  const logs = ids.map((id) => new Map(logOf(c, id).map((e) => [e.index, e] as const)));
  for (let i = 0; i < logs.length; i++) {
    for (let j = i + 1; j < logs.length; j++) {
      const x = logs[i] as Map<number, Entry>;
      const y = logs[j] as Map<number, Entry>;
      for (const [index, e] of x) {
        if (y.get(index)?.term !== e.term) continue;
        for (let k = 1; k <= index; k++) {
          const ex = x.get(k);
          const ey = y.get(k);
          if (ex && ey) expect(`${ex.index}:${ex.term}`, `${ids[i]} vs ${ids[j]} at ${k}`).toBe(`${ey.index}:${ey.term}`);
        }
      }
    }
  }
}

/** Campaigns (without pre-vote) until `id` leads; a vote split over terms may take a few rounds. */
function campaignUntilLeader(c: Cluster, id: NodeId, tries = 4): void {
  for (let i = 0; i < tries && c.node(id).raft.role !== 'leader'; i++) {
    c.node(id).campaign();
    c.stabilize();
  }
  expect(c.node(id).raft.role).toBe('leader');
}

describe('log matching (dissertation 3.5): a follower truncates a conflicting suffix', () => {
  it('uncommitted entries of a deposed leader are replaced by the new leader’s, and all logs end identical', () => {
    const c = new Cluster(['a', 'b', 'c'], { checkQuorum: false });
    const tap = new Tap(c);
    c.elect('a');
    c.put('a', 'k', '0');
    tap.inner = alone('a');
    for (let i = 1; i <= 3; i++) c.node('a').propose(command('old', String(i)));
    c.stabilize();
    expect(payloads(c, 'a')).toEqual(['k=0', 'old=1', 'old=2', 'old=3']);
    c.node('b').campaign();
    c.stabilize();
    c.put('b', 'new', '1');
    c.put('b', 'new', '2');
    expectLogMatching(c, ['a', 'b', 'c']);
    tap.inner = null;
    c.tickAll(3);
    expect(shape(c, 'a')).toEqual(shape(c, 'b'));
    expect(shape(c, 'c')).toEqual(shape(c, 'b'));
    expect(payloads(c, 'a')).toEqual(['k=0', 'new=1', 'new=2']);
    expectLogMatching(c, ['a', 'b', 'c']);
  });

  it('a commit index carried by an append or heartbeat never exceeds what the follower holds', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    tap.inner = alone('c');
    for (let i = 0; i < 5; i++) c.put('a', 'k', String(i));
    c.tickAll(2);
    tap.inner = null;
    const r = c.node('c').raft;
    let stepsToC = 0;
    for (let t = 0; t < 5; t++) {
      for (const id of c.members.keys()) c.node(id).tick();
      // Deliver one message at a time, checking c after each.
      for (let round = 0; round < 100 && (c.processReady() || c.inFlight.length > 0); round++) {
        for (const m of c.inFlight.splice(0)) {
          c.node(m.to).step(m);
          if (m.to !== 'c') continue;
          stepsToC++;
          expect(r.log.committed).toBeLessThanOrEqual(r.log.lastIndex());
        }
      }
    }
    expect(stepsToC).toBeGreaterThan(5);
    expect(c.get('c').kv.get('k')).toBe('4');
  });
});

describe('batching: proposals made before one Ready travel together', () => {
  it('ten proposals before a Ready go out as one append per follower carrying all ten', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.tickAll(1);
    const before = c.node('a').raft.log.lastIndex();
    for (let i = 0; i < 10; i++) c.node('a').propose(command('k', String(i)));
    // Nothing is sent before the driver asks for the Ready.
    expect(c.node('a').raft.msgs).toEqual([]);
    c.processReady();
    const appends = c.inFlight.filter((m): m is Append => m.type === 'append' && m.from === 'a');
    expect(appends.map((m) => m.to).sort()).toEqual(['b', 'c']);
    for (const m of appends) {
      expect(m.prevIndex).toBe(before);
      expect(m.entries.map((e) => e.index)).toEqual(Array.from({ length: 10 }, (_, i) => before + 1 + i));
    }
    c.stabilize();
    for (const id of ['a', 'b', 'c']) expect(c.get(id).kv.get('k')).toBe('9');
  });

  it('a proposal per Ready costs an append per Ready (the batching above is not a coincidence)', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.clear();
    for (let i = 0; i < 10; i++) {
      c.node('a').propose(command('k', String(i)));
      c.processReady();
    }
    expect(c.inFlight.filter((m) => m.type === 'append' && m.to === 'b').length).toBe(10);
  });
});

describe('pipelining: appends in flight to a follower are bounded by maxInflightMessages', () => {
  const WINDOW = 3;

  it('a slow follower never has more than the window of appends outstanding, and catches up after', () => {
    const c = new Cluster(['a', 'b', 'c'], { maxInflightMessages: WINDOW });
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    const held: Message[] = [];
    // c is slow: nothing reaches it for now (we keep its messages to deliver later).
    tap.inner = (m) => {
      if (m.to !== 'c') return m;
      held.push(m);
      return null;
    };
    const outstanding = (): number => held.filter((m) => m.type === 'append' && m.entries.length > 0).length;
    let maxOutstanding = 0;
    for (let i = 0; i < 12; i++) {
      c.node('a').propose(command('k', String(i)));
      c.stabilize();
      maxOutstanding = Math.max(maxOutstanding, outstanding());
      expect(outstanding()).toBeLessThanOrEqual(WINDOW);
    }
    expect(maxOutstanding).toBe(WINDOW);
    expect(c.node('a').status().progress.get('c')?.inflight).toBe(WINDOW);
    // The fast follower is not held back by the slow one.
    expect(c.get('b').kv.get('k')).toBe('11');

    // c wakes up: its backlog arrives in order, and the window reopens until it has everything.
    tap.inner = null;
    const backlog = held.splice(0);
    for (const m of backlog) c.node('c').step(m);
    let rounds = 0;
    const inFlightToC = (): number => c.inFlight.filter((m) => m.to === 'c' && m.type === 'append' && m.entries.length > 0).length;
    while (c.processReady() || c.inFlight.length > 0) {
      expect(inFlightToC()).toBeLessThanOrEqual(WINDOW);
      c.deliverOnce();
      if (++rounds > 100) throw new Error('did not settle');
    }
    c.tickAll(1);
    expect(shape(c, 'c')).toEqual(shape(c, 'a'));
    expect(c.get('c').kv.get('k')).toBe('11');
  });

  it('a follower whose whole window of appends was lost still catches up once it answers again', () => {
    const c = new Cluster(['a', 'b', 'c'], { maxInflightMessages: 2 });
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = alone('c');
    for (let i = 0; i < 6; i++) c.put('a', 'k', String(i));
    expect(c.node('a').status().progress.get('c')?.inflight).toBe(2);
    tap.inner = null;
    c.tickAll(5);
    expect(c.get('c').kv.get('k')).toBe('5');
    expect(shape(c, 'c')).toEqual(shape(c, 'a'));
  });
});

describe('fast backtracking: a conflicting follower is repaired in a few round trips', () => {
  it('a follower with a long divergent tail from an old term costs one rejected append, not one per entry', () => {
    const c = new Cluster(['a', 'b', 'c'], { checkQuorum: false });
    const tap = new Tap(c);
    c.elect('a');
    c.put('a', 'k', '0');
    c.put('a', 'k', '1');
    const common = c.node('a').raft.log.lastIndex();
    // a, cut off, piles up 50 entries of its term that will never commit.
    tap.inner = alone('a');
    for (let i = 0; i < 50; i++) c.node('a').propose(command('stale', String(i)));
    c.stabilize();
    // b leads term 2 and commits 20 entries with c; then c leads term 3 with b.
    c.node('b').campaign();
    c.stabilize();
    for (let i = 0; i < 20; i++) c.put('b', 'fresh', String(i));
    c.node('c').campaign();
    c.stabilize();
    expect(c.node('c').raft.role).toBe('leader');
    const divergent = c.node('a').raft.log.lastIndex() - common;
    expect(divergent).toBe(50);

    tap.inner = null;
    tap.clear();
    c.tickAll(3);
    const rejected = tap.of('append-response', { from: 'a' }).filter((m) => !m.success);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.length).toBeLessThanOrEqual(2);
    expect(shape(c, 'a')).toEqual(shape(c, 'c'));
    expect(payloads(c, 'a').filter((p) => p.startsWith('stale'))).toEqual([]);
    expect(c.get('a').kv.get('fresh')).toBe('19');
  });

  it('a follower far behind is located in one round trip, not one per missing entry', () => {
    const c = new Cluster(['a', 'b', 'c'], { checkQuorum: false });
    const tap = new Tap(c);
    c.elect('a');
    tap.inner = alone('c');
    for (let i = 0; i < 60; i++) c.put('a', 'k', String(i));
    // A new term: the new leader assumes every follower is as long as itself.
    c.node('b').campaign();
    c.stabilize();
    expect(c.node('b').raft.role).toBe('leader');
    tap.inner = null;
    tap.clear();
    c.tickAll(3);
    const rejected = tap.of('append-response', { from: 'c' }).filter((m) => !m.success);
    expect(rejected.length).toBeLessThanOrEqual(2);
    expect(c.get('c').kv.get('k')).toBe('59');
  });
});

describe('commitment (dissertation 3.6.2, Figure 3.7): only entries of the leader’s term are committed by counting', () => {
  const FIVE = ['a', 'b', 'c', 'd', 'e'];
  const OPTS: MemberOptions = { checkQuorum: false, preVote: false, maxMessageBytes: 1 };

  /**
   * Steps (a) to (c) of Figure 3.7, with each leader's no-op taking the figure's entries' places:
   *  (a) a leads term 1 and replicates X at index 2 to b only;
   *  (b) a crashes; e is elected in term 2 by c, d, e and appends its no-op at index 2, alone;
   *  (c) e crashes; a restarts, is elected in term 3 and replicates X to c, but not its no-op.
   * X (term 1) is then stored on a majority (a, b, c).
   */
  function figure37(options: MemberOptions = {}): { c: Cluster; tap: Tap; term3: number } {
    const c = new Cluster(FIVE, { ...OPTS, ...options });
    const tap = new Tap(c);
    c.elect('a');
    expect(c.node('a').raft.log.committed).toBe(1);

    // (a)
    tap.inner = (m) => (m.from === 'a' && m.to !== 'b' ? null : m);
    expect(c.node('a').propose(command('x', 'X'))).toEqual({ index: 2, term: 1 });
    c.stabilize();
    expect(shape(c, 'b')).toEqual(['1:1', '2:1']);
    expect(c.node('a').raft.log.committed).toBe(1);

    // (b)
    c.crash('a');
    tap.inner = (m) => (m.from === 'e' && m.type === 'append' ? null : m);
    c.node('e').campaign();
    c.stabilize();
    expect(c.node('e').raft.role).toBe('leader');
    expect(shape(c, 'e')).toEqual(['1:1', '2:2']);

    // (c)
    c.crash('e');
    c.restart('a');
    const ownTerm = (m: Message): Message | null => {
      if (m.from !== 'a' || m.type !== 'append') return m;
      if (m.to === 'd') return null;
      // a's own-term entries (its no-op) do not get through; X does.
      return { ...m, entries: m.entries.filter((e) => e.term === 1) };
    };
    tap.inner = ownTerm;
    campaignUntilLeader(c, 'a');
    const term3 = c.node('a').raft.term;
    expect(term3).toBe(3);
    expect(shape(c, 'a')).toEqual(['1:1', '2:1', '3:3']);
    for (const id of ['b', 'c']) expect(shape(c, id)).toEqual(['1:1', '2:1']);
    return { c, tap, term3 };
  }

  it('(c) X of term 1, stored on a majority, is not committed by the leader of term 3', () => {
    const { c } = figure37();
    const a = c.node('a').status();
    expect(a.progress.get('b')?.match).toBe(2);
    expect(a.progress.get('c')?.match).toBe(2);
    expect(a.commit).toBe(1);
    for (const id of ['a', 'b', 'c', 'd']) expect(c.appliedData(id)).not.toContain('x=X');
  });

  it('(d) which is right: e can still be elected and overwrite X on the majority', () => {
    const { c, tap } = figure37();
    c.crash('a');
    c.restart('e');
    tap.inner = null;
    campaignUntilLeader(c, 'e');
    c.put('e', 'y', 'Y');
    for (const id of ['b', 'c', 'd', 'e']) {
      expect(shape(c, id).slice(0, 2)).toEqual(['1:1', '2:2']);
      expect(payloads(c, id)).toEqual(['y=Y']);
      expect(c.appliedData(id)).not.toContain('x=X');
    }
  });

  it('(e) once an entry of term 3 is on a majority, X commits with it and e can no longer win', () => {
    const { c, tap } = figure37();
    tap.inner = (m) => (m.to === 'd' ? null : m);
    c.tickAll(1);
    expect(c.node('a').raft.log.committed).toBe(3);
    expect(c.appliedData('a')).toEqual(['x=X']);
    c.crash('a');
    c.restart('e');
    tap.inner = null;
    tap.clear();
    for (let i = 0; i < 4; i++) {
      c.node('e').campaign();
      c.stabilize();
    }
    expect(c.node('e').raft.role).not.toBe('leader');
    expect(tap.of('vote-response', { to: 'e' }).filter((m) => m.granted && (m.from === 'b' || m.from === 'c'))).toEqual([]);
  });

  it('contrast: counting replicas of an old-term entry (testing knob) commits X in (c), and (d) then elects a leader without it', () => {
    const { c, tap } = figure37({ testingKnobs: { unsafeCommitPreviousTermByCount: true } });
    expect(c.node('a').raft.log.committed).toBe(2);
    expect(c.appliedData('a')).toEqual(['x=X']);
    c.crash('a');
    c.restart('e');
    // Stop at the election: replicating further would only show the divergence again.
    tap.inner = (m) => (m.from === 'e' && m.type === 'append' ? null : m);
    campaignUntilLeader(c, 'e');
    // Leader completeness is broken: the leader lacks a committed, applied entry.
    expect(c.node('e').raft.log.term(2)).toBe(2);
    expect(payloads(c, 'e')).not.toContain('x=X');
  });
});

describe('entry times: leader-assigned, never decreasing across leaders', () => {
  function times(c: Cluster, id: NodeId): number[] {
    return c.get(id).applied.map((e) => e.time);
  }

  it('a new leader whose clock is behind stamps no entry earlier than the log’s last', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.node('a').observeClock(1000);
    const x = c.put('a', 'x', '1');
    c.node('b').observeClock(400);
    c.node('a').transferLeadership('b');
    c.stabilize();
    expect(c.leaders()).toEqual(['b']);
    c.node('b').observeClock(500);
    const y = c.put('b', 'y', '1');
    c.node('b').tick(2000);
    const z = c.put('b', 'z', '1');
    c.node('b').tick(1500); // the clock steps back
    const w = c.put('b', 'w', '1');
    c.tickAll(1);
    const log = logOf(c, 'c');
    const at = (i: number): number => (log.find((e) => e.index === i) as Entry).time;
    expect(at(x.index)).toBe(1000);
    expect(at(x.index + 1)).toBe(1000); // b's no-op
    expect(at(y.index)).toBe(1000);
    expect(at(z.index)).toBe(2000);
    expect(at(w.index)).toBe(2000);
    for (const id of ['a', 'b', 'c']) {
      const t = times(c, id);
      expect(t.length).toBeGreaterThanOrEqual(6);
      for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThanOrEqual(t[i - 1] as number);
    }
  });

  it('holds even when the new leader’s log was compacted up to its last entry', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.node('a').observeClock(5000);
    c.put('a', 'x', '1');
    c.tickAll(1);
    c.compact('b');
    expect(c.get('b').storage.snapshot().meta.time).toBe(5000);
    expect(c.get('b').storage.lastIndex()).toBe(c.get('b').storage.snapshot().meta.index);
    c.node('b').observeClock(10);
    c.node('a').transferLeadership('b');
    c.stabilize();
    expect(c.leaders()).toEqual(['b']);
    const p = c.put('b', 'y', '1');
    const entry = logOf(c, 'b').find((e) => e.index === p.index) as Entry;
    expect(entry.time).toBe(5000);
    const noop = logOf(c, 'b').find((e) => e.index === p.index - 1) as Entry;
    expect(noop.kind).toBe('noop');
    expect(noop.time).toBe(5000);
  });
});
