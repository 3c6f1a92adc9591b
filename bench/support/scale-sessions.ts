/**
 * Section 13's second part: session checks with the engine's cache off against a redis-server
 * holding a million sessions and one holding 10, in alternating rounds. The million are written
 * through RedisStore.putSession itself (what a login writes), on a client of their own that
 * pipelines the calls made in one turn (ioredis's auto-pipelining): the same commands, fewer
 * round trips and system calls.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { OwnRedis } from '../../test/support/redis-server.js';
import { builtPackages } from './compile.js';
import { ownCpuUs, processCpuMs } from './cpu.js';
import { benchPrefix, deleteRedisKeys } from './demo-cluster.js';
import { commandsRun, usedMemory } from './redis-stats.js';

/** Checks kept in flight for the throughput rounds (an API node under load). */
export const CHECKS_IN_FLIGHT = 32;
export const SMALL_SESSIONS = 10;
const SESSION_LIFETIME_MS = 2 * 3_600_000;

const n = (x: number) => x.toLocaleString('en-US');

/** The i-th session's token: what a client would send (43 base64url characters, as evict's own). */
const tokenOf = (i: number) => createHash('sha256').update(`scale-session-${i}`).digest('base64url');

export interface CheckRound {
  checksPerSecond: number;
  commandsPerCheck: number;
  clientCpuUsPerCheck: number;
  redisCpuUsPerCheck: number;
}

export interface CheckSide {
  sessions: number;
  one: CheckRound[];
  many: CheckRound[];
}

export interface MillionFigures {
  sessions: number;
  fillSeconds: number;
  fillClientCpuSeconds: number;
  fillRedisCpuSeconds: number;
  usedMemoryBytes: number;
  usedMemoryDeltaBytes: number;
  keys: number;
  small: CheckSide;
  large: CheckSide;
}

type Core = Awaited<ReturnType<typeof builtPackages>>['core'];
type EvictStore = import('@evict/core').EvictStore;
type Evict = import('@evict/core').Evict;

/**
 * Writes sessions 0 to `count` − 1 (one user each) through `store.putSession`, `inFlight` calls under
 * way at any moment (a new one starts as one ends).
 */
