/**
 * 10. Who is online (issue 13): `engine.presence`, WuKongIM's `POST /user/onlinestatus` and Tencent's
 * `POST /v4/openim/query_online_status`, for 1 and for 500 users, on a redis-server of the section's
 * own (so that its commands are the only ones counted). A call's Redis commands are sent together
 * (one wave, and one more for the offline users without a push token, whose user record is read):
 * the section counts those waves, for 1 user and for 500, and reports the latencies beside them.
 * Then the listings of one user holding 10,000 sessions and as many connections: the pages they
 * read, and their time.
 */
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { OwnRedis } from '../../test/support/redis-server.js';
import { type BenchOptions, type BenchResult, type BenchSection, percentile } from '../report.js';
import { commandsRun } from '../support/redis-stats.js';
import { waveCounting } from '../support/waves.js';

const USERS = 500;
/** The sessions (and connections) of the crowded user of the listings table. */
const LISTED_SESSIONS = 10_000;
const n = (x: number) => x.toLocaleString('en-US');
/** Store round trips one call may take, one after the other, whatever its number of users. */
const WAVES_TARGET = 3;

interface Measured {
  p50Ms: number;
  p99Ms: number;
  commandsPerCall: number;
  /** The most store round trips one call waited for one after the other. */
  waves: number;
}

