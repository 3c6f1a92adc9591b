/**
 * Not a test: the tool behind soak.md's "Why the young generation is pinned". Starts demo nodes on a
 * redis-server of their own, runs the soak's mixed load (VUS virtual users, each 40–80 ms between
 * calls, nodes picked at random) for MINUTES, and prints each node's `[diag]` sample (after a full
 * GC) every PROBE_MS, also as JSON lines to OUT (default: rss-probe.jsonl in the temp directory).
 *
 *   NODES=express,koa,koa:pin,koa:arena2,koa:jemalloc VUS=20 MINUTES=10 nice -n 10 npx tsx test/faults/rss-probe.ts
 *
 * A node is `framework[:variant]`: `pin` fixes V8's young generation as the soak does,
 * `arena2` runs it with MALLOC_ARENA_MAX=2, `jemalloc` with libjemalloc preloaded. Keep the load per
 * node as the soak's (4 users a node) to compare with it.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DemoNode, freePort } from '../support/demo-process.js';
import { randomPrefix } from '../support/redis.js';
import { MixedLoad } from './mixed-load.js';
import { diagSamples, keepAliveAgent, OwnRedis, rng, sleep, startNode } from './support.js';

const SPECS = (process.env.NODES ?? 'express,koa').split(',');
const MINUTES = Number(process.env.MINUTES ?? 8);
const VUS = Number(process.env.VUS ?? 4 * SPECS.length);
const PROBE_MS = Number(process.env.PROBE_MS ?? 10_000);
const OUT = process.env.OUT ?? join(tmpdir(), 'rss-probe.jsonl');
const VARIANTS: Record<string, { env?: Record<string, string>; nodeArgs?: string[] }> = {
  pin: { nodeArgs: ['--min-semi-space-size=16', '--max-semi-space-size=16'] },
  arena2: { env: { MALLOC_ARENA_MAX: '2' } },
  jemalloc: { env: { LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2' } },
};

const MB = (x: number) => (x / 1048576).toFixed(1);
const redis = new OwnRedis(await freePort(), false);
await redis.start();
const env = {
  REDIS_URL: redis.url,
  EVICT_REDIS_PREFIX: randomPrefix(),
  DEMO_SEED: '0',
  TENCENT_RATE_LIMIT: '100000',
};
const nodes: { label: string; node: DemoNode; printed: number }[] = [];
for (const [i, spec] of SPECS.entries()) {
  const [framework, variant] = spec.split(':') as ['express' | 'koa' | 'nestjs', string | undefined];
  const extra = variant === undefined ? {} : VARIANTS[variant];
  if (extra === undefined) throw new Error(`unknown variant ${variant}`);
  const node = await startNode(framework, i + 1, { ...env, ...extra.env }, PROBE_MS, extra.nodeArgs);
  nodes.push({ label: spec, node, printed: 0 });
}
writeFileSync(OUT, '');
let loadStart = Date.now();
const print = () => {
  for (const n of nodes) {
    const samples = diagSamples(n.node);
    for (const s of samples.slice(n.printed)) {
      const atS = Math.round((s.t - loadStart) / 1000);
      appendFileSync(OUT, `${JSON.stringify({ node: n.label, loadS: atS, ...s })}\n`);
      console.log(
        `${n.label.padEnd(14)} ${String(atS).padStart(4)} s of load: rss ${MB(s.rss)} heapUsed ${MB(s.heapUsed)} heapTotal ${MB(s.heapTotal)} young ${MB(s.newSpace)} external ${MB(s.external)} arrayBuffers ${MB(s.arrayBuffers)} handles ${s.handles}`,
      );
    }
    n.printed = samples.length;
  }
};
const printer = setInterval(print, PROBE_MS);

const agent = keepAliveAgent();
const load = new MixedLoad(agent, rng(Number(process.env.FAULT_SEED ?? 7)));

try {
  await sleep(PROBE_MS * 1.5);
  loadStart = Date.now();
  load.start(
    VUS,
    `probe${process.pid}`,
    nodes.map((n) => n.node),
  );
  await sleep(MINUTES * 60_000);
  await load.stop();
  agent.destroy();
  await sleep(PROBE_MS * 2 + 500);
  print();
  console.log('load', JSON.stringify(load.counts));
} finally {
  clearInterval(printer);
  for (const n of nodes) await n.node.stop();
  await redis.remove();
}
