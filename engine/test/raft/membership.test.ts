import { describe, expect, it } from 'vitest';
import { RaftError, Random, applyConfChange, configsEqual, isLearner, isMember, isVoter } from '../../src/raft/index.js';
import type { ClusterConfig, ConfChange } from '../../src/raft/index.js';
import { ConfigHistory } from '../../src/raft/membership.js';
import { Cluster, command } from '../harness/cluster.js';
import { Tap, alone, cut, expectRaftError, tickChecked, tickUntil } from './helpers.js';

const ELECTION = 10;
const ABC: ClusterConfig = { voters: ['a', 'b', 'c'], learners: [] };

/** a leads a, b, c; d is an empty member, added as a learner (committed). */
function withLearner(options: ConstructorParameters<typeof Cluster>[1] = {}): { c: Cluster; tap: Tap } {
  const c = new Cluster(['a', 'b', 'c'], options);
  c.addEmpty('d');
  const tap = new Tap(c);
  c.elect('a');
  c.tickAll(1);
  c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' });
  c.stabilize();
  c.tickAll(1);
  return { c, tap };
}

describe('adding a server: first as a learner, then promoted (dissertation 4.2.1)', () => {
  it('a new learner receives the whole log and knows it is a learner', () => {
    const { c } = withLearner();
    c.put('a', 'k', 'v');
    c.tickAll(1);
    expect(c.get('d').kv.get('k')).toBe('v');
    for (const id of ['a', 'b', 'c', 'd']) {
      expect(c.node(id).status().config, id).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    }
    expect(c.node('a').status().progress.get('d')?.match).toBe(c.node('a').raft.log.lastIndex());
  });

  it('once promoted it is a voter everywhere, counts for commit and can lead', () => {
    const { c, tap } = withLearner();
    c.node('a').proposeConfChange({ type: 'promote', node: 'd' });
    c.stabilize();
    c.tickAll(1);
    for (const id of ['a', 'b', 'c', 'd']) expect(c.node(id).status().config).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    // Four voters: a and one other are no longer a quorum.
    tap.inner = cut(['a', 'b'], ['c', 'd']);
    const { index } = c.put('a', 'k', 'v');
    expect(c.node('a').raft.log.committed).toBeLessThan(index);
    tap.inner = null;
    c.tickAll(1);
    expect(c.node('a').raft.log.committed).toBeGreaterThanOrEqual(index);
    c.node('a').transferLeadership('d');
    c.stabilize();
    expect(c.leaders()).toEqual(['d']);
  });
});

describe('learners (non-voting members)', () => {
  it('a learner is not counted for commit: its acknowledgement does not make a majority', () => {
    const c = new Cluster(['a', 'b']);
    c.addEmpty('d');
    const tap = new Tap(c);
    c.elect('a');
    c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' });
    c.stabilize();
    c.tickAll(1);
    tap.inner = alone('b');
    const { index } = c.put('a', 'k', 'v');
    expect(c.node('a').status().progress.get('d')?.match).toBe(index);
    expect(c.node('a').raft.log.committed).toBeLessThan(index);
    expect(c.get('d').kv.has('k')).toBe(false);
    tap.inner = null;
    c.tickAll(1);
    expect(c.get('d').kv.get('k')).toBe('v');
  });

  it('a learner never campaigns, even when no leader is heard from for a long time', () => {
    const { c, tap } = withLearner();
    const term = c.node('d').raft.term;
    c.crash('a');
    tap.clear();
    for (let i = 0; i < 20 * ELECTION; i++) c.node('d').tick();
    c.node('d').campaign();
    c.stabilize();
    expect(c.node('d').raft.role).toBe('follower');
    expect(c.node('d').raft.term).toBe(term);
    expect(tap.of('vote', { from: 'd' })).toEqual([]);
  });

  it('candidates do not ask learners for votes, and a learner’s vote does not count', () => {
    const { c, tap } = withLearner({ preVote: false });
    c.crash('a');
    tap.clear();
    tap.inner = (m) => (m.to === 'b' && m.type === 'vote-response' ? null : m);
    c.node('b').campaign();
    c.stabilize();
    expect(tap.of('vote', { from: 'b' }).map((m) => m.to).sort()).toEqual(['a', 'c']);
    const term = c.node('b').raft.term;
    c.node('b').step({ type: 'vote-response', from: 'd', to: 'b', term, preVote: false, granted: true });
    expect(c.node('b').raft.role).toBe('candidate');
    c.node('b').step({ type: 'vote-response', from: 'c', to: 'b', term, preVote: false, granted: true });
    expect(c.node('b').raft.role).toBe('leader');
  });

  it('a learner cannot become leader by transfer', () => {
    const { c } = withLearner();
    expectRaftError(() => c.node('a').transferLeadership('d'), 'INVALID_ARGUMENT');
    expect(c.node('a').raft.leadTransferee).toBeNull();
  });
});

