import { defineConfig } from 'vitest/config';

// Integration tests: real engine processes on loopback. One file at a time, so that timing
// bounds (elections, failover) are not measured on a machine busy with other test files.
export default defineConfig({
  test: {
    include: ['engine/test/integration/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