export const section: BenchSection = {
  id: 'presence',
  title: '10. Who is online: presence of 1 and 500 users on Redis',
  async run({ quick, log }: BenchOptions): Promise<BenchResult> {
    const { createAdminApi, createEvict } = await import('@evict/core');
    const { RedisStore } = await import('@evict/redis');
    const redis = new OwnRedis(await freePort(), false);
    await redis.start();
    const probe = new Redis(redis.url);
    const client = new Redis(redis.url);
    const redisStore = new RedisStore({ client, prefix: 'evict:' });
    const counting = waveCounting(redisStore);
    const engine = createEvict({ store: counting.store, nodeId: 1 });
    try {
      await engine.ready();
      const api = createAdminApi(engine, {
        families: ['wukongim', 'tencent'],
        wukongim: { allowUnauthenticated: true },
        tencent: { sdkAppId: 1, secretKey: 'bench', admins: ['admin'], rateLimitPerSecond: 1_000_000 },
      });
      // A quarter online (1 to 3 connections), a quarter reachable by push, a quarter signed in
      // and offline, a quarter unknown.
      const uids = Array.from({ length: USERS }, (_, i) => `user${i}`);
      for (const [i, uid] of uids.entries()) {
        if (i % 4 === 0) {
          for (let c = 0; c <= i % 3; c += 1)
            await engine.registerConnection({ uid, deviceFlag: c % 2, close: () => undefined });
        } else if (i % 4 === 1) {
          await engine.setPushToken(uid, { kind: 'message', token: `push-${i}`, deviceFlag: 0 });
        } else if (i % 4 === 2) {
          await engine.issueSession({ uid, deviceFlag: 1 });
        }
      }
      const rounds = quick ? 30 : 300;
      const measure = async (call: () => Promise<unknown>): Promise<Measured> => {
        for (let i = 0; i < 5; i += 1) await call();
        const before = await commandsRun(probe);
        const times: number[] = [];
        let waves = 0;
        for (let i = 0; i < rounds; i += 1) {
          counting.reset();
          const started = performance.now();
          await call();
          times.push(performance.now() - started);
          waves = Math.max(waves, counting.waves());
        }
        const commandsPerCall = ((await commandsRun(probe)) - before) / rounds;
        return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), commandsPerCall, waves };
      };
      const body = (value: unknown) => async () => ({ kind: 'json' as const, value });
      const onlineStatus = (list: string[]) => () =>
        api.handle({
          method: 'POST',
          path: '/user/onlinestatus',
          headers: {},
          query: new URLSearchParams(),
          readBody: body(list),
        });
      const { signUserSig } = await import('@evict/core');
      const queryOnline = (list: string[]) => () =>
        api.handle({
          method: 'POST',
          path: '/v4/openim/query_online_status',
          headers: {},
          query: new URLSearchParams({
            sdkappid: '1',
            identifier: 'admin',
            usersig: signUserSig({ sdkAppId: 1, secretKey: 'bench', identifier: 'admin', expireSec: 3600 }),
            random: '1',
            contenttype: 'json',
          }),
          readBody: body({ To_Account: list, IsNeedDetail: 1 }),
        });
      const contenders: [string, (list: string[]) => () => Promise<unknown>][] = [
        ['engine.presence', (list) => () => engine.presence(list)],
        ['POST /user/onlinestatus', onlineStatus],
        ['POST /v4/openim/query_online_status (IsNeedDetail 1)', queryOnline],
      ];
      const rows: { name: string; one: Measured; all: Measured }[] = [];
      for (const [name, make] of contenders) {
        // The one user is signed in and offline without a push token: the most round trips one user takes.
        const one = await measure(make([uids[2]!]));
        const all = await measure(make(uids));
        log(
          `presence: ${name}: p99 ${one.p99Ms.toFixed(2)} ms for 1, ${all.p99Ms.toFixed(2)} ms for ${USERS}`,
        );
        rows.push({ name, one, all });
      }
      // A user holding many sessions and connections: the listings read it a bounded page at a time.
      const sessionsHeld = quick ? 2_000 : LISTED_SESSIONS;
      for (let i = 0; i < sessionsHeld; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, sessionsHeld - i) }, (_, j) =>
            engine.issueSession({
              uid: 'crowded',
              deviceFlag: (i + j) % 3,
              userAgent: 'BenchChat/1.0',
              ip: '198.51.100.7',
            }),
          ),
        );
      }
      for (let i = 0; i < sessionsHeld; i += 1)
        await engine.registerConnection({
          uid: 'crowded',
          deviceFlag: i % 3,
          close: () => undefined,
          ip: '198.51.100.7',
          port: 1_024 + (i % 60_000),
        });
      const listingRounds = quick ? 5 : 30;
      const listing = async (call: () => Promise<unknown[]>) => {
        await call();
        const before = await commandsRun(probe);
        const times: number[] = [];
        let waves = 0;
        let largestPage = 0;
        let listed = 0;
        for (let i = 0; i < listingRounds; i += 1) {
          counting.reset();
          const started = performance.now();
          listed = (await call()).length;
          times.push(performance.now() - started);
          waves = Math.max(waves, counting.waves());
          largestPage = Math.max(largestPage, counting.largestPage());
        }
        const commandsPerCall = ((await commandsRun(probe)) - before) / listingRounds;
        return {
          p50Ms: percentile(times, 50),
          p99Ms: percentile(times, 99),
          waves,
          largestPage,
          listed,
          commandsPerCall,
        };
      };
      const listings = [
        {
          name: `engine.listSessions of a user holding ${n(sessionsHeld)} sessions`,
          ...(await listing(() => engine.listSessions('crowded'))),
        },
        {
          name: `engine.listConnections of a user holding ${n(sessionsHeld)} connections`,
          ...(await listing(() => engine.listConnections('crowded'))),
        },
      ];
      for (const l of listings)
        log(`presence: ${l.name}: p99 ${l.p99Ms.toFixed(1)} ms, largest page ${l.largestPage}`);

      const ms = (x: number) => Number(x.toFixed(2));
      const mostWaves = Math.max(...rows.map((r) => r.all.waves));
      const fixed = rows.every((r) => r.all.waves === r.one.waves);
      return {
        tables: [
          {
            title: `Presence on one node, RedisStore on a redis-server of the section's own, ${rounds} calls each`,
            columns: [
              'store round trips, 1 user',
              `store round trips, ${USERS} users`,
              'p50 ms, 1 user',
              'p99 ms, 1 user',
              `p50 ms, ${USERS} users`,
              `p99 ms, ${USERS} users`,
              `p99 ratio ${USERS} : 1`,
              'Redis commands per user',
            ],
            rows: rows.map(({ name, one, all }) => ({
              name,
              figures: {
                'store round trips, 1 user': one.waves,
                [`store round trips, ${USERS} users`]: all.waves,
                'p50 ms, 1 user': ms(one.p50Ms),
                'p99 ms, 1 user': ms(one.p99Ms),
                [`p50 ms, ${USERS} users`]: ms(all.p50Ms),
                [`p99 ms, ${USERS} users`]: ms(all.p99Ms),
                [`p99 ratio ${USERS} : 1`]: Number((all.p99Ms / one.p99Ms).toFixed(1)),
                'Redis commands per user': Number((all.commandsPerCall / USERS).toFixed(2)),
              },
            })),
          },
          {
            title: `Listings of one crowded user, RedisStore, ${listingRounds} calls each`,
            columns: [
              'listed',
              'largest store page (items)',
              'store round trips',
              'Redis commands per call',
              'p50 ms',
              'p99 ms',
            ],
            rows: listings.map((l) => ({
              name: l.name,
              figures: {
                listed: l.listed,
                'largest store page (items)': l.largestPage,
                'store round trips': l.waves,
                'Redis commands per call': Math.round(l.commandsPerCall),
                'p50 ms': ms(l.p50Ms),
                'p99 ms': ms(l.p99Ms),
              },
            })),
          },
        ],
        targets: [
          {
            target: `presence of ${USERS} users in a fixed number of Redis round trips (pipelined), the same as for one user, at most ${WAVES_TARGET}`,
            measured: `at most ${mostWaves} store round trips one after the other for ${USERS} users; ${fixed ? 'the same as' : 'NOT the same as'} for one user`,
            met: fixed && mostWaves <= WAVES_TARGET,
          },
        ],
        notes: [
          `${USERS} users: a quarter online (1 to 3 connections on this node), a quarter with only a push token, a quarter signed in and offline, a quarter unknown. Each call asks for all of them, or for one signed in and offline without a push token (the kind whose presence takes the most round trips). The routes are called through createAdminApi's handler, without HTTP (the JSON in and out is counted, the sockets are not). Redis commands are counted from INFO commandstats over the calls, INFO left out; per user (the table's last column), the calls made are the user's connections counted by one script and its push tokens, one more for an offline user without a push token (its record), and the node table once per call.`,
          "Store round trips: the store is wrapped in a proxy that counts waves, a wave starting when the engine calls the store while none of its calls is under way; calls made together go out together on the client's connection (Redis pipelines them). The most waves of any call is reported. The latency of 500 users grows with the work per user (the Redis commands per user in the table, one of them a script), not with a round trip per user: the p99 ratio says how much.",
          `p99 ratio ${USERS} : 1 is the p99 for ${USERS} users over the p99 for one.`,
          `Listings: one user holding ${n(sessionsHeld)} live sessions (with a user agent and an IP each) and as many connections (with an IP and port each). listSessions lists the newest 1,000 (MAX_LISTED_SESSIONS), listConnections the 10,000 with the lowest ids (MAX_LISTED_CONNECTIONS); both read the store a page at a time (ZSCAN / HSCAN with COUNT 500, then one GET per session, sent together), so no reply holds the whole user: "largest store page" is the most items one page brought back. The round trips grow with the pages (two per page of sessions: the scan, then its GETs), and the time with the sessions read.`,
        ],
      };
    } finally {
      await engine.close();
      await redisStore.close();
      client.disconnect();
      probe.disconnect();
      await redis.remove();
    }
  },
};
