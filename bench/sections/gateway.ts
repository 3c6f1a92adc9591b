/**
 * 9. Gateway scale (issue 18): a node holding many connections stays quiet and responsive. The
 * memory store's longest event-loop stall across a sweep of 1,000,000 sessions; and, on a
 * redis-server of the section's own (so that only this node's commands count), a node holding
 * 1,000 to 1,000,000 connections registered in-process: registrations per second, bytes per
 * connection in the process and in Redis, Redis commands per second while idle, and the event
 * loop's worst delay idle and while 5,000 connections a second come and go. Each measurement runs
 * in a child process (heap room, `global.gc`).
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { OwnRedis } from '../../test/support/redis-server.js';
import { childLog, childMode, gc, runChild } from '../engine-child.js';
import type { BenchOptions, BenchResult, BenchSection } from '../report.js';
import { commandsRun, usedMemory } from '../support/redis-stats.js';

const STALL_TARGET_MS = 20;
const REGISTRATIONS_TARGET = 50_000;
const REDIS_BYTES_TARGET = 150;
/** "A few" commands per second, as the issue puts it. */
const IDLE_COMMANDS_TARGET = 5;
const CHURN_PER_SECOND = 5_000;
/** Registrations in flight at once: the registry writes those of one loop turn as one batch. */
const IN_FLIGHT = 1_000;

/** The memory store files expiry by the minute and sweeps a minute once it has ended. */
const EXPIRY_MINUTE_MS = 60_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- the memory store: one sweep over a million sessions ----

interface SweepInput {
  sessions: number;
}

interface SweepFigures {
  sessions: number;
  expired: number;
  sweptMs: number;
  worstDelayMs: number;
  p99DelayMs: number;
}

async function memorySweep(input: SweepInput): Promise<SweepFigures> {
  const { MemoryStore } = (await import(
    new URL('../../packages/core/dist/esm/index.js', import.meta.url).href
  )) as typeof import('@evict/core');
  let now = Date.now();
  const store = new MemoryStore({ clock: { nowMs: () => now }, sweepIntervalMs: 1_000 });
  // Half of them expire: the sweep has as much to drop as to keep.
  for (let i = 0; i < input.sessions; i += 1) {
    const lifetimeMs = i % 2 === 0 ? 1_000 : 3_600_000;
    void store.putSession({
      tokenHash: `h${i}`,
      uid: `u${i}`,
      deviceFlag: 1,
      issuedAtMs: now,
      expiresAtMs: now + lifetimeMs,
      retainUntilMs: now + lifetimeMs,
    });
  }
  gc();
  childLog(
    `gateway: memory store holds ${store.size().sessions} sessions; the clock moves past half of them`,
  );
  // Past the end of the minute they expire in: the sweep reads only the minutes that have ended.
  now += EXPIRY_MINUTE_MS + 2_000;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const started = performance.now();
  const expected = store.size().sessions - input.sessions / 2;
  // The store's own timer sweeps; the loop is busy only with it.
  while (store.size().sessions > expected && performance.now() - started < 60_000) await sleep(5);
  const sweptMs = performance.now() - started;
  await sleep(1_000);
  loop.disable();
  await store.close();
  return {
    sessions: input.sessions,
    expired: input.sessions / 2,
    sweptMs,
    worstDelayMs: loop.max / 1e6,
    p99DelayMs: loop.percentile(99) / 1e6,
  };
}

childMode('gateway-memory', memorySweep);

// ---- the Redis store: one node holding `count` connections ----

interface NodeInput {
  redisUrl: string;
  count: number;
  connectionTtlMs: number;
  idleMs: number;
  churnMs: number;
}

interface NodeFigures {
  count: number;
  registrationsPerSecond: number;
  registrationWorstDelayMs: number;
  heapBytesPerConnection: number;
  redisBytesPerConnection: number;
  idleCommandsPerSecond: number;
  idleWorstDelayMs: number;
  /** The longest garbage-collection pause while idle (V8 shrinking the heap after the registrations), 0 if none. */
  idleLongestGcMs: number;
  churnWorstDelayMs: number;
  churnP99DelayMs: number;
}

/**
 * The row, and the heap once the node holds its connections: measured by a full collection at the
 * very end, as one any earlier (at the start, for a baseline) makes V8's memory reducer run more of
 * them a few seconds later, inside the idle window, a stall of the measurement's own making. The
 * baseline is the heap once this node is gone (`redisNode`).
 */
