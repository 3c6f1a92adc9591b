/**
 * The engine's two ways to kick: with a store that has `kick` (the memory store: one call), and
 * step by step (`getUser`, `listConnections`, `raiseCutoff`, `publish`) with a store that leaves it
 * out (here the same memory store behind a Proxy that hides `kick`). `kickUser` and `quitDevice`
 * must look the same either way, to the host, to the other nodes and in the store: each scenario
 * runs once per way and the two traces must be equal (and are pinned where it matters).
 */
import {
  type ClusterMessage,
  createEvict,
  type Evict,
  type EvictStore,
  isEvictError,
  MemoryStore,
} from '@evict/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';

type Way = 'kick' | 'fallback';
const WAYS: readonly Way[] = ['kick', 'fallback'];

/** Everything a test opened, closed after it. */
const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

/** Lets microtasks and the store's messages run. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A memory store as the engine sees it: with `kick`, or with `kick` hidden (`fallback`). Records the
 * name of every store method called through it.
 */
function storeFor(
  way: Way,
  clock: ManualClock,
  /** Called before each write of a cutoff (`kick`, `raiseCutoff`): a delay, to reorder concurrent writes. */
  beforeCutoff?: () => Promise<void>,
): { store: EvictStore; memory: MemoryStore; calls: string[] } {
  const memory = new MemoryStore({ clock });
  opened.push(memory);
  const calls: string[] = [];
  const hidden = (prop: string | symbol) => way === 'fallback' && prop === 'kick';
  const store = new Proxy(memory, {
    get(target, prop) {
      if (hidden(prop)) return undefined;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...a: unknown[]) => unknown;
      if (beforeCutoff !== undefined && (prop === 'kick' || prop === 'raiseCutoff')) {
        return async (...args: unknown[]) => {
          calls.push(prop);
          await beforeCutoff();
          return method.apply(target, args);
        };
      }
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return method.apply(target, args);
      };
    },
    has: (target, prop) => !hidden(prop) && Reflect.has(target, prop),
  }) as EvictStore;
  return { store, memory, calls };
}

/**
 * Two engines (nodes 1 and 2) on one store, and a trace of what can be seen: each step's answer,
 * the messages on the store, the connections closed, the revocation events, and after each step the
 * user's record and connections as the store has them. Times are relative to the start.
 */
function world(way: Way, options: { userExists?: (uid: string) => boolean } = {}) {
  const clock = new ManualClock();
  const start = clock.now;
  const { store, memory, calls } = storeFor(way, clock);
  const node = (nodeId: number): Evict => {
    const engine = createEvict({ store, clock, nodeId, ...options });
    opened.push(engine);
    engine.on('revocation', (e) => {
      const { action, uid, deviceFlag, atMs, connectionsClosed, servedByNodeId } = e;
      pending.push({
        event: { action, uid, deviceFlag, at: atMs - start, connectionsClosed, servedByNodeId },
      });
    });
    engine.on('error', (error) => pending.push({ error: error.message }));
    return engine;
  };
  const pending: unknown[] = [];
  memory.subscribe((message: ClusterMessage) => pending.push({ message }));
  const one = node(1);
  const two = node(2);
  const trace: unknown[] = [];

  return {
    clock,
    start,
    one,
    two,
    memory,
    calls,
    trace,
    /** A close function that records which connection was closed and how. */
    closer: (label: string) => (info: unknown) => pending.push({ closed: label, info }),
    /** Runs one step and records its answer, what it caused, and the user's state after it. */
    async step(name: string, uid: string, call: () => Promise<{ atMs: number; connectionsClosed: number }>) {
      let answer: unknown;
      try {
        const result = await call();
        answer = { at: result.atMs - start, connectionsClosed: result.connectionsClosed };
      } catch (error) {
        answer = isEvictError(error) ? error.code : `thrown: ${String(error)}`;
      }
      await tick();
      const user = await memory.getUser(uid);
      const connections = (await memory.listConnections(uid))
        .map((c) => `${c.nodeId}:${c.connId}:d${c.deviceFlag}`)
        .sort();
      trace.push({ name, answer, seen: pending.splice(0), user, connections });
      return answer;
    },
  };
}

