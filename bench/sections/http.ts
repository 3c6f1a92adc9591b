/**
 * HTTP comparisons: guard overhead on Express, Koa and NestJS (1), the peers on the same route (2),
 * and the latency added at a fixed rate (1b). Every contender is its own server process
 * (bench/servers/server.ts, from the built packages); the load generator is autocannon in another
 * process (bench/servers/load.ts), on loopback. Rounds are interleaved across the contenders of a
 * comparison (A B C A B C …) and the medians of the rounds are reported. All the servers are started
 * side by side before anything is measured, each from a plain-JavaScript copy of server.ts
 * (bench/support/compile.ts): starting them one group at a time under tsx took most of a quick run.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { hasRedisServer, OwnRedis } from '../../test/support/redis-server.js';
import {
  type BenchOptions,
  type BenchResult,
  type BenchSection,
  type BenchTable,
  type BenchTarget,
  judgedTarget,
  median,
  relativeSpread,
} from '../report.js';
import type { LoadResult, LoadSpec } from '../servers/load.js';
import type { Mode } from '../servers/server.js';
import { nodeArgsFor } from '../support/compile.js';
import { processCpuMs } from '../support/cpu.js';
import { commandsRun, redisCpuUs } from '../support/redis-stats.js';
import { NAMES, type Running, startServer, stopServer } from '../support/servers.js';

const here = dirname(fileURLToPath(import.meta.url));
const LOAD = resolve(here, '../servers/load.ts');
const CONNECTIONS = 50;
/** Users of the many-user contenders, each with one session (or JWT); the load generator picks one per request. */
const MANY_USERS = 10_000;
const SERVER_ENV = { EVICT_BENCH_MANY_USERS: String(MANY_USERS) };
const RATE_CONNECTIONS = 20;

/** The comparisons of 1 and 2: Express with the peers (one interleaved run), then Koa, then NestJS. */
const GROUPS: Array<{ title: string; bare: Mode; modes: Mode[] }> = [
  {
    title: 'Express: guard overhead (1) and peers (2), one user',
    bare: 'express',
    modes: [
      'express',
      'express-evict-memory',
      'express-evict-redis',
      'express-evict-redis-nocache',
      'express-session-redis',
      'express-jwt-redis',
      'express-jose-memory',
    ],
  },
  {
    title: `Express: peers (2) with ${MANY_USERS.toLocaleString('en-US')} users, each request a user picked at random`,
    bare: 'express',
    modes: [
      'express',
      'express-evict-redis-many',
      'express-evict-redis-many-nocache',
      'express-session-redis-many',
      'express-jwt-redis-many',
    ],
  },
  {
    title: 'Koa: guard overhead (1), throughput',
    bare: 'koa',
    modes: ['koa', 'koa-evict-memory', 'koa-evict-redis'],
  },
  {
    title: 'NestJS: guard overhead (1), throughput',
    bare: 'nestjs',
    modes: ['nestjs', 'nestjs-evict-memory', 'nestjs-evict-redis'],
  },
  {
    title: 'Fastify: guard overhead (1), throughput',
    bare: 'fastify',
    modes: ['fastify', 'fastify-evict-memory', 'fastify-evict-redis'],
  },
  {
    title: 'Hono (@hono/node-server): guard overhead (1), throughput',
    bare: 'hono',
    modes: ['hono', 'hono-evict-memory', 'hono-evict-redis'],
  },
];

/**
 * In the Express group's fixed-rate test only (issue 17, target 2): a second bare Express, the same
 * code in its own process, whose difference from the first is what this machine does to two
 * identical servers (the A/A pair: the noise the 1b verdicts are judged against); and bare Express
 * with the Redis connections a RedisStore holds, idle.
 */
const TWIN: Mode = 'express-twin';
const IDLE_REDIS: Mode = 'express-redis-idle';
const RATE_ONLY_MODES: Mode[] = [TWIN, IDLE_REDIS];

/** The contenders of this section (the no-op ones are for the instruction counts, section 8). */
const HTTP_MODES: Mode[] = [...new Set([...GROUPS.flatMap((group) => group.modes), ...RATE_ONLY_MODES])];

/** The load generator process (autocannon), one for the section; `run` sends it one round at a time. */
class LoadGenerator {
  readonly #child = spawn(process.execPath, nodeArgsFor(LOAD), { stdio: ['pipe', 'pipe', 'pipe'] });
  readonly #waiting: Array<(line: string) => void> = [];
  #stderr = '';
  /** The process ended (a crash fails the comparison it was serving; the next one gets a new process). */
  exited = false;

