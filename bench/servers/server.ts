/**
 * One benchmark contender as its own process: `node --import tsx bench/servers/server.ts <mode>`, or
 * `node <compiled copy> <mode>` (bench/support/compile.ts, what the HTTP section runs).
 * Serves `GET /hello` → `{"hello":"world"}` on 127.0.0.1 (a free port), then prints one line
 * `READY {"port":…,"headers":{…}}` on stdout: the port, and the headers each request must carry
 * (the session token, the session cookie or the JWT, made once at start-up). SIGTERM ends it.
 *
 * evict's packages are loaded from their build (packages/<name>/dist/esm, `pnpm build` first), so
 * what runs is what ships. Under tsx, tsx only transforms this file at load time: nothing of it is
 * in the measured path.
 */
import 'reflect-metadata';
import { createSecretKey, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { dirname, resolve } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MODES = [
  'express',
  'express-noop',
  'express-evict-memory',
  'express-evict-memory-last-seen-off',
  'express-evict-memory-metrics',
  'express-evict-redis',
  'express-evict-redis-nocache',
  'express-evict-redis-many',
  'express-evict-redis-many-nocache',
  'koa',
  'koa-noop',
  'koa-evict-memory',
  'koa-evict-redis',
  'nestjs',
  'nestjs-noop',
  'nestjs-evict-memory',
  'nestjs-evict-redis',
  'express-session-redis',
  'express-jwt-redis',
  'express-jose-memory',
  'express-session-redis-many',
  'express-jwt-redis-many',
  'express-redis-idle',
  'express-twin',
  'fastify',
  'fastify-noop',
  'fastify-evict-memory',
  'fastify-evict-redis',
  'hono',
  'hono-noop',
  'hono-evict-memory',
  'hono-evict-redis',
] as const;
export type Mode = (typeof MODES)[number];

/** The repository: EVICT_BENCH_ROOT when run from a compiled copy elsewhere (bench/support/compile.ts). */
const root = process.env.EVICT_BENCH_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = (pkg: string) => pathToFileURL(resolve(root, 'packages', pkg, 'dist/esm/index.js')).href;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Keys of this process only, so that runs (and other users of this Redis) never meet. */
const prefix = `evict-bench:${process.pid}:${randomBytes(3).toString('hex')}:`;
const BODY = { hello: 'world' };
const cleanups: Array<() => Promise<unknown> | unknown> = [];

type Core = typeof import('@evict/core');
type Evict = import('@evict/core').Evict;

/** How many users the `-many` contenders hold one session each for (the bench says, in EVICT_BENCH_MANY_USERS). */
function manyUsers(): number {
  const count = Number(process.env.EVICT_BENCH_MANY_USERS);
  if (!Number.isSafeInteger(count) || count < 2)
    throw new Error('set EVICT_BENCH_MANY_USERS (≥ 2) for a -many mode');
  return count;
}

async function engineFor(
  store: 'memory' | 'redis',
  options: { lastSeenResolutionMs?: number; cacheSize?: number } = {},
  users = 1,
): Promise<{ engine: Evict; token: string; tokens: string[] }> {
  const core: Core = await import(built('core'));
  let engine: Evict;
  let tokens: string[] = [];
  if (store === 'memory') {
    engine = core.createEvict({ nodeId: 1, ...options });
  } else {
    const { Redis } = await import('ioredis');
    const { RedisStore }: typeof import('@evict/redis') = await import(built('redis'));
    const client = new Redis(redisUrl, { lazyConnect: false });
    const redisStore = new RedisStore({ client, prefix });
    // The engine's cache is on (its default size) unless `cacheSize: 0`: a check reads Redis only on a miss.
    engine = core.createEvict({ nodeId: 1, store: redisStore, ...options });
    cleanups.push(
      () => engine.close(),
      () => redisStore.close(),
      async () => {
        const keys = await client.keys(`${prefix}*`);
        if (keys.length > 0) await client.del(...keys);
      },
      () => client.quit(),
    );
    if (users > 1) {
      // Issued by another node of the cluster, so that this one's cache starts empty, as after a
      // deploy: the warm-up rounds fill it, and the measured rounds report its hit rate.
      const issuerStore = new RedisStore({ client, prefix });
      // A long store timeout: thousands of logins on a loaded machine.
      const issuer = core.createEvict({ nodeId: 2, store: issuerStore, storeTimeoutMs: 60_000 });
      await issuer.ready();
      tokens = await inBatches(users, async (i) => {
        const issued = await issuer.issueSession({ uid: `bench-user-${i}`, deviceFlag: 1, ttlMs: 3_600_000 });
        return issued.token;
      });
      await issuer.close();
      await issuerStore.close();
    }
  }
  await engine.ready();
  const { token } = await engine.issueSession({ uid: 'bench-user', deviceFlag: 1, ttlMs: 3_600_000 });
  cacheStatsOf = () => engine.cacheStats();
  return { engine, token, tokens };
}

/** `make(0)` … `make(count − 1)`, 50 at a time (one Redis round trip each: in sequence they take seconds). */
async function inBatches<T>(count: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const made: T[] = [];
  for (let start = 0; start < count; start += 50) {
    const batch = Array.from({ length: Math.min(50, count - start) }, (_, k) => make(start + k));
    made.push(...(await Promise.all(batch)));
  }
  return made;
}

/** The engine's cache counters (null without an engine): the bench's hit rates. */
let cacheStatsOf: (() => unknown) | undefined;
/** The event loop's delay (sampled every 5 ms) and the collector's pauses since the last SIGUSR2: what a fixed-rate p99 is made of. */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const gc = { count: 0, ms: 0, maxMs: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.count += 1;
    gc.ms += entry.duration;
    gc.maxMs = Math.max(gc.maxMs, entry.duration);
    const { detail } = entry as unknown as { detail?: { kind?: number } };
    if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major += 1;
  }
}).observe({ entryTypes: ['gc'] });
/** SIGUSR2 prints `STATS {…}` (a `ServerStats`) on stdout and starts the event-loop and GC counts afresh. */
process.on('SIGUSR2', () => {
  const stats = {
    cache: cacheStatsOf?.() ?? null,
    eventLoop: {
      p50Ms: loopDelay.percentile(50) / 1e6,
      p99Ms: loopDelay.percentile(99) / 1e6,
      maxMs: loopDelay.max / 1e6,
    },
    gc: { ...gc },
  };
  loopDelay.reset();
  Object.assign(gc, { count: 0, ms: 0, maxMs: 0, major: 0 });
  process.stdout.write(`STATS ${JSON.stringify(stats)}\n`);
});

