/**
 * The soak: two demo processes (Express, Koa) on a redis-server of the test's own, SOAK_SECONDS of
 * mixed load (guarded requests, logins, socket connects and closes, kicks, logouts) on a bounded
 * working set. Each node prints its heap (after a full GC), RSS and active handles every few seconds
 * (the diagnostics preload, no product change). After the warm-up (the first 25 %), the heap and
 * RSS trends must be flat and the handles must come back to where they started once the load stops;
 * then SIGTERM, and each node must exit 0 on its own (nothing left open after close()).
 * The nodes run with V8's young generation at a fixed size (YOUNG_GENERATION_ARGS): left to grow on
 * its own, it steps from 1 to 16 MB per semi-space at times that depend on the load and the machine,
 * and each step shows in RSS as a growth of up to 16 MB that is no leak (see soak.md, "Why the young
 * generation is pinned").
 * Figures go to test/faults/soak.md (and soak.json).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DemoNode, freePort, requireBuilt } from '../support/demo-process.js';
import { randomPrefix } from '../support/redis.js';
import { MixedLoad } from './mixed-load.js';
import {
  describeWithRedisServer,
  diagExit,
  diagSamples,
  keepAliveAgent,
  OwnRedis,
  QUICK,
  rng,
  sleep,
  startNode,
  terminate,
  writeReport,
} from './support.js';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? (QUICK ? 15 : 180));
/** About 30 samples a run, at least one a second. */
const SAMPLE_MS = Math.max(1_000, Math.round((SOAK_SECONDS * 1_000) / 30));
const VUS = 8;
const MB = 1024 * 1024;
/**
 * The thresholds. The heap is sampled after a full GC, so it is what is live: a leak of one small
 * object (~1 KB) per request at this load (~100 requests/s) would be ~6 MB/min; 1 MB/min is well
 * under that and well over the noise of a bounded working set. RSS also moves with the allocator
 * and the JIT, so it gets 4 MB/min. On the short CI run the fit is over ~15 s and extrapolates
 * noise, so the bounds are four times looser there (still at most ~1 MB of heap growth in the window).
 */
const HEAP_MB_PER_MIN = QUICK ? 4 : 1;
const RSS_MB_PER_MIN = QUICK ? 16 : 4;
/** The shortest run whose RSS slope is held to RSS_MB_PER_MIN (see the check). */
const RSS_MIN_SECONDS = 60;
/** Handles once the load stopped and the client closed its sockets, over the idle baseline. */
const HANDLE_SLACK = 2;
/**
 * V8's semi-space at node's default maximum (16 MB on 64-bit) from the start, so that the young
 * generation does not resize during the run. Unpinned, V8 doubles it (1, 2, 4, 8, 16 MB) each time
 * as many bytes survived scavenges as it holds, and shrinks it again when allocation slows: on the
 * 180 s soak the Koa node's last two steps (to 8, then 16 MB) fell inside the fit window (RSS +14 MB,
 * 8.9 MB/min), the Express node's before it. Those steps are bounded (2 × 16 MB) and no leak, but an
 * RSS slope over them says nothing about leaks. NODE_OPTIONS does not take the min flag: node does.
 */
const SEMI_SPACE_MB = 16;
const YOUNG_GENERATION_ARGS = [
  `--min-semi-space-size=${SEMI_SPACE_MB}`,
  `--max-semi-space-size=${SEMI_SPACE_MB}`,
];

const describeSoak = describeWithRedisServer;