async function heldNode(
  input: NodeInput,
  probe: Redis,
): Promise<Omit<NodeFigures, 'heapBytesPerConnection'> & { heapHeld: number; held: number }> {
  const { createEvict } = await import('@evict/core');
  const { RedisStore } = await import('@evict/redis');
  const client = new Redis(input.redisUrl);
  const store = new RedisStore({ client, prefix: 'evict:' });
  const engine = createEvict({ store, nodeId: 1, connectionTtlMs: input.connectionTtlMs });
  await engine.ready();
  const close = () => undefined;
  const loop = monitorEventLoopDelay({ resolution: 1 });

  const redisBefore = await usedMemory(probe);
  loop.enable();
  const started = performance.now();
  for (let start = 0; start < input.count; start += IN_FLIGHT) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(input.count, start + IN_FLIGHT); i += 1)
      batch.push(engine.registerConnection({ uid: `u${i}`, deviceFlag: 1, close }));
    await Promise.all(batch);
  }
  const registrationsPerSecond = input.count / ((performance.now() - started) / 1000);
  const registrationWorstDelayMs = loop.max / 1e6;
  loop.disable();
  const redisBytesPerConnection = ((await usedMemory(probe)) - redisBefore) / input.count;
  childLog(
    `gateway: ${input.count} connections at ${Math.round(registrationsPerSecond)}/s; ${Math.round(redisBytesPerConnection)} B Redis each`,
  );

  // Idle: only the heartbeat (and its sweep) talks to Redis.
  let idleLongestGcMs = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) idleLongestGcMs = Math.max(idleLongestGcMs, entry.duration);
  });
  gcs.observe({ entryTypes: ['gc'] });
  loop.reset();
  loop.enable();
  const commandsBefore = await commandsRun(probe);
  const idleStarted = performance.now();
  await sleep(input.idleMs);
  const idleCommandsPerSecond =
    ((await commandsRun(probe)) - commandsBefore) / ((performance.now() - idleStarted) / 1000);
  const idleWorstDelayMs = loop.max / 1e6;
  gcs.disconnect();

  // Churn: every 10 ms, CHURN_PER_SECOND / 100 connections come and as many of those go.
  loop.reset();
  const perTick = CHURN_PER_SECOND / 100;
  const churned: Array<{ unregister(): Promise<void> }> = [];
  let next = input.count;
  const churnStarted = performance.now();
  while (performance.now() - churnStarted < input.churnMs) {
    const tick = performance.now();
    const came = Array.from({ length: perTick }, () =>
      engine.registerConnection({ uid: `u${next++}`, deviceFlag: 1, close }),
    );
    const going = churned.splice(0, perTick).map((handle) => handle.unregister());
    churned.push(...(await Promise.all(came)));
    await Promise.all(going);
    await sleep(Math.max(0, 10 - (performance.now() - tick)));
  }
  const churnWorstDelayMs = loop.max / 1e6;
  const churnP99DelayMs = loop.percentile(99) / 1e6;
  loop.disable();
  gc();
  const heapHeld = process.memoryUsage().heapUsed;
  // Held now: the registered ones and the last tick's newcomers.
  const held = input.count + churned.length;
  await engine.close();
  await store.close();
  client.disconnect();
  return {
    count: input.count,
    heapHeld,
    held,
    registrationsPerSecond,
    registrationWorstDelayMs,
    redisBytesPerConnection,
    idleCommandsPerSecond,
    idleWorstDelayMs,
    idleLongestGcMs,
    churnWorstDelayMs,
    churnP99DelayMs,
  };
}

async function redisNode(input: NodeInput): Promise<NodeFigures> {
  const probe = new Redis(input.redisUrl);
  await probe.flushall();
  const { heapHeld, held, ...figures } = await heldNode(input, probe);
  gc();
  const heapBytesPerConnection = (heapHeld - process.memoryUsage().heapUsed) / held;
  await probe.flushall();
  probe.disconnect();
  return { ...figures, heapBytesPerConnection };
}

childMode('gateway-redis', redisNode);

interface DetailBytes {
  count: number;
  bare: number;
  detailed: number;
}

/**
 * What a connection's details cost in Redis: `count` connection records (one user each) written
 * through the store, bare and then with a session id, an IPv4 address, a port and a 36-character
 * device id (a UUID), on an emptied Redis each time; the used_memory delta divided by the count.
 */