/** The scenario of one user: kicks and device quits of every kind, with connections on both nodes. */
async function devicesScenario(way: Way) {
  const w = world(way);
  const { one, two, clock } = w;
  const uid = 'alice';
  // Nobody yet: refused, nothing written.
  await w.step('kick unknown', 'nobody', () => one.kickUser('nobody'));
  await w.step('quit all unknown', 'nobody', () => one.quitDevice('nobody', 'all'));
  await w.step('quit device unknown', 'nobody', () => one.quitDevice('nobody', 3));

  const tokens: Record<string, string> = {};
  for (const flag of [1, 2, 3, 6])
    tokens[`d${flag}`] = (await one.issueSession({ uid, deviceFlag: flag })).token;
  tokens['d7'] = (await one.issueSession({ uid, deviceFlag: 7, ttlMs: 1_000 })).token;
  await two.registerConnection({ uid, deviceFlag: 4, connId: 40, close: w.closer('node 2, d4') });
  await one.registerConnection({ uid, deviceFlag: 1, connId: 10, close: w.closer('node 1, d1') });
  await two.registerConnection({ uid, deviceFlag: 1, connId: 11, close: w.closer('node 2, d1') });
  clock.advance(2_000);
  // Node 2 caches the session of device 3: the kick's message must reach it before the kick returns.
  const before = await two.check({ type: 'session', token: tokens['d3']! });

  await w.step('quit d7, its session expired', uid, () => one.quitDevice(uid, 7));
  await w.step('quit d2, a live session', uid, () => one.quitDevice(uid, 2));
  await w.step('quit d2 again, cut off', uid, () => one.quitDevice(uid, 2));
  await w.step('quit d4, a connection only (node 2)', uid, () => one.quitDevice(uid, 4));
  await w.step('quit d4 again, gone', uid, () => one.quitDevice(uid, 4));
  await w.step('quit d5, never seen', uid, () => one.quitDevice(uid, 5));
  clock.advance(1);
  await w.step('kick, closing d1 on both nodes', uid, () => one.kickUser(uid));
  const after = await two.check({ type: 'session', token: tokens['d3']! });
  await w.step('quit d1 from node 2, cut off by the kick', uid, () => two.quitDevice(uid, 1));
  clock.advance(1);
  tokens['d6 again'] = (await one.issueSession({ uid, deviceFlag: 6 })).token;
  await w.step('quit d6, issued after the kick', uid, () => one.quitDevice(uid, 6));
  await w.step('quit d3, cut off by the kick', uid, () => one.quitDevice(uid, 3));
  await w.step('quit all', uid, () => one.quitDevice(uid, 'all'));
  clock.advance(1);
  await w.step('kick again, from node 2', uid, () => two.kickUser(uid));
  // Sessions the host registers with their own issue times, at and just after the cutoffs.
  clock.advance(1);
  const register = async (name: string, deviceFlag: number, issuedAtMs: number) => {
    tokens[name] = `token-${name}`;
    await one.registerSession({
      token: tokens[name],
      uid,
      deviceFlag,
      issuedAtMs,
      expiresAtMs: issuedAtMs + 60_000,
    });
  };
  await register('d8', 8, w.start + 2_003);
  await w.step("quit d8, issued at the user's cutoff", uid, () => one.quitDevice(uid, 8));
  await register('d9', 9, w.start + 2_004);
  await w.step("quit d9, issued 1 ms after the user's cutoff", uid, () => one.quitDevice(uid, 9));
  await register('d9 again', 9, w.start + 2_004);
  await w.step("quit d9 again, issued at the device's cutoff", uid, () => one.quitDevice(uid, 9));

  const checks: Record<string, unknown> = {};
  for (const [name, token] of Object.entries(tokens))
    checks[name] = await one.check({ type: 'session', token });
  return { trace: w.trace, calls: w.calls, before, after, checks };
}

