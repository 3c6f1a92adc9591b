import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; the packed builds are tested separately.
    alias: [
      // A subpath of core's exports, as its source: `@evict/core/testing` is src/testing (its index.ts).
      {
        find: /^@evict\/core\/(.+)$/,
        replacement: fileURLToPath(new URL('./packages/core/src/$1', import.meta.url)),
      },
      // Every package of the workspace, from its sources.
      ...readdirSync(new URL('./packages', import.meta.url)).map((pkg) => ({
        find: `@evict/${pkg}`,
        replacement: src(pkg),
      })),
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    // Vitest's default is one worker per core but one: a single worker on a 2-core machine, where
    // most files wait on servers, demos and Redis rather than compute. Two halve the suite there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 20_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/count-reporter.ts'],
  },
});
