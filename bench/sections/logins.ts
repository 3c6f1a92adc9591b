/**
 * 11. Logins under a login policy (issue 14): `engine.issueSession` on RedisStore, on a redis-server
 * of the section's own, without a policy and under `openim:1` (a login pushes out the older session
 * of its platform), in alternating rounds of one run, so that both see the same machine. Reported:
 * logins per second (ratio with to without), store round trips one after the other per login, and
 * Redis commands per login.
 */
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { OwnRedis } from '../../test/support/redis-server.js';
import { type BenchOptions, type BenchResult, type BenchSection, judgedTarget, median } from '../report.js';
import { ownCpuUs, processCpuMs } from '../support/cpu.js';
import { commandsRun } from '../support/redis-stats.js';
import { waveCounting } from '../support/waves.js';

/** Logins with a policy per second, at least this share of those without. */
const RATE_TARGET = 0.8;
/** Store round trips a login may take more with a policy. */
const EXTRA_ROUND_TRIPS_TARGET = 1;
const USERS = 1_000;
const IN_FLIGHT = 20;

interface Round {
  loginsPerSecond: number;
  commandsPerLogin: number;
  /** CPU time of this process (the engine, its client and the bench's loop) per login. */
  nodeCpuUsPerLogin: number;
  /** CPU time of the redis-server per login (NaN where /proc is not there). */
  redisCpuUsPerLogin: number;
}

