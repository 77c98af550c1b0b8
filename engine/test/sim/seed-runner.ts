/** Runs a range of seeds in this thread and describes the failures, for vitest. */
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
