// Issue 17, target 2: where the p99 of Express + evictGuard on the RedisStore at a fixed rate comes
// from. Bare Express, the guard on the memory store, the guard on the RedisStore, and bare Express
// holding an idle ioredis client and subscriber (what a RedisStore keeps open) run as the bench's
// server processes on a redis-server of this script's own; after a throughput warm-up each (as in
// section 1), they take turns at one fixed rate, and each round reports autocannon's p50 / p99 with
// the server's own event-loop delay and GC pauses over the round. Figures go in FINDINGS.md, not here.
//
//   npx tsx bench/express-redis-p99.mts [rounds] [rate]   (default 6 rounds; rate: half of bare's warm-up rate)
//   BENCH_SERVER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=prof" profiles the servers (written at exit).
//   P99_MODES=express,express,express-evict-redis sets the contenders; a mode named twice runs as two
//   servers of its own (an A/A pair: how far two identical servers' p99s differ on this machine).
import autocannon from 'autocannon';
import { freePort } from '../test/support/demo-process.js';
import { OwnRedis } from '../test/support/redis-server.js';
import type { Mode } from './servers/server.js';
import { type Running, startServer, stopServer } from './support/servers.js';

const MODES = (process.env.P99_MODES?.split(',') ?? [
  'express',
  'express-evict-memory',
  'express-evict-redis',
  'express-redis-idle',
]) as Mode[];
const rounds = Number(process.argv[2] ?? 6);
const ROUND_SEC = 3;

async function load(server: Running, options: { durationSec?: number; amount?: number; rate?: number }) {
  const times: number[] = [];
  let finish: (result: autocannon.Result) => void = () => undefined;
  const finished = new Promise<autocannon.Result>((done) => {
    finish = done;
  });
  const instance = autocannon(
    {
      url: server.url,
      headers: server.headers,
      connections: options.rate === undefined ? 50 : 20,
      pipelining: 1,
      sampleInt: 50,
      ...(options.amount === undefined
        ? { duration: options.durationSec ?? ROUND_SEC }
        : { amount: options.amount }),
      ...(options.rate === undefined ? {} : { overallRate: options.rate }),
    },
    (error, result) => {
      if (error) throw error;
      finish(result);
    },
  );
  instance.on('response', (_c: unknown, status: number, _b: number, ms: number) => {
    if (status >= 200 && status < 300) times.push(ms);
  });
  const result = await finished;
  times.sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]!;
  return {
    rps: times.length / result.duration,
    p50: at(50),
    p99: at(99),
    errors: result.errors + result.non2xx,
  };
}

const redis = new OwnRedis(await freePort(), false);
await redis.start();
const servers: Running[] = [];
try {
  for (const mode of MODES) servers.push(await startServer(mode, redis.url));
  let bareRps = 0;
  for (const server of servers) {
    const { rps } = await load(server, { amount: 10_000 });
    if (server.mode === 'express' && bareRps === 0) bareRps = rps;
    console.log(`warm-up ${server.mode}: ${Math.round(rps)} req/s`);
  }
  const rate = Number(process.argv[3] ?? Math.round(bareRps / 2));
  console.log(`fixed rate ${rate} req/s, ${rounds} rounds of ${ROUND_SEC} s, interleaved`);
  const label = (i: number) => `${MODES[i]}${MODES.indexOf(MODES[i]!) === i ? '' : ` (${i + 1})`}`;
  const rows = new Map<string, string[]>(MODES.map((_, i) => [label(i), []]));
  for (let round = 1; round <= rounds; round += 1) {
    for (const [i, server] of servers.entries()) {
      await server.stats();
      const r = await load(server, { rate });
      const { eventLoop, gc } = await server.stats();
      const line = `p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} | loop p99 ${eventLoop.p99Ms.toFixed(2)} max ${eventLoop.maxMs.toFixed(1)} | GC ${gc.count}× ${gc.ms.toFixed(1)} ms, longest ${gc.maxMs.toFixed(1)}, full ${gc.major}${r.errors > 0 ? ` | ${r.errors} errors` : ''}`;
      rows.get(label(i))!.push(r.p99.toFixed(2));
      console.log(`round ${round} ${label(i).padEnd(26)} ${Math.round(r.rps)} req/s ${line}`);
    }
  }
  for (const [mode, p99s] of rows) console.log(`p99 by round, ${mode}: ${p99s.join(' ')}`);
} finally {
  await Promise.all(servers.map((s) => stopServer(s)));
  await redis.remove();
}
