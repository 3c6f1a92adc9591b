import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

/**
 * The fault suite and the soak (`pnpm test:faults`, `FAULT_QUICK=1` for the short version CI runs):
 * real demo processes and a redis-server of their own. Not part of `pnpm test` (the root config
 * includes `*.test.ts` only). One file at a time: each loads the machine on its own.
 */
export default defineConfig({
  resolve: {
    alias: {
      '@evict/core/node': fileURLToPath(new URL('./packages/core/src/node.ts', import.meta.url)),
      '@evict/core': src('core'),
      '@evict/redis': src('redis'),
    },
  },
  test: {
    include: ['test/faults/**/*.fault.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
