/**
 * The packages as users get them: packed with `pnpm pack` (workspace ranges become versions),
 * checked with publint and Are the Types Wrong (attw), installed with npm into a scratch project,
 * then imported as ESM and required as CJS, every subpath their `exports` list included.
 * Needs the build (the root `test` script builds first) and the npm registry for the frameworks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = [
  'core',
  'redis',
  'express',
  'koa',
  'nestjs',
  'fastify',
  'hono',
  'jose',
  'socket.io',
  'prometheus',
] as const;
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

let scratch: string;
const tarballOf = {} as Record<(typeof PACKAGES)[number], string>;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'evict-packed-'));
  const tarballs = join(scratch, 'tarballs');
  mkdirSync(tarballs);
  for (const name of PACKAGES) {
    const out = execFileSync(npx, ['--yes', 'pnpm@10', 'pack', '--pack-destination', tarballs], {
      cwd: join(root, 'packages', name),
      encoding: 'utf8',
    });
    tarballOf[name] = out.trim().split('\n').at(-1)!;
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
      'fastify@5',
      'hono@4',
      'jose@6',
      'socket.io@4',
      'socket.io-client@4',
      'prom-client@15',
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

/**
 * A request through an adapter, once the probe has `e` (the engine) and `base` (the app's URL):
 * `/me` with a live session, again after a kick of its user, and a bad Lancens logout.
 */
const THROUGH_THE_ADAPTER = `const { token } = await e.issueSession({ uid: 'alice01', deviceFlag: 1 });
const before = await fetch(base + '/me', { headers: { token } });
const who = (await before.json()).uid;
await e.kickUser('alice01');
const after = await fetch(base + '/me', { headers: { token } });
const logout = await fetch(base + '/v1/api/user/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
console.log(JSON.stringify([before.status, who, after.status, logout.status]));`;

/**
 * A small proof that each package works, written once as an ES module (its import lines first, then
 * a body that may await); `bothSystems` makes the CommonJS twin of it (requires, and the body in an
 * async function).
 */