async function bytesWithDetails(redisUrl: string, count: number): Promise<DetailBytes> {
  const { RedisStore } = await import('@evict/redis');
  const { sessionIdOf } = await import('@evict/core');
  const probe = new Redis(redisUrl);
  const client = new Redis(redisUrl);
  const store = new RedisStore({ client, prefix: 'evict:' });
  try {
    const bytesPer = async (details: boolean) => {
      await probe.flushall();
      await store.heartbeatNode({ nodeId: 1, incarnation: 'bench', expiresAtMs: Date.now() + 3_600_000 });
      const before = await usedMemory(probe);
      for (let start = 0; start < count; start += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, count - start) }, (_, j) => {
          const i = start + j;
          return {
            uid: `u${i}`,
            deviceFlag: 1,
            nodeId: 1,
            connId: 1_000_000_001 + i,
            connectedAtMs: Date.now(),
            incarnation: 'bench',
            ...(details
              ? {
                  sessionId: sessionIdOf(`session-${i}`),
                  deviceId: randomUUID(),
                  ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
                  port: 1_024 + (i % 60_000),
                }
              : {}),
          };
        });
        await store.putConnections(batch);
      }
      return ((await usedMemory(probe)) - before) / count;
    };
    return { count, bare: await bytesPer(false), detailed: await bytesPer(true) };
  } finally {
    await store.close();
    client.disconnect();
    probe.disconnect();
  }
}

