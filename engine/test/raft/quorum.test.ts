import { describe, expect, it } from 'vitest';
import { committedIndex, hasQuorum, quorumSize, voteOutcome } from '../../src/raft/quorum.js';

const matchOf =
  (m: Record<string, number>) =>
  (id: string): number =>
    m[id] ?? 0;

describe('quorumSize: a majority is more than half of the voters', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [6, 4],
    [7, 4],
  ])('%i voters need %i', (voters, q) => {
    expect(quorumSize(voters)).toBe(q);
  });

  it('any two quorums of the same voter set intersect (2q > n)', () => {
    for (let n = 1; n <= 15; n++) expect(2 * quorumSize(n)).toBeGreaterThan(n);
  });

  it('an even voter set needs strictly more than half (no 2-of-4 quorum)', () => {
    expect(quorumSize(4)).toBe(3);
    expect(quorumSize(0)).toBe(1);
  });
});

describe('committedIndex: the highest index a majority of voters has reached', () => {
  it('a single voter commits what it holds', () => {
    expect(committedIndex(['a'], matchOf({ a: 7 }))).toBe(7);
  });

  it('three voters commit the median match, whatever the order', () => {
    expect(committedIndex(['a', 'b', 'c'], matchOf({ a: 5, b: 3, c: 1 }))).toBe(3);
    expect(committedIndex(['a', 'b', 'c'], matchOf({ a: 1, b: 5, c: 3 }))).toBe(3);
    expect(committedIndex(['c', 'a', 'b'], matchOf({ a: 3, b: 3, c: 9 }))).toBe(3);
  });

  it('four voters need three at the index (the third highest match)', () => {
    expect(committedIndex(['a', 'b', 'c', 'd'], matchOf({ a: 5, b: 4, c: 3, d: 1 }))).toBe(3);
    expect(committedIndex(['a', 'b', 'c', 'd'], matchOf({ a: 9, b: 9, c: 0, d: 0 }))).toBe(0);
  });

  it('voters with no match reported count as 0', () => {
    expect(committedIndex(['a', 'b', 'c', 'd', 'e'], matchOf({ a: 10, b: 10 }))).toBe(0);
    expect(committedIndex(['a', 'b', 'c', 'd', 'e'], matchOf({ a: 10, b: 10, c: 4 }))).toBe(4);
  });

  it('only voters count: a learner far ahead does not raise the commit index', () => {
    const match = matchOf({ a: 10, b: 2, c: 2, learner: 10 });
    expect(committedIndex(['a', 'b', 'c'], match)).toBe(2);
  });

  it('with no voters nothing can commit', () => {
    expect(committedIndex([], matchOf({ a: 10 }))).toBe(0);
  });

  it('does not reorder the caller’s voter list', () => {
    const voters = ['c', 'a', 'b'];
    committedIndex(voters, matchOf({ a: 1, b: 2, c: 3 }));
    expect(voters).toEqual(['c', 'a', 'b']);
  });
});

describe('voteOutcome: an election is decided by a majority of voters', () => {
  const votes = (v: Record<string, boolean>): Map<string, boolean> => new Map(Object.entries(v));

  it('a single voter wins with its own vote', () => {
    expect(voteOutcome(['a'], votes({ a: true }))).toBe('won');
  });

  it('three voters: own vote alone is pending, a second grant wins, two rejections lose', () => {
    const v = ['a', 'b', 'c'];
    expect(voteOutcome(v, votes({ a: true }))).toBe('pending');
    expect(voteOutcome(v, votes({ a: true, b: true }))).toBe('won');
    expect(voteOutcome(v, votes({ a: true, b: false }))).toBe('pending');
    expect(voteOutcome(v, votes({ a: true, b: false, c: false }))).toBe('lost');
  });

  it('four voters: a 2-2 split is lost, 2 grants with 1 unknown is still pending', () => {
    const v = ['a', 'b', 'c', 'd'];
    expect(voteOutcome(v, votes({ a: true, b: true, c: false, d: false }))).toBe('lost');
    expect(voteOutcome(v, votes({ a: true, b: true, c: false }))).toBe('pending');
    expect(voteOutcome(v, votes({ a: true, b: true, c: true }))).toBe('won');
  });

  it('votes from non-voters (learners, strangers) are not counted', () => {
    expect(voteOutcome(['a', 'b', 'c'], votes({ a: true, l1: true, l2: true }))).toBe('pending');
    expect(voteOutcome(['a', 'b', 'c'], votes({ a: true, b: false, l1: false, l2: false }))).toBe('pending');
  });

  it('with no votes recorded the outcome is pending; with no voters it is lost', () => {
    expect(voteOutcome(['a', 'b', 'c'], new Map())).toBe('pending');
    expect(voteOutcome([], new Map([['a', true]]))).toBe('lost');
  });
});

describe('hasQuorum', () => {
  it('is true exactly when a majority of voters is active', () => {
    expect(hasQuorum(['a', 'b', 'c'], (id) => id !== 'c')).toBe(true);
    expect(hasQuorum(['a', 'b', 'c'], (id) => id === 'a')).toBe(false);
    expect(hasQuorum(['a', 'b', 'c', 'd'], (id) => id === 'a' || id === 'b')).toBe(false);
    expect(hasQuorum(['a', 'b', 'c', 'd'], (id) => id !== 'd')).toBe(true);
  });

  it('asks only about voters, and an empty voter set has no quorum', () => {
    const asked: string[] = [];
    hasQuorum(['a', 'b'], (id) => {
      asked.push(id);
      return true;
    });
    expect(asked).toEqual(['a', 'b']);
    expect(hasQuorum([], () => true)).toBe(false);
  });
});
