// Simulation smoke run, seeds 1..500 (split in two files so vitest runs them on two cores).
import { describe, expect, it } from 'vitest';
import { describeFailures, runSeeds } from './seed-runner.js';

describe('deterministic simulation of the correct core', () => {
  it('keeps every safety property and stays linearizable over seeds 1..500', () => {
    const { failures, results } = runSeeds(1, 500);
    expect(describeFailures(failures)).toBe('');
    // The runs must really exercise the dangerous paths, or a clean result means little.
    const total = (k: 'leadersElected' | 'crashes' | 'snapshotsInstalled' | 'confChanges' | 'transfers' | 'opsOk') =>
      results.reduce((s, r) => s + r.stats[k], 0);
    expect(total('leadersElected')).toBeGreaterThan(500);
    expect(total('crashes')).toBeGreaterThan(200);
    expect(total('snapshotsInstalled')).toBeGreaterThan(100);
    expect(total('confChanges')).toBeGreaterThan(100);
    expect(total('transfers')).toBeGreaterThan(20);
    expect(total('opsOk')).toBeGreaterThan(10_000);
  }, 150_000);
});
