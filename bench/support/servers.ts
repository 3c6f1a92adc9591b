/**
 * The benchmark's server processes (bench/servers/server.ts, one contender each): their names in the
 * tables, starting one (optionally under a wrapper such as valgrind) and stopping it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CacheStats } from '@evict/core';
import type { Mode, Started } from '../servers/server.js';
import { nodeArgsFor, repoRoot } from './compile.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER = resolve(here, '../servers/server.ts');
/** The servers' tsconfig for tsx: without the root's `paths`, @evict/... in the built adapters resolve to their dist folders. */
const SERVER_TSCONFIG = resolve(here, '../servers/tsconfig.json');

export const NAMES: Record<Mode, string> = {
  express: 'bare Express',
  'express-noop': 'Express + a no-op middleware',
  'express-evict-memory': 'Express + evictGuard (memory store)',
  'express-evict-memory-last-seen-off': 'Express + evictGuard (memory store, last-seen tracking off)',
  'express-evict-memory-metrics': 'Express + evictGuard (memory store, metrics on: @evict/prometheus)',
  'express-evict-redis': 'Express + evictGuard (RedisStore, cache on)',
  'express-evict-redis-nocache': 'Express + evictGuard (RedisStore, cache off)',
  'express-evict-redis-many': 'Express + evictGuard (RedisStore, cache on), 10,000 users',
  'express-evict-redis-many-nocache': 'Express + evictGuard (RedisStore, cache off), 10,000 users',
  koa: 'bare Koa',
  'koa-noop': 'Koa + a no-op middleware',
  'koa-evict-memory': 'Koa + evictGuard (memory store)',
  'koa-evict-redis': 'Koa + evictGuard (RedisStore, cache on)',
  nestjs: 'bare NestJS',
  'nestjs-noop': 'NestJS + a guard that allows all',
  'nestjs-evict-memory': 'NestJS + EvictGuard (memory store)',
  'nestjs-evict-redis': 'NestJS + EvictGuard (RedisStore, cache on)',
  'express-session-redis': 'Express + express-session + connect-redis',
  'express-jwt-redis': 'Express + express-jwt (KeyObject, HS256) + isRevoked Redis GET',
  'express-jose-memory': "Express + evictGuard with @evict/jose's jwtSource (HS256, memory store)",
  'express-session-redis-many': 'Express + express-session + connect-redis, 10,000 users',
  'express-jwt-redis-many': 'Express + express-jwt + isRevoked Redis GET, 10,000 users',
  'express-redis-idle': 'bare Express holding an idle ioredis client and subscriber',
  'express-twin': 'bare Express again (a second process: the A/A pair)',
  fastify: 'bare Fastify',
  'fastify-noop': 'Fastify + a no-op onRequest hook',
  'fastify-evict-memory': 'Fastify + fastifyEvict guard (memory store)',
  'fastify-evict-redis': 'Fastify + fastifyEvict guard (RedisStore, cache on)',
  hono: 'bare Hono (@hono/node-server)',
  'hono-noop': 'Hono + a no-op middleware',
  'hono-evict-memory': 'Hono + evictGuard (memory store)',
  'hono-evict-redis': 'Hono + evictGuard (RedisStore, cache on)',
};

export interface Running {
  mode: Mode;
  url: string;
  headers: Record<string, string>;
  /** The many-user contenders' credentials: one per request, in this header. */
  variants?: Started['variants'];
  child: ChildProcess;
  /** The server's counters since the last call, asked with SIGUSR2. */
  stats(): Promise<ServerStats>;
}

/** What a server reports on SIGUSR2 (bench/servers/server.ts). */
export interface ServerStats {
  /** The engine's `cacheStats()`, counted since it started; null for a contender without an engine. */
  cache: CacheStats | null;
  /** The event loop's delay since the last report, sampled every 5 ms (perf_hooks.monitorEventLoopDelay). */
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Garbage collections since the last report: how many, their summed and longest pause, how many were full (mark-compact). */
  gc: { count: number; ms: number; maxMs: number; major: number };
}

/** Node flags for the servers: BENCH_SERVER_NODE_OPTIONS, e.g. `--cpu-prof --cpu-prof-dir=prof`. */
const serverFlags = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(/\s+/).filter((f) => f !== '');

/**
 * Starts one contender; resolves when it printed READY. `wrapper` runs it under another program
 * (`['valgrind', …]`: node and its arguments follow). `startTimeoutMs` gives up on a server that
 * has not printed READY by then (eleven of them start at once on two cores).
 */
export function startServer(
  mode: Mode,
  redisUrl: string,
  {
    wrapper = [],
    startTimeoutMs = 60_000,
    env = {},
  }: { wrapper?: string[]; startTimeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Running> {
  const command = [...wrapper, process.execPath, ...serverFlags, ...nodeArgsFor(SERVER), mode];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      EVICT_BENCH_ROOT: repoRoot,
      TSX_TSCONFIG_PATH: SERVER_TSCONFIG,
      ...env,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${mode} did not start within ${startTimeoutMs / 1000} s: ${stderr.trim()}`));
    }, startTimeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(new Error(`${mode} could not be started (${command[0]}): ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${mode} exited (${code}) before it was ready: ${stderr.trim()}`));
    });
    const statsWaiting: Array<(stats: ServerStats) => void> = [];
    const stats = () =>
      new Promise<ServerStats>((answer, fail) => {
        // A server that died never answers: fail its comparison instead of waiting for ever.
        const timer = setTimeout(
          () => fail(new Error(`${mode} did not report its stats within 30 s`)),
          30_000,
        );
        statsWaiting.push((reported) => {
          clearTimeout(timer);
          answer(reported);
        });
        child.kill('SIGUSR2');
      });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('STATS ')) {
        statsWaiting.shift()?.(JSON.parse(line.slice(6)) as ServerStats);
        return;
      }
      if (!line.startsWith('READY ')) return;
      clearTimeout(timer);
      const { port, headers, variants } = JSON.parse(line.slice(6)) as Started;
      done({
        mode,
        url: `http://127.0.0.1:${port}/hello`,
        headers,
        ...(variants === undefined ? {} : { variants }),
        child,
        stats,
      });
    });
  });
}

export async function stopServer(server: Running): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((done) => server.child.once('exit', done));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