describeSoak('soak: two nodes under mixed load', () => {
  let redis: OwnRedis;
  let nodes: DemoNode[] = [];
  const agent = keepAliveAgent();
  const load = new MixedLoad(agent, rng(Number(process.env.FAULT_SEED ?? 7)));
  const { counts } = load;

  beforeAll(async () => {
    requireBuilt('express', 'koa');
    redis = new OwnRedis(await freePort(), false);
    await redis.start();
    const env = {
      REDIS_URL: redis.url,
      EVICT_REDIS_PREFIX: randomPrefix(),
      DEMO_SEED: '0',
      TENCENT_RATE_LIMIT: '100000',
    };
    nodes = await Promise.all([
      startNode('express', 1, env, SAMPLE_MS, YOUNG_GENERATION_ARGS),
      startNode('koa', 2, env, SAMPLE_MS, YOUNG_GENERATION_ARGS),
    ]);
  }, 60_000);

  afterAll(async () => {
    void load.stop();
    agent.destroy();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.remove();
  });

  it(
    `${SOAK_SECONDS} s of mixed load: heap, RSS and handles flat, clean shutdown`,
    async () => {
      await sleep(SAMPLE_MS * 1.5);
      const baseline = nodes.map((n) => diagSamples(n).at(-1)!);
      const loadStart = Date.now();
      load.start(VUS, `soak${process.pid}`, nodes);
      await sleep(SOAK_SECONDS * 1_000);
      await load.stop();
      const loadEnd = Date.now();
      agent.destroy();
      // The nodes see the client's sockets close, then sample at rest.
      await sleep(SAMPLE_MS * 2 + 500);

      const results = nodes.map((node, i) => {
        const samples = diagSamples(node);
        const during = samples.filter((s) => s.t >= loadStart && s.t <= loadEnd);
        const warm = during.filter((s) => s.t >= loadStart + (loadEnd - loadStart) * 0.25);
        const perMin = (pick: (s: (typeof samples)[number]) => number) =>
          (slopeOf(warm.map((s) => [s.t, pick(s)])) * 60_000) / MB;
        const atRest = samples.at(-1)!;
        return {
          node: `${node.framework} (node ${node.nodeId})`,
          samples: during.length,
          heapStartMB: round(warm[0]!.heapUsed / MB),
          heapEndMB: round(warm.at(-1)!.heapUsed / MB),
          heapMBPerMin: round(perMin((s) => s.heapUsed)),
          rssStartMB: round(warm[0]!.rss / MB),
          rssEndMB: round(warm.at(-1)!.rss / MB),
          rssMBPerMin: round(perMin((s) => s.rss)),
          heapTotalStartMB: round(warm[0]!.heapTotal / MB),
          heapTotalEndMB: round(warm.at(-1)!.heapTotal / MB),
          externalStartMB: round(warm[0]!.external / MB),
          externalEndMB: round(warm.at(-1)!.external / MB),
          externalMBPerMin: round(perMin((s) => s.external)),
          arrayBuffersEndMB: round(warm.at(-1)!.arrayBuffers / MB),
          /** The young generation's sizes seen in the fit window: one, if the pin held. */
          newSpaceMB: [...new Set(warm.map((s) => round(s.newSpace / MB)))],
          handlesIdleBefore: baseline[i]!.handles,
          handlesMaxUnderLoad: Math.max(...during.map((s) => s.handles)),
          handlesIdleAfter: atRest.handles,
          resourcesIdleAfter: atRest.resources,
        };
      });

      const shutdown = [];
      for (const node of nodes) {
        const exit = await terminate(node);
        shutdown.push({ node: node.nodeId, code: exit.code, ms: Math.round(exit.ms), diag: diagExit(node) });
      }

      const report = {
        when: new Date().toISOString(),
        mode: QUICK ? 'quick' : 'full',
        soakSeconds: SOAK_SECONDS,
        sampleMs: SAMPLE_MS,
        thresholds: { heapMBPerMin: HEAP_MB_PER_MIN, rssMBPerMin: RSS_MB_PER_MIN, handleSlack: HANDLE_SLACK },
        nodeArgs: YOUNG_GENERATION_ARGS,
        load: counts,
        nodes: results,
        shutdown,
      };
      writeReport('soak.json', `${JSON.stringify(report, null, 2)}\n`);
      writeReport('soak.md', markdown(report));
      console.log(markdown(report));

      expect(counts.requests).toBeGreaterThan(0);
      for (const r of results) {
        expect(r.samples, `${r.node} samples`).toBeGreaterThanOrEqual(4);
        expect(r.heapMBPerMin, `${r.node} heap MB/min`).toBeLessThan(HEAP_MB_PER_MIN);
        // RSS still grows with the allocator's and JIT's warm-up for the first minute or so: over a
        // shorter run its slope says nothing about leaks, so only a run of a minute or more is held to it
        // (the heap after a full GC, the leak signal, is held to its bound in every run).
        if (SOAK_SECONDS >= RSS_MIN_SECONDS) {
          // (The slope means something only if V8 kept its young generation at one size: the message says.)
          expect(
            r.rssMBPerMin,
            `${r.node} RSS MB/min (young generation in the window: ${r.newSpaceMB.join(', ')} MB)`,
          ).toBeLessThan(RSS_MB_PER_MIN);
        }
        expect(r.handlesIdleAfter, `${r.node} handles at rest`).toBeLessThanOrEqual(
          r.handlesIdleBefore + HANDLE_SLACK,
        );
      }
      for (const s of shutdown) {
        expect(s.code, `node ${s.node} exit code`).toBe(0);
        expect(s.diag, `node ${s.node} exited on its own after close()`).toMatchObject({
          code: 0,
          natural: true,
        });
      }
    },
    SOAK_SECONDS * 1_000 + 60_000,
  );
});

