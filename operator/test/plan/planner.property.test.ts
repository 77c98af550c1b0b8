/**
 * Property tests of the planner against a model of the cluster (cluster-model.ts): random
 * sequences of scale requests (1..7), template changes, pod deletions, wiped volumes (a new
 * incarnation), sick and lagging members, leader changes, stale memory and operator crashes
 * between intent and act; after every planned step:
 *
 *  - a quorum of caught-up voters of the NEW configuration remains (unless it was already lost,
 *    or the only voter restarts);
 *  - one step changes at most one member of the configuration, and a plan call takes one step;
 *  - no volume is deleted while its pod exists or its member is still in the configuration;
 *  - a leader is never restarted while another caught-up voter could take over;
 *  - no pod founds a second cluster while any member of the first still has its data;
 *  - no learner is promoted before it caught up;
 *  - under updateStrategy OnDelete (a quarter of the scenarios), no pod is restarted at all;
 *
 * and once faults stop, the operator converges to exactly the desired voters on the current
 * template (under OnDelete: whatever template each pod has), or, when a quorum's data is gone for
 * good, says so: degraded.
 *
 * scenario.test.ts shows that these properties bite: the same property run against planners
 * broken on purpose fails, with fast-check's counterexample.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { bootstrapMember, plan } from '../../src/plan/index.js';
import { safeAndConvergent } from './scenario.js';

describe('the planner, against a model of the cluster', () => {
  // A few seconds alone; the timeout leaves room for a machine busy with every other test file.
  it('never plans an unsafe step and converges once faults stop', { timeout: 180_000 }, () => {
    fc.assert(safeAndConvergent({ plan, bootstrapMember }), { numRuns: Number(process.env.PLANNER_RUNS ?? 400) });
  });
});
