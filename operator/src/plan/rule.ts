/**
 * A rule is one concern of the planner (a repair, scaling down, a rollout...). It proposes a step,
 * a decision, nothing (null), or says it is `blocked`: it has work to do but cannot do it now.
 * Blocked is soft: later rules still get their turn, because their step may be exactly what
 * unblocks it (found by the property test: a scale-down whose leader has nobody to hand over to
 * until a replacement learner is promoted). Hard stops (the health gate, a lost quorum) are
 * decisions, and end the search.
 */
import { check } from './safety.js';
import type { Decision, Step } from './types.js';
import type { View } from './view.js';

export type Proposal = Decision | { readonly kind: 'blocked'; readonly reason: string };

export type Rule = (v: View) => Proposal | null;

/** The first candidate step whose check passes, or null. */
export function firstSafe(v: View, candidates: readonly Step[]): Step | null {
  for (const s of candidates) if (check(v, s) === null) return s;
  return null;
}

/** The step if its check passes, else blocked with the check's reason (prefixed by the goal). */
export function stepOrBlocked(v: View, step: Step, goal: string): Proposal {
  const why = check(v, step);
  return why === null ? step : { kind: 'blocked', reason: `${goal}: ${why}` };
}