describe('removing servers (dissertation 4.2.2)', () => {
  it('a removed follower is no longer replicated to, and the rest commit without it', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    c.node('a').proposeConfChange({ type: 'remove', node: 'c' });
    c.stabilize();
    c.tickAll(1);
    expect(c.node('a').status().config).toEqual({ voters: ['a', 'b'], learners: [] });
    expect(c.node('b').status().config).toEqual({ voters: ['a', 'b'], learners: [] });
    expect([...c.node('a').status().progress.keys()].sort()).toEqual(['a', 'b']);
    c.crash('c');
    tap.clear();
    c.put('a', 'k', 'v');
    c.tickAll(3);
    expect(c.get('b').kv.get('k')).toBe('v');
    expect(tap.sent.filter((m) => m.to === 'c')).toEqual([]);
  });

  it('a removed leader keeps leading until the removal commits, then steps down and the others elect a leader', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = (m) => (m.to === 'a' && m.type === 'append-response' ? null : m);
    const removal = c.node('a').proposeConfChange({ type: 'remove', node: 'a' });
    c.stabilize();
    // In force at once on the leader (it no longer counts itself), but not committed yet.
    expect(c.node('a').status().config).toEqual({ voters: ['b', 'c'], learners: [] });
    expect(c.node('a').raft.log.committed).toBeLessThan(removal.index);
    expect(c.node('a').raft.role).toBe('leader');
    // It still serves: proposals are accepted and heartbeats keep the followers in line.
    const p = c.node('a').propose(command('during', 'removal'));
    c.stabilize();
    c.tickAll(3);
    expect(c.node('a').raft.role).toBe('leader');
    expect(c.leaders()).toEqual(['a']);

    tap.inner = null;
    c.tickAll(1);
    expect(c.node('a').raft.role).toBe('follower');
    expect(c.node('a').raft.log.committed).toBeGreaterThanOrEqual(p.index);
    tap.clear();
    tickUntil(c, () => c.leaders().length === 1, 20 * ELECTION);
    const leader = c.leaders()[0] as string;
    expect(['b', 'c']).toContain(leader);
    c.put(leader, 'after', 'removal');
    c.tickAll(1);
    for (const id of ['b', 'c']) {
      expect(c.node(id).status().config).toEqual({ voters: ['b', 'c'], learners: [] });
      expect(c.get(id).kv.get('during')).toBe('removal');
      expect(c.get(id).kv.get('after')).toBe('removal');
    }
    // The removed server never campaigns again.
    tickChecked(c, 5 * ELECTION);
    expect(tap.of('vote', { from: 'a' })).toEqual([]);
    expect(c.node('a').raft.role).toBe('follower');
  });

  it('a removed leader hands over on stepping down: a successor leads before any election timeout', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.tickAll(1);
    c.node('a').proposeConfChange({ type: 'remove', node: 'a' });
    c.stabilize();
    // No tick has passed since the removal committed, so no follower could have timed out:
    // only the leader's timeout-now explains a new leader.
    expect(c.node('a').raft.role).toBe('follower');
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(['b', 'c']).toContain(leaders[0]);
    expect(c.node(leaders[0] as string).status().config).toEqual({ voters: ['b', 'c'], learners: [] });
  });

  it('removing the last voter is refused', () => {
    const c = new Cluster(['a']);
    c.elect('a');
    c.stabilize();
    expectRaftError(() => c.node('a').proposeConfChange({ type: 'remove', node: 'a' }), 'CONF_CHANGE_INVALID');
    expect(c.node('a').status().config).toEqual({ voters: ['a'], learners: [] });
    expect(c.node('a').raft.log.lastIndex()).toBe(1);
  });
});

