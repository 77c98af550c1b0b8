import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['engine/**/*.test.ts', 'operator/**/*.test.ts'],
    // End-to-end tests need a Kubernetes cluster: `make e2e` runs them on their own.
    exclude: ['**/node_modules/**', '**/dist/**', 'e2e/**'],
    testTimeout: 30_000,
    // The simulation smoke runs are split across files so that vitest spreads them over cores.
    pool: 'threads',
  },
});