const round = (x: number) => Math.round(x * 100) / 100;

/**
 * The trend of (t, y) points: the median of the slopes between every two points (Theil–Sen). A
 * steady growth gives the same slope as a least-squares fit; a sample or two taken just after V8
 * released memory (its memory reducer drops old-space and young-generation pages, RSS −30 MB for
 * ten seconds) does not, where least squares gave a +2 MB/min slope to a flat node when such a
 * sample fell near one end of the window.
 */
function slopeOf(points: number[][]): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i += 1)
    for (let j = i + 1; j < points.length; j += 1) {
      const [x1, y1] = points[i]!;
      const [x2, y2] = points[j]!;
      if (x2! !== x1!) slopes.push((y2! - y1!) / (x2! - x1!));
    }
  if (slopes.length === 0) return 0;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  return slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
}

// biome-ignore lint/suspicious/noExplicitAny: the report's plain JSON
function markdown(r: any): string {
  const rows = r.nodes
    .map(
      // biome-ignore lint/suspicious/noExplicitAny: the report's plain JSON
      (n: any) =>
        `| ${n.node} | ${n.samples} | ${n.heapStartMB} → ${n.heapEndMB} | ${n.heapMBPerMin} | ${n.heapTotalStartMB} → ${n.heapTotalEndMB} | ${n.newSpaceMB.join(', ')} | ${n.rssStartMB} → ${n.rssEndMB} | ${n.rssMBPerMin} | ${n.externalStartMB} → ${n.externalEndMB} | ${n.externalMBPerMin} | ${n.handlesIdleBefore} / ${n.handlesMaxUnderLoad} / ${n.handlesIdleAfter} |`,
    )
    .join('\n');
  const exits = r.shutdown
    .map(
      (s: { node: number; code: number; ms: number; diag?: { natural: boolean } }) =>
        `node ${s.node}: exit ${s.code} in ${s.ms} ms, on its own: ${s.diag?.natural === true}`,
    )
    .join('; ');
  return `# Soak: latest figures

Written by \`pnpm test:faults\` (\`test/faults/soak.fault.ts\`); raw data in \`soak.json\` (not committed).
Run: ${r.when}, ${r.mode}, ${r.soakSeconds} s of load, a sample every ${r.sampleMs} ms; load: ${r.load.requests} guarded
requests, ${r.load.logins} logins, ${r.load.sockets} socket connects, ${r.load.kicks} device quits, ${r.load.logouts} logouts, ${r.load.errors} errors.
Nodes run with \`${r.nodeArgs.join(' ')}\` (V8's young generation at one size: see below).
Bounds after the warm-up (first 25 %), trends as the median of pairwise slopes: heap < ${r.thresholds.heapMBPerMin} MB/min, RSS < ${r.thresholds.rssMBPerMin} MB/min (held from ${RSS_MIN_SECONDS} s of load on; shorter runs report it), handles at rest ≤ idle + ${r.thresholds.handleSlack}.
External memory and V8's committed heap are reported, not bounded (a native leak shows in RSS).

| node | samples | heap MB (after GC) | heap MB/min | V8 committed MB | young gen MB | RSS MB | RSS MB/min | external MB | external MB/min | handles idle / max under load / idle after |
|---|---|---|---|---|---|---|---|---|---|---|
${rows}

Shutdown (SIGTERM): ${exits}.
${FINDINGS}`;
}