/** The scenario of a host that keeps its own user table (`userExists`): the store checks only the device. */
async function hostedScenario(way: Way) {
  const hosted = new Set(['hosted', 'connected']);
  const w = world(way, { userExists: (uid) => hosted.has(uid) });
  const { one, two } = w;
  await one.issueSession({ uid: 'not-hosted', deviceFlag: 1 });
  await w.step('kick a user the host does not know', 'not-hosted', () => one.kickUser('not-hosted'));
  await w.step('quit a device the store does not know', 'hosted', () => one.quitDevice('hosted', 1));
  await w.step('kick a hosted user the store does not know', 'hosted', () => one.kickUser('hosted'));
  await w.step('quit all of them', 'hosted', () => one.quitDevice('hosted', 'all'));
  await two.registerConnection({ uid: 'connected', deviceFlag: 3, connId: 5, close: w.closer('node 2, d3') });
  await w.step('quit a device with a connection only', 'connected', () => one.quitDevice('connected', 3));
  return { trace: w.trace, calls: w.calls };
}

/**
 * Concurrent kicks and quits of every device whose clocks go back and forth, their writes landing in reverse
 * order of their start: the cutoffs on file are the latest, never lowered by a later write.
 */
async function concurrentScenario(way: Way) {
  const clock = new ManualClock();
  const base = clock.now;
  const offsets = [30, 10, 50, 20, 40, 0, 45];
  const delays = offsets.map((_, i) => (offsets.length - i) * 3);
  const { store, calls } = storeFor(
    way,
    clock,
    () => new Promise((resolve) => setTimeout(resolve, delays.shift() ?? 0)),
  );
  // The engine reads "now" once per kick: each gets the next value of this jittery clock.
  const times = offsets.map((o) => base + o);
  const engine = createEvict({ store, clock: { nowMs: () => times.shift() ?? base + 5 } });
  opened.push(engine);
  await store.touchUser('alice', base + 60_000);
  const results = await Promise.all(
    offsets.map((_, i) => (i % 2 === 0 ? engine.kickUser('alice') : engine.quitDevice('alice', 'all'))),
  );
  return { results: results.map((r) => r.atMs - base), user: await store.getUser('alice'), calls };
}

/** The answers of a trace. */
const answers = (trace: unknown[]) => trace.map((entry) => (entry as { answer: unknown }).answer);

