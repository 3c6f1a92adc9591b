import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; the packed builds are tested separately.
    alias: {
      '@evict/core/testing': fileURLToPath(new URL('./packages/core/src/testing/index.ts', import.meta.url)),
      '@evict/core/node': fileURLToPath(new URL('./packages/core/src/node.ts', import.meta.url)),
      '@evict/core': src('core'),
      '@evict/redis': src('redis'),
      '@evict/express': src('express'),
      '@evict/koa': src('koa'),
      '@evict/nestjs': src('nestjs'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/count-reporter.ts'],
  },
});
