import { describe, expect, it } from 'vitest';
import { MemoryStorage, RawNode } from '../../src/raft/index.js';
import type { Message } from '../../src/raft/index.js';
import { Cluster } from '../harness/cluster.js';
import { Tap, alone, payloads, seededCluster, tickChecked, tickUntil } from './helpers.js';

const ELECTION = 10;

/** All live members follow one leader in one term. */
function settled(c: Cluster): boolean {
  const leaders = c.leaders();
  if (leaders.length !== 1) return false;
  const lead = c.node(leaders[0] as string).raft;
  return [...c.members.keys()].every((id) => {
    const r = c.node(id).raft;
    return r.leader === lead.id && r.term === lead.term;
  });
}

describe('election: randomized timeouts (dissertation 3.4)', () => {
  it('a follower waits between electionTicks and 2 x electionTicks, drawn at random', () => {
    const waits = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const c = new Cluster(['a', 'b', 'c'], { randomSeed: seed });
      const a = c.node('a');
      let ticks = 0;
      while (a.raft.role === 'follower') {
        a.tick();
        ticks++;
        if (ticks > 100) throw new Error('never timed out');
      }
      expect(ticks).toBeGreaterThanOrEqual(ELECTION);
      expect(ticks).toBeLessThan(2 * ELECTION);
      waits.add(ticks);
    }
    // Randomized, not fixed: many different timeouts across seeds.
    expect(waits.size).toBeGreaterThanOrEqual(5);
  });

  it.each([3, 5, 7])('from a cold start, %i members elect exactly one leader that all follow, and it stays', (n) => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].slice(0, n);
    for (let seedBase = 1; seedBase <= 12; seedBase++) {
      const c = seededCluster(ids, seedBase * 1000);
      const took = tickUntil(c, () => settled(c), 300);
      expect(took).toBeLessThan(300);
      const leader = c.leaders()[0] as string;
      const term = c.node(leader).raft.term;
      // A leader that keeps heartbeating is never challenged.
      tickChecked(c, 5 * ELECTION);
      expect(c.leaders()).toEqual([leader]);
      for (const id of ids) expect(c.node(id).raft.term).toBe(term);
    }
  });

  it('a follower that keeps hearing from its leader never starts an election', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const term = c.node('a').raft.term;
    tickChecked(c, 10 * ELECTION);
    expect(c.leaders()).toEqual(['a']);
    for (const id of ['b', 'c']) {
      expect(c.node(id).raft.role).toBe('follower');
      expect(c.node(id).raft.term).toBe(term);
    }
  });
});

describe('election restriction (dissertation 3.6.1): a candidate with a stale log cannot win', () => {
  /** a leads, x commits on a and b while c is cut off, then a crashes: c's log is stale. */
  function staleCandidate(options: ConstructorParameters<typeof Cluster>[1]): { c: Cluster; tap: Tap } {
    const c = new Cluster(['a', 'b', 'c'], { checkQuorum: false, ...options });
    const tap = new Tap(c);
    c.elect('a');
    tap.inner = alone('c');
    c.put('a', 'x', '1');
    c.tickAll(1);
    expect(c.node('a').raft.log.committed).toBe(2);
    c.crash('a');
    tap.inner = null;
    tap.clear();
    return { c, tap };
  }

  it('with pre-vote: the up-to-date voter refuses, the stale node never even raises its term', () => {
    const { c, tap } = staleCandidate({});
    const termBefore = c.node('c').raft.term;
    c.node('c').campaign();
    c.stabilize();
    const answers = tap.of('vote-response', { from: 'b', to: 'c' });
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((m) => !m.granted)).toBe(true);
    expect(c.node('c').raft.role).not.toBe('leader');
    expect(c.node('c').raft.term).toBe(termBefore);
  });

  it('without pre-vote: the up-to-date voter adopts the term but does not grant its vote', () => {
    const { c, tap } = staleCandidate({ preVote: false });
    c.node('c').campaign();
    c.stabilize();
    const cTerm = c.node('c').raft.term;
    const answers = tap.of('vote-response', { from: 'b', to: 'c' });
    expect(answers.map((m) => [m.term, m.granted])).toEqual([[cTerm, false]]);
    expect(c.node('b').raft.term).toBe(cTerm);
    expect(c.node('b').raft.vote).toBeNull();
    expect(c.node('c').raft.role).toBe('candidate');
  });

  it('the up-to-date member wins instead, and the committed entry survives', () => {
    const { c } = staleCandidate({});
    c.node('c').campaign();
    c.stabilize();
    expect(c.elect('b')).toBe('b');
    c.tickAll(2);
    expect(payloads(c, 'c')).toEqual(['x=1']);
    expect(c.get('c').kv.get('x')).toBe('1');
  });

  it('contrast: with the log check disabled (testing knob) the stale candidate wins and erases a committed entry', () => {
    const { c } = staleCandidate({ preVote: false, testingKnobs: { unsafeVoteWithoutLogCheck: true } });
    expect(c.elect('c')).toBe('c');
    c.tickAll(2);
    // The new leader's log, and so its state machine, lacks the committed x.
    expect(payloads(c, 'c')).toEqual([]);
    expect(c.node('c').raft.log.committed).toBeGreaterThanOrEqual(2);
    expect(c.get('c').kv.has('x')).toBe(false);
  });
});