async function fillSessions(
  core: Core,
  store: EvictStore,
  count: number,
  inFlight: number,
  log: (line: string) => void,
): Promise<void> {
  const now = Date.now();
  let next = 0;
  const writer = async () => {
    while (next < count) {
      const i = next++;
      await store.putSession({
        tokenHash: core.hashToken(tokenOf(i)),
        uid: `user${i}`,
        deviceFlag: 1,
        issuedAtMs: now,
        expiresAtMs: now + SESSION_LIFETIME_MS,
        retainUntilMs: now + SESSION_LIFETIME_MS,
      });
      if ((i + 1) % 250_000 === 0) log(`scale: ${n(i + 1)} sessions written`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, writer));
}

/** Checks of tokens drawn at random from the first `sessions`, `inFlight` at a time, for `ms`. */
async function checkRound(
  engine: Evict,
  sessions: number,
  inFlight: number,
  ms: number,
  redis: { probe: Redis; pid: number | undefined },
): Promise<CheckRound> {
  const commandsBefore = await commandsRun(redis.probe);
  const redisCpuBefore = redis.pid === undefined ? Number.NaN : (processCpuMs(redis.pid) ?? Number.NaN);
  const clientCpuBefore = ownCpuUs();
  let checks = 0;
  const started = performance.now();
  const end = started + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const verdict = await engine.check({
        type: 'session',
        token: tokenOf(Math.floor(Math.random() * sessions)),
      });
      if (!verdict.ok) throw new Error(`a live session was refused: ${verdict.reason}`);
      checks += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  const clientCpuUs = ownCpuUs() - clientCpuBefore;
  const redisCpuMs =
    (redis.pid === undefined ? Number.NaN : (processCpuMs(redis.pid) ?? Number.NaN)) - redisCpuBefore;
  return {
    checksPerSecond: checks / seconds,
    commandsPerCheck: ((await commandsRun(redis.probe)) - commandsBefore) / checks,
    clientCpuUsPerCheck: clientCpuUs / checks,
    redisCpuUsPerCheck: (redisCpuMs * 1000) / checks,
  };
}

export async function millionSessions(
  plan: { sessions: number; fillInFlight: number; rounds: number; roundMs: number; warmMs: number },
  log: (line: string) => void,
): Promise<MillionFigures> {
  const { core, redis: redisPackage } = await builtPackages();
  const prefix = benchPrefix('scale');
  const servers = [new OwnRedis(await freePort(), false), new OwnRedis(await freePort(), false)];
  const clients: Redis[] = [];
  const closing: { close(): Promise<void> }[] = [];
  try {
    await Promise.all(servers.map((server) => server.start()));
    const sides = await Promise.all(
      servers.map(async (server, i) => {
        const client = new Redis(server.url);
        const probe = new Redis(server.url);
        // The writes' own client and store: the checks' client stays as an API node's would be.
        const fillClient = new Redis(server.url, { enableAutoPipelining: true });
        clients.push(client, probe, fillClient);
        const store = new redisPackage.RedisStore({ client, prefix });
        const fillStore = new redisPackage.RedisStore({ client: fillClient, prefix });
        closing.push(store, fillStore);
        await Promise.all([store.ready(), fillStore.ready()]);
        return { sessions: i === 0 ? SMALL_SESSIONS : plan.sessions, server, store, fillStore, probe };
      }),
    );
    const [small, large] = sides as [(typeof sides)[0], (typeof sides)[0]];
    const redisCpu = () =>
      large.server.pid === undefined ? Number.NaN : (processCpuMs(large.server.pid) ?? Number.NaN);
    await fillSessions(core, small.fillStore, small.sessions, plan.fillInFlight, log);
    const memoryBefore = await usedMemory(large.probe);
    const fillStart = performance.now();
    const fillClientCpu = ownCpuUs();
    const fillRedisCpu = redisCpu();
    await fillSessions(core, large.fillStore, large.sessions, plan.fillInFlight, log);
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const fillClientCpuSeconds = (ownCpuUs() - fillClientCpu) / 1e6;
    const fillRedisCpuSeconds = (redisCpu() - fillRedisCpu) / 1000;
    const usedMemoryBytes = await usedMemory(large.probe);
    const keys = Number(await large.probe.dbsize());
    log(
      `scale: ${n(large.sessions)} sessions written in ${fillSeconds.toFixed(1)} s; used_memory ${Math.round(usedMemoryBytes / 2 ** 20)} MiB`,
    );

    const engines = sides.map((side) => {
      // Cache off: each check reads the store. Last-seen tracking off: a check only reads.
      const engine = core.createEvict({
        store: side.store,
        nodeId: 1,
        cacheSize: 0,
        lastSeenResolutionMs: 0,
      });
      closing.unshift(engine);
      return engine;
    });
    const figures: CheckSide[] = sides.map((side) => ({ sessions: side.sessions, one: [], many: [] }));
    const round = (i: number, inFlight: number, ms: number) =>
      checkRound(engines[i]!, sides[i]!.sessions, inFlight, ms, {
        probe: sides[i]!.probe,
        pid: sides[i]!.server.pid,
      });
    // Warm-up (JIT, connections), then rounds alternating which Redis goes first.
    for (const i of [0, 1]) {
      await round(i, 1, plan.warmMs);
      await round(i, CHECKS_IN_FLIGHT, plan.warmMs);
    }
    for (let r = 0; r < plan.rounds; r += 1) {
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        figures[i]!.one.push(await round(i, 1, plan.roundMs));
        figures[i]!.many.push(await round(i, CHECKS_IN_FLIGHT, plan.roundMs));
      }
    }
    return {
      sessions: large.sessions,
      fillSeconds,
      fillClientCpuSeconds,
      fillRedisCpuSeconds,
      usedMemoryBytes,
      usedMemoryDeltaBytes: usedMemoryBytes - memoryBefore,
      keys,
      small: figures[0]!,
      large: figures[1]!,
    };
  } finally {
    for (const c of closing) await c.close().catch(() => undefined);
    // The servers go with their keys; the prefix is deleted first all the same, as on a shared Redis.
    for (const server of servers) await deleteRedisKeys(server.url, prefix).catch(() => 0);
    for (const client of clients) client.disconnect();
    for (const server of servers) await server.remove();
  }
}
