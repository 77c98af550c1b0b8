import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['engine/**/*.test.ts', 'operator/**/*.test.ts'],
    // End-to-end tests need a Kubernetes cluster: `make e2e` runs them on their own. Integration
    // tests (real engine processes) run on their own too: vitest.integration.config.ts.
    exclude: ['**/node_modules/**', '**/dist/**', 'e2e/**', 'engine/test/integration/**'],
    testTimeout: 30_000,
    // The simulation smoke runs are split across files so that vitest spreads them over cores.
    pool: 'threads',
  },
});
