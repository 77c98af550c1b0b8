import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/raft/progress.js';

function replicating(match: number, maxInflight = 3): Progress {
  const pr = new Progress(match + 1, maxInflight);
  pr.maybeUpdate(match);
  pr.becomeReplicate();
  return pr;
}

describe('Progress: probe state sends one append at a time', () => {
  it('a new follower is probed from the given next index and is not paused', () => {
    const pr = new Progress(6, 4);
    expect(pr.state).toBe('probe');
    expect(pr.match).toBe(0);
    expect(pr.next).toBe(6);
    expect(pr.isPaused()).toBe(false);
  });

  it('after one append (even an empty one) it pauses until the follower answers', () => {
    const pr = new Progress(6, 4);
    pr.sentEntries(5, 0);
    expect(pr.isPaused()).toBe(true);
    // The probe does not advance next optimistically.
    expect(pr.next).toBe(6);
    expect(pr.maybeUpdate(5)).toBe(true);
    expect(pr.isPaused()).toBe(false);
    expect(pr.match).toBe(5);
    expect(pr.next).toBe(6);
  });

  it('a stale acknowledgement (not above match) tells nothing and does not unpause', () => {
    const pr = new Progress(6, 4);
    pr.maybeUpdate(5);
    pr.sentEntries(7, 2);
    expect(pr.maybeUpdate(3)).toBe(false);
    expect(pr.match).toBe(5);
    expect(pr.isPaused()).toBe(true);
  });

  it('a rejection of the outstanding probe moves next to the follower’s hint and unpauses', () => {
    const pr = new Progress(11, 4);
    pr.sentEntries(10, 1);
    expect(pr.maybeDecrTo(10, 4)).toBe(true);
    expect(pr.next).toBe(5);
    expect(pr.isPaused()).toBe(false);
  });

  it('a rejection that is not of the outstanding probe is stale and ignored', () => {
    const pr = new Progress(11, 4);
    pr.sentEntries(10, 1);
    expect(pr.maybeDecrTo(7, 2)).toBe(false);
    expect(pr.next).toBe(11);
    expect(pr.isPaused()).toBe(true);
  });

  it('the hint never moves next below match + 1 nor above the rejected index', () => {
    const low = new Progress(11, 4);
    low.maybeUpdate(6);
    low.next = 11;
    expect(low.maybeDecrTo(10, 2)).toBe(true);
    expect(low.next).toBe(7);

    const high = new Progress(11, 4);
    expect(high.maybeDecrTo(10, 50)).toBe(true);
    expect(high.next).toBe(10);
  });
});

describe('Progress: replicate state pipelines appends within a window', () => {
  it('becoming replicate starts right after match', () => {
    const pr = replicating(5);
    expect(pr.state).toBe('replicate');
    expect(pr.next).toBe(6);
    expect(pr.inflightCount()).toBe(0);
  });

  it('each non-empty append advances next optimistically and takes a slot; a full window pauses', () => {
    const pr = replicating(5, 3);
    pr.sentEntries(7, 2);
    pr.sentEntries(9, 2);
    expect(pr.next).toBe(10);
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(10, 1);
    expect(pr.inflightCount()).toBe(3);
    expect(pr.isPaused()).toBe(true);
  });

  it('an empty append (commit only) takes no slot and does not move next', () => {
    const pr = replicating(5, 1);
    pr.sentEntries(5, 0);
    pr.sentEntries(5, 0);
    expect(pr.inflightCount()).toBe(0);
    expect(pr.next).toBe(6);
    expect(pr.isPaused()).toBe(false);
  });

  it('an acknowledgement frees every slot up to the index it acknowledges', () => {
    const pr = replicating(5, 3);
    pr.sentEntries(7, 2);
    pr.sentEntries(9, 2);
    pr.sentEntries(10, 1);
    expect(pr.maybeUpdate(8)).toBe(true);
    expect(pr.inflightCount()).toBe(2);
    expect(pr.isPaused()).toBe(false);
    expect(pr.maybeUpdate(10)).toBe(true);
    expect(pr.inflightCount()).toBe(0);
    expect(pr.match).toBe(10);
    expect(pr.next).toBe(11);
  });

  it('an acknowledgement never moves next backwards', () => {
    const pr = replicating(5, 3);
    pr.sentEntries(9, 4);
    pr.maybeUpdate(6);
    expect(pr.next).toBe(10);
  });

  it('a rejection above match falls back to match + 1; one at or below match is stale', () => {
    const pr = replicating(5, 3);
    pr.sentEntries(9, 4);
    expect(pr.maybeDecrTo(5, 0)).toBe(false);
    expect(pr.next).toBe(10);
    expect(pr.maybeDecrTo(9, 0)).toBe(true);
    expect(pr.next).toBe(6);
  });

  it('becoming probe again forgets the window and restarts after match', () => {
    const pr = replicating(5, 2);
    pr.sentEntries(7, 2);
    pr.sentEntries(9, 2);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.state).toBe('probe');
    expect(pr.next).toBe(6);
    expect(pr.inflightCount()).toBe(0);
    expect(pr.isPaused()).toBe(false);
  });
});

describe('Progress: snapshot state', () => {
  it('pauses appends while a snapshot is sent', () => {
    const pr = replicating(5);
    pr.becomeSnapshot(40);
    expect(pr.state).toBe('snapshot');
    expect(pr.pendingSnapshot).toBe(40);
    expect(pr.isPaused()).toBe(true);
  });

  it('after the snapshot, probing resumes right after it (or after match, if further)', () => {
    const pr = replicating(5);
    pr.becomeSnapshot(40);
    pr.becomeProbe();
    expect(pr.next).toBe(41);
    expect(pr.pendingSnapshot).toBe(0);

    const ahead = replicating(5);
    ahead.becomeSnapshot(40);
    ahead.maybeUpdate(45);
    ahead.becomeProbe();
    expect(ahead.next).toBe(46);
  });
});
