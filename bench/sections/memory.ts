/**
 * 6. Memory: bytes per live session and per kick record, in the memory store (heap, measured in a
 * child process with --expose-gc) and in Redis (MEMORY USAGE of a sample of the keys written).
 */
import { createHash } from 'node:crypto';
import { RedisStore } from '@evict/redis';
import { Redis } from 'ioredis';
import { childLog, childMode, gc, runChild } from '../engine-child.js';
import type { BenchOptions, BenchResult, BenchSection } from '../report.js';

const DAY_MS = 86_400_000;

interface HeapInput {
  sessions: number;
  kicks: number;
}

interface HeapFigures {
  bytesPerSession: number;
  bytesPerKick: number;
}

const tokenHash = (i: number) => createHash('sha256').update(`token-${i}`).digest('base64url');

/** The record the engine writes for a session (registerSession): 43-character token hash, one user each. */
function sessionRecord(i: number, now: number) {
  return {
    tokenHash: tokenHash(i),
    uid: `user${i}`,
    deviceFlag: 1,
    issuedAtMs: now,
    expiresAtMs: now + 30 * DAY_MS,
    retainUntilMs: now + 31 * DAY_MS,
  };
}

async function heapPerRecord(input: HeapInput): Promise<HeapFigures> {
  const { MemoryStore } = (await import(
    new URL('../../packages/core/dist/esm/index.js', import.meta.url).href
  )) as typeof import('@evict/core');
  const now = Date.now();
  // Sessions: the records are built before the baseline, so that only what the store keeps counts.
  let records = Array.from({ length: input.sessions }, (_, i) => sessionRecord(i, now));
  let store = new MemoryStore();
  gc();
  let before = process.memoryUsage().heapUsed;
  for (const record of records) void store.putSession(record);
  records = [];
  gc();
  const bytesPerSession = (process.memoryUsage().heapUsed - before) / input.sessions;
  childLog(`memory: ${Math.round(bytesPerSession)} bytes of heap per session (memory store)`);
  await store.close();
  store = new MemoryStore();
  const uids = Array.from({ length: input.kicks }, (_, i) => `kicked${i}`);
  gc();
  before = process.memoryUsage().heapUsed;
  for (const uid of uids)
    void store.raiseCutoff(uid, null, { atMs: now, reason: 'kicked' }, now + 180 * DAY_MS);
  gc();
  const bytesPerKick = (process.memoryUsage().heapUsed - before) / input.kicks;
  childLog(`memory: ${Math.round(bytesPerKick)} bytes of heap per kick record (memory store)`);
  await store.close();
  return { bytesPerSession, bytesPerKick };
}

childMode('memory', heapPerRecord);

async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

