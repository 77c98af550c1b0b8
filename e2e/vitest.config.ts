import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// End-to-end tests against a real cluster ($KUBECONFIG): `make e2e`. One file at a time: the
// tests share one small cluster, and timing bounds (elections) should not be measured on a node
// busy with another file's pods.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['e2e/tests/**/*.test.ts'],
    globalSetup: ['e2e/lib/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});
