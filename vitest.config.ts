import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // examples/ import the package by name, as users do; here that is the source.
  resolve: {
    alias: [
      { find: /^tandem-queue$/, replacement: src('index.ts') },
      { find: /^tandem-queue\/embedded$/, replacement: src('embedded.ts') },
      { find: /^tandem-queue\/testing$/, replacement: src('testing/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
