/**
 * The property of planner.property.test.ts must be able to fail. Here it runs against planners
 * broken on purpose, one rule each, and fast-check must find a counterexample for every one. Each
 * test prints the shrunk counterexample's first complaint, so a reader sees what was found.
 *
 * What the broken planners are, and what fast-check found (seed 20260101, shrunk counterexamples):
 *
 * 1. quorum() off by one (floor(n/2): "a quorum of 1 of 2"). Safety alone, after 446 runs: a
 *    scale-down to 1 "remove-member db-2@6 ... left 1 caught-up voter(s) of 2, fewer than a quorum
 *    (2); before: 2 of 3". With convergence checked too, after 7 runs, the
 *    simpler symptom: a lost quorum taken for an election, "quorum is lost for good, but the
 *    operator says wait: ... 1 of 2 voters are up, an election should end soon".
 * 2. the leader restarted first in a rollout (its transfer-leadership replaced by a restart-pod of
 *    the leader's pod), after 2 runs: "restarted the leader db-0@2 while db-1@4 could take over".
 * 3. a removed member's volume deleted as soon as the StatefulSet shrank, without waiting for the
 *    pod to go, after 26 runs: "deleted the volume of db-1 while its pod exists".
 * 4. learners promoted without waiting for them to catch up, at once: "promoted a learner that had
 *    not caught up".
 * 5. the bootstrap permission never revoked (bootstrapMember always names ordinal 0), at once: a
 *    wiped pod 0 came back and "db-0@6 founded a new cluster while db-1@4 still hold data of the
 *    existing one".
 * 6. updateStrategy OnDelete ignored (the real planner run as if RollingUpdate): a pod restarted
 *    for a template change, after 3 runs: "restarted db-0 under updateStrategy OnDelete".
 *
 * The correct planner was not written right the first time either; the same property found, while
 * it was developed: a rollout that could never finish with two voters (no restart keeps a quorum
 * of two: safety.ts now accepts the pause); a scale-down deadlocked because the leader to remove
 * had nobody to hand over to until a replacement learner was promoted, and the scale-down rule's
 * wait shadowed the promotion (rules now report "blocked" softly, rule.ts); an adoption of earlier
 * volumes that could never elect a leader and only waited, silently (now degraded); and a re-created
 * one-member cluster that could never be founded again, because its pod 0 held an identity but no
 * Raft state (resources/bootstrap.ts now specifies that such a directory counts as empty).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootstrapMember, plan } from '../../src/plan/index.js';
import type { Decision, Step } from '../../src/plan/index.js';
import { safeAndConvergent } from './scenario.js';
import type { Planner } from './scenario.js';

/** Runs the property against a broken planner; returns the first line of its complaint. */
function counterexample(p: Planner, what: Parameters<typeof safeAndConvergent>[1] = 'safety-and-convergence'): string {
  const r = fc.check(safeAndConvergent(p, what), { numRuns: 3000, seed: 20260101 });
  expect(r.failed, 'fast-check found no counterexample: the property does not bite').toBe(true);
  const cause = r.errorInstance instanceof Error ? r.errorInstance.message.split('\n')[0] : String(r.errorInstance);
  console.log(`  found after ${r.numRuns} run(s), shrunk ${r.numShrinks} time(s): ${cause}`);
  return cause ?? '';
}

/** A planner that replaces some of the real one's decisions. */
function twisted(twist: (d: Decision, ...args: Parameters<typeof plan>) => Decision): Planner {
  return { plan: (desired, observed, memory) => twist(plan(desired, observed, memory), desired, observed, memory), bootstrapMember };
}

describe('the properties bite: broken planners are caught', { timeout: 180_000 }, () => {
  afterEach(() => {
    vi.doUnmock('../../src/plan/quorum.js');
    vi.resetModules();
  });

  it('1. quorum arithmetic off by one', async () => {
    vi.resetModules();
    vi.doMock('../../src/plan/quorum.js', () => ({
      quorum: (n: number) => Math.max(1, Math.floor(n / 2)),
      faultTolerance: (n: number, up: number) => up - Math.max(1, Math.floor(n / 2)),
    }));
    const broken = await import('../../src/plan/index.js');
    // Safety alone: with convergence checked too, fast-check shrinks to the simpler symptom that
    // the broken arithmetic also mistakes a lost quorum for an election ("says wait").
    expect(counterexample({ plan: broken.plan, bootstrapMember: broken.bootstrapMember }, 'safety')).toMatch(/fewer than a quorum/);
    expect(counterexample({ plan: broken.plan, bootstrapMember: broken.bootstrapMember })).toMatch(/fewer than a quorum|quorum is lost for good/);
  });

  it('2. the leader restarted before leadership moved away', () => {
    const p = twisted((d, _desired, observed) => {
      if (d.kind !== 'transfer-leadership' || !d.reason.startsWith('rolling upgrade')) return d;
      const pod = observed.pods.find((x) => d.from.startsWith(`${x.name}@`));
      return pod === undefined ? d : { kind: 'restart-pod', podName: pod.name, podUid: pod.uid, reason: 'broken: restart the leader at once' };
    });
    expect(counterexample(p)).toMatch(/restarted the leader/);
  });

  it('3. a volume deleted while its pod still terminates', () => {
    const p = twisted((d, desired, observed) => {
      const m = /pod (\S+) is being removed by the StatefulSet/.exec(d.reason);
      if (d.kind !== 'wait' || m === null || desired.volumeRetention !== 'Delete') return d;
      const pvc = observed.pvcs.find((x) => x.name === `data-${m[1]}`);
      return pvc === undefined ? d : ({ kind: 'delete-pvc', pvcName: pvc.name, ordinal: pvc.ordinal, reason: 'broken: no need to wait' } satisfies Step);
    });
    expect(counterexample(p)).toMatch(/deleted the volume of \S+ while its pod exists/);
  });

  it('4. learners promoted before they caught up', () => {
    const p = twisted((d) => {
      const m = /learner (\S+) is catching up in group 0/.exec(d.reason);
      return d.kind === 'wait' && m?.[1] !== undefined ? { kind: 'promote', groupId: 0, memberId: m[1], reason: 'broken: promote at once' } : d;
    });
    expect(counterexample(p)).toMatch(/promoted a learner that had not caught up/);
  });

  it('5. the bootstrap permission never revoked', () => {
    const p: Planner = { plan, bootstrapMember: (desired) => `${desired.name}-0` };
    expect(counterexample(p)).toMatch(/founded a new cluster while .* still hold data/);
  });

  it('6. updateStrategy OnDelete ignored (pods rolled anyway)', () => {
    const p: Planner = { plan: (desired, observed, memory) => plan({ ...desired, updateStrategy: 'RollingUpdate' }, observed, memory), bootstrapMember };
    expect(counterexample(p, 'safety')).toMatch(/restarted \S+ under updateStrategy OnDelete/);
  });
});
