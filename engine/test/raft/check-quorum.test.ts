import { describe, expect, it } from 'vitest';
import { Cluster } from '../harness/cluster.js';
import { Tap, alone, cut, tickChecked, tickUntil } from './helpers.js';

const ELECTION = 10;

describe('check quorum (dissertation 6.2): a leader cut off from a majority steps down', () => {
  it('a leader that hears from no majority for a whole check period steps down at its end', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    const term = c.node('a').raft.term;
    // Followers answer until just before the first quorum check, which therefore passes.
    tickChecked(c, ELECTION - 1);
    tap.inner = cut(['a'], ['b', 'c']);
    c.tickAll(1);
    expect(c.node('a').raft.role).toBe('leader');
    // The next period passes without a single answer: at its end, a steps down.
    for (let i = 1; i < ELECTION; i++) {
      c.tickAll(1);
      expect(c.node('a').raft.role, `after ${i} ticks of the silent period`).toBe('leader');
    }
    c.tickAll(1);
    expect(c.node('a').raft.role).toBe('follower');
    expect(c.node('a').raft.leader).toBeNull();
    expect(c.node('a').raft.term).toBe(term);
    expect(() => c.node('a').propose(new Uint8Array([1]))).toThrow(/not the leader/);
  });

  it('whenever it is cut off, a leader steps down within two election timeouts', () => {
    for (let k = 0; k < 2 * ELECTION; k++) {
      const c = new Cluster(['a', 'b', 'c']);
      const tap = new Tap(c);
      c.elect('a');
      tickChecked(c, k);
      tap.inner = cut(['a'], ['b', 'c']);
      let ticks = 0;
      while (c.node('a').raft.role === 'leader') {
        c.tickAll(1);
        ticks++;
        if (ticks > 10 * ELECTION) break;
      }
      expect(ticks, `cut off after ${k} ticks`).toBeGreaterThanOrEqual(ELECTION);
      expect(ticks, `cut off after ${k} ticks`).toBeLessThanOrEqual(2 * ELECTION);
    }
  });

  it('a newly elected leader that never hears from a follower steps down after one election timeout', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.node('a').campaign();
    // Votes get through; once a leads, nothing reaches it any more.
    tap.inner = (m) => (m.to === 'a' && c.node('a').raft.role === 'leader' ? null : m);
    c.stabilize();
    expect(c.node('a').raft.role).toBe('leader');
    tap.inner = alone('a');
    const ticks: string[] = [];
    for (let i = 1; i <= 2 * ELECTION; i++) {
      c.tickAll(1);
      ticks.push(c.node('a').raft.role);
    }
    // An election timeout without a successful heartbeat round to a majority: step down then
    // (as etcd's TestLeaderStepdownWhenQuorumLost), not a whole extra timeout later.
    const steppedDownAt = ticks.indexOf('follower') + 1;
    expect(steppedDownAt, 'tick at which the isolated new leader stepped down').toBe(ELECTION);
  });

  it('a leader that keeps a majority stays leader, even with a member cut off', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    const term = c.node('a').raft.term;
    tap.inner = alone('c');
    tickChecked(c, 10 * ELECTION);
    expect(c.leaders()).toEqual(['a']);
    expect(c.node('a').raft.term).toBe(term);
  });

  it('a leader alone in a minority stops serving and the majority elects a new one', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
    const tap = new Tap(c);
    c.elect('a');
    tap.inner = cut(['a', 'b'], ['c', 'd', 'e']);
    tickUntil(c, () => c.node('a').raft.role !== 'leader' && c.leaders().length === 1, 20 * ELECTION);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(['c', 'd', 'e']).toContain(leaders[0]);
  });
});