describe('votes: at most one per term, durable before it is announced (dissertation 3.4, 3.8)', () => {
  it('two candidates in the same term: each voter grants only the first request it sees', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false });
    const tap = new Tap(c);
    c.node('a').campaign();
    c.node('b').campaign();
    c.stabilize();
    const fromC = tap.of('vote-response', { from: 'c' }).filter((m) => m.term === 1);
    expect(fromC.filter((m) => m.granted).map((m) => m.to)).toEqual(['a']);
    expect(fromC.find((m) => m.to === 'b')?.granted).toBe(false);
    // b had voted for itself: it refuses a as well.
    expect(tap.of('vote-response', { from: 'b', to: 'a' }).map((m) => m.granted)).toEqual([false]);
    expect(c.leaders()).toEqual(['a']);
    expect(c.node('c').raft.vote).toBe('a');
  });

  it('a voter that already voted refuses a second candidate of that term even if asked again later', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    const tap = new Tap(c);
    c.node('a').campaign();
    c.stabilize();
    expect(c.leaders()).toEqual(['a']);
    // b asks again in the same term (as if it had missed the election): c must not switch.
    c.node('c').step({ type: 'vote', from: 'b', to: 'c', term: 1, preVote: false, lastIndex: 5, lastTerm: 1, transfer: false });
    c.stabilize();
    const last = tap.of('vote-response', { from: 'c', to: 'b' }).at(-1);
    expect(last?.granted).toBe(false);
    expect(c.node('c').raft.vote).toBe('a');
  });

  it('the granted vote comes in a Ready whose hard state records it, together with the response', () => {
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    const b = new RawNode({ id: 'b', storage });
    b.step({ type: 'vote', from: 'a', to: 'b', term: 1, preVote: false, lastIndex: 0, lastTerm: 0, transfer: false });
    const rd = b.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
    const resp = rd.messages.filter((m): m is Extract<Message, { type: 'vote-response' }> => m.type === 'vote-response');
    expect(resp.map((m) => [m.to, m.term, m.granted])).toEqual([['a', 1, true]]);
  });

  it('a refused vote in a higher term still records the new term (so the term never goes back)', () => {
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    storage.append([{ index: 1, term: 1, time: 0, kind: 'noop' }]);
    storage.setHardState({ term: 1, vote: null, commit: 1 });
    const b = new RawNode({ id: 'b', storage });
    b.step({ type: 'vote', from: 'a', to: 'b', term: 2, preVote: false, lastIndex: 0, lastTerm: 0, transfer: false });
    const rd = b.ready();
    expect(rd.hardState).toEqual({ term: 2, vote: null, commit: 1 });
    expect(rd.messages.map((m) => m.type === 'vote-response' && m.granted)).toEqual([false]);
  });
});

describe('split votes (dissertation 3.4)', () => {
  it('two candidates that split the vote in one term are resolved by a later, randomized election', () => {
    const c = new Cluster(['a', 'b', 'c', 'd']);
    const tap = new Tap(c);
    // c only hears a, d only hears b: 2 votes each, 3 needed.
    tap.inner = (m) => (m.type === 'vote' && ((m.from === 'a' && m.to === 'd') || (m.from === 'b' && m.to === 'c')) ? null : m);
    c.node('a').campaign();
    c.node('b').campaign();
    c.stabilize();
    expect(c.leaders()).toEqual([]);
    expect(c.node('a').raft.role).toBe('candidate');
    expect(c.node('b').raft.role).toBe('candidate');
    expect(c.node('a').raft.term).toBe(1);
    expect(c.node('b').raft.term).toBe(1);

    tap.inner = null;
    tickUntil(c, () => settled(c), 200);
    expect(c.leaders()).toHaveLength(1);
    expect(c.node(c.leaders()[0] as string).raft.term).toBeGreaterThan(1);
  });
});

describe('a single voter', () => {
  it('elects itself when its timeout fires, without any message', () => {
    const c = new Cluster(['a']);
    const tap = new Tap(c);
    tickUntil(c, () => c.leaders().length === 1, 2 * ELECTION);
    expect(c.leaders()).toEqual(['a']);
    expect(c.node('a').raft.term).toBe(1);
    expect(tap.sent).toEqual([]);
  });

  it('elects itself at once on campaign(), commits its no-op and then proposals alone', () => {
    const c = new Cluster(['a']);
    c.node('a').campaign();
    expect(c.node('a').raft.role).toBe('leader');
    c.stabilize();
    expect(c.node('a').raft.log.committed).toBe(1);
    c.put('a', 'k', 'v');
    expect(c.node('a').raft.log.committed).toBe(2);
    expect(c.get('a').kv.get('k')).toBe('v');
  });
});
