/**
 * 7. Cost of a kick as the user's sessions and connections grow (1, 100, 10 thousand), memory store
 * and Redis. Sessions are revoked by a cutoff (one write whatever their number); connections are
 * closed one by one by design.
 */
import { createHash } from 'node:crypto';
import { createEvict, type EvictStore, MemoryStore } from '@evict/core';
import { RedisStore } from '@evict/redis';
import { Redis } from 'ioredis';
import { type BenchOptions, type BenchResult, type BenchSection, median } from '../report.js';

const DAY_MS = 86_400_000;
const COUNTS = [1, 100, 10_000];

async function timeKicks(
  store: EvictStore,
  what: 'sessions' | 'connections',
  count: number,
  kicks: number,
  tag: string,
): Promise<number> {
  const engine = createEvict({ store, nodeId: 1, storeTimeoutMs: 60_000 });
  const uid = `kick-${tag}-${what}-${count}`;
  const now = Date.now();
  const times: number[] = [];
  try {
    if (what === 'sessions') {
      for (let start = 0; start < count; start += 1000) {
        const batch = [];
        for (let i = start; i < Math.min(count, start + 1000); i += 1) {
          batch.push(
            engine.registerSession({
              token: createHash('sha256').update(`${uid}-${i}`).digest('base64url'),
              uid,
              deviceFlag: 1,
              expiresAtMs: now + DAY_MS,
            }),
          );
        }
        await Promise.all(batch);
      }
    }
    for (let k = 0; k < kicks; k += 1) {
      if (what === 'connections') {
        // Re-registered before each kick (untimed): the kick closes them all.
        const batch = [];
        for (let i = 0; i < count; i += 1)
          batch.push(engine.registerConnection({ uid, deviceFlag: 1, close: () => {} }));
        await Promise.all(batch);
      }
      const start = process.hrtime.bigint();
      const result = await engine.kickUser(uid);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (what === 'connections' && result.connectionsClosed !== count)
        throw new Error(`kick closed ${result.connectionsClosed} of ${count} connections`);
    }
  } finally {
    await engine.close();
  }
  return median(times);
}

export const section: BenchSection = {
  id: 'kick-cost',
  title: '7. Cost of a kick as sessions and connections grow',
  async run(options: BenchOptions): Promise<BenchResult> {
    const kicksFor = (count: number) =>
      count >= 10_000 ? (options.quick ? 3 : 9) : options.quick ? 50 : 300;
    const client = new Redis(options.redisUrl);
    const prefix = `evictbench:kick:${process.pid}:`;
    const rows = [];
    const figures: Record<string, Record<string, Record<number, number>>> = {};
    try {
      const redisStore = new RedisStore({ client, prefix });
      await redisStore.ready();
      for (const [storeName, store] of [
        ['memory', new MemoryStore()],
        ['redis', redisStore],
      ] as const) {
        for (const what of ['sessions', 'connections'] as const) {
          const row: Record<string, number> = {};
          const counts = what === 'connections' && options.quick ? [1, 100, 1_000] : COUNTS;
          for (const count of counts) {
            const ms = await timeKicks(store, what, count, kicksFor(count), storeName);
            row[count.toLocaleString('en-US')] = Number(ms.toFixed(3));
            figures[storeName] ??= {};
            figures[storeName][what] ??= {};
            figures[storeName][what][count] = ms;
            options.log(`kick-cost: ${storeName} ${what} ${count}: ${ms.toFixed(3)} ms`);
          }
          rows.push({ name: `${storeName} store, ${what}`, figures: row });
        }
        await store.close();
      }
    } finally {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.unlink(...keys);
      } while (cursor !== '0');
      client.disconnect();
    }
    const ratio = (s: string) => figures[s]!.sessions![10_000]! / figures[s]!.sessions![1]!;
    return {
      tables: [
        {
          title: 'Median milliseconds per engine.kickUser, by how many sessions or connections the user has',
          columns: [...COUNTS, 1_000].sort((a, b) => a - b).map((c) => c.toLocaleString('en-US')),
          rows,
        },
      ],
      targets: ['memory', 'redis'].map((s) => ({
        target: `a kick of a user with 10 thousand sessions costs ≤ 2 × a kick of a user with one (${s} store)`,
        measured: `${figures[s]!.sessions![10_000]!.toFixed(3)} ms vs ${figures[s]!.sessions![1]!.toFixed(3)} ms: ${ratio(s).toFixed(2)} ×`,
        met: ratio(s) <= 2,
      })),
      notes: [
        "Sessions: the user's sessions are registered once (engine.registerSession), then the same user is kicked again and again; each kick raises the user's cutoff (one store write and one cluster message) and never lists the sessions, so its cost does not depend on their number.",
        "Connections are closed one by one by design (each live socket must be told): before each kick the user's connections are registered on the engine with a no-op close (untimed), and the kick lists them, calls each close and deletes each record, so its cost grows with their number. This is reported, not held to the target.",
        `Medians over ${options.quick ? '50 kicks (3 for 10 thousand)' : '300 kicks (9 for 10 thousand)'}. The Redis store runs against the shared instance at REDIS_URL under its own key prefix, deleted afterwards.`,
      ],
    };
  },
};