describe('one change at a time, only from a ready leader', () => {
  it('a second change while the first is uncommitted is refused with CONF_CHANGE_PENDING', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = (m) => (m.to === 'a' && m.type === 'append-response' ? null : m);
    c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' });
    c.stabilize();
    expectRaftError(() => c.node('a').proposeConfChange({ type: 'add-learner', node: 'e' }), 'CONF_CHANGE_PENDING');
    // Ordinary proposals are not affected.
    expect(() => c.node('a').propose(command('k', 'v'))).not.toThrow();
    tap.inner = null;
    c.tickAll(1);
    c.node('a').proposeConfChange({ type: 'add-learner', node: 'e' });
    c.stabilize();
    expect(c.node('a').status().config).toEqual({ voters: ['a', 'b', 'c'], learners: ['d', 'e'] });
  });

  it('a new leader refuses changes with LEADER_NOT_READY until it has committed an entry of its term', () => {
    const c = new Cluster(['a', 'b', 'c']);
    const tap = new Tap(c);
    tap.inner = (m) => (m.to === 'a' && m.type === 'append-response' ? null : m);
    c.node('a').campaign();
    c.stabilize();
    expect(c.node('a').raft.role).toBe('leader');
    expect(c.node('a').raft.log.committed).toBe(0);
    expectRaftError(() => c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' }), 'LEADER_NOT_READY');
    expect(() => c.node('a').propose(command('k', 'v'))).not.toThrow();
    tap.inner = null;
    c.tickAll(1);
    expect(c.node('a').raft.log.committed).toBeGreaterThanOrEqual(1);
    expect(() => c.node('a').proposeConfChange({ type: 'add-learner', node: 'd' })).not.toThrow();
  });

  it('only a leader may propose a change', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    expectRaftError(() => c.node('b').proposeConfChange({ type: 'add-learner', node: 'd' }), 'NOT_LEADER');
  });

  it('an invalid change is refused before anything is appended', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.tickAll(1);
    const last = c.node('a').raft.log.lastIndex();
    expectRaftError(() => c.node('a').proposeConfChange({ type: 'promote', node: 'b' }), 'CONF_CHANGE_INVALID');
    expectRaftError(() => c.node('a').proposeConfChange({ type: 'remove', node: 'zz' }), 'CONF_CHANGE_INVALID');
    expect(c.node('a').raft.log.lastIndex()).toBe(last);
  });
});

describe('a configuration takes effect when appended, and reverts when its entry is truncated (dissertation 4.1)', () => {
  it('on a follower: an uncommitted change is in force, then undone when a new leader overwrites it', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e'], { checkQuorum: false });
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    // Only b receives the change.
    tap.inner = (m) => (m.from === 'a' && m.to !== 'b' ? null : m);
    const change = c.node('a').proposeConfChange({ type: 'remove', node: 'e' });
    c.stabilize();
    expect(c.node('b').raft.log.lastIndex()).toBe(change.index);
    expect(c.node('b').raft.log.committed).toBeLessThan(change.index);
    expect(c.node('b').status().config).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(c.node('c').status().config.voters).toContain('e');

    c.crash('a');
    tap.inner = null;
    c.node('c').campaign();
    c.stabilize();
    expect(c.node('c').raft.role).toBe('leader');
    c.put('c', 'k', 'v');
    expect(c.node('b').raft.log.term(change.index)).toBe(c.node('c').raft.term);
    expect(c.node('b').status().config).toEqual({ voters: ['a', 'b', 'c', 'd', 'e'], learners: [] });
  });

  it('on a deposed leader: its own uncommitted change is undone when its log is repaired', () => {
    const c = new Cluster(['a', 'b', 'c'], { checkQuorum: false });
    const tap = new Tap(c);
    c.elect('a');
    c.tickAll(1);
    tap.inner = alone('a');
    c.node('a').proposeConfChange({ type: 'remove', node: 'c' });
    c.stabilize();
    expect(c.node('a').status().config).toEqual({ voters: ['a', 'b'], learners: [] });
    c.node('b').campaign();
    c.stabilize();
    c.put('b', 'k', 'v');
    tap.inner = null;
    c.tickAll(3);
    expect(c.node('a').raft.role).toBe('follower');
    expect(c.node('a').status().config).toEqual(ABC);
    expect(c.get('a').kv.get('k')).toBe('v');
  });
});

