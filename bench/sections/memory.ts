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

/** MEMORY USAGE (SAMPLES 0: every element counted) of a key; 0 when it does not exist. */
async function memoryUsage(client: Redis, key: string): Promise<number> {
  return Number((await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

/** What one kind of key of a session costs, over the sample. */
interface KeyFigures {
  name: string;
  /** Mean MEMORY USAGE over the sample, counting a missing key as 0. */
  bytes: number;
  /** How many of the sampled users had one. */
  present: number;
  /** Redis's encodings seen (OBJECT ENCODING), and the key names' mean length. */
  encodings: string[];
  keyLength: number;
  /** How many of the present keys had a TTL (each one an entry of Redis's expires dict, not in MEMORY USAGE). */
  withTtl: number;
}

interface RedisFigures {
  perSession: number;
  perSessionAdded: number;
  perKick: number;
  sample: number;
  keys: KeyFigures[];
  prefix: string;
}

async function redisPerRecord(options: BenchOptions, sessions: number): Promise<RedisFigures> {
  const client = new Redis(options.redisUrl, { lazyConnect: false });
  // The default prefix, as users run it: the run's own uids and tokens keep it apart from other
  // data on the same Redis. Uids as long as `user<i>`: a one-letter mark and three of the run's.
  const store = new RedisStore({ client });
  const prefix = store.prefix;
  const run = (process.pid % 46_656).toString(36).padStart(3, '0');
  const uid = (i: number) => `u${run}${i}`;
  const token = (i: number) => tokenHash(Number.parseInt(run, 36) * 10_000_000 + i);
  const written: string[] = [];
  try {
    await store.ready();
    const now = Date.now();
    const record = (i: number) => ({ ...sessionRecord(i, now), tokenHash: token(i), uid: uid(i) });
    for (let start = 0; start < sessions; start += 1000) {
      const batch = [];
      for (let i = start; i < Math.min(sessions, start + 1000); i += 1)
        batch.push(store.putSession(record(i)));
      await Promise.all(batch);
    }
    // The keys a session of a user can have (packages/redis/src/keys.ts): its string, its user's
    // hash, and the user's sorted set of sessions (which a first session may not need).
    const kinds = [
      // A session's key holds the first 20 characters of its token hash.
      { name: 'session string', key: (i: number, hash = token(i)) => `${prefix}{s:${hash.slice(0, 20)}}` },
      { name: 'user hash', key: (i: number) => `${prefix}{u:${uid(i)}}:user` },
      { name: 'sessions sorted set', key: (i: number) => `${prefix}{u:${uid(i)}}:sessions` },
    ];
    const keysOf = (i: number) => kinds.map((k) => k.key(i));
    for (let i = 0; i < sessions; i += 1) written.push(...keysOf(i), `${prefix}{u:${uid(i)}}:push`);
    const sample = Math.min(200, sessions);
    const keys: KeyFigures[] = [];
    for (const kind of kinds) {
      let bytes = 0;
      let present = 0;
      let keyLength = 0;
      let withTtl = 0;
      const encodings = new Set<string>();
      for (let i = 0; i < sample; i += 1) {
        const key = kind.key(i);
        const used = await memoryUsage(client, key);
        bytes += used;
        if (used === 0) continue;
        present += 1;
        keyLength += Buffer.byteLength(key);
        encodings.add(String(await client.call('OBJECT', 'ENCODING', key)));
        if ((await client.pttl(key)) > 0) withTtl += 1;
      }
      keys.push({
        name: kind.name,
        bytes: bytes / sample,
        present,
        encodings: [...encodings],
        keyLength: present === 0 ? 0 : keyLength / present,
        withTtl,
      });
    }
    const perSession = keys.reduce((sum, k) => sum + k.bytes, 0);
    // A second session for the sampled users: what one more session of a user costs.
    let added = 0;
    for (let i = 0; i < sample; i += 1) {
      const before = (await Promise.all(keysOf(i).map((key) => memoryUsage(client, key)))).reduce(
        (a, b) => a + b,
      );
      const extra = { ...record(sessions + i), uid: uid(i) };
      await store.putSession(extra);
      const extraKey = kinds[0]!.key(i, extra.tokenHash);
      written.push(extraKey);
      const after = await Promise.all([...keysOf(i), extraKey].map((key) => memoryUsage(client, key)));
      added += after.reduce((a, b) => a + b) - before;
    }
    let kick = 0;
    for (let i = 0; i < sample; i += 1) {
      const kicked = `kick${run}${i}`;
      await store.raiseCutoff(kicked, null, { atMs: now, reason: 'kicked' }, now + 180 * DAY_MS);
      const key = `${prefix}{u:${kicked}}:user`;
      written.push(key, `${prefix}{u:${kicked}}:sessions`, `${prefix}{u:${kicked}}:push`);
      kick += await memoryUsage(client, key);
    }
    return { perSession, perSessionAdded: added / sample, perKick: kick / sample, sample, keys, prefix };
  } finally {
    // Only the keys this run wrote: the prefix is the default, which other data may share.
    for (let i = 0; i < written.length; i += 1000)
      await client.unlink(...written.slice(i, i + 1000)).catch(() => undefined);
    await store.close();
    client.disconnect();
  }
}

/** Redis's target: bytes per session for a user's first session, with the default prefix. */
const REDIS_TARGET = 300;

/** Why the Redis figure is what it is, from what this run measured. */
function redisNote(redis: RedisFigures): string {
  const r = Math.round;
  const present = redis.keys.filter((k) => k.present > 0);
  const each = present
    .map(
      (k) =>
        `the ${k.name} (${r(k.bytes)} bytes; ${k.encodings.join('/')}; a ${r(k.keyLength)}-byte name; on ${k.present} of ${redis.sample} users)`,
    )
    .join(', ');
  const missing = redis.keys.filter((k) => k.present === 0).map((k) => k.name);
  return `A user's first session measured ${r(redis.perSession)} bytes in ${present.length} keys: ${each}${missing.length > 0 ? `; no ${missing.join(', ')}` : ''}. What each key holds: packages/redis/src/keys.ts; what the layout cannot go below: docs/stores.md (Redis memory).`;
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
          target: `≤ ${REDIS_TARGET} bytes in Redis for a user's first session (default prefix \`${redis.prefix}\`)`,
          measured: `${r(redis.perSession)} bytes (${redis.keys
            .filter((k) => k.present > 0)
            .map((k) => `${k.name} ${r(k.bytes)}`)
            .join(', ')}), ${r(redis.perSessionAdded)} bytes for each further session of a user`,
          met: redis.perSession <= REDIS_TARGET,
          ...(redis.perSession > REDIS_TARGET ? { note: redisNote(redis) } : {}),
        },
      ],
      notes: [
        `Memory store: a child process with --expose-gc; heap used after two full collections, before and after ${sessions.toLocaleString('en-US')} store.putSession calls with the record the engine writes (43-character token hash, one user each, records built before the baseline so only what the store keeps counts), divided by the count; the same for store.raiseCutoff on as many users with nothing else on file (a kick record). ${options.quick ? 'Quick mode: 100 thousand records; the full run does one million.' : ''}`,
        `Redis: ${redisSessions.toLocaleString('en-US')} sessions written through RedisStore.putSession (one user each, default prefix \`${redis.prefix}\`, uids as long as \`user<i>\`, the run's own), then MEMORY USAGE (SAMPLES 0) of each key a session of a user can have for ${redis.sample} of them, a missing key counted as 0, summed per session. Not one million: MEMORY USAGE of a sample needs no more, and per-key figures do not depend on how many other keys there are; the Redis instance is shared with other benchmarks, so INFO used_memory deltas would be noisy. Each key with a TTL also holds an entry in Redis's expires dict, which MEMORY USAGE leaves out (${redis.keys.map((k) => `${k.name}: ${k.withTtl} of ${k.present} present with a TTL`).join('; ')}).`,
      ],
    };
  },
};