async function listen(start: (port: 0) => Server | Promise<Server>): Promise<number> {
  const server = await start(0);
  if (!server.listening) await new Promise((done) => server.once('listening', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  cleanups.push(() => new Promise((done) => server.close(done)));
  return address.port;
}

/** What a contender prints in its READY line. */
export interface Started {
  port: number;
  /** The headers every request carries. */
  headers: Record<string, string>;
  /** The many-user contenders: one of `values` goes in header `header` of each request, picked by the load generator. */
  variants?: { header: string; values: string[] };
}

async function expressServer(mode: Mode): Promise<Started> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const hello = (_req: unknown, res: import('express').Response) => {
    res.json(BODY);
  };
  const headers: Record<string, string> = {};
  let variants: Started['variants'];
  if (mode === 'express' || mode === 'express-twin') {
    app.get('/hello', hello);
  } else if (mode === 'express-redis-idle') {
    // Bare Express holding what a RedisStore holds, idle: an ioredis client and a subscriber on a channel.
    const { Redis } = await import('ioredis');
    const client = new Redis(redisUrl);
    const subscriber = client.duplicate();
    await subscriber.subscribe(`${prefix}idle`);
    await client.ping();
    cleanups.push(
      () => subscriber.quit(),
      () => client.quit(),
    );
    app.get('/hello', hello);
  } else if (mode === 'express-noop') {
    // The floor of any guard: one more function in the route's chain.
    app.get('/hello', (_req, _res, next) => next(), hello);
  } else if (
    mode === 'express-evict-memory' ||
    mode === 'express-evict-memory-last-seen-off' ||
    mode === 'express-evict-memory-metrics' ||
    mode === 'express-evict-redis' ||
    mode === 'express-evict-redis-nocache' ||
    mode === 'express-evict-redis-many' ||
    mode === 'express-evict-redis-many-nocache'
  ) {
    const { evictGuard }: typeof import('@evict/express') = await import(built('express'));
    const { engine, token, tokens } = await engineFor(
      mode.startsWith('express-evict-redis') ? 'redis' : 'memory',
      // Last-seen tracking is on by default; this contender is the guard without it (section 8).
      mode === 'express-evict-memory-last-seen-off'
        ? { lastSeenResolutionMs: 0 }
        : mode.endsWith('-nocache')
          ? { cacheSize: 0 }
          : {},
      mode.includes('-many') ? manyUsers() : 1,
    );
    headers.token = token;
    if (tokens.length > 0) variants = { header: 'token', values: tokens };
    if (mode === 'express-evict-memory-metrics') {
      // Metrics on (section 8): every decision and store call counted on a registry of its own.
      const { evictMetrics }: typeof import('@evict/prometheus') = await import(built('prometheus'));
      const { Registry } = await import('prom-client');
      evictMetrics(engine, { registry: new Registry() });
    }
    app.get('/hello', evictGuard(engine), hello);
  } else if (mode === 'express-session-redis' || mode === 'express-session-redis-many') {
    // At its best: no resave, no touch, no empty sessions; one Redis GET per request.
    const { default: session } = await import('express-session');
    const { RedisStore } = await import('connect-redis');
    const { createClient } = await import('redis');
    const client = createClient({ url: redisUrl });
    await client.connect();
    cleanups.push(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(keys);
      await client.quit();
    });
    app.use(
      session({
        store: new RedisStore({ client, prefix: `${prefix}sess:`, disableTouch: true, ttl: 3600 }),
        secret: randomBytes(32).toString('hex'),
        resave: false,
        saveUninitialized: false,
        rolling: false,
        cookie: { httpOnly: true, maxAge: 3_600_000 },
      }),
    );
    app.post('/login', (req, res) => {
      (req.session as unknown as { uid: string }).uid = 'bench-user';
      res.json({ ok: true });
    });
    app.get(
      '/hello',
      (req, res, next) => {
        if ((req.session as unknown as { uid?: string }).uid === undefined) {
          res.status(401).json({ error: 'unauthorized' });
          return;
        }
        next();
      },
      hello,
    );
  } else if (mode === 'express-jwt-redis' || mode === 'express-jwt-redis-many') {
    // At its best: a KeyObject secret (a string one costs ~30× per verify), HS256 only, and the
    // revocation list asked once per request (supertokens' pattern for immediate revocation).
    const { expressjwt } = await import('express-jwt');
    const { default: jwt } = await import('jsonwebtoken');
    const { Redis } = await import('ioredis');
    const client = new Redis(redisUrl);
    cleanups.push(() => client.quit());
    const secret = createSecretKey(randomBytes(32));
    const jti = randomBytes(12).toString('hex');
    headers.authorization = `Bearer ${jwt.sign({ sub: 'bench-user', jti }, secret, { algorithm: 'HS256', expiresIn: '1h' })}`;
    if (mode === 'express-jwt-redis-many') {
      variants = {
        header: 'authorization',
        values: Array.from(
          { length: manyUsers() },
          (_, i) =>
            `Bearer ${jwt.sign({ sub: `bench-user-${i}`, jti: randomBytes(12).toString('hex') }, secret, { algorithm: 'HS256', expiresIn: '1h' })}`,
        ),
      };
    }
    app.get(
      '/hello',
      expressjwt({
        secret,
        algorithms: ['HS256'],
        isRevoked: async (_req, token) => {
          const payload = token?.payload as { jti?: string } | undefined;
          return (await client.get(`${prefix}revoked:${payload?.jti}`)) !== null;
        },
      }),
      hello,
    );
  } else if (mode === 'express-jose-memory') {
    // evict's answer to the row above: the JWT verified by jose, revocation by the engine's cutoffs
    // (cached: no store trip per request).
    const { SignJWT } = await import('jose');
    const { jwtSource }: typeof import('@evict/jose') = await import(built('jose'));
    const { evictGuard }: typeof import('@evict/express') = await import(built('express'));
    const { engine } = await engineFor('memory');
    const key = randomBytes(32);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    headers.authorization = `Bearer ${jwt}`;
    app.get(
      '/hello',
      evictGuard(engine, { credentials: [jwtSource({ key, algorithms: ['HS256'] })] }),
      hello,
    );
  } else {
    throw new Error(`not an express mode: ${mode}`);
  }
  const port = await listen((p) => app.listen(p, '127.0.0.1'));
  if (mode === 'express-session-redis' || mode === 'express-session-redis-many') {
    // Each session made by a login through express-session itself (its cookie signed by it).
    const login = async () => {
      const answer = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST' });
      await answer.arrayBuffer();
      const cookie = answer.headers.get('set-cookie');
      if (cookie === null) throw new Error('express-session set no cookie');
      return cookie.split(';')[0]!;
    };
    headers.cookie = await login();
    if (mode === 'express-session-redis-many') {
      variants = { header: 'cookie', values: await inBatches(manyUsers(), login) };
    }
  }
  return { port, headers, ...(variants === undefined ? {} : { variants }) };
}