describe('applyConfChange (pure)', () => {
  const base: ClusterConfig = { voters: ['a', 'b', 'c'], learners: ['l'] };
  const invalid = (config: ClusterConfig, change: ConfChange): void => expectRaftError(() => applyConfChange(config, change), 'CONF_CHANGE_INVALID');

  it('add-learner adds a non-member as a learner, keeping learners sorted', () => {
    expect(applyConfChange(base, { type: 'add-learner', node: 'd' })).toEqual({ voters: ['a', 'b', 'c'], learners: ['d', 'l'] });
  });

  it('add-learner of an existing voter or learner is invalid', () => {
    invalid(base, { type: 'add-learner', node: 'a' });
    invalid(base, { type: 'add-learner', node: 'l' });
  });

  it('promote turns a learner into a voter, keeping voters sorted', () => {
    expect(applyConfChange(base, { type: 'promote', node: 'l' })).toEqual({ voters: ['a', 'b', 'c', 'l'], learners: [] });
    const z = applyConfChange({ voters: ['m', 'z'], learners: ['b'] }, { type: 'promote', node: 'b' });
    expect(z.voters).toEqual(['b', 'm', 'z']);
  });

  it('promote of a voter or of a non-member is invalid (no voter is ever added directly)', () => {
    invalid(base, { type: 'promote', node: 'a' });
    invalid(base, { type: 'promote', node: 'zz' });
  });

  it('remove takes out a voter or a learner', () => {
    expect(applyConfChange(base, { type: 'remove', node: 'b' })).toEqual({ voters: ['a', 'c'], learners: ['l'] });
    expect(applyConfChange(base, { type: 'remove', node: 'l' })).toEqual({ voters: ['a', 'b', 'c'], learners: [] });
  });

  it('remove of a non-member, or of the last voter, is invalid; the last voter’s learners may go', () => {
    invalid(base, { type: 'remove', node: 'zz' });
    const solo: ClusterConfig = { voters: ['a'], learners: ['l'] };
    invalid(solo, { type: 'remove', node: 'a' });
    expect(applyConfChange(solo, { type: 'remove', node: 'l' })).toEqual({ voters: ['a'], learners: [] });
  });

  it('an empty member id is invalid for every change', () => {
    invalid(base, { type: 'add-learner', node: '' });
    invalid(base, { type: 'promote', node: '' });
    invalid(base, { type: 'remove', node: '' });
  });

  it('never mutates the configuration it is given', () => {
    const config = { voters: ['a', 'b', 'c'], learners: ['l'] };
    const copy = structuredClone(config);
    applyConfChange(config, { type: 'promote', node: 'l' });
    applyConfChange(config, { type: 'add-learner', node: 'd' });
    applyConfChange(config, { type: 'remove', node: 'a' });
    expect(config).toEqual(copy);
  });

  it('any sequence of valid changes alters the voter set by at most one server per change', () => {
    const r = new Random(7);
    let config: ClusterConfig = { voters: ['n0'], learners: [] };
    let applied = 0;
    for (let i = 0; i < 2000; i++) {
      const node = `n${r.int(0, 8)}`;
      const type = r.pick(['add-learner', 'promote', 'remove'] as const);
      let next: ClusterConfig;
      try {
        next = applyConfChange(config, { type, node });
      } catch (e) {
        expect(e).toBeInstanceOf(RaftError);
        continue;
      }
      applied++;
      const added = next.voters.filter((v) => !config.voters.includes(v));
      const removed = config.voters.filter((v) => !next.voters.includes(v));
      expect(added.length + removed.length).toBeLessThanOrEqual(1);
      expect(next.voters.length).toBeGreaterThanOrEqual(1);
      expect(next.voters.filter((v) => next.learners.includes(v))).toEqual([]);
      config = next;
    }
    expect(applied).toBeGreaterThan(200);
  });
});

