/**
 * 11. Logins under a login policy (issue 14): `engine.issueSession` on RedisStore, on a redis-server
 * of the section's own, without a policy and under `openim:1` (a login pushes out the older session
 * of its platform), in many short alternating rounds of one run, so that both see the same machine.
 * Reported per round: logins per second, and the CPU time per login of this process (the engine)
 * and of redis-server; judged: the CPU-bound rate (1 s ÷ the busier process's CPU per login), with
 * against without. Also store round trips one after the other per login, and Redis commands per login.
 */
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { OwnRedis } from '../../test/support/redis-server.js';
import {
  type BenchOptions,
  type BenchResult,
  type BenchSection,
  judgedTarget,
  median,
  medianStandardError,
} from '../report.js';
import { ownCpuUs } from '../support/cpu.js';
import { commandsRun, redisCpuUs } from '../support/redis-stats.js';
import { waveCounting } from '../support/waves.js';

/** Logins with a policy per second, at least this share of those without. */
const RATE_TARGET = 0.8;
/** Store round trips a login may take more with a policy. */
const EXTRA_ROUND_TRIPS_TARGET = 1;
const USERS = 1_000;
const IN_FLIGHT = 20;

const FULL = { pairs: 60, logins: 2_000 };
const QUICK = { pairs: 6, logins: 500 };

interface Round {
  loginsPerSecond: number;
  commandsPerLogin: number;
  /** CPU time of this process (the engine, its client and the bench's loop) per login. */
  nodeCpuUsPerLogin: number;
  /** CPU time of the redis-server per login (INFO cpu). */
  redisCpuUsPerLogin: number;
}

/** The CPU time per login of the busier process: what bounds the rate when the machine is the limit. */
const boundUs = (r: Round) => Math.max(r.nodeCpuUsPerLogin, r.redisCpuUsPerLogin);

const fixed = (x: number, digits = 2) => x.toFixed(digits);