async function memoryUsage(client: Redis, keys: string[]): Promise<number> {
  let total = 0;
  for (const key of keys) total += Number((await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  return total;
}

async function redisPerRecord(
  options: BenchOptions,
  sessions: number,
): Promise<{ perSession: number; perSessionAdded: number; perKick: number; sample: number }> {
  const client = new Redis(options.redisUrl, { lazyConnect: false });
  const prefix = `evictbench:mem:${process.pid}:`;
  const store = new RedisStore({ client, prefix });
  try {
    await store.ready();
    const now = Date.now();
    for (let start = 0; start < sessions; start += 1000) {
      const batch = [];
      for (let i = start; i < Math.min(sessions, start + 1000); i += 1)
        batch.push(store.putSession(sessionRecord(i, now)));
      await Promise.all(batch);
    }
    // A second session for a sample of users: what one more session of a user costs.
    const sample = Math.min(200, sessions);
    const keysOf = (i: number) => {
      const base = `${prefix}{u:user${i}}`;
      return [`${prefix}{s:${tokenHash(i)}}`, `${base}:user`, `${base}:sessions`];
    };
    let total = 0;
    for (let i = 0; i < sample; i += 1) total += await memoryUsage(client, keysOf(i));
    const perSession = total / sample;
    let added = 0;
    for (let i = 0; i < sample; i += 1) {
      const before = await memoryUsage(client, keysOf(i));
      const extra = { ...sessionRecord(sessions + i, now), uid: `user${i}` };
      await store.putSession(extra);
      added += (await memoryUsage(client, [...keysOf(i), `${prefix}{s:${extra.tokenHash}}`])) - before;
    }
    let kick = 0;
    for (let i = 0; i < sample; i += 1) {
      await store.raiseCutoff(`kicked${i}`, null, { atMs: now, reason: 'kicked' }, now + 180 * DAY_MS);
      kick += await memoryUsage(client, [`${prefix}{u:kicked${i}}:user`]);
    }
    return { perSession, perSessionAdded: added / sample, perKick: kick / sample, sample };
  } finally {
    await deletePrefix(client, prefix).catch(() => undefined);
    await store.close();
    client.disconnect();
  }
}

export const section: BenchSection = {
  id: 'memory',
  title: '6. Memory per session and per kick',
  async run(options: BenchOptions): Promise<BenchResult> {
    const sessions = options.quick ? 100_000 : 1_000_000;
    const heap = await runChild<HeapFigures>({
      file: import.meta.url,
      name: 'memory',
      input: { sessions, kicks: sessions } satisfies HeapInput,
      heapMb: 4096,
      log: options.log,
    });
    const redisSessions = options.quick ? 2_000 : 20_000;
    const redis = await redisPerRecord(options, redisSessions);
    options.log(`memory: Redis ${Math.round(redis.perSession)} bytes per session`);
    const r = Math.round;
    return {
      tables: [
        {
          title: 'Bytes per record',
          columns: ['bytes per live session', 'bytes per extra session of a user', 'bytes per kick record'],
          rows: [
            {
              name: `memory store (V8 heap, ${sessions.toLocaleString('en-US')} records)`,
              figures: {
                'bytes per live session': r(heap.bytesPerSession),
                'bytes per extra session of a user': '—',
                'bytes per kick record': r(heap.bytesPerKick),
              },
            },
            {
              name: `Redis (MEMORY USAGE, ${redis.sample} sampled of ${redisSessions.toLocaleString('en-US')})`,
              figures: {
                'bytes per live session': r(redis.perSession),
                'bytes per extra session of a user': r(redis.perSessionAdded),
                'bytes per kick record': r(redis.perKick),
              },
            },
          ],
        },
      ],
      targets: [
        {
          target: '≤ 400 bytes of heap per live session in the memory store',
          measured: `${r(heap.bytesPerSession)} bytes`,
          met: heap.bytesPerSession <= 400,
          ...(heap.bytesPerSession > 400
            ? {
                note: "Each session of a new user costs its record (a class instance with seven fields), three Map entries (token hash to session, uid to the user's one token hash, uid to user), a user entry with fixed fields and its one device, and HeapNumber boxes for the millisecond timestamps; collections (a Set of hashes, device cutoffs, connections, push tokens) are created only when needed. More than 400 means a per-session copy or an eagerly created collection came back.",
              }
            : {}),
        },
        {
          target: '≤ 250 bytes per session in Redis',
          measured: `${r(redis.perSession)} bytes (a user with one session), ${r(redis.perSessionAdded)} bytes for each further session of a user`,
          met: redis.perSession <= 250,
          ...(redis.perSession > 250
            ? {
                note: "A session is three keys: its own string (`<deviceFlag> <issuedAtMs> <expiresAtMs> <retainUntilMs> - <uid>`, see packages/redis/src/keys.ts), the user's hash (expiry and device record) and the user's session index (a sorted set of token hashes). Each key costs its name (with this run's prefix, the hash tag and, for the session, the 43-character token hash), Redis's dict entry and the object header before any content.",
              }
            : {}),
        },
      ],
      notes: [
        `Memory store: a child process with --expose-gc; heap used after two full collections, before and after ${sessions.toLocaleString('en-US')} store.putSession calls with the record the engine writes (43-character token hash, one user each, records built before the baseline so only what the store keeps counts), divided by the count; the same for store.raiseCutoff on as many users with nothing else on file (a kick record). ${options.quick ? 'Quick mode: 100 thousand records; the full run does one million.' : ''}`,
        `Redis: ${redisSessions.toLocaleString('en-US')} sessions written through RedisStore.putSession (one user each), then MEMORY USAGE (SAMPLES 0) of the session key, the user hash and the user's sessions sorted set for ${redis.sample} of them, summed per session. Not one million: MEMORY USAGE of a sample needs no more, and per-key figures do not depend on how many other keys there are; the Redis instance is shared with other benchmarks, so INFO used_memory deltas would be noisy. Expiry entries (the expires dict) are not in MEMORY USAGE and not counted here.`,
      ],
    };
  },
};
