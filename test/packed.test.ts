/**
 * The packages as users get them: packed with `pnpm pack` (workspace ranges become versions),
 * installed with npm into a scratch project, then imported as ESM and required as CJS.
 * Needs the build (the root `test` script builds first) and the npm registry for the frameworks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'redis', 'express', 'koa', 'nestjs'] as const;
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'evict-packed-'));
  const tarballs = join(scratch, 'tarballs');
  mkdirSync(tarballs);
  for (const name of PACKAGES) {
    execFileSync(npx, ['--yes', 'pnpm@10', 'pack', '--pack-destination', tarballs], {
      cwd: join(root, 'packages', name),
      stdio: 'pipe',
    });
  }
  const app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--prefer-offline',
      ...readdirSync(tarballs).map((file) => join(tarballs, file)),
      'express@5',
      'koa@3',
      '@nestjs/common@11',
      '@nestjs/core@11',
      '@nestjs/platform-express@11',
      'reflect-metadata@0.2',
      'rxjs@7',
      'ioredis@6',
    ],
    { cwd: app, stdio: 'pipe' },
  );
}, 240_000);

afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

/** What each package must export, and a small proof that it works, in both module systems. */
const probes: Record<(typeof PACKAGES)[number], { esm: string; cjs: string }> = {
  core: {
    esm: `import { createEvict, MemoryStore } from '@evict/core';
const e = createEvict({ store: new MemoryStore() });
const s = await e.issueSession({ uid: 'alice', deviceFlag: 1 });
await e.kickUser('alice');
console.log(JSON.stringify(await e.check({ type: 'session', token: s.token })));
await e.close();`,
    cjs: `const { createEvict, MemoryStore } = require('@evict/core');
(async () => {
  const e = createEvict({ store: new MemoryStore() });
  const s = await e.issueSession({ uid: 'alice', deviceFlag: 1 });
  await e.kickUser('alice');
  console.log(JSON.stringify(await e.check({ type: 'session', token: s.token })));
  await e.close();
})();`,
  },
  redis: {
    esm: `import { RedisStore } from '@evict/redis';
import { runStoreConformance } from '@evict/core/testing';
import Redis from 'ioredis';
const client = new Redis({ lazyConnect: true });
const store = new RedisStore({ client, prefix: 'evict-packed:' });
console.log(JSON.stringify([typeof runStoreConformance, store.prefix, store.clientKind]));`,
    cjs: `const { RedisStore } = require('@evict/redis');
const { runStoreConformance } = require('@evict/core/testing');
const Redis = require('ioredis');
const client = new Redis({ lazyConnect: true });
const store = new RedisStore({ client, prefix: 'evict-packed:' });
console.log(JSON.stringify([typeof runStoreConformance, store.prefix, store.clientKind]));`,
  },
  express: {
    esm: `import { evictRouter, evictGuard, checkUpgrade } from '@evict/express';
import { createEvict } from '@evict/core';
const e = createEvict();
console.log(JSON.stringify([typeof evictRouter(e, { families: ['lancens'] }), typeof evictGuard(e), typeof checkUpgrade]));`,
    cjs: `const { evictRouter, evictGuard, checkUpgrade } = require('@evict/express');
const { createEvict } = require('@evict/core');
const e = createEvict();
console.log(JSON.stringify([typeof evictRouter(e, { families: ['lancens'] }), typeof evictGuard(e), typeof checkUpgrade]));`,
  },
  koa: {
    esm: `import { evictRoutes, evictGuard, checkUpgrade } from '@evict/koa';
import { createEvict } from '@evict/core';
const e = createEvict();
console.log(JSON.stringify([typeof evictRoutes(e, { families: ['lancens'] }), typeof evictGuard(e), typeof checkUpgrade]));`,
    cjs: `const { evictRoutes, evictGuard, checkUpgrade } = require('@evict/koa');
const { createEvict } = require('@evict/core');
const e = createEvict();
console.log(JSON.stringify([typeof evictRoutes(e, { families: ['lancens'] }), typeof evictGuard(e), typeof checkUpgrade]));`,
  },
  nestjs: {
    esm: `import 'reflect-metadata';
import { EvictModule, EvictService, EvictGuard } from '@evict/nestjs';
console.log(JSON.stringify([typeof EvictModule.forRoot, typeof EvictModule.forRootAsync, typeof EvictService, typeof EvictGuard]));`,
    cjs: `require('reflect-metadata');
const { EvictModule, EvictService, EvictGuard } = require('@evict/nestjs');
console.log(JSON.stringify([typeof EvictModule.forRoot, typeof EvictModule.forRootAsync, typeof EvictService, typeof EvictGuard]));`,
  },
};

const expected: Record<(typeof PACKAGES)[number], unknown> = {
  core: { ok: false, reason: 'kicked', uid: 'alice' },
  redis: ['function', 'evict-packed:', 'ioredis'],
  express: ['function', 'function', 'function'],
  koa: ['function', 'function', 'function'],
  nestjs: ['function', 'function', 'function', 'function'],
};

function run(kind: 'esm' | 'cjs', source: string): unknown {
  const file = join(scratch, 'app', `probe.${kind === 'esm' ? 'mjs' : 'cjs'}`);
  writeFileSync(file, source);
  const out = execFileSync(process.execPath, [file], { cwd: join(scratch, 'app'), encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe.each(PACKAGES)('packed @evict/%s', (name) => {
  it('imports as ESM and works', () => {
    expect(run('esm', probes[name].esm)).toEqual(expected[name]);
  });
  it('requires as CJS and works', () => {
    expect(run('cjs', probes[name].cjs)).toEqual(expected[name]);
  });
});
