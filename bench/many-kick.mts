/**
 * Section 13's first part on its own, kick by kick: one user's sockets over 3 Express demo nodes on
 * the Redis at REDIS_URL, kicked through node A, the kicks alternating between clients that hold
 * their close answers and clients that answer at once (bench/support/scale-kicks.ts). For looking
 * into one kick at a time; the verdict is section 13's (`tsx bench/run.ts --only scale`).
 *
 *   npx tsx bench/many-kick.mts [connections=1000] [kicks=10]
 *
 * BENCH_SERVER_NODE_OPTIONS reaches the nodes (e.g. `--cpu-prof --cpu-prof-dir=prof`).
 */
import { loadavg } from 'node:os';
import { kickOn, loginOn } from './sections/scale.js';
import { type BenchNode, benchPrefix, deleteRedisKeys, startExpressNode } from './support/demo-cluster.js';
import { kicksOfManyConnections, type ManyKick } from './support/scale-kicks.js';

const connections = Number(process.argv[2] ?? 1_000);
const kicks = Number(process.argv[3] ?? 10);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = benchPrefix('many');
const env = { redisUrl, prefix, extraEnv: { EVICT_STORE_TIMEOUT_MS: '15000' } };
const calls = { kick: kickOn, login: loginOn, giveUpMs: 30_000, log: () => undefined };

const nodes: BenchNode[] = [];
try {
  for (let id = 1; id <= 3; id += 1) nodes.push(await startExpressNode(id, env));
  const plan = { connections, manyKicks: kicks, manyWarmup: 4, atOnceEvery: 2, openInFlight: 200 };
  const { samples, failures } = await kicksOfManyConnections(nodes, plan, calls);
  const ms = (x: number) => x.toFixed(0).padStart(5);
  console.log(
    'answers | last frame | by node A, 2, 3 | nodes closed A, 2, 3 |  A answered | TCP end | CPU ms: A, 2, 3, clients',
  );
  for (const s of samples)
    console.log(
      `${s.answersHeld ? 'held   ' : 'at once'} | ${ms(s.lastFrameFromSendMs)}      | ${s.lastFrameByNodeMs.map(ms).join('')} | ${s.nodeClosedByNodeMs.map(ms).join('')}      | ${ms(s.answerMs)}       | ${ms(s.lastClosedFromSendMs)}   | ${s.nodeCpuMs.map(ms).join('')}${ms(s.clientCpuMs)}`,
    );
  const summary = (held: boolean) => {
    const last = samples
      .filter((s: ManyKick) => s.answersHeld === held)
      .map((s) => s.lastFrameFromSendMs)
      .sort((a, b) => a - b);
    return `${held ? 'held' : 'at once'}: median ${last[Math.floor(last.length / 2)]?.toFixed(1)} ms, max ${last.at(-1)?.toFixed(1)} ms`;
  };
  console.log(`${summary(true)}; ${summary(false)}; load ${loadavg()[0]!.toFixed(2)}`);
  if (failures.length > 0) console.log('failures:', failures);
} finally {
  await Promise.all(nodes.map((node) => node.stop()));
  await deleteRedisKeys(redisUrl, prefix);
}