  constructor() {
    this.#child.stderr.on('data', (chunk) => {
      this.#stderr += String(chunk);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#waiting.shift()?.(line));
    this.#child.once('exit', (code) => {
      this.exited = true;
      for (const waiter of this.#waiting.splice(0))
        waiter(JSON.stringify({ error: `load generator exited (${code}): ${this.#stderr.trim()}` }));
    });
  }

  async run(
    server: Running,
    durationSec: number,
    connections: number,
    { overallRate, amount }: { overallRate?: number; amount?: number } = {},
  ): Promise<LoadResult> {
    const spec: LoadSpec = {
      url: server.url,
      headers: server.headers,
      connections,
      durationSec,
      ...(overallRate === undefined ? {} : { overallRate }),
      ...(amount === undefined ? {} : { amount }),
      ...(server.variants === undefined ? {} : { variants: server.variants }),
    };
    const line = await new Promise<string>((done) => {
      this.#waiting.push(done);
      this.#child.stdin.write(`${JSON.stringify(spec)}\n`);
    });
    const result = JSON.parse(line) as LoadResult | { error: string };
    if ('error' in result) throw new Error(`${server.mode}: load generator: ${result.error}`);
    if (result.ok === 0 || result.non2xx > 0 || result.errors > 0) {
      throw new Error(
        `${server.mode}: ${result.ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts)`,
      );
    }
    return result;
  }

  close(): void {
    this.#child.stdin.end();
  }
}

interface Plan {
  rounds: number;
  /** Requests per throughput round (autocannon's `amount`): each contender serves the same work. */
  roundRequests: number;
  warmupSec: number;
  /** The many-user contenders' warm-up, in requests (their cache starts empty). */
  manyWarmupRequests: number;
  /** The fixed-rate test's warm-up per contender: short, the servers are warm from the throughput rounds. */
  rateWarmupSec: number;
  rateRoundSec: number;
  /** The contenders of the fixed-rate test, each group against its own bare framework. */
  rateGroups: Mode[][];
  /** Rounds of the fixed-rate test in the Express group (the A/A pair's): `rounds` in the others. */
  expressRateRounds: number;
}

/** Every server of the section, started side by side before the first measurement; 1b reuses those of 1 and 2. */
const pool = new Map<Mode, Promise<Running>>();
let loadGenerator: LoadGenerator | undefined;

/** Starts every contender at once and waits until each is ready or failed (a failure shows in its comparison). */
async function startAll(options: BenchOptions): Promise<void> {
  const t0 = performance.now();
  for (const mode of HTTP_MODES) {
    // Two dozen servers start at once on a loaded 2-core machine, the many-user ones making 10,000 logins each.
    const started = startServer(mode, options.redisUrl, { env: SERVER_ENV, startTimeoutMs: 240_000 });
    started.catch(() => undefined); // awaited by its comparison, which reports the failure
    pool.set(mode, started);
  }
  loadGenerator = new LoadGenerator();
  const outcomes = await Promise.allSettled(pool.values());
  const failed = outcomes.filter((o) => o.status === 'rejected').length;
  options.log(
    `http: ${pool.size - failed} servers ready in ${((performance.now() - t0) / 1000).toFixed(1)} s${failed > 0 ? `, ${failed} failed` : ''}`,
  );
}

async function stopAll(): Promise<void> {
  loadGenerator?.close();
  loadGenerator = undefined;
  const started = await Promise.allSettled(pool.values());
  pool.clear();
  await Promise.all(started.flatMap((s) => (s.status === 'fulfilled' ? [stopServer(s.value)] : [])));
}

/** Runs `body` with a comparison's servers and the section's load generator. */
async function withServers<T>(
  modes: Mode[],
  options: BenchOptions,
  body: (servers: Running[], load: LoadGenerator) => Promise<T>,
): Promise<T> {
  for (const mode of modes)
    if (!pool.has(mode)) pool.set(mode, startServer(mode, options.redisUrl, { env: SERVER_ENV }));
  const servers = await Promise.all(modes.map((mode) => pool.get(mode)!));
  if (loadGenerator === undefined || loadGenerator.exited) loadGenerator = new LoadGenerator();
  return body(servers, loadGenerator);
}

/** One throughput round of one contender: its req/s, and the CPU its server and Redis spent per request. */
interface Round {
  rps: number;
  /** The server process's user + system CPU time per request, µs (from /proc: 10 ms ticks). */
  serverCpuUs: number;
  /** redis-server's user + system CPU time per request, µs (INFO cpu: microseconds). */
  redisCpuUs: number;
  /** Commands Redis ran per request (INFO commandstats, INFO itself left out). */
  redisCommands: number;
  /** The engine's cache hits and misses during the round (no engine: undefined). */
  cache?: { hits: number; misses: number };
}