describe('the engine kicks the same with and without the store’s kick', () => {
  it('uses the store’s kick when it has one, and the step-by-step fallback when it does not', async () => {
    const calls = Object.fromEntries(
      await Promise.all(WAYS.map(async (way) => [way, (await devicesScenario(way)).calls] as const)),
    );
    expect(calls['kick']).toContain('kick');
    expect(calls['kick']).not.toContain('raiseCutoff');
    expect(calls['fallback']).toContain('raiseCutoff');
    expect(calls['fallback']).not.toContain('kick');
  });

  it('kickUser and quitDevice: the same answers, messages, closes, events, records and checks', async () => {
    const kick = await devicesScenario('kick');
    const fallback = await devicesScenario('fallback');
    expect(fallback.trace).toEqual(kick.trace);
    expect(fallback.checks).toEqual(kick.checks);
    expect([fallback.before, fallback.after]).toEqual([kick.before, kick.after]);

    // Pinned, so that the two cannot agree on something wrong.
    expect(answers(kick.trace)).toEqual([
      'EVICT_UNKNOWN_USER',
      'EVICT_UNKNOWN_USER',
      'EVICT_UNKNOWN_USER',
      'EVICT_DEVICE_NOT_FOUND',
      { at: 2_000, connectionsClosed: 0 },
      'EVICT_DEVICE_NOT_FOUND',
      { at: 2_000, connectionsClosed: 1 },
      'EVICT_DEVICE_NOT_FOUND',
      'EVICT_DEVICE_NOT_FOUND',
      { at: 2_001, connectionsClosed: 2 },
      'EVICT_DEVICE_NOT_FOUND',
      { at: 2_002, connectionsClosed: 0 },
      'EVICT_DEVICE_NOT_FOUND',
      { at: 2_002, connectionsClosed: 0 },
      { at: 2_003, connectionsClosed: 0 },
      'EVICT_DEVICE_NOT_FOUND',
      { at: 2_004, connectionsClosed: 0 },
      'EVICT_DEVICE_NOT_FOUND',
    ]);
    // A refused kick writes nothing and says nothing.
    for (const entry of kick.trace.slice(0, 3)) {
      expect(entry).toMatchObject({ seen: [], user: undefined, connections: [] });
    }
    // Node 2 rejects the cached session as soon as the kick on node 1 has returned.
    expect(kick.before).toMatchObject({ ok: true });
    expect(kick.after).toEqual({ ok: false, reason: 'kicked', uid: 'alice' });
    // The kick: announced, then node 2 told to close its connection; both connections closed, and
    // the cutoff on file.
    const kicked = kick.trace[9] as { seen: unknown[]; user: { cutoff: unknown }; connections: string[] };
    expect(kicked.seen).toEqual(
      expect.arrayContaining([
        { message: { type: 'revoked', uid: 'alice', fromNodeId: 1, sentAtMs: expect.any(Number) } },
        { closed: 'node 1, d1', info: { code: 4001, reason: 'kicked' } },
        { closed: 'node 2, d1', info: { code: 4001, reason: 'kicked' } },
      ]),
    );
    const messages = kicked.seen.flatMap((s) =>
      'message' in (s as object) ? [(s as { message: ClusterMessage }).message.type] : [],
    );
    expect(messages).toEqual(['revoked', 'close-connections']);
    expect(kicked.user.cutoff).toEqual({ atMs: new ManualClock().now + 2_001, reason: 'kicked' });
    expect(kicked.connections).toEqual([]);
    expect(
      Object.fromEntries(Object.entries(kick.checks).map(([k, v]) => [k, (v as { ok: boolean }).ok])),
    ).toEqual({
      d1: false,
      d2: false,
      d3: false,
      d6: false,
      d7: false,
      'd6 again': false,
      d8: false,
      d9: false,
      'd9 again': false,
    });
  });

  it('with a host user table (userExists): the same answers and records; the store checks only the device', async () => {
    const kick = await hostedScenario('kick');
    const fallback = await hostedScenario('fallback');
    expect(fallback.trace).toEqual(kick.trace);
    expect(answers(kick.trace)).toEqual([
      'EVICT_UNKNOWN_USER',
      'EVICT_DEVICE_NOT_FOUND',
      { at: 0, connectionsClosed: 0 },
      { at: 0, connectionsClosed: 0 },
      { at: 0, connectionsClosed: 1 },
    ]);
    const refused = kick.trace[0] as { seen: unknown[]; user: { cutoff?: unknown } };
    expect(refused.seen).toEqual([]);
    expect(refused.user.cutoff).toBeUndefined();
    expect(kick.trace[1]).toMatchObject({ seen: [], user: undefined });
    expect(kick.calls).not.toContain('raiseCutoff');
  });

  it('concurrent kicks and quits whose writes land out of order never lower a cutoff, either way', async () => {
    const kick = await concurrentScenario('kick');
    const fallback = await concurrentScenario('fallback');
    expect(kick.calls).toContain('kick');
    expect(fallback.calls).not.toContain('kick');
    expect(fallback.results).toEqual(kick.results);
    expect(fallback.user).toEqual(kick.user);
    expect(kick.results).toEqual([30, 10, 50, 20, 40, 0, 45]);
    const base = new ManualClock().now;
    expect(kick.user?.cutoff).toEqual({ atMs: base + 50, reason: 'kicked' });
    expect(kick.user?.deviceCutoffs).toEqual({});
  });
});