describe('membership helpers', () => {
  it('isVoter / isLearner / isMember', () => {
    const config = { voters: ['a'], learners: ['l'] };
    expect([isVoter(config, 'a'), isLearner(config, 'a'), isMember(config, 'a')]).toEqual([true, false, true]);
    expect([isVoter(config, 'l'), isLearner(config, 'l'), isMember(config, 'l')]).toEqual([false, true, true]);
    expect([isVoter(config, 'x'), isLearner(config, 'x'), isMember(config, 'x')]).toEqual([false, false, false]);
  });

  it('configsEqual ignores order but not roles', () => {
    expect(configsEqual({ voters: ['b', 'a'], learners: [] }, { voters: ['a', 'b'], learners: [] })).toBe(true);
    expect(configsEqual({ voters: ['a'], learners: ['b'] }, { voters: ['a', 'b'], learners: [] })).toBe(false);
    expect(configsEqual({ voters: ['a', 'a'], learners: [] }, { voters: ['a', 'b'], learners: [] })).toBe(false);
  });
});

describe('ConfigHistory: the configurations of the config entries in the log', () => {
  const c1: ClusterConfig = { voters: ['a', 'b', 'c'], learners: ['d'] };
  const c2: ClusterConfig = { voters: ['a', 'b', 'c', 'd'], learners: [] };

  it('the current configuration is the last appended, whatever is committed', () => {
    const h = new ConfigHistory(0, ABC);
    expect(h.current()).toBe(ABC);
    h.append(5, c1);
    h.append(9, c2);
    expect(h.current()).toBe(c2);
    expect(h.lastIndex()).toBe(9);
  });

  it('at(index) is the configuration in force at an index', () => {
    const h = new ConfigHistory(0, ABC);
    h.append(5, c1);
    h.append(9, c2);
    expect(h.at(4)).toBe(ABC);
    expect(h.at(5)).toBe(c1);
    expect(h.at(8)).toBe(c1);
    expect(h.at(100)).toBe(c2);
  });

  it('truncating the log at or below a config entry reverts to the one before', () => {
    const h = new ConfigHistory(0, ABC);
    h.append(5, c1);
    h.append(9, c2);
    h.truncateFrom(10);
    expect(h.current()).toBe(c2);
    h.truncateFrom(9);
    expect(h.current()).toBe(c1);
    h.truncateFrom(3);
    expect(h.current()).toBe(ABC);
    expect(h.lastIndex()).toBe(0);
  });

  it('appending at an index replaces entries from there on', () => {
    const h = new ConfigHistory(0, ABC);
    h.append(5, c1);
    h.append(9, c2);
    h.append(7, c2);
    expect(h.at(8)).toBe(c2);
    expect(h.lastIndex()).toBe(7);
  });

  it('compaction folds older entries into the base; truncation never goes below it', () => {
    const h = new ConfigHistory(0, ABC);
    h.append(5, c1);
    h.append(9, c2);
    h.compactTo(6);
    expect(h.at(1)).toBe(c1);
    h.truncateFrom(9);
    expect(h.current()).toBe(c1);
    h.truncateFrom(1);
    expect(h.current()).toBe(c1);
  });

  it('reset replaces the history with a snapshot’s configuration', () => {
    const h = new ConfigHistory(0, ABC);
    h.append(5, c1);
    h.reset(20, c2);
    expect(h.current()).toBe(c2);
    expect(h.lastIndex()).toBe(20);
    expect(h.at(3)).toBe(c2);
  });
});