/** The Redis every contender of this section uses, and how to read its CPU time and command count. */
interface Meter {
  url: string;
  /** True: a redis-server of the section's own, so its CPU is this section's alone. */
  own: boolean;
  cpuUs(): Promise<number>;
  commands(): Promise<number>;
  close(): Promise<void>;
}

async function startMeter(options: BenchOptions): Promise<Meter> {
  const own = hasRedisServer ? new OwnRedis(await freePort(), false) : undefined;
  await own?.start();
  const url = own?.url ?? options.redisUrl;
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  return {
    url,
    own: own !== undefined,
    cpuUs: () => redisCpuUs(client),
    commands: () => commandsRun(client),
    async close() {
      client.disconnect();
      await own?.remove();
    },
  };
}

const serverCpuMs = (server: Running) => processCpuMs(server.child.pid!) ?? Number.NaN;

/** Throughput at a fixed request count, interleaved rounds: each round's req/s and CPU per request, per mode. */
async function throughput(
  modes: Mode[],
  plan: Plan,
  meter: Meter,
  options: BenchOptions,
): Promise<{ rounds: Map<Mode, Round[]>; warmupHitRate: Map<Mode, number> }> {
  return withServers(modes, options, async (servers, load) => {
    const warmupHitRate = new Map<Mode, number>();
    for (const server of servers) {
      if (server.variants === undefined) {
        await load.run(server, plan.warmupSec, CONNECTIONS);
        continue;
      }
      // The many-user contenders start with an empty cache: the warm-up is where it fills.
      const before = (await server.stats()).cache;
      await load.run(server, 0, CONNECTIONS, { amount: plan.manyWarmupRequests });
      const after = (await server.stats()).cache;
      if (before !== null && after !== null && after.hits + after.misses > before.hits + before.misses) {
        const hits = after.hits - before.hits;
        warmupHitRate.set(server.mode, hits / (hits + after.misses - before.misses));
      }
    }
    const rounds = new Map<Mode, Round[]>(modes.map((m) => [m, []]));
    for (let round = 0; round < plan.rounds; round += 1) {
      for (const server of servers) {
        const stats0 = (await server.stats()).cache;
        const redisCpu0 = await meter.cpuUs();
        const commands0 = await meter.commands();
        const cpu0 = serverCpuMs(server);
        const result = await load.run(server, 0, CONNECTIONS, { amount: plan.roundRequests });
        const cpu1 = serverCpuMs(server);
        const redisCpu1 = await meter.cpuUs();
        const commands1 = await meter.commands();
        const stats1 = (await server.stats()).cache;
        const requests = result.ok;
        const figures: Round = {
          rps: result.rps,
          serverCpuUs: ((cpu1 - cpu0) * 1000) / requests,
          redisCpuUs: (redisCpu1 - redisCpu0) / requests,
          redisCommands: (commands1 - commands0) / requests,
          ...(stats0 === null || stats1 === null
            ? {}
            : { cache: { hits: stats1.hits - stats0.hits, misses: stats1.misses - stats0.misses } }),
        };
        rounds.get(server.mode)!.push(figures);
        options.log(
          `  round ${round + 1} ${server.mode}: ${Math.round(result.rps)} req/s, server ${figures.serverCpuUs.toFixed(1)} µs/req, Redis ${figures.redisCpuUs.toFixed(2)} µs/req, ${figures.redisCommands.toFixed(2)} commands/req`,
        );
      }
    }
    return { rounds, warmupHitRate };
  });
}

/** One contender's fixed-rate rounds: response times, and what its event loop went through meanwhile. */
interface RateRounds {
  p50: number[];
  p99: number[];
  rps: number[];
  /** The server's event-loop delay over the round (monitorEventLoopDelay, 5 ms sampling), ms. */
  loopP99: number[];
  loopMax: number[];
  /** The server's garbage-collection pauses per second of the round, ms; its longest pause; its full collections. */
  gcMsPerSec: number[];
  gcMaxMs: number[];
  gcMajor: number[];
}

