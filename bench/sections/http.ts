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
import {
  type BenchOptions,
  type BenchResult,
  type BenchSection,
  type BenchTable,
  type BenchTarget,
  judgedTarget,
  median,
  rangeOf,
  relativeSpread,
  spreadText,
} from '../report.js';
import type { LoadResult, LoadSpec } from '../servers/load.js';
import type { Mode } from '../servers/server.js';
import { nodeArgsFor } from '../support/compile.js';
import { NAMES, type Running, startServer, stopServer } from '../support/servers.js';

const here = dirname(fileURLToPath(import.meta.url));
const LOAD = resolve(here, '../servers/load.ts');
const CONNECTIONS = 50;
const RATE_CONNECTIONS = 20;

/** The comparisons of 1 and 2: Express with the peers (one interleaved run), then Koa, then NestJS. */
const GROUPS: Array<{ title: string; bare: Mode; modes: Mode[] }> = [
  {
    title: 'Express: guard overhead (1) and peers (2), throughput',
    bare: 'express',
    modes: [
      'express',
      'express-evict-memory',
      'express-evict-redis',
      'express-session-redis',
      'express-jwt-redis',
      'express-jose-memory',
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

/** The contenders of this section (the no-op ones are for the instruction counts, section 8). */
const HTTP_MODES: Mode[] = GROUPS.flatMap((group) => group.modes);

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
    overallRate?: number,
  ): Promise<LoadResult> {
    const spec: LoadSpec = {
      url: server.url,
      headers: server.headers,
      connections,
      durationSec,
      ...(overallRate === undefined ? {} : { overallRate }),
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
  roundSec: number;
  warmupSec: number;
  /** The fixed-rate test's warm-up per contender: short, the servers are warm from the throughput rounds. */
  rateWarmupSec: number;
  rateRoundSec: number;
  /** The contenders of the fixed-rate test, each group against its own bare framework. */
  rateGroups: Mode[][];
}

/** Every server of the section, started side by side before the first measurement; 1b reuses those of 1 and 2. */
const pool = new Map<Mode, Promise<Running>>();
let loadGenerator: LoadGenerator | undefined;

/** Starts every contender at once and waits until each is ready or failed (a failure shows in its comparison). */
async function startAll(options: BenchOptions): Promise<void> {
  const t0 = performance.now();
  for (const mode of HTTP_MODES) {
    const started = startServer(mode, options.redisUrl);
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
  for (const mode of modes) if (!pool.has(mode)) pool.set(mode, startServer(mode, options.redisUrl));
  const servers = await Promise.all(modes.map((mode) => pool.get(mode)!));
  if (loadGenerator === undefined || loadGenerator.exited) loadGenerator = new LoadGenerator();
  return body(servers, loadGenerator);
}

/** Throughput, interleaved rounds: the req/s of each round, per mode. */
async function throughput(modes: Mode[], plan: Plan, options: BenchOptions): Promise<Map<Mode, number[]>> {
  return withServers(modes, options, async (servers, load) => {
    for (const server of servers) await load.run(server, plan.warmupSec, CONNECTIONS);
    const rounds = new Map<Mode, number[]>(modes.map((m) => [m, []]));
    for (let round = 0; round < plan.rounds; round += 1) {
      for (const server of servers) {
        const result = await load.run(server, plan.roundSec, CONNECTIONS);
        rounds.get(server.mode)!.push(result.rps);
        options.log(`  round ${round + 1} ${server.mode}: ${Math.round(result.rps)} req/s`);
      }
    }
    return rounds;
  });
}

/** Latency at a fixed rate, interleaved rounds: p50 and p99 (ms) of each round, per mode. */
async function latency(
  modes: Mode[],
  rate: number,
  plan: Plan,
  options: BenchOptions,
): Promise<Map<Mode, { p50: number[]; p99: number[]; rps: number[] }>> {
  return withServers(modes, options, async (servers, load) => {
    for (const server of servers) await load.run(server, plan.rateWarmupSec, RATE_CONNECTIONS, rate);
    const rounds = new Map(
      modes.map((m) => [m, { p50: [] as number[], p99: [] as number[], rps: [] as number[] }]),
    );
    for (let round = 0; round < plan.rounds; round += 1) {
      for (const server of servers) {
        const result = await load.run(server, plan.rateRoundSec, RATE_CONNECTIONS, rate);
        const figures = rounds.get(server.mode)!;
        figures.p50.push(result.p50);
        figures.p99.push(result.p99);
        figures.rps.push(result.rps);
        options.log(
          `  rate round ${round + 1} ${server.mode}: p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms`,
        );
      }
    }
    return rounds;
  });
}

const fixed = (value: number, digits = 2) => Number(value.toFixed(digits));

async function run(options: BenchOptions): Promise<BenchResult> {
  try {
    await startAll(options);
    return await measureAll(options);
  } finally {
    await stopAll();
  }
}

async function measureAll(options: BenchOptions): Promise<BenchResult> {
  const plan: Plan = options.quick
    ? {
        rounds: 1,
        roundSec: 0.8,
        warmupSec: 0.25,
        rateWarmupSec: 0.2,
        rateRoundSec: 0.8,
        rateGroups: [GROUPS[0]!.modes],
      }
    : {
        rounds: 3,
        roundSec: 4,
        warmupSec: 1,
        rateWarmupSec: 0.5,
        rateRoundSec: 3,
        rateGroups: GROUPS.map((group) => group.modes),
      };
  const tables: BenchTable[] = [];
  const targets: BenchTarget[] = [];
  const notes: string[] = [
    `Method: each contender is a separate Node.js server process (bench/servers/server.ts, run as plain JavaScript transformed once with esbuild; evict loaded from packages/*/dist) serving GET /hello → {"hello":"world"} on 127.0.0.1. All ${pool.size} are started side by side before the first measurement, and stay idle while the others are measured. The load generator is autocannon ${CONNECTIONS} connections, pipelining 1, in its own process (bench/servers/load.ts). Throughput: a ${plan.warmupSec} s warm-up per contender, then ${plan.rounds} round(s) of ${plan.roundSec} s, interleaved across the contenders of a comparison (A B C A B C …); the table shows the median req/s of the rounds and its ratio to the bare framework's median. Servers and load generator share this machine's cores unpinned (one busy core each).`,
    'The evict contenders send a session token issued at start-up (`token` header); the RedisStore ones use ioredis with the engine cache on (its default), so after the first request a check costs no Redis trip. express-session runs with connect-redis (node-redis client), resave: false, saveUninitialized: false, disableTouch: true: one Redis GET per request and no write. express-jwt verifies a pre-signed HS256 token against a `crypto.createSecretKey` KeyObject (a string secret costs jsonwebtoken 9 far more per verify) and its `isRevoked` does one ioredis GET per request.',
  ];

  const medians = new Map<Mode, number>();
  const allRounds = new Map<Mode, number[]>();
  const failures: string[] = [];
  for (const group of GROUPS) {
    options.log(`http: ${group.title}`);
    let rounds: Map<Mode, number[]>;
    try {
      rounds = await throughput(group.modes, plan, options);
    } catch (error) {
      failures.push(`${group.title}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    for (const [mode, values] of rounds) medians.set(mode, median(values));
    const bare = medians.get(group.bare)!;
    tables.push({
      title: group.title,
      columns: ['median req/s', 'ratio to bare', 'rounds (req/s)'],
      rows: group.modes.map((mode) => ({
        name: NAMES[mode],
        figures: {
          'median req/s': Math.round(medians.get(mode)!),
          'ratio to bare': fixed(medians.get(mode)! / bare, 3),
          'rounds (req/s)': rounds
            .get(mode)!
            .map((v) => Math.round(v))
            .join(', '),
        },
      })),
    });
    for (const [mode, values] of rounds) allRounds.set(mode, values);
    const bareSpread = relativeSpread(rounds.get(group.bare)!);
    for (const mode of group.modes) {
      if (mode === group.bare || !mode.includes('evict')) continue;
      const ratio = medians.get(mode)! / bare;
      const spread = Math.max(bareSpread, relativeSpread(rounds.get(mode)!));
      targets.push(
        judgedTarget({
          target: `1. ${NAMES[mode]}: throughput ≥ 0.95 × ${NAMES[group.bare]}`,
          measured: `${ratio.toFixed(3)} × (${Math.round(medians.get(mode)!)} vs ${Math.round(bare)} req/s)`,
          value: ratio,
          bound: 0.95,
          noise: ratio * spread,
          want: 'at least',
          noiseText: spreadText(spread),
        }),
      );
    }
  }

  // 2: the peers, against evict with the Redis store (the same job: a revocable credential, Redis behind it).
  const evictRedis = medians.get('express-evict-redis');
  const peerTable: BenchTable = {
    title: 'Peers (2): evict (RedisStore, cache on) against the peers on Express',
    columns: ['peer req/s', 'evict req/s', 'evict / peer', 'peer / bare Express', 'target'],
    rows: [],
  };
  for (const [peer, wanted] of [
    ['express-session-redis', 1.2],
    ['express-jwt-redis', 1.5],
  ] as const) {
    const peerRps = medians.get(peer);
    if (peerRps === undefined || evictRedis === undefined) continue;
    const ratio = evictRedis / peerRps;
    peerTable.rows.push({
      name: NAMES[peer],
      figures: {
        'peer req/s': Math.round(peerRps),
        'evict req/s': Math.round(evictRedis),
        'evict / peer': fixed(ratio, 3),
        'peer / bare Express': fixed(peerRps / medians.get('express')!, 3),
        target: `≥ ${wanted}`,
      },
    });
    const spread = Math.max(
      relativeSpread(allRounds.get('express-evict-redis') ?? []),
      relativeSpread(allRounds.get(peer) ?? []),
    );
    targets.push(
      judgedTarget({
        target: `2. Express + evictGuard (RedisStore) ≥ ${wanted} × ${NAMES[peer]}`,
        measured: `${ratio.toFixed(3)} × (${Math.round(evictRedis)} vs ${Math.round(peerRps)} req/s)`,
        value: ratio,
        bound: wanted,
        noise: ratio * spread,
        want: 'at least',
        noiseText: spreadText(spread),
      }),
    );
  }
  if (peerTable.rows.length > 0) tables.push(peerTable);

  // 1b: latency at half of bare Express's maximum.
  const bareExpress = medians.get('express');
  if (bareExpress === undefined) {
    failures.push('1b skipped: no bare Express maximum to take half of');
  } else {
    const rate = Math.round(bareExpress / 2);
    notes.push(
      `1b: autocannon at a fixed overall rate of ${rate} req/s (half of bare Express's median maximum), ${RATE_CONNECTIONS} connections, ${plan.rounds} interleaved round(s) of ${plan.rateRoundSec} s after a ${plan.rateWarmupSec} s warm-up each (the servers are the ones of the throughput rounds, warm already); p50 and p99 of the 2xx response times (sub-millisecond, from autocannon's per-response timings), median over the rounds, and the difference to the bare framework of the group.`,
    );
    for (const modes of plan.rateGroups) {
      const bare = modes[0]!;
      options.log(`http: 1b latency at ${rate} req/s (${modes.join(', ')})`);
      let rounds: Awaited<ReturnType<typeof latency>>;
      try {
        rounds = await latency(modes, rate, plan, options);
      } catch (error) {
        failures.push(`1b ${bare}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const p50 = (m: Mode) => median(rounds.get(m)!.p50);
      const p99 = (m: Mode) => median(rounds.get(m)!.p99);
      tables.push({
        title: `Added latency (1b) at ${rate} req/s: ${NAMES[bare]} group`,
        columns: ['achieved req/s', 'p50 ms', 'p99 ms', 'p50 − bare ms', 'p99 − bare ms'],
        rows: modes.map((mode) => ({
          name: NAMES[mode],
          figures: {
            'achieved req/s': Math.round(median(rounds.get(mode)!.rps)),
            'p50 ms': fixed(p50(mode), 3),
            'p99 ms': fixed(p99(mode), 3),
            'p50 − bare ms': fixed(p50(mode) - p50(bare), 3),
            'p99 − bare ms': fixed(p99(mode) - p99(bare), 3),
          },
        })),
      });
      const bareP99Range = rangeOf(rounds.get(bare)!.p99);
      for (const mode of modes) {
        if (!mode.includes('evict')) continue;
        const added = p99(mode) - p99(bare);
        // Both servers' p99 move between rounds; the wider of the two is what a difference must clear.
        const noise = Math.max(bareP99Range, rangeOf(rounds.get(mode)!.p99));
        targets.push(
          judgedTarget({
            target: `1b. ${NAMES[mode]}: p99 within 0.2 ms of ${NAMES[bare]} at ${rate} req/s`,
            measured: `${added >= 0 ? '+' : ''}${added.toFixed(3)} ms (p99 ${p99(mode).toFixed(3)} vs ${p99(bare).toFixed(3)} ms)`,
            value: added,
            bound: 0.2,
            noise,
            want: 'at most',
            noiseText: Number.isNaN(noise)
              ? 'one round each: the noise is unknown'
              : `the p99 of one of the two servers moved by ${noise.toFixed(2)} ms between its own rounds`,
          }),
        );
      }
    }
  }
  if (options.quick) {
    notes.push(
      `Quick mode: one round of ${plan.roundSec} s per contender after a ${plan.warmupSec} s warm-up, and 1b on the Express group only (one round of ${plan.rateRoundSec} s). The figures are indicative; the full run (\`pnpm bench\`) is the one to judge the targets by.`,
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
