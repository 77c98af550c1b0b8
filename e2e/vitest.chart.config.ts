import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Rendered-template tests of charts/leviathan-operator (helm template, no cluster): part of
// `make test` through `make chart-test`.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['e2e/chart/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