export const section: BenchSection = {
  id: 'gateway',
  title: '9. Gateway scale: a node holding many connections',
  async run(options: BenchOptions): Promise<BenchResult> {
    const { quick, log } = options;
    const loadBefore = loadavg()[0]!;
    const sessions = quick ? 100_000 : 1_000_000;
    const sweep = await runChild<SweepFigures>({
      file: import.meta.url,
      name: 'gateway-memory',
      input: { sessions } satisfies SweepInput,
      heapMb: 4096,
      log,
    });
    log(
      `gateway: memory store sweep of ${sweep.expired} sessions, worst delay ${sweep.worstDelayMs.toFixed(1)} ms`,
    );

    const counts = quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000];
    // Full: the engine's default connectionTtlMs (a heartbeat every 20 s) and an idle window that
    // holds one. Quick: a heartbeat every 2 s, so that a short window holds two.
    const connectionTtlMs = quick ? 6_000 : 60_000;
    const idleMs = quick ? 4_500 : 21_000;
    const churnMs = quick ? 2_000 : 5_000;
    const redis = new OwnRedis(await freePort(), false);
    const nodes: NodeFigures[] = [];
    let detailBytes: DetailBytes | undefined;
    try {
      await redis.start();
      const node = (count: number) =>
        runChild<NodeFigures>({
          file: import.meta.url,
          name: 'gateway-redis',
          input: { redisUrl: redis.url, count, connectionTtlMs, idleMs, churnMs } satisfies NodeInput,
          heapMb: 4096,
          log,
        });
      for (const count of counts) nodes.push(await node(count));
      detailBytes = await bytesWithDetails(redis.url, quick ? 10_000 : 100_000);
      log(
        `gateway: Redis B/connection bare ${Math.round(detailBytes.bare)}, with details ${Math.round(detailBytes.detailed)}`,
      );
    } finally {
      await redis.remove();
    }

    const loadAfter = loadavg()[0]!;
    const r = Math.round;
    const ms = (x: number) => Number(x.toFixed(1));
    const largest = nodes.at(-1)!;
    const worstIdle = Math.max(...nodes.map((n) => n.idleWorstDelayMs));
    const worstChurn = Math.max(...nodes.map((n) => n.churnWorstDelayMs));
    const maxIdleCommands = Math.max(...nodes.map((n) => n.idleCommandsPerSecond));
    const n = (x: number) => x.toLocaleString('en-US');
    const heartbeat = `a heartbeat every ${connectionTtlMs / 3 / 1000} s (connectionTtlMs ${n(connectionTtlMs)}${quick ? ', not the default' : ', the default'})`;
    return {
      tables: [
        {
          title: `Memory store: one sweep of ${n(sweep.expired)} expired sessions among ${n(sweep.sessions)}`,
          columns: ['worst event-loop delay ms', 'p99 delay ms', 'sweep took ms'],
          rows: [
            {
              name: 'MemoryStore, its own sweep timer',
              figures: {
                'worst event-loop delay ms': ms(sweep.worstDelayMs),
                'p99 delay ms': ms(sweep.p99DelayMs),
                'sweep took ms': r(sweep.sweptMs),
              },
            },
          ],
        },
        {
          title: `Redis store: one node, connections registered in-process, ${heartbeat}`,
          columns: [
            'registrations/s',
            'heap B/connection',
            'Redis B/connection',
            'Redis commands/s idle',
            'worst delay idle ms',
            'longest GC pause idle ms',
            `worst delay, ${n(CHURN_PER_SECOND)}/s come and go, ms`,
            'p99 delay churn ms',
            'worst delay registering ms',
          ],
          rows: nodes.map((node) => ({
            name: `${n(node.count)} connections`,
            figures: {
              'registrations/s': r(node.registrationsPerSecond),
              'heap B/connection': r(node.heapBytesPerConnection),
              'Redis B/connection': r(node.redisBytesPerConnection),
              'Redis commands/s idle': Number(node.idleCommandsPerSecond.toFixed(2)),
              'worst delay idle ms': ms(node.idleWorstDelayMs),
              'longest GC pause idle ms': ms(node.idleLongestGcMs),
              [`worst delay, ${n(CHURN_PER_SECOND)}/s come and go, ms`]: ms(node.churnWorstDelayMs),
              'p99 delay churn ms': ms(node.churnP99DelayMs),
              'worst delay registering ms': ms(node.registrationWorstDelayMs),
            },
          })),
        },
        {
          title: `Redis store: what a connection's details cost (${n(detailBytes!.count)} connection records written through the store, one user each)`,
          columns: ['Redis B/connection', 'added by the details'],
          rows: [
            {
              name: 'bare (uid, device flag, node, connId, time)',
              figures: { 'Redis B/connection': r(detailBytes!.bare), 'added by the details': '–' },
            },
            {
              name: 'with a session id (22 characters), a device id (a 36-character UUID), an IPv4 address and a port',
              figures: {
                'Redis B/connection': r(detailBytes!.detailed),
                'added by the details': r(detailBytes!.detailed - detailBytes!.bare),
              },
            },
          ],
        },
      ],
      targets: [
        {
          target: `memory store: a sweep of ${n(sweep.sessions)} sessions stalls the event loop < ${STALL_TARGET_MS} ms`,
          measured: `worst delay ${ms(sweep.worstDelayMs)} ms`,
          met: sweep.worstDelayMs < STALL_TARGET_MS,
        },
        {
          target: `an idle node's Redis traffic: a few commands/s (≤ ${IDLE_COMMANDS_TARGET}) at the defaults, whatever its connection count`,
          measured: `at most ${maxIdleCommands.toFixed(2)} commands/s from ${n(counts[0]!)} to ${n(largest.count)} connections, ${heartbeat}`,
          met: maxIdleCommands <= IDLE_COMMANDS_TARGET,
          ...(quick ? { note: 'Quick mode: not at the defaults; the full run measures them.' } : {}),
        },
        {
          target: `event loop's worst delay < ${STALL_TARGET_MS} ms, idle and with ${n(CHURN_PER_SECOND)} connections/s coming and going`,
          measured: `idle: at most ${ms(worstIdle)} ms (the longest GC pause idle: ${ms(Math.max(...nodes.map((x) => x.idleLongestGcMs)))} ms); churn: at most ${ms(worstChurn)} ms (up to ${n(largest.count)} connections)`,
          met: worstIdle < STALL_TARGET_MS && worstChurn < STALL_TARGET_MS,
        },
        {
          target: `≥ ${n(REGISTRATIONS_TARGET)} registrations/s on one node`,
          measured: `${n(r(largest.registrationsPerSecond))}/s registering ${n(largest.count)}`,
          met: largest.registrationsPerSecond >= REGISTRATIONS_TARGET,
        },
        {
          target: `≤ ${REDIS_BYTES_TARGET} B per connection in Redis`,
          measured: `${r(largest.redisBytesPerConnection)} B (used_memory delta over ${n(largest.count)} connections, one user each)`,
          met: largest.redisBytesPerConnection <= REDIS_BYTES_TARGET,
        },
      ],
      notes: [
        `Memory store: a child process fills a MemoryStore (sweep timer every second, a clock of its own) with ${n(sweep.sessions)} sessions, half of which expire once the clock moves on; then monitorEventLoopDelay (1 ms resolution) records the event loop while the store's timer sweeps, until the expired half is gone and for one second after.`,
        `Redis store: each row is a child process with an engine (nodeId 1, RedisStore on ioredis) on a redis-server of the section's own, emptied before each row. It registers the connections through engine.registerConnection, ${n(IN_FLIGHT)} in flight, one user each with nothing else on file (so each connection also makes its user's record: the costly case), and divides the Redis used_memory delta after the registrations, and the heap the node holds after the churn (heapUsed after full collections, less heapUsed once the engine is closed and collected: no collection is forced before, as one would set V8's memory reducer off inside the idle window), by the connections held. Idle: ${n(idleMs)} ms with nothing happening, Redis commands counted from INFO commandstats (INFO itself left out; nothing else talks to this Redis). Churn: for ${n(churnMs)} ms, every 10 ms ${n(CHURN_PER_SECOND / 100)} new connections registered and as many of the previous ones unregistered. Worst delay: monitorEventLoopDelay's maximum (1 ms resolution) inside the node; longest GC pause: the longest \`gc\` performance entry while idle.`,
        `The event loop's delays include the time the process waits for a core: this machine's load average (one minute) was ${loadBefore.toFixed(1)} when the section started and ${loadAfter.toFixed(1)} when it ended, on ${availableParallelism()} cores shared with other work, so a worst delay here is an upper bound of the node's own stall, not its measure.`,
      ],
    };
  },
};