/** Latency at a fixed rate, interleaved rounds: p50 and p99 (ms) of each round, per mode. */
async function latency(
  modes: Mode[],
  rate: number,
  plan: Plan,
  roundCount: number,
  options: BenchOptions,
): Promise<Map<Mode, RateRounds>> {
  return withServers(modes, options, async (servers, load) => {
    for (const server of servers)
      await load.run(server, plan.rateWarmupSec, RATE_CONNECTIONS, { overallRate: rate });
    const rounds = new Map<Mode, RateRounds>(
      modes.map((m) => [
        m,
        { p50: [], p99: [], rps: [], loopP99: [], loopMax: [], gcMsPerSec: [], gcMaxMs: [], gcMajor: [] },
      ]),
    );
    for (let round = 0; round < roundCount; round += 1) {
      // Each round starts one server later: with the same order every round, the server run first
      // was 1.3–3.9 ms below the others at the median, an identical bare server included (FINDINGS).
      const shift = round % servers.length;
      for (const server of [...servers.slice(shift), ...servers.slice(0, shift)]) {
        await server.stats(); // starts the server's event-loop and GC counts afresh
        const started = performance.now();
        const result = await load.run(server, plan.rateRoundSec, RATE_CONNECTIONS, { overallRate: rate });
        const seconds = (performance.now() - started) / 1000;
        const { eventLoop, gc } = await server.stats();
        const figures = rounds.get(server.mode)!;
        figures.p50.push(result.p50);
        figures.p99.push(result.p99);
        figures.rps.push(result.rps);
        figures.loopP99.push(eventLoop.p99Ms);
        figures.loopMax.push(eventLoop.maxMs);
        figures.gcMsPerSec.push(gc.ms / seconds);
        figures.gcMaxMs.push(gc.maxMs);
        figures.gcMajor.push(gc.major);
        options.log(
          `  rate round ${round + 1} ${server.mode}: p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms; event-loop delay p99 ${eventLoop.p99Ms.toFixed(2)} ms, max ${eventLoop.maxMs.toFixed(1)} ms; GC ${gc.count} × = ${gc.ms.toFixed(1)} ms (longest ${gc.maxMs.toFixed(1)} ms, ${gc.major} full)`,
        );
      }
    }
    return rounds;
  });
}

const fixed = (value: number, digits = 2) => Number(value.toFixed(digits));

async function run(options: BenchOptions): Promise<BenchResult> {
  const meter = await startMeter(options);
  try {
    const local = { ...options, redisUrl: meter.url };
    await startAll(local);
    return await measureAll(local, meter);
  } finally {
    await stopAll();
    await meter.close();
  }
}

/**
 * A ratio's verdict judged by the rounds, not their medians: met when even the least favourable
 * pairing of rounds meets `limit`, missed when even the most favourable misses it, inconclusive in
 * between (the run's own spread, on both sides alike, decides). Lower is better: `ratio = a / b`.
 */
function verdictOf(a: number[], b: number[], limit: number): { met: boolean; inconclusive?: true } {
  const worst = Math.max(...a) / Math.min(...b);
  const best = Math.min(...a) / Math.max(...b);
  if (worst <= limit) return { met: true };
  if (best > limit) return { met: false };
  return { met: false, inconclusive: true };
}

const percent = (value: number) => (Number.isNaN(value) ? '–' : `${Math.round(value * 100)} %`);

