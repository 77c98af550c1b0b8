/**
 * The simulator's checkers must catch a broken core. Each test turns on one deliberate bug
 * (a RaftTestingKnob) and runs seeds until a violation of the expected kind shows up, then
 * prints the seed that replays it. A checker that cannot fail would make every clean run
 * meaningless.
 */
import { describe, expect, it } from 'vitest';
import type { RaftTestingKnobs } from '../../src/raft/index.js';
import type { ViolationKind } from './checkers.js';
import { firstFailingSeed } from './seed-runner.js';
import { simulate } from './simulation.js';
import type { Scenario } from './simulation.js';

interface Case {
  readonly knob: keyof RaftTestingKnobs;
  readonly scenario?: Scenario;
  readonly within: number;
  readonly kinds: readonly ViolationKind[];
}

const CASES: readonly Case[] = [
  // A vote granted without the up-to-date check elects leaders missing committed entries.
  { knob: 'unsafeVoteWithoutLogCheck', within: 200, kinds: ['leader-completeness', 'election-safety', 'state-machine-safety', 'log-matching'] },
  // Figure 3.7: an old-term entry "committed" by counting replicas is later overwritten.
  { knob: 'unsafeCommitPreviousTermByCount', scenario: 'leader-churn', within: 1500, kinds: ['leader-completeness', 'state-machine-safety'] },
  // Two membership changes in flight let two disjoint majorities decide.
  { knob: 'unsafeConcurrentConfChanges', scenario: 'membership-churn', within: 300, kinds: ['leader-completeness', 'election-safety', 'state-machine-safety', 'log-matching'] },
  // A read served without confirming leadership can return stale data.
  { knob: 'unsafeReadIndexWithoutQuorum', within: 300, kinds: ['linearizability'] },
];

describe('the checkers catch a deliberately broken core', () => {
  for (const c of CASES) {
    it(`catches ${c.knob}${c.scenario ? ` (${c.scenario})` : ''}`, () => {
      const failed = firstFailingSeed(1, c.within, { knobs: { [c.knob]: true }, scenario: c.scenario });
      expect(failed, `no seed in 1..${c.within} caught ${c.knob}`).not.toBeNull();
      const kind = failed?.violation?.kind;
      console.log(`${c.knob}: caught at seed ${failed?.seed} as ${kind}: replay with make sim SEED=${failed?.seed} (with --knob ${c.knob})`);
      expect(c.kinds).toContain(kind);
      // The same seed on the correct core is clean: the violation is the bug's, not the schedule's.
      expect(simulate({ seed: failed?.seed ?? 0, scenario: c.scenario }).ok).toBe(true);
    }, 120_000);
  }
});

describe('replay', () => {
  it('a seed replays exactly: same trace, same outcome', () => {
    const a = simulate({ seed: 4242, trace: true });
    const b = simulate({ seed: 4242, trace: true });
    expect(a.trace.length).toBeGreaterThan(10);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  });

  it('a failing seed fails the same way every time', () => {
    const knobs = { unsafeVoteWithoutLogCheck: true };
    const first = firstFailingSeed(1, 200, { knobs });
    expect(first).not.toBeNull();
    const again = simulate({ seed: first?.seed ?? 0, knobs });
    expect(again.violation?.message).toBe(first?.violation?.message);
  });
});
