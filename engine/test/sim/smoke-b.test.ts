// Simulation smoke run, seeds 501..1000 (split in two files so vitest runs them on two cores).
import { describe, it } from 'vitest';
import { expectCleanSeeds } from './seed-runner.js';

describe('deterministic simulation of the correct core', () => {
  it('keeps every safety property and stays linearizable over seeds 501..1000', () => {
    expectCleanSeeds(501, 500);
  }, 150_000);
});