async function koaServer(mode: Mode): Promise<{ port: number; headers: Record<string, string> }> {
  const { default: Koa } = await import('koa');
  const { default: Router } = await import('@koa/router');
  const app = new Koa();
  const router = new Router();
  const headers: Record<string, string> = {};
  const hello = (ctx: import('koa').Context) => {
    ctx.body = BODY;
  };
  if (mode === 'koa') {
    router.get('/hello', hello);
  } else if (mode === 'koa-noop') {
    router.get('/hello', (_ctx, next) => next(), hello);
  } else {
    const { evictGuard }: typeof import('@evict/koa') = await import(built('koa'));
    const { engine, token } = await engineFor(mode === 'koa-evict-memory' ? 'memory' : 'redis');
    headers.token = token;
    router.get('/hello', evictGuard(engine), hello);
  }
  app.use(router.routes());
  const port = await listen((p) => app.listen(p, '127.0.0.1'));
  return { port, headers };
}

async function nestServer(mode: Mode): Promise<{ port: number; headers: Record<string, string> }> {
  const common = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const headers: Record<string, string> = {};
  const imports: unknown[] = [];
  // Decorators applied as functions: no decorator transform needed, same metadata as `@Get()`.
  class HelloController {
    hello() {
      return BODY;
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(HelloController.prototype, 'hello')!;
  if (mode === 'nestjs-noop') {
    class AllowAll {
      canActivate() {
        return true;
      }
    }
    common.Injectable()(AllowAll);
    common.UseGuards(AllowAll)(HelloController.prototype, 'hello', descriptor);
  } else if (mode !== 'nestjs') {
    const nest: typeof import('@evict/nestjs') = await import(built('nestjs'));
    const { engine, token } = await engineFor(mode === 'nestjs-evict-memory' ? 'memory' : 'redis');
    headers.token = token;
    imports.push(nest.EvictModule.forRoot({ engine, admin: false }));
    common.UseGuards(nest.EvictGuard)(HelloController.prototype, 'hello', descriptor);
  }
  common.Get('hello')(HelloController.prototype, 'hello', descriptor);
  common.Controller()(HelloController);
  class AppModule {}
  common.Module({ imports: imports as never[], controllers: [HelloController] })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  const express = app.getHttpAdapter().getInstance() as import('express').Express;
  express.disable('x-powered-by');
  express.set('etag', false);
  await app.listen(0, '127.0.0.1');
  cleanups.unshift(() => app.close());
  const address = app.getHttpServer().address();
  return { port: address.port, headers };
}

async function fastifyServer(mode: Mode): Promise<{ port: number; headers: Record<string, string> }> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  const headers: Record<string, string> = {};
  const hello = async () => BODY;
  if (mode === 'fastify') {
    app.get('/hello', hello);
  } else if (mode === 'fastify-noop') {
    app.get('/hello', { onRequest: (_request, _reply, done) => done() }, hello);
  } else {
    const { fastifyEvict }: typeof import('@evict/fastify') = await import(built('fastify'));
    const { engine, token } = await engineFor(mode === 'fastify-evict-memory' ? 'memory' : 'redis');
    headers.token = token;
    await app.register(fastifyEvict, { engine });
    app.get('/hello', { config: { evict: true } }, hello);
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.unshift(() => app.close());
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, headers };
}

async function honoServer(mode: Mode): Promise<{ port: number; headers: Record<string, string> }> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono();
  const headers: Record<string, string> = {};
  const hello = (c: import('hono').Context) => c.json(BODY);
  if (mode === 'hono') {
    app.get('/hello', hello);
  } else if (mode === 'hono-noop') {
    app.get('/hello', (_c, next) => next(), hello);
  } else {
    const { evictGuard }: typeof import('@evict/hono') = await import(built('hono'));
    const { engine, token } = await engineFor(mode === 'hono-evict-memory' ? 'memory' : 'redis');
    headers.token = token;
    app.get('/hello', evictGuard(engine), hello);
  }
  const port = await listen((p) => serve({ fetch: app.fetch, port: p, hostname: '127.0.0.1' }) as Server);
  return { port, headers };
}

async function main(): Promise<void> {
  const mode = process.argv[2] as Mode;
  if (!MODES.includes(mode)) throw new Error(`usage: server.ts <${MODES.join('|')}>`);
  const started = mode.startsWith('koa')
    ? await koaServer(mode)
    : mode.startsWith('nestjs')
      ? await nestServer(mode)
      : mode.startsWith('fastify')
        ? await fastifyServer(mode)
        : mode.startsWith('hono')
          ? await honoServer(mode)
          : await expressServer(mode);
  // A request of our own: the route answers 200 with the credential (no 401 measured as speed).
  const check = await fetch(`http://127.0.0.1:${started.port}/hello`, { headers: started.headers });
  const text = await check.text();
  if (check.status !== 200 || text !== JSON.stringify(BODY)) {
    throw new Error(`${mode}: GET /hello answered ${check.status} ${text}`);
  }
  process.stdout.write(`READY ${JSON.stringify(started)}\n`);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch {
      // best effort: the process ends anyway
    }
  }
  process.exit(0); // also writes the --cpu-prof profile
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