const esmProbes: Record<(typeof PACKAGES)[number], string> = {
  core: `import { createEvict, MemoryStore } from '@evict/core';
import { createWebhookSender, verifyWebhook } from '@evict/core/webhooks';
const e = createEvict({ store: new MemoryStore() });
const s = await e.issueSession({ uid: 'alice', deviceFlag: 1 });
await e.kickUser('alice');
const hooks = createWebhookSender(e, { url: 'http://127.0.0.1:9/', format: 'tencent', secret: 's' });
const check = await e.check({ type: 'session', token: s.token });
console.log(JSON.stringify([check, (await hooks.close()).accepted, verifyWebhook({ secret: 's', headers: {}, rawBody: '' }).reason]));
await e.close();`,
  redis: `import { RedisStore } from '@evict/redis';
import { runStoreConformance } from '@evict/core/testing';
import Redis from 'ioredis';
const client = new Redis({ lazyConnect: true });
const store = new RedisStore({ client, prefix: 'evict-packed:' });
console.log(JSON.stringify([typeof runStoreConformance, store.prefix, store.clientKind]));`,
  express: `import express from 'express';
import { evictRouter, evictGuard } from '@evict/express';
import { createEvict } from '@evict/core';
const e = createEvict();
const app = express();
app.use(evictRouter(e, { families: ['lancens'] }));
app.get('/me', evictGuard(e), (req, res) => res.json(req.evict));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = 'http://127.0.0.1:' + server.address().port;
${THROUGH_THE_ADAPTER}
server.close();
await e.close();`,
  koa: `import Koa from 'koa';
import { evictRoutes, evictGuard } from '@evict/koa';
import { createEvict } from '@evict/core';
const e = createEvict();
const app = new Koa();
app.use(evictRoutes(e, { families: ['lancens'] }));
const guard = evictGuard(e);
app.use((ctx, next) => (ctx.path === '/me' ? guard(ctx, () => { ctx.body = ctx.state.evict; }) : next()));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = 'http://127.0.0.1:' + server.address().port;
${THROUGH_THE_ADAPTER}
server.close();
await e.close();`,
  nestjs: `import 'reflect-metadata';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EvictModule, EvictGuard, EvictUser, EvictService } from '@evict/nestjs';
class MeController { me(user) { return user; } }
const me = Object.getOwnPropertyDescriptor(MeController.prototype, 'me');
EvictUser()(MeController.prototype, 'me', 0);
Get('me')(MeController.prototype, 'me', me);
UseGuards(EvictGuard)(MeController.prototype, 'me', me);
Controller()(MeController);
class AppModule {}
Module({ imports: [EvictModule.forRoot({ admin: { families: ['lancens'] } })], controllers: [MeController] })(AppModule);
const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
const server = app.getHttpServer();
const base = 'http://127.0.0.1:' + server.address().port;
const e = app.get(EvictService).engine;
${THROUGH_THE_ADAPTER}
await app.close();`,
  fastify: `import Fastify from 'fastify';
import { fastifyEvict, evictGuard, checkUpgrade } from '@evict/fastify';
import { createEvict } from '@evict/core';
const e = createEvict();
const app = Fastify();
await app.register(fastifyEvict, { engine: e });
app.get('/me', { config: { evict: true } }, async (request) => request.evict);
const answer = await app.inject({ url: '/me' });
console.log(JSON.stringify([answer.statusCode, typeof evictGuard(e), typeof checkUpgrade]));
await app.close();
await e.close();`,
  hono: `import { Hono } from 'hono';
import { evictGuard, evictRoutes } from '@evict/hono';
import { createEvict } from '@evict/core';
import { createFetchHandler } from '@evict/core/fetch';
const e = createEvict();
const app = new Hono();
app.use(evictRoutes(e, { families: ['lancens'] }));
app.get('/me', evictGuard(e), (c) => c.json(c.get('evict')));
const answer = await app.request('/me');
console.log(JSON.stringify([answer.status, typeof createFetchHandler]));
await e.close();`,
  jose: `import { jwtSource } from '@evict/jose';
import { createEvict, createGuard } from '@evict/core';
import { SignJWT } from 'jose';
const key = new TextEncoder().encode('a-secret-of-at-least-thirty-two-bytes!!');
const e = createEvict();
const guard = createGuard(e, { credentials: [jwtSource({ key, algorithms: ['HS256'] })] });
const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt().sign(key);
const result = await guard({ headers: { authorization: 'Bearer ' + jwt }, query: new URLSearchParams() });
console.log(JSON.stringify([result.ok, result.principal?.credential]));
await e.close();`,
  'socket.io': `import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { evictSocketIo } from '@evict/socket.io';
import { createEvict } from '@evict/core';
const e = createEvict();
const http = createServer();
const io = new Server(http);
io.use(evictSocketIo(e));
io.on('connection', (socket) => socket.emit('hello', socket.data.evict.uid));
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const { token } = await e.issueSession({ uid: 'alice01', deviceFlag: 1 });
const client = connect('http://127.0.0.1:' + http.address().port, { auth: { token }, transports: ['websocket'], reconnection: false });
const hello = await new Promise((resolve) => client.once('hello', resolve));
const revoked = new Promise((resolve) => client.once('evict:revoked', resolve));
await e.kickUser('alice01');
const why = await revoked;
client.close();
io.close();
await e.close();
console.log(JSON.stringify([hello, why.reason, why.code]));`,
  prometheus: `import { evictMetrics } from '@evict/prometheus';
import { createEvict } from '@evict/core';
import { Registry } from 'prom-client';
const e = createEvict();
const registry = new Registry();
evictMetrics(e, { registry });
await e.kickUser('alice').catch(() => undefined);
const text = await registry.metrics();
console.log(JSON.stringify([text.includes('evict_guard_decisions_total'), text.includes('operation="kick"')]));
await e.close();`,
};

/** An ES module probe and its CommonJS twin. */
function bothSystems(esm: string): { esm: string; cjs: string } {
  const lines = esm.split('\n');
  const firstOfBody = lines.findIndex((line) => !line.startsWith('import '));
  const requires = lines.slice(0, firstOfBody).map((line) => {
    const bare = /^import '([^']+)';$/.exec(line);
    if (bare !== null) return `require('${bare[1]}');`;
    const [, what, from] = /^import (.+) from '([^']+)';$/.exec(line)!;
    // `{ io as connect }` destructures as `{ io: connect }`; a default import is the module itself.
    return `const ${what!.replace(/ as /g, ': ')} = require('${from}');`;
  });
  const body = lines.slice(firstOfBody).map((line) => (line === '' ? line : `  ${line}`));
  return { esm, cjs: [...requires, '(async () => {', ...body, '})();'].join('\n') };
}