export const section: BenchSection = {
  id: 'logins',
  title: '11. Logins under a login policy (openim:1) on Redis',
  async run({ quick, log }: BenchOptions): Promise<BenchResult> {
    const { createEvict } = await import('@evict/core');
    const { RedisStore } = await import('@evict/redis');
    const redis = new OwnRedis(await freePort(), false);
    await redis.start();
    const probe = new Redis(redis.url);
    const redisCpuMs = () => (redis.pid === undefined ? Number.NaN : (processCpuMs(redis.pid) ?? Number.NaN));
    const clients: Redis[] = [];
    const engines: { close(): Promise<void> }[] = [];
    try {
      const contender = async (policy: boolean) => {
        const client = new Redis(redis.url);
        clients.push(client);
        const counting = waveCounting(new RedisStore({ client, prefix: policy ? 'with:' : 'without:' }));
        const engine = createEvict({
          store: counting.store,
          nodeId: 1,
          ...(policy ? { loginPolicy: 'openim:1' } : {}),
        });
        engines.push(engine, counting.store);
        await engine.ready();
        return { engine, counting };
      };
      const without = await contender(false);
      const withPolicy = await contender(true);
      let next = 0;
      // Every user logs in on one of three platforms in turn: once warm, each login under the policy
      // pushes out the user's previous session of that platform.
      const login = (engine: typeof without.engine) => {
        const i = next++;
        return engine.issueSession({ uid: `user${i % USERS}`, deviceFlag: Math.floor(i / USERS) % 3 });
      };
      const round = async (c: typeof without, logins: number): Promise<Round> => {
        const before = await commandsRun(probe);
        const redisCpuBefore = redisCpuMs();
        const nodeCpuBefore = ownCpuUs();
        const started = performance.now();
        for (let done = 0; done < logins; done += IN_FLIGHT)
          await Promise.all(
            Array.from({ length: Math.min(IN_FLIGHT, logins - done) }, () => login(c.engine)),
          );
        const seconds = (performance.now() - started) / 1000;
        const nodeCpuUs = ownCpuUs() - nodeCpuBefore;
        const redisCpuUs = (redisCpuMs() - redisCpuBefore) * 1000;
        return {
          loginsPerSecond: logins / seconds,
          commandsPerLogin: ((await commandsRun(probe)) - before) / logins,
          nodeCpuUsPerLogin: nodeCpuUs / logins,
          redisCpuUsPerLogin: redisCpuUs / logins,
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
      const logins = quick ? 1_000 : 5_000;
      const rounds = quick ? 3 : 7;
      // Warm: every user holds a session on each platform under both.
      for (const c of [without, withPolicy]) await round(c, 3 * USERS);
      const measured = { without: [] as Round[], with: [] as Round[] };
      for (let r = 0; r < rounds; r += 1) {
        // Alternating, and in turn first: neither always runs on the warmer machine.
        const order = r % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
        for (const which of order)
          measured[which].push(await round(which === 'with' ? withPolicy : without, logins));
      }
      const tripsWithout = await roundTrips(without);
      const tripsWith = await roundTrips(withPolicy);
      const rate = (rs: Round[]) => median(rs.map((r) => r.loginsPerSecond));
      const ratios = measured.with.map((w, i) => w.loginsPerSecond / measured.without[i]!.loginsPerSecond);
      const ratio = median(ratios);
      const [low, high] = [Math.min(...ratios), Math.max(...ratios)];
      log(
        `logins: ${Math.round(rate(measured.without))}/s without, ${Math.round(rate(measured.with))}/s with openim:1 (${ratio.toFixed(2)} ×)`,
      );
      const row = (name: string, rs: Round[], trips: number) => ({
        name,
        figures: {
          'logins/s (median)': Math.round(rate(rs)),
          'logins/s per round': rs.map((r) => Math.round(r.loginsPerSecond)).join(', '),
          'store round trips per login (most)': trips,
          'Redis commands per login': Number(median(rs.map((r) => r.commandsPerLogin)).toFixed(2)),
          'node CPU µs per login (median)': Math.round(median(rs.map((r) => r.nodeCpuUsPerLogin))),
          'Redis CPU µs per login (median)': Math.round(median(rs.map((r) => r.redisCpuUsPerLogin))),
        },
      });
      return {
        tables: [
          {
            title: `issueSession on RedisStore, ${rounds} alternating rounds of ${logins} logins, ${IN_FLIGHT} in flight, ${USERS} users on 3 platforms`,
            columns: [
              'logins/s (median)',
              'logins/s per round',
              'store round trips per login (most)',
              'Redis commands per login',
              'node CPU µs per login (median)',
              'Redis CPU µs per login (median)',
            ],
            rows: [
              row('no login policy', measured.without, tripsWithout),
              row('openim:1', measured.with, tripsWith),
            ],
          },
        ],
        targets: [
          judgedTarget({
            target: `logins per second with a login policy on Redis at least ${RATE_TARGET} × without`,
            measured: `${ratio.toFixed(2)} × (median of ${rounds} paired rounds; ${low.toFixed(2)} to ${high.toFixed(2)})`,
            value: ratio,
            bound: RATE_TARGET,
            noise: high - low,
            want: 'at least',
            noiseText: `the paired rounds' ratios run from ${low.toFixed(2)} to ${high.toFixed(2)}`,
          }),
          {
            target: `at most ${EXTRA_ROUND_TRIPS_TARGET} Redis round trip more per login with a policy`,
            measured: `${tripsWith} against ${tripsWithout} store round trips one after the other`,
            met: tripsWith - tripsWithout <= EXTRA_ROUND_TRIPS_TARGET,
          },
        ],
        notes: [
          `A login without a policy reads the user's record (for a cutoff in the same millisecond), runs the user's side of putSession (one script) and writes the session. Under openim:1 the script is admitSession's, which decides on the user's admission list in the same step and, on one Redis, publishes the revocation of the session it pushes out (after the warm-up, each login pushes one out): no round trip more, but a heavier script (Redis commands per login include those a script runs) and a message every node, this one included, receives. Store round trips are counted by a proxy on the store (a wave starts when the engine calls the store while none of its calls is under way), over 50 logins one at a time; Redis commands from INFO commandstats.`,
          "Verdict (the runner's one rule, bench/report.ts judge): met when the median ratio clears the bound by at least the paired rounds' range (highest ratio − lowest), not met when it misses by more than that, inconclusive otherwise.",
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
