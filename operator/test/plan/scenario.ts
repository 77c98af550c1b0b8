/**
 * Random scenarios for the planner's property tests: rounds of world events (scale requests,
 * template changes, pod deletions, wiped volumes, sick pods, lagging members, leader changes,
 * stale operator memory, the resource deleted and created again) interleaved with operator reconciles, some of which crash between writing
 * their intent and acting on it (an operator restart: the next one starts from status alone). Then
 * the faults stop and the operator must converge.
 */
import fc from 'fast-check';
import { isStep } from '../../src/plan/index.js';
import type { Decision, bootstrapMember, plan } from '../../src/plan/index.js';
import { ClusterModel } from './cluster-model.js';
import type { Fault } from './cluster-model.js';

/** The planner under test: the real one, or a deliberately broken one (scenario.test.ts). */
export interface Planner {
  readonly plan: typeof plan;
  readonly bootstrapMember: typeof bootstrapMember;
}

/** One round of the world: maybe some faults, then the operator (or not), then maybe time. */
export interface Round {
  readonly faults: readonly Fault[];
  /** reconcile; crash after writing the intent (an operator restart); or no reconcile this round. */
  readonly operator: 'reconcile' | 'crash-after-intent' | 'absent';
  readonly tick: boolean;
}

export interface Scenario {
  readonly replicas: number;
  readonly volumeRetention: 'Retain' | 'Delete';
  readonly updateStrategy: 'RollingUpdate' | 'OnDelete';
  readonly rounds: readonly Round[];
}

const ordinal = fc.integer({ min: 0, max: 6 });

const fault: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 7 }).map((replicas): Fault => ({ kind: 'scale', replicas })) },
  { weight: 2, arbitrary: fc.constant<Fault>({ kind: 'template-change' }) },
  { weight: 2, arbitrary: ordinal.map((o): Fault => ({ kind: 'delete-pod', ordinal: o })) },
  { weight: 2, arbitrary: ordinal.map((o): Fault => ({ kind: 'wipe-volume', ordinal: o })) },
  { weight: 2, arbitrary: ordinal.map((o): Fault => ({ kind: 'sick', ordinal: o })) },
  { weight: 3, arbitrary: ordinal.map((o): Fault => ({ kind: 'heal', ordinal: o })) },
  { weight: 2, arbitrary: ordinal.map((o): Fault => ({ kind: 'lag', ordinal: o })) },
  { weight: 1, arbitrary: fc.nat(6).map((pick): Fault => ({ kind: 'leader-change', pick })) },
  { weight: 1, arbitrary: fc.nat(8).map((back): Fault => ({ kind: 'stale-memory', back })) },
  { weight: 1, arbitrary: fc.constant<Fault>({ kind: 'recreate-resource' }) },
);

