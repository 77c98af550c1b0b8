/** Runs a range of seeds in this thread and describes the failures, for vitest. */
import { expect } from 'vitest';
import { simulate } from './simulation.js';
import type { SimOptions, SimResult } from './simulation.js';

export function runSeeds(from: number, count: number, opts: Omit<SimOptions, 'seed'> = {}): { failures: SimResult[]; results: SimResult[] } {
  const results: SimResult[] = [];
  for (let seed = from; seed < from + count; seed++) results.push(simulate({ ...opts, seed }));
  return { failures: results.filter((r) => !r.ok), results };
}

export function describeFailures(failures: readonly SimResult[]): string {
  return failures.map((f) => `seed ${f.seed}: ${f.violation?.message}\n  replay: make sim SEED=${f.seed}`).join('\n');
}

/** The first seed from `from` on (at most `limit` of them) whose run fails. */
export function firstFailingSeed(from: number, limit: number, opts: Omit<SimOptions, 'seed'>): SimResult | null {
  for (let seed = from; seed < from + limit; seed++) {
    const r = simulate({ ...opts, seed });
    if (!r.ok) return r;
  }
  return null;
}

/**
 * Asserts that seeds [from, from + count) all pass on the correct core, and that together they
 * really exercised the dangerous paths: a clean run that never crashed or compacted means little.
 */
export function expectCleanSeeds(from: number, count: number): void {
  const { failures, results } = runSeeds(from, count);
  expect(describeFailures(failures)).toBe('');
  const total = (k: 'leadersElected' | 'crashes' | 'snapshotsInstalled' | 'confChanges' | 'transfers' | 'opsOk'): number =>
    results.reduce((s, r) => s + r.stats[k], 0);
  const scale = count / 250;
  expect(total('leadersElected')).toBeGreaterThan(500 * scale);
  expect(total('crashes')).toBeGreaterThan(200 * scale);
  expect(total('snapshotsInstalled')).toBeGreaterThan(100 * scale);
  expect(total('confChanges')).toBeGreaterThan(100 * scale);
  expect(total('transfers')).toBeGreaterThan(20 * scale);
  expect(total('opsOk')).toBeGreaterThan(10_000 * scale);
}