describe('leader lease on votes (dissertation 4.2.3): a disruptive server cannot force elections', () => {
  /** a leads a, b, c, d and removes d; d never hears of its removal. */
  function removedMember(options: ConstructorParameters<typeof Cluster>[1]): { c: Cluster; tap: Tap; term: number } {
    const c = new Cluster(['a', 'b', 'c', 'd'], options);
    const tap = new Tap(c);
    c.elect('a');
    c.node('a').proposeConfChange({ type: 'remove', node: 'd' });
    c.stabilize();
    c.tickAll(1);
    expect(c.node('a').status().config.voters).toEqual(['a', 'b', 'c']);
    // d was dropped from replication when the change was appended: it still believes it votes.
    expect(c.node('d').status().config.voters).toContain('d');
    tap.clear();
    return { c, tap, term: c.node('a').raft.term };
  }

  it('followers (and the leader) that heard from the leader recently ignore a removed member’s higher-term vote requests', () => {
    const { c, tap, term } = removedMember({ preVote: false });
    tickChecked(c, 10 * ELECTION);
    const asks = tap.of('vote', { from: 'd' });
    expect(asks.length).toBeGreaterThan(0);
    expect(Math.max(...asks.map((m) => m.term))).toBeGreaterThan(term + 2);
    // Ignored: no answer, no term change, same leader.
    expect(tap.of('vote-response', { to: 'd' })).toEqual([]);
    expect(c.leaders()).toEqual(['a']);
    for (const id of ['a', 'b', 'c']) expect(c.node(id).raft.term).toBe(term);
    c.put('a', 'k', 'v');
    c.tickAll(1);
    for (const id of ['a', 'b', 'c']) expect(c.get(id).kv.get('k')).toBe('v');
  });

  it('contrast: without check quorum the same removed member forces the cluster into new terms', () => {
    const { c, term } = removedMember({ preVote: false, checkQuorum: false });
    tickChecked(c, 10 * ELECTION);
    const terms = ['a', 'b', 'c'].map((id) => c.node(id).raft.term);
    expect(Math.max(...terms)).toBeGreaterThan(term);
  });

  it('a vote request at a higher term is ignored within the lease, unless it comes from a leadership transfer', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    const term = c.node('b').raft.term;
    const last = c.node('c').raft.log.lastIndex();
    tap.clear();
    c.node('b').step({ type: 'vote', from: 'c', to: 'b', term: term + 1, preVote: false, lastIndex: last, lastTerm: term, transfer: false });
    c.stabilize();
    expect(tap.of('vote-response', { from: 'b' })).toEqual([]);
    expect(c.node('b').raft.term).toBe(term);
    expect(c.node('b').raft.leader).toBe('a');

    c.node('b').step({ type: 'vote', from: 'c', to: 'b', term: term + 1, preVote: false, lastIndex: last, lastTerm: term, transfer: true });
    c.processReady();
    expect(tap.of('vote-response', { from: 'b' }).length).toBe(0); // not yet delivered
    expect(c.inFlight.filter((m) => m.type === 'vote-response' && m.from === 'b').map((m) => m.type === 'vote-response' && m.granted)).toEqual([true]);
    expect(c.node('b').raft.term).toBe(term + 1);
    expect(c.node('b').raft.vote).toBe('c');
  });

  it('once a follower has not heard from a leader for an election timeout, it grants votes again', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false });
    const tap = new Tap(c);
    c.elect('a');
    c.crash('a');
    // b must not time out itself: tick b only up to the lease's end (its timeout is >= ELECTION).
    for (let i = 0; i < ELECTION - 1; i++) c.node('b').tick();
    const term = c.node('b').raft.term;
    const last = c.node('c').raft.log.lastIndex();
    tap.clear();
    c.node('b').step({ type: 'vote', from: 'c', to: 'b', term: term + 1, preVote: false, lastIndex: last, lastTerm: term, transfer: false });
    c.processReady();
    expect(c.node('b').raft.term).toBe(term); // still within the lease
    c.node('b').tick();
    c.node('b').step({ type: 'vote', from: 'c', to: 'b', term: term + 1, preVote: false, lastIndex: last, lastTerm: term, transfer: false });
    expect(c.node('b').raft.term).toBe(term + 1);
    expect(c.node('b').raft.vote).toBe('c');
  });
});