export const section: BenchSection = {
  id: 'logins',
  title: '11. Logins under a login policy (openim:1) on Redis',
  async run({ quick, log }: BenchOptions): Promise<BenchResult> {
    const { createEvict } = await import('@evict/core');
    const { RedisStore } = await import('@evict/redis');
    const plan = quick ? QUICK : FULL;
    const redis = new OwnRedis(await freePort(), false);
    await redis.start();
    const probe = new Redis(redis.url);
    const clients: Redis[] = [];
    const engines: { close(): Promise<void> }[] = [];
    try {
      // The timed engines call the store directly; the store round trips are counted afterwards, by
      // engines of their own on a counting proxy (its calls cost CPU, and a second engine subscribed
      // during the rounds would receive every revocation too).
      const contender = async (policy: boolean, counted: boolean) => {
        const client = new Redis(redis.url);
        clients.push(client);
        const store = new RedisStore({ client, prefix: policy ? 'with:' : 'without:' });
        const counting = waveCounting(store);
        const engine = createEvict({
          store: counted ? counting.store : store,
          nodeId: 1,
          ...(policy ? { loginPolicy: 'openim:1' } : {}),
        });
        engines.push(engine, store);
        await engine.ready();
        return { engine, counting };
      };
      const without = await contender(false, false);
      const withPolicy = await contender(true, false);
      let next = 0;
      // Every user logs in on one of three platforms in turn: once warm, each login under the policy
      // pushes out the user's previous session of that platform.
      const login = (engine: typeof without.engine) => {
        const i = next++;
        return engine.issueSession({ uid: `user${i % USERS}`, deviceFlag: Math.floor(i / USERS) % 3 });
      };
      const round = async (c: typeof without, logins: number): Promise<Round> => {
        const before = await commandsRun(probe);
        const redisCpuBefore = await redisCpuUs(probe);
        const nodeCpuBefore = ownCpuUs();
        const started = performance.now();
        // IN_FLIGHT logins under way at all times: each worker starts the next as its last ends.
        let left = logins;
        const worker = async () => {
          while (left > 0) {
            left -= 1;
            await login(c.engine);
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
        const seconds = (performance.now() - started) / 1000;
        const nodeCpuUs = ownCpuUs() - nodeCpuBefore;
        const redisCpu = (await redisCpuUs(probe)) - redisCpuBefore;
        return {
          loginsPerSecond: logins / seconds,
          commandsPerLogin: ((await commandsRun(probe)) - before) / logins,
          nodeCpuUsPerLogin: nodeCpuUs / logins,
          redisCpuUsPerLogin: redisCpu / logins,
        };
      };
      // Round trips: one login at a time, the most waves any took.
      const roundTrips = async (c: typeof without) => {
        let most = 0;
        for (let i = 0; i < 50; i += 1) {
          c.counting.reset();
          await login(c.engine);
          most = Math.max(most, c.counting.waves());
        }
        return most;
      };
      // Warm: every user holds a session on each platform under both, and both paths are compiled.
      for (const c of [without, withPolicy]) await round(c, 3 * USERS);
      for (const c of [without, withPolicy]) await round(c, plan.logins);
      const measured = { without: [] as Round[], with: [] as Round[] };
      for (let r = 0; r < plan.pairs; r += 1) {
        // Alternating, and in turn first: neither always runs on the warmer machine.
        const order = r % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
        for (const which of order)
          measured[which].push(await round(which === 'with' ? withPolicy : without, plan.logins));
      }
      for (const engine of engines.splice(0)) await engine.close();
      const tripsWithout = await roundTrips(await contender(false, true));
      const tripsWith = await roundTrips(await contender(true, true));

      // Each pair's ratios, with ÷ without: the CPU-bound rate (judged) and the wall-clock rate.
      const pairs = measured.with.map((w, i) => ({ w, o: measured.without[i]! }));
      const cpuRatios = pairs.map(({ w, o }) => boundUs(o) / boundUs(w));
      const rateRatios = pairs.map(({ w, o }) => w.loginsPerSecond / o.loginsPerSecond);
      const cpuRatio = median(cpuRatios);
      const cpuNoise = 2 * medianStandardError(cpuRatios);
      const rateRatio = median(rateRatios);
      const rateNoise = 2 * medianStandardError(rateRatios);
      const busier = (rs: Round[]) =>
        median(rs.map((r) => r.nodeCpuUsPerLogin)) >= median(rs.map((r) => r.redisCpuUsPerLogin))
          ? 'this process (the engine)'
          : 'redis-server';
      const span = (values: number[]) => `${fixed(Math.min(...values))} to ${fixed(Math.max(...values))}`;
      log(
        `logins: CPU-bound ${fixed(cpuRatio)} × ± ${fixed(cpuNoise)} (pairs ${span(cpuRatios)}); logins/s ${fixed(rateRatio)} × ± ${fixed(rateNoise)}`,
      );
      const perRound = (rs: Round[], f: (r: Round) => number) => rs.map((r) => Math.round(f(r))).join(', ');
      const row = (name: string, rs: Round[], trips: number) => ({
        name,
        figures: {
          'CPU-bound logins/s (median)': Math.round(1e6 / median(rs.map(boundUs))),
          'node CPU µs per login (median)': Math.round(median(rs.map((r) => r.nodeCpuUsPerLogin))),
          'node CPU µs per login per round': perRound(rs, (r) => r.nodeCpuUsPerLogin),
          'Redis CPU µs per login (median)': Math.round(median(rs.map((r) => r.redisCpuUsPerLogin))),
          'Redis CPU µs per login per round': perRound(rs, (r) => r.redisCpuUsPerLogin),
          'logins/s (median)': Math.round(median(rs.map((r) => r.loginsPerSecond))),
          'logins/s per round': perRound(rs, (r) => r.loginsPerSecond),
          'store round trips per login (most)': trips,
          'Redis commands per login': Number(median(rs.map((r) => r.commandsPerLogin)).toFixed(2)),
        },
      });
      const rows = [
        row('no login policy', measured.without, tripsWithout),
        row('openim:1', measured.with, tripsWith),
      ];
      return {
        tables: [
          {
            title: `issueSession on RedisStore, ${plan.pairs} alternating pairs of rounds of ${plan.logins} logins, ${IN_FLIGHT} in flight, ${USERS} users on 3 platforms`,
            columns: Object.keys(rows[0]!.figures),
            rows,
          },
          {
            title: 'Each pair of rounds, with the policy ÷ without',
            columns: ['median', '2 × standard error of the median', 'lowest', 'highest', 'per pair'],
            rows: [
              ['CPU-bound logins/s (judged)', cpuRatios, cpuNoise] as const,
              ['logins/s (wall clock)', rateRatios, rateNoise] as const,
            ].map(([name, ratios, noise]) => ({
              name,
              figures: {
                median: Number(fixed(median(ratios))),
                '2 × standard error of the median': Number(fixed(noise)),
                lowest: Number(fixed(Math.min(...ratios))),
                highest: Number(fixed(Math.max(...ratios))),
                'per pair': ratios.map((x) => fixed(x)).join(', '),
              },
            })),
          },
        ],
        targets: [
          judgedTarget({
            target: `logins per second with a login policy on Redis at least ${RATE_TARGET} × without (on this machine logins are CPU-bound: judged on the CPU-bound rate, 1 s ÷ the CPU per login of the busier process, with ÷ without)`,
            measured: `${fixed(cpuRatio)} × CPU-bound (median of ${plan.pairs} paired rounds, ± ${fixed(cpuNoise)}; the busier process: ${busier(measured.without)} without, ${busier(measured.with)} with); wall-clock logins/s ${fixed(rateRatio)} × (± ${fixed(rateNoise)})`,
            value: cpuRatio,
            bound: RATE_TARGET,
            noise: cpuNoise,
            want: 'at least',
            noiseText: `twice the standard error of the median of the paired CPU-bound ratios is ${fixed(cpuNoise)}`,
          }),
          {
            target: `at most ${EXTRA_ROUND_TRIPS_TARGET} Redis round trip more per login with a policy`,
            measured: `${tripsWith} against ${tripsWithout} store round trips one after the other`,
            met: tripsWith - tripsWithout <= EXTRA_ROUND_TRIPS_TARGET,
          },
        ],
        notes: [
          `A login without a policy reads the user's record (for a cutoff in the same millisecond), runs the user's side of putSession (one script) and writes the session. Under openim:1 the script is admitSession's, which decides on the user's admission list in the same step and, on one Redis, publishes the revocation of the session it pushes out (after the warm-up, each login pushes one out): no round trip more, but a heavier script (Redis commands per login include those a script runs) and a message every node, this one included, receives. Store round trips are counted by a proxy on the store (a wave starts when the engine calls the store while none of its calls is under way), over 50 logins one at a time; Redis commands from INFO commandstats.`,
          `Method: after a warm-up (every user holds a session on each platform under both, then one round each unmeasured), ${plan.pairs} pairs of rounds of ${plan.logins} logins, ${IN_FLIGHT} under way at all times, the order within a pair alternating. Per round: this process's CPU time (process.cpuUsage: the engine, its Redis client and subscriber, the bench's loop; the store is called directly, the round trips being counted afterwards by engines of their own) and redis-server's (INFO cpu, used_cpu_user + used_cpu_sys), each divided by the round's logins, and the round's logins per second by the wall clock. The two processes share 2 cores with whatever else runs on the machine, so a round's wall-clock rate moves with the machine's other load (other processes take the cores away mid-round), while the CPU time a login costs moves far less: the figure judged is the rate the machine allows when it is the limit, 1 s ÷ the CPU per login of the busier of the two processes (each can use at most one core: the engine's event loop and Redis's are single threads), with the policy ÷ without, taken pair by pair. The wall-clock ratio is reported beside it, not judged.`,
          "Verdict (the runner's one rule, bench/report.ts judge): met when the median paired ratio clears the bound by at least its noise, not met when it misses by more than that, inconclusive otherwise; the noise is twice the standard error of the median of the paired ratios (1.2533 × their standard deviation ÷ √pairs, as sections 8 and 13 use).",
        ],
      };
    } finally {
      for (const engine of engines.reverse()) await engine.close().catch(() => undefined);
      for (const client of clients) client.disconnect();
      probe.disconnect();
      await redis.remove();
    }
  },
};