const round: fc.Arbitrary<Round> = fc.record({
  // Mostly quiet rounds, so that the operator gets somewhere between faults.
  faults: fc.oneof({ weight: 6, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(fault, { minLength: 1, maxLength: 2 }) }),
  operator: fc.oneof(
    { weight: 12, arbitrary: fc.constant<Round['operator']>('reconcile') },
    { weight: 1, arbitrary: fc.constant<Round['operator']>('crash-after-intent') },
    { weight: 2, arbitrary: fc.constant<Round['operator']>('absent') },
  ),
  tick: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

export const scenario: fc.Arbitrary<Scenario> = fc.record({
  replicas: fc.integer({ min: 1, max: 7 }),
  volumeRetention: fc.constantFrom<'Retain' | 'Delete'>('Retain', 'Delete'),
  // Mostly RollingUpdate: rollouts are where the leader-restart properties bite.
  updateStrategy: fc.oneof({ weight: 3, arbitrary: fc.constant<Scenario['updateStrategy']>('RollingUpdate') }, { weight: 1, arbitrary: fc.constant<Scenario['updateStrategy']>('OnDelete') }),
  rounds: fc.array(round, { minLength: 1, maxLength: 150, size: 'max' }),
});

/** The Raft configuration as a set of "id:role", to count how much one step changed it. */
function configuration(m: ClusterModel): Set<string> {
  return new Set([...m.members.entries()].map(([id, x]) => `${id}:${x.role}`));
}

/** One reconcile of the operator: observe, plan, write the intent to status, act, apply objects. */
function reconcile(m: ClusterModel, p: Planner, crash: boolean): Decision {
  const observed = m.observe();
  const d = p.plan(m.desired, observed, m.memory);
  m.trace.push(`plan: ${d.kind} — ${d.reason}`);
  if (!isStep(d)) {
    m.memory = { ...m.memory, pendingStep: null };
  } else {
    if (d.kind === 'restart-pod' && m.desired.updateStrategy === 'OnDelete') m.violations.push(`restarted ${d.podName} under updateStrategy OnDelete`);
    m.memory = { ...m.memory, pendingStep: d };
    if (crash) {
      m.trace.push('  operator crashed after writing its intent');
      return d;
    }
    const before = configuration(m);
    m.apply(d);
    const after = configuration(m);
    const changed = new Set([...before].filter((x) => !after.has(x)).map((x) => x.split(':')[0])).size + [...after].filter((x) => !before.has(x) && ![...before].some((y) => y.split(':')[0] === x.split(':')[0])).length;
    if (changed > 1) m.violations.push(`${d.kind} changed ${changed} members of the configuration at once`);
  }
  m.applyConfigMap(p.bootstrapMember(m.desired, m.observe(), m.memory));
  return d;
}

export interface Outcome {
  readonly violations: readonly string[];
  /** Empty when the operator converged (or, with quorum lost for good, reported it). */
  readonly convergence: readonly string[];
  readonly trace: readonly string[];
}

/** Runs a scenario, then lets the operator converge with no more faults. */
export function run(s: Scenario, p: Planner): Outcome {
  const m = new ClusterModel(s.replicas, s.volumeRetention, s.updateStrategy);
  m.applyConfigMap(p.bootstrapMember(m.desired, m.observe(), m.memory));
  for (const r of s.rounds) {
    for (const f of r.faults) m.fault(f);
    if (r.operator !== 'absent') reconcile(m, p, r.operator === 'crash-after-intent');
    if (r.tick) m.tick();
    if (m.violations.length > 0) return { violations: m.violations, convergence: [], trace: m.trace };
  }
  m.trace.push('--- faults stop; converging ---');
  m.healAll();
  const recoverable = m.recoverable();
  let last: Decision | null = null;
  for (let i = 0; i < 400 && last?.kind !== 'idle'; i++) {
    last = reconcile(m, p, false);
    m.tick();
    if (m.violations.length > 0) return { violations: m.violations, convergence: [], trace: m.trace };
  }
  const convergence: string[] = [];
  if (recoverable) {
    if (last?.kind !== 'idle') convergence.push(`did not converge; last decision: ${last?.kind} — ${last?.reason}`);
    convergence.push(...m.convergenceProblems());
  } else if (last?.kind !== 'degraded') {
    convergence.push(`quorum is lost for good, but the operator says ${last?.kind}: ${last?.reason}`);
  }
  return { violations: m.violations, convergence, trace: m.trace };
}

/** The trace with runs of identical lines folded into one ("(x12)"). */
export function collapse(lines: readonly string[]): string[] {
  const out: string[] = [];
  let count = 0;
  lines.forEach((line, i) => {
    count++;
    if (lines[i + 1] !== line) {
      out.push(count > 1 ? `${line}   (x${count})` : line);
      count = 0;
    }
  });
  return out;
}

/** The property: no violation ever, and (unless only safety is asked) convergence once faults stop. */
export function safeAndConvergent(p: Planner, what: 'safety' | 'safety-and-convergence' = 'safety-and-convergence'): fc.IPropertyWithHooks<[Scenario]> {
  return fc.property(scenario, (s) => {
    const o = run(s, p);
    if (o.violations.length > 0 || (what === 'safety-and-convergence' && o.convergence.length > 0)) {
      throw new Error([...o.violations, ...o.convergence, '', 'trace (repeats collapsed):', ...collapse(o.trace).slice(-80)].join('\n'));
    }
  });
}