/** What the figures above rest on: the investigation of the Koa node's RSS, kept with every report. */
const FINDINGS = `
## Why the young generation is pinned

The full soak of 2026-11-22T04:17Z failed on the Koa node's RSS: 85.8 → 100.2 MB over the fit window,
8.9 MB/min against 4 MB/min, while its heap after GC grew 0.28 MB/min and its handles came back to idle
(Express: 1.17 MB/min). \`test/faults/rss-probe.ts\` ran the soak's load at the soak's rate per node
(4 virtual users a node, one redis-server) for 10 minutes, a sample (after a full GC) every 10 s.

RSS in MB, unpinned (as the failing soak ran), at 0 / 45 / 120 / 180 / 300 / 400 / 600 s of load, and
the trend over the soak's fit window (45–180 s) and over 300–600 s:

| node | RSS MB | 45–180 s | 300–600 s | young generation (both semi-spaces) reached 32 MB at |
|---|---|---|---|---|
| koa | 73.7 / 82.0 / 91.7 / 100.3 / 101.0 / 101.8 / 102.8 | +5.3 MB/min | +0.3 MB/min | 134 s (4 → 8 MB at 14 s, → 16 at 54 s) |
| koa, MALLOC_ARENA_MAX=2 | 70.8 / 77.8 / 87.4 / 95.9 / 96.6 / 97.4 / 98.1 | +5.6 MB/min | +0.1 MB/min | 134 s |
| koa, jemalloc (LD_PRELOAD) | 71.5 / 81.6 / 90.4 / 99.1 / 97.9 / 101.9 / 101.5 | +7.7 MB/min | +0.2 MB/min | 125 s |
| express | 71.8 / 102.5 / 107.2 / 107.2 / 104.8 / 108.5 / 108.6 | +0.4 MB/min | +0.2 MB/min | 23 s |

- **It plateaus.** The Koa node levels off at ~98–103 MB after ~2 minutes of load, below the Express
  node (~105–109 MB), and stays there for the remaining 8 minutes (+0.1 to +0.4 MB/min).
- **It is V8's young generation, not malloc.** Each step in RSS is a step of the young generation
  (V8 doubles a semi-space, 1 → 16 MB, each time as many bytes have survived scavenges as it holds).
  More bytes survive the Express node's scavenges: it reaches the 16 MB semi-spaces in ~23 s, inside
  the warm-up; Koa takes ~2 minutes, so its last two steps (+8 and +16 MB committed) fell inside the
  fit window.
  MALLOC_ARENA_MAX=2 and jemalloc give the same curve; external (Koa 3.47–3.57 MB, Express
  2.29–2.39 MB over the 10 minutes) and ArrayBuffers (< 0.2 MB) stay flat, so nothing in Buffers
  (@koa/bodyparser, ws) accumulates; handles come back to idle.
- **Pinned** (\`--min-semi-space-size=16 --max-semi-space-size=16\`), the same load: Koa 62.3 / 93.5 /
  95.1 / 96.4 / 97.0 / 97.8 / 98.9 MB (+1.35 MB/min over 45–180 s, +0.35 over 300–600 s), Express 80.6 /
  101.8 / 106.9 / 104.5 / 107.0 / 107.4 / 105.8 MB (−0.3 and +0.3 MB/min). What is left of the rise
  follows V8's committed old generation (Koa 46.5 → 49.9 MB), i.e. the heap below.
- **The heap after GC** grows 0.15–0.4 MB/min on both nodes, the same for Express and Koa. Heap
  snapshots of the Koa node at ~75 s and ~420 s of load (+0.9 MB): +1 487 revocation-cache entries
  (a slot \`{ value, used }\` holding a session record \`{ tokenHash, uid, … }\`, its two strings and
  numbers: ~0.3 KB each, ~0.4 MB) and ~0.4 MB of V8's own (optimized code, deopt data, weak lists);
  no other kind of object grew by more than a few KB. Sessions of kicked users stay cached (the
  user's cutoff rejects them) until the cache evicts them: the growth is bounded by the engine's \`cacheSize\` (100 000 entries by default, ~30 MB), which this load (~260 new entries
  a minute) would reach after ~6 hours. Not a leak in packages/koa, examples/koa or the engine.
- **Sampling noise.** V8's memory reducer now and then releases pages (old space, code and young
  generation: −30 MB RSS for one sample, on the Express node even when pinned); with a least-squares fit
  one such sample near an end of the window moved a flat node's trend by +1 to +2 MB/min, hence the
  median of pairwise slopes (Theil–Sen) for every trend.
`;