async function measureAll(options: BenchOptions, meter: Meter): Promise<BenchResult> {
  const plan: Plan = options.quick
    ? {
        rounds: 1,
        roundRequests: 4_000,
        warmupSec: 0.25,
        manyWarmupRequests: MANY_USERS,
        rateWarmupSec: 0.2,
        rateRoundSec: 0.8,
        rateGroups: [[...GROUPS[0]!.modes, ...RATE_ONLY_MODES]],
        expressRateRounds: 1,
      }
    : {
        rounds: 3,
        roundRequests: 10_000,
        warmupSec: 1,
        manyWarmupRequests: 3 * MANY_USERS,
        rateWarmupSec: 0.5,
        rateRoundSec: 3,
        rateGroups: GROUPS.filter((group) => !group.modes.some((m) => m.includes('-many'))).map((group) =>
          group.bare === 'express' ? [...group.modes, ...RATE_ONLY_MODES] : group.modes,
        ),
        expressRateRounds: 6,
      };
  const tables: BenchTable[] = [];
  const targets: BenchTarget[] = [];
  const notes: string[] = [
    `Method: each contender is a separate Node.js server process (bench/servers/server.ts, run as plain JavaScript transformed once with esbuild; evict loaded from packages/*/dist) serving GET /hello → {"hello":"world"} on 127.0.0.1. All ${pool.size} are started side by side before the first measurement, and stay idle while the others are measured. The load generator is autocannon ${CONNECTIONS} connections, pipelining 1, in its own process (bench/servers/load.ts). Throughput: a ${plan.warmupSec} s warm-up per contender, then ${plan.rounds} round(s) of ${plan.roundRequests.toLocaleString('en-US')} requests each (autocannon's \`amount\`), interleaved across the contenders of a comparison (A B C A B C …). Servers, Redis and load generator share this machine's 2 cores unpinned, with whatever else runs on it, so req/s moves by tens of per cent between rounds; the CPU time a contender spends per request moves far less, and the targets of 1 are judged on it.`,
    `CPU per request: the server process's user + system time from /proc/<pid>/stat (10 ms ticks: at least ${Math.round((plan.roundRequests * 50) / 1e4)} ticks a round at 50 µs a request) over a round, divided by the round's requests; Redis's from \`INFO cpu\` (used_cpu_user + used_cpu_sys, microseconds) and its commands from \`INFO commandstats\` over the same round. ${meter.own ? "Redis is a redis-server of this section's own (every contender of the section uses it, and nothing else does), so its CPU is the measured contender's plus the idle ones' background (a few µs a second)." : 'No redis-server binary was found: Redis is the one of REDIS_URL, whose CPU time includes whatever else uses it.'} The table gives the median of the rounds and their spread (max / min − 1); the verdicts compare every round of a contender with every round of the other side (met only when the least favourable pairing meets the target, not met only when the most favourable misses it, inconclusive otherwise).`,
    'The evict contenders send a session token issued at start-up (`token` header); the RedisStore ones use ioredis with the engine cache on (its default), so after the first request a check costs no Redis trip: against peers that read Redis on every request, the one-user rows compare evict answering from its in-process cache with one Redis GET a request. "cache off" is the same engine with `cacheSize: 0`: every check reads the session and the user from Redis. express-session runs with connect-redis (node-redis client), resave: false, saveUninitialized: false, disableTouch: true: one Redis GET per request and no write. express-jwt verifies a pre-signed HS256 token against a `crypto.createSecretKey` KeyObject (a string secret costs jsonwebtoken 9 far more per verify) and its `isRevoked` does one ioredis GET per request.',
    `The ${MANY_USERS.toLocaleString('en-US')}-user rows: each contender holds one session (or JWT) for each of ${MANY_USERS.toLocaleString('en-US')} users, and the load generator puts one of them, picked uniformly at random (the order least kind to a cache), in each request. evict's sessions were issued by a second engine on the same Redis (another node), so the measured node's cache starts empty, as after a deploy: its warm-up is ${plan.manyWarmupRequests.toLocaleString('en-US')} requests, and the hit rate of the cache (\`engine.cacheStats()\`, hits / (hits + misses) of the session and user lookups) is given for the warm-up and the measured rounds. The load generator's per-request pick costs it time, which lowers these rows' req/s against the one-user rows (the bare Express row of this table has no pick); the CPU per request of the servers is not affected.`,
  ];

  const failures: string[] = [];
  /** Each group's rounds (Express's bare rounds differ between its two groups: they are separate runs). */
  const measured: Array<{ group: (typeof GROUPS)[number]; rounds: Map<Mode, Round[]> }> = [];
  for (const group of GROUPS) {
    options.log(`http: ${group.title}`);
    let outcome: Awaited<ReturnType<typeof throughput>>;
    try {
      outcome = await throughput(group.modes, plan, meter, options);
    } catch (error) {
      failures.push(`${group.title}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const { rounds, warmupHitRate } = outcome;
    measured.push({ group, rounds });
    const of = <T = number>(mode: Mode, pick: (round: Round) => T) => rounds.get(mode)!.map(pick);
    const rps = (mode: Mode) => median(of(mode, (r) => r.rps));
    const cpu = (mode: Mode) => median(of(mode, (r) => r.serverCpuUs));
    const many = group.modes.some((m) => m.includes('-many'));
    tables.push({
      title: group.title,
      columns: [
        'median req/s',
        'req/s ratio to bare',
        'server CPU µs/req',
        'server CPU spread',
        'server CPU ratio to bare',
        'Redis CPU µs/req',
        'Redis commands/req',
        ...(many ? ['cache hit rate, warm-up'] : []),
        'cache hit rate',
        'rounds (req/s)',
      ],
      rows: group.modes.map((mode) => {
        const cacheRounds = rounds.get(mode)!.flatMap((r) => (r.cache === undefined ? [] : [r.cache]));
        const hits = cacheRounds.reduce((sum, c) => sum + c.hits, 0);
        const lookups = cacheRounds.reduce((sum, c) => sum + c.hits + c.misses, 0);
        const hitRate =
          cacheRounds.length === 0
            ? '—'
            : lookups === 0
              ? 'off (no lookups cached)'
              : percent(hits / lookups);
        const warmup = warmupHitRate.get(mode);
        return {
          name: NAMES[mode],
          figures: {
            'median req/s': Math.round(rps(mode)),
            'req/s ratio to bare': fixed(rps(mode) / rps(group.bare), 3),
            'server CPU µs/req': fixed(cpu(mode), 1),
            'server CPU spread': percent(relativeSpread(of(mode, (r) => r.serverCpuUs))),
            'server CPU ratio to bare': fixed(cpu(mode) / cpu(group.bare), 3),
            'Redis CPU µs/req': fixed(median(of(mode, (r) => r.redisCpuUs)), 2),
            'Redis commands/req': fixed(median(of(mode, (r) => r.redisCommands)), 2),
            ...(many ? { 'cache hit rate, warm-up': warmup === undefined ? '—' : percent(warmup) } : {}),
            'cache hit rate': hitRate,
            'rounds (req/s)': of(mode, (r) => Math.round(r.rps)).join(', '),
          },
        };
      }),
    });
    if (many) continue;
    for (const mode of group.modes) {
      if (mode === group.bare || !mode.includes('evict') || mode.endsWith('-nocache')) continue;
      // 0.95 × bare's throughput, on a CPU-bound server, is 1 / 0.95 × bare's CPU per request.
      const limit = 1 / 0.95;
      const verdict = verdictOf(
        of(mode, (r) => r.serverCpuUs),
        of(group.bare, (r) => r.serverCpuUs),
        limit,
      );
      targets.push({
        target: `1. ${NAMES[mode]}: server CPU per request ≤ ${NAMES[group.bare]}'s / 0.95 (throughput ≥ 0.95 ×)`,
        measured: `${(cpu(mode) / cpu(group.bare)).toFixed(3)} × (${cpu(mode).toFixed(1)} vs ${cpu(group.bare).toFixed(1)} µs/req, rounds ${of(mode, (r) => r.serverCpuUs.toFixed(1)).join('/')} vs ${of(group.bare, (r) => r.serverCpuUs.toFixed(1)).join('/')}); req/s ${(rps(mode) / rps(group.bare)).toFixed(3)} × (${Math.round(rps(mode))} vs ${Math.round(rps(group.bare))})`,
        ...verdict,
        ...(verdict.inconclusive
          ? {
              note: `the rounds overlap the limit: the ratio of their medians is ${(cpu(mode) / cpu(group.bare)).toFixed(3)}, but the spread of either side's rounds (up to ${percent(Math.max(relativeSpread(of(mode, (r) => r.serverCpuUs)), relativeSpread(of(group.bare, (r) => r.serverCpuUs))))}) holds both verdicts; section 8's instruction counts settle it`,
            }
          : {}),
      });
    }
  }

  // 2: the peers, against evict with the Redis store (the same job: a revocable credential, Redis behind
  // it), judged on the CPU a request costs the server and Redis together (both on this machine).
  const peerTable: BenchTable = {
    title: 'Peers (2): evict (RedisStore) against the peers on Express, CPU per request (server + Redis)',
    columns: [
      'workload',
      'peer µs/req',
      'evict µs/req',
      'peer / evict (CPU)',
      'peer / evict (req/s: evict / peer)',
      'evict compares',
      'target',
    ],
    rows: [],
  };
  const total = (rounds: Round[]) => rounds.map((r) => r.serverCpuUs + r.redisCpuUs);
  for (const { group, rounds } of measured) {
    const many = group.modes.some((m) => m.includes('-many'));
    const peers: Array<[Mode, number]> = many
      ? [
          ['express-session-redis-many', 1.2],
          ['express-jwt-redis-many', 1.5],
        ]
      : [
          ['express-session-redis', 1.2],
          ['express-jwt-redis', 1.5],
        ];
    const evicts: Mode[] = many
      ? ['express-evict-redis-many', 'express-evict-redis-many-nocache']
      : ['express-evict-redis', 'express-evict-redis-nocache'];
    for (const evict of evicts) {
      for (const [peer, wanted] of peers) {
        if (!rounds.has(peer) || !rounds.has(evict)) continue;
        const peerCpu = median(total(rounds.get(peer)!));
        const evictCpu = median(total(rounds.get(evict)!));
        const rpsRatio =
          median(rounds.get(evict)!.map((r) => r.rps)) / median(rounds.get(peer)!.map((r) => r.rps));
        const what = evict.endsWith('-nocache')
          ? 'cache off: a session and a user read from Redis per request'
          : many
            ? 'cache on, a user picked at random per request'
            : 'cache on: answers from memory, no Redis read';
        peerTable.rows.push({
          name: `${NAMES[evict]} vs ${NAMES[peer]}`,
          figures: {
            workload: many ? `${MANY_USERS.toLocaleString('en-US')} users` : 'one user',
            'peer µs/req': fixed(peerCpu, 1),
            'evict µs/req': fixed(evictCpu, 1),
            'peer / evict (CPU)': fixed(peerCpu / evictCpu, 3),
            'peer / evict (req/s: evict / peer)': fixed(rpsRatio, 3),
            'evict compares': what,
            target: evict === 'express-evict-redis' ? `≥ ${wanted}` : '(reported)',
          },
        });
        if (evict !== 'express-evict-redis') continue;
        // evict's CPU over the peer's ≤ 1 / wanted: the peer costs `wanted` times evict's.
        const verdict = verdictOf(total(rounds.get(evict)!), total(rounds.get(peer)!), 1 / wanted);
        targets.push({
          target: `2. Express + evictGuard (RedisStore, cache on) ≥ ${wanted} × ${NAMES[peer]}, in CPU per request (server + Redis)`,
          measured: `${(peerCpu / evictCpu).toFixed(3)} × (${peerCpu.toFixed(1)} vs ${evictCpu.toFixed(1)} µs/req); req/s ${rpsRatio.toFixed(3)} ×`,
          ...verdict,
          note: "evict answers from its in-process cache here, the peer reads Redis on every request; the same comparison with 10,000 users and with evict's cache off is in the table above",
        });
      }
    }
  }
  if (peerTable.rows.length > 0) tables.push(peerTable);

  const bareExpress = measured.find(({ group }) => group.bare === 'express')?.rounds.get('express');
  // 1b: latency at half of bare Express's maximum.
  if (bareExpress === undefined) {
    failures.push('1b skipped: no bare Express maximum to take half of');
  } else {
    const rate = Math.round(median(bareExpress.map((r) => r.rps)) / 2);
    notes.push(
      `1b: autocannon at a fixed overall rate of ${rate} req/s (half of bare Express's median maximum), ${RATE_CONNECTIONS} connections, ${plan.rounds} interleaved round(s) of ${plan.rateRoundSec} s after a ${plan.rateWarmupSec} s warm-up each (the servers are the ones of the throughput rounds, warm already); p50 and p99 of the 2xx response times (sub-millisecond, from autocannon's per-response timings), median over the rounds, and the difference to the bare framework of the group. Beside them, from inside each server over the same rounds: its event loop's delay (perf_hooks.monitorEventLoopDelay, sampled every 5 ms; p99 and max, medians over the rounds) and its garbage-collection pauses per second (PerformanceObserver 'gc'). The Express group also holds a second bare Express server (the same code in its own process: the A/A pair) and bare Express with an idle ioredis client and subscriber (what a RedisStore keeps open), and runs ${plan.expressRateRounds} rounds, each starting one server later than the one before (a server's place in the round moved its p99 by a few milliseconds when the order was fixed). Its verdicts are judged on the median over the rounds of each round's p99 minus bare Express's (every server of a round runs one after the other, so a round's conditions are shared), against the widest difference the A/A pair showed in a round as the noise: a difference two identical servers also show is not resolved by this run. The RedisStore guard is judged a second time against the server holding the idle Redis connections, which tells what is evict's from what the connections cost any Redis-backed server. The other groups' verdicts compare every round of a contender with every round of bare (met only when the least favourable pairing meets the target, not met only when the most favourable misses it).`,
    );
    for (const modes of plan.rateGroups) {
      const bare = modes[0]!;
      options.log(`http: 1b latency at ${rate} req/s (${modes.join(', ')})`);
      let rounds: Awaited<ReturnType<typeof latency>>;
      try {
        rounds = await latency(
          modes,
          rate,
          plan,
          modes.includes(TWIN) ? plan.expressRateRounds : plan.rounds,
          options,
        );
      } catch (error) {
        failures.push(`1b ${bare}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const p50 = (m: Mode) => median(rounds.get(m)!.p50);
      const p99 = (m: Mode) => median(rounds.get(m)!.p99);
      tables.push({
        title: `Added latency (1b) at ${rate} req/s: ${NAMES[bare]} group`,
        columns: [
          'achieved req/s',
          'p50 ms',
          'p99 ms',
          'p50 − bare ms',
          'p99 − bare ms',
          'p99 rounds ms',
          'event-loop delay p99 / max ms',
          'GC ms/s',
          'longest GC pause ms',
          'full GCs a round',
        ],
        rows: modes.map((mode) => {
          const r = rounds.get(mode)!;
          return {
            name: NAMES[mode],
            figures: {
              'achieved req/s': Math.round(median(r.rps)),
              'p50 ms': fixed(p50(mode), 3),
              'p99 ms': fixed(p99(mode), 3),
              'p50 − bare ms': fixed(p50(mode) - p50(bare), 3),
              'p99 − bare ms': fixed(p99(mode) - p99(bare), 3),
              'p99 rounds ms': r.p99.map((v) => v.toFixed(2)).join(', '),
              'event-loop delay p99 / max ms': `${median(r.loopP99).toFixed(2)} / ${median(r.loopMax).toFixed(1)}`,
              'GC ms/s': fixed(median(r.gcMsPerSec), 2),
              'longest GC pause ms': fixed(median(r.gcMaxMs), 1),
              'full GCs a round': r.gcMajor.join(', '),
            },
          };
        }),
      });
      const bareP99s = rounds.get(bare)!.p99;
      const roundsText = (values: number[]) => values.map((v) => v.toFixed(2)).join('/');
      // Each round ran every server of the group one after the other: differences are paired by round.
      const perRound = (mode: Mode, against: Mode) => {
        const of = rounds.get(against)!.p99;
        return rounds.get(mode)!.p99.map((v, i) => v - of[i]!);
      };
      // What two identical servers differ by in one round, at the widest: this run's resolution.
      const twinDiffs = rounds.has(TWIN) ? perRound(TWIN, bare) : undefined;
      const aaNoise = twinDiffs === undefined ? Number.NaN : Math.max(...twinDiffs.map(Math.abs));
      const aaText = () =>
        `the A/A pair (two bare Express servers) differed by ${twinDiffs!.map((d) => `${d >= 0 ? '+' : ''}${d.toFixed(2)}`).join('/')} ms`;
      const versus = (mode: Mode, against: Mode, target: string) => {
        const added = median(perRound(mode, against));
        return judgedTarget({
          target,
          measured: `${added >= 0 ? '+' : ''}${added.toFixed(3)} ms, the median over ${bareP99s.length} rounds of the round's p99 minus ${NAMES[against]}'s (rounds ${roundsText(rounds.get(mode)!.p99)} vs ${roundsText(rounds.get(against)!.p99)}); ${aaText()}`,
          value: added,
          bound: 0.2,
          noise: aaNoise,
          want: 'at most',
          noiseText: `two identical bare Express servers differed by up to ${aaNoise.toFixed(2)} ms in a round`,
        });
      };
      for (const mode of modes) {
        if (!mode.includes('evict') || mode.endsWith('-nocache')) continue;
        if (twinDiffs !== undefined) {
          targets.push(
            versus(mode, bare, `1b. ${NAMES[mode]}: p99 within 0.2 ms of ${NAMES[bare]} at ${rate} req/s`),
          );
          if (mode === 'express-evict-redis' && rounds.has(IDLE_REDIS))
            targets.push(
              versus(
                mode,
                IDLE_REDIS,
                `1b. ${NAMES[mode]}: p99 within 0.2 ms of ${NAMES[IDLE_REDIS]} at ${rate} req/s (what is evict's beyond the Redis connections themselves)`,
              ),
            );
          continue;
        }
        const added = p99(mode) - p99(bare);
        const p99s = rounds.get(mode)!.p99;
        // As verdictOf, on differences: every pairing of a guarded round with a bare round must agree.
        const worst = Math.max(...p99s) - Math.min(...bareP99s);
        const best = Math.min(...p99s) - Math.max(...bareP99s);
        const met = worst <= 0.2;
        const inconclusive = !met && best <= 0.2;
        targets.push({
          target: `1b. ${NAMES[mode]}: p99 within 0.2 ms of ${NAMES[bare]} at ${rate} req/s`,
          measured: `${added >= 0 ? '+' : ''}${added.toFixed(3)} ms (p99 ${p99(mode).toFixed(3)} vs ${p99(bare).toFixed(3)} ms; rounds ${roundsText(p99s)} vs ${roundsText(bareP99s)})`,
          met,
          ...(inconclusive
            ? {
                inconclusive: true,
                note: `the rounds of either side span more than the 0.2 ms the target allows (pairings from ${best.toFixed(2)} to +${worst.toFixed(2)} ms): this run does not resolve it`,
              }
            : {}),
        });
      }
    }
  }
  if (options.quick) {
    notes.push(
      `Quick mode: one round of ${plan.roundRequests.toLocaleString('en-US')} requests per contender after a ${plan.warmupSec} s warm-up, and 1b on the Express group only (one round of ${plan.rateRoundSec} s). The figures are indicative; the full run (\`pnpm bench\`) is the one to judge the targets by.`,
    );
  }
  for (const failure of failures) notes.push(`FAILED: ${failure}`);
  notes.push(
    "How much of a request the guard itself costs, measured without the network's noise: section 3's guard.decide column (the Express, Koa and NestJS guards call it once per request). A guard costing g µs per request lowers a server doing r requests per second per core by a factor 1 / (1 + g·r/10⁶).",
  );
  return { tables, targets, notes };
}

export const section: BenchSection = {
  id: 'http',
  title: '1. HTTP: guard overhead (1), peers (2), added latency (1b)',
  run,
};