/** What each package must export, and a small proof that it works, in both module systems. */
const probes = Object.fromEntries(
  Object.entries(esmProbes).map(([name, esm]) => [name, bothSystems(esm)]),
) as Record<(typeof PACKAGES)[number], { esm: string; cjs: string }>;

const expected: Record<(typeof PACKAGES)[number], unknown> = {
  core: [{ ok: false, reason: 'kicked', uid: 'alice' }, 0, 'missing_header'],
  redis: ['function', 'evict-packed:', 'ioredis'],
  // A request through each adapter: /me with a live session, the same after a kick, a bad Lancens logout.
  express: [200, 'alice01', 401, 400],
  koa: [200, 'alice01', 401, 400],
  nestjs: [200, 'alice01', 401, 400],
  fastify: [401, 'function', 'function'],
  hono: [401, 'function'],
  jose: [true, 'jwt'],
  'socket.io': ['alice01', 'kicked', 4001],
  prometheus: [true, true],
};

function run(kind: 'esm' | 'cjs', source: string): unknown {
  const file = join(scratch, 'app', `probe.${kind === 'esm' ? 'mjs' : 'cjs'}`);
  writeFileSync(file, source);
  const out = execFileSync(process.execPath, [file], { cwd: join(scratch, 'app'), encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

/** Runs a dev tool of the workspace; a non-zero exit fails the test with the tool's report. */
function lint(tool: string, args: string[]): void {
  try {
    execFileSync(npx, ['--no', '--', tool, ...args], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    expect.fail(`${tool} ${args.join(' ')}\n${stdout}${stderr}`);
  }
}

/** The subpaths a package's `exports` lists, as import specifiers (`@evict/core/testing`). */
function entrypointsOf(name: (typeof PACKAGES)[number]): string[] {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
  return Object.keys(manifest.exports)
    .filter((subpath) => subpath !== './package.json')
    .map((subpath) => manifest.name + subpath.slice(1));
}

describe.each(PACKAGES)('packed @evict/%s', (name) => {
  it('passes publint, warnings included', () => {
    lint('publint', [tarballOf[name], '--strict']);
  });
  it('has the types right in every module resolution (attw)', () => {
    // The strict profile keeps node10 (`moduleResolution: node`, what `module: commonjs` implies):
    // the packages' "typesVersions" serve it every subpath from dist/cjs.
    lint('attw', [tarballOf[name], '--profile', 'strict', '--format', 'ascii', '--no-color']);
  });
  it('ships the build of its sources and no build state', () => {
    const files = execFileSync('tar', ['-tzf', tarballOf[name]], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.replace(/^package\//, ''));
    const sources = new Set(files.filter((file) => file.startsWith('src/')));
    // tsc -b leaves the outputs of a deleted source in dist: they must not reach users.
    const orphans = files.filter((file) => {
      const built = /^dist\/(?:esm|cjs)\/(.+?)(?:\.d\.ts|\.js|\.js\.map)$/.exec(file);
      return built !== null && !sources.has(`src/${built[1]}.ts`);
    });
    expect(orphans, 'outputs without a source (delete dist and build again)').toEqual([]);
    expect(files.filter((file) => file.endsWith('.tsbuildinfo'))).toEqual([]);
  });
  it('imports as ESM and works', () => {
    expect(run('esm', probes[name].esm)).toEqual(expected[name]);
  });
  it('requires as CJS and works', () => {
    expect(run('cjs', probes[name].cjs)).toEqual(expected[name]);
  });
  it('gives the same names to ESM and CJS on every subpath of its exports', () => {
    const specifiers = JSON.stringify(entrypointsOf(name));
    const names = (load: string) => `const out = {};
for (const specifier of ${specifiers}) out[specifier] = Object.keys(${load}).sort();
console.log(JSON.stringify(out));`;
    const esm = run('esm', names('await import(specifier)')) as Record<string, string[]>;
    const cjs = run('cjs', names('require(specifier)'));
    expect(cjs).toEqual(esm);
    for (const [specifier, exported] of Object.entries(esm)) {
      expect(exported.length, `${specifier} exports nothing`).toBeGreaterThan(0);
    }
  });
});
