/**
 * The store conformance suite: every `EvictStore` (the memory store, the Redis store, a third
 * party's) runs these same tests against the contract documented in `store.ts`.
 *
 * The test runner is injected, so core never depends on one (vitest, jest, or an adapter over
 * `node:test`):
 *
 * ```ts
 * import { runStoreConformance } from '@evict/core/testing';
 * import { afterEach, beforeEach, describe, expect, it } from 'vitest';
 * runStoreConformance('MyStore', (clock) => new MyStore({ clock }), { describe, it, expect, beforeEach, afterEach });
 * ```
 *
 * Every test makes a fresh store with `makeStore` (and closes it afterwards) and uses random uids,
 * token hashes and keys, so that suites can share one backend (one Redis database) and run in parallel.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import {
  type ClusterMessage,
  type ConnectionRecord,
  type Cutoff,
  PUSH_TOKEN_KINDS,
  type PushTokenKind,
  type PushTokenRecord,
  type SessionRecord,
} from '../model.js';
import type { EvictStore, KickRequest } from '../store.js';
import { nodeLiveness } from './node-liveness.js';

// ---- the runner, as the suite uses it ----

/** The matchers the suite uses; vitest's and jest's `expect` both provide them. */
export interface ConformanceAssertion {
  readonly not: ConformanceAssertion;
  readonly resolves: ConformancePromiseAssertion;
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeUndefined(): void;
  toHaveLength(expected: number): void;
  toContain(expected: unknown): void;
}

export interface ConformancePromiseAssertion {
  toBeUndefined(): Promise<void>;
}

/** The test runner's functions the suite needs, e.g. `{ describe, it, expect, beforeEach, afterEach }` of vitest. */
export interface ConformanceRunner {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void> | void): void;
  expect(actual: unknown): ConformanceAssertion;
  beforeEach(fn: () => Promise<void>): void;
  afterEach(fn: () => Promise<void>): void;
}

export interface ConformanceOptions {
  /**
   * The store leaves expiry to its backend's own clock (Redis key TTLs), not to the `Clock` it is
   * given. The suite's clock then never runs ahead of real time: it reads real time, and moving it
   * forward waits until real time has caught up (expiry tests use lifetimes of tens of ms, so a
   * wait is at most about 55 ms). Default false: the clock is manual and expiry tests do not wait.
   */
  realTimeExpiry?: boolean;
  /**
   * Two stores made by `makeStore` in one test share one backend and key space (two Redis stores on
   * one database with one prefix: pick the prefix once per suite, not per store). The suite then
   * also checks that one sees the other's records and receives its messages, and that a closed one
   * receives nothing. Default false (separate memory stores share nothing).
   */
  sharedBackend?: boolean;
}

export type MakeStore = (clock: ConformanceClock) => EvictStore | Promise<EvictStore>;

/**
 * The clock the suite hands to `makeStore`. It starts at the real time and only moves forward.
 * Manual (the default), it stands still until `advance`; following real time, it reads
 * `max(real time, where advance put it)`, so that a store whose keys expire by the backend's clock
 * agrees with it once real time has caught up.
 */
export class ConformanceClock implements Clock {
  readonly followsRealTime: boolean;
  #ms = Date.now();

  constructor(options: { followsRealTime?: boolean } = {}) {
    this.followsRealTime = options.followsRealTime ?? false;
  }

  nowMs(): number {
    return this.followsRealTime ? Math.max(this.#ms, Date.now()) : this.#ms;
  }

  /** Moves the clock `ms` forward. */
  advance(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new RangeError('ConformanceClock.advance: ms must be a non-negative integer');
    }
    this.#ms = this.nowMs() + ms;
  }
}

/**
 * Registers the conformance suite for one store with the given runner: one `describe` named after
 * the store, holding a `describe` per part of the contract (lifecycle, sessions, users, connections,
 * push tokens, hit, publish and subscribe, expiry, concurrency, kick (when the store has it), large
 * values, odd keys).
 */
export function runStoreConformance(
  name: string,
  makeStore: MakeStore,
  runner: ConformanceRunner,
  options: ConformanceOptions = {},
): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('runStoreConformance: name must be a non-empty string');
  }
  if (typeof makeStore !== 'function')
    throw new TypeError('runStoreConformance: makeStore must be a function');
  for (const fn of ['describe', 'it', 'expect', 'beforeEach', 'afterEach'] as const) {
    if (typeof runner?.[fn] !== 'function') {
      throw new TypeError(`runStoreConformance: runner.${fn} must be a function`);
    }
  }
  const parsed = parseOptions(options);
  const h = new Harness(makeStore, parsed);
  runner.describe(`EvictStore conformance: ${name}`, () => {
    runner.beforeEach(() => h.setUp());
    runner.afterEach(() => h.tearDown());
    for (const group of GROUPS) runner.describe(group.name, () => group.tests(h, runner, parsed));
  });
}

function parseOptions(options: ConformanceOptions): Required<ConformanceOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('runStoreConformance: options must be an object');
  }
  const known = ['realTimeExpiry', 'sharedBackend'];
  for (const key of Object.keys(options)) {
    // A misspelt option would silently skip tests: refuse it.
    if (!known.includes(key)) throw new TypeError(`runStoreConformance: unknown option ${key}`);
  }
  const parsed = { realTimeExpiry: false, sharedBackend: false };
  for (const key of ['realTimeExpiry', 'sharedBackend'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean')
      throw new TypeError(`runStoreConformance: options.${key} must be a boolean`);
    parsed[key] = value;
  }
  return parsed;
}

// ---- what every test shares ----

/** How long records live in tests that are not about expiry. */
const LIVE_MS = 10 * 60_000;
/** The step of expiry tests: long on a manual clock, short when the backend expires keys in real time. */
const MANUAL_STEP_MS = 60 * 60_000;
const REAL_TIME_STEP_MS = 25;
/** Real time allowed past a deadline, for a backend that rounds or checks expiry a little late. */
const REAL_TIME_SLACK_MS = 5;
/** How long a message may take to arrive, and how long to keep listening for duplicates. */
const DELIVERY_TIMEOUT_MS = 2_000;
const SETTLE_MS = 30;
/** The nodes every store starts a test with, live far beyond any test's clock (see `Harness.open`). */
const HARNESS_NODE_IDS = Array.from({ length: 12 }, (_, i) => i + 1);
const HARNESS_NODE_LIVE_MS = 365 * 24 * 60 * 60_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Harness {
  clock = new ConformanceClock();
  #store: EvictStore | undefined;
  #open: EvictStore[] = [];
  /** The incarnation of each node in the running test: new ones every test. */
  #incarnations = new Map<number, string>();

  constructor(
    readonly makeStore: MakeStore,
    readonly options: Required<ConformanceOptions>,
  ) {}

  /** The store of the running test. */
  get store(): EvictStore {
    if (this.#store === undefined) throw new Error('conformance: no store (beforeEach did not run)');
    return this.#store;
  }

  /** The unit of expiry tests: every lifetime there is a small multiple of it. */
  get stepMs(): number {
    return this.options.realTimeExpiry ? REAL_TIME_STEP_MS : MANUAL_STEP_MS;
  }

  async setUp(): Promise<void> {
    this.clock = new ConformanceClock({ followsRealTime: this.options.realTimeExpiry });
    this.#incarnations = new Map();
    this.#store = await this.open();
  }

  async tearDown(): Promise<void> {
    const stores = this.#open.splice(0).reverse();
    this.#store = undefined;
    const results = await Promise.allSettled(stores.map((store) => store.close()));
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  }

  /**
   * Makes a store on the test's clock, ready to serve, with nodes 1 to 12 live in the test's
   * incarnations (so that connections of `connection()` count); closed after the test.
   */
  async open(): Promise<EvictStore> {
    const store = await this.makeStore(this.clock);
    this.#open.push(store);
    await store.ready();
    const expiresAtMs = this.now() + HARNESS_NODE_LIVE_MS;
    for (const nodeId of HARNESS_NODE_IDS) {
      await store.heartbeatNode({ nodeId, incarnation: this.incarnation(nodeId), expiresAtMs });
    }
    return store;
  }

  /** The node's incarnation in the running test. */
  incarnation(nodeId: number): string {
    let incarnation = this.#incarnations.get(nodeId);
    if (incarnation === undefined) {
      incarnation = randomBytes(6).toString('base64url');
      this.#incarnations.set(nodeId, incarnation);
    }
    return incarnation;
  }

  /** Lets `ms` pass: on the clock, and in real time too when the backend expires keys by its own clock. */
  async elapse(ms: number): Promise<void> {
    this.clock.advance(ms);
    if (!this.options.realTimeExpiry) return;
    const until = this.clock.nowMs() + REAL_TIME_SLACK_MS;
    while (Date.now() <= until) await sleep(until - Date.now() + 1);
  }

  now(): number {
    return this.clock.nowMs();
  }

  session(uid: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
    const now = this.now();
    return {
      tokenHash: newTokenHash(),
      uid,
      deviceFlag: 1,
      issuedAtMs: now,
      expiresAtMs: now + LIVE_MS,
      retainUntilMs: now + 2 * LIVE_MS,
      ...overrides,
    };
  }

  /** A connection of a live node (its incarnation in this test, unless overridden). */
  connection(uid: string, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
    const nodeId = overrides.nodeId ?? 1;
    return {
      uid,
      deviceFlag: 1,
      nodeId,
      connId: 1,
      connectedAtMs: this.now(),
      incarnation: this.incarnation(nodeId),
      ...overrides,
    };
  }

  pushToken(kind: PushTokenKind, overrides: Partial<PushTokenRecord> = {}): PushTokenRecord {
    const now = this.now();
    return {
      kind,
      token: `${kind}-${randomBytes(16).toString('hex')}`,
      deviceFlag: 1,
      updatedAtMs: now,
      expiresAtMs: now + LIVE_MS,
      ...overrides,
    };
  }

  /** Fixed windows that start in the future, so that a backend expiring counters in real time keeps them. */
  windowStart(windowMs: number): number {
    return (Math.floor(this.now() / windowMs) + 1) * windowMs;
  }
}

type Group = {
  name: string;
  tests: (h: Harness, runner: ConformanceRunner, options: Required<ConformanceOptions>) => void;
};

const newUid = () => `uid-${randomUUID()}`;
const newTokenHash = () => randomBytes(32).toString('base64url');
const newKey = () => `hit-${randomUUID()}`;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
const bySessionHash = (records: readonly SessionRecord[]) =>
  [...records].sort((a, b) => compareText(a.tokenHash, b.tokenHash));
const byConnection = (records: readonly ConnectionRecord[]) =>
  [...records].sort((a, b) => a.nodeId - b.nodeId || a.connId - b.connId);
const byKind = (records: readonly PushTokenRecord[]) =>
  [...records].sort((a, b) => compareText(a.kind, b.kind));
const sortedKinds = (kinds: readonly PushTokenKind[]) => [...kinds].sort(compareText);

/** The items in a random order. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Calls every function without waiting in between, alternating between the lists. */
function interleaved<T>(...lists: (() => Promise<T>)[][]): Promise<T>[] {
  const calls: Promise<T>[] = [];
  const longest = Math.max(...lists.map((list) => list.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) calls.push(list[i]!());
  return calls;
}

/** The messages of one test only: other suites may publish on the same backend at the same time. */
function inbox(store: EvictStore, uid: string): { received: ClusterMessage[]; stop: () => void } {
  const received: ClusterMessage[] = [];
  const stop = store.subscribe((message) => {
    const mentioned =
      message.type === 'revoked' ? message.uid === uid : message.connections.some((c) => c.uid === uid);
    if (mentioned) received.push(message);
  });
  return { received, stop };
}

/** Waits until every inbox holds `count` messages (or the delivery timeout), then for duplicates. */
async function delivered(inboxes: { received: ClusterMessage[] }[], count: number): Promise<void> {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  while (inboxes.some((i) => i.received.length < count) && Date.now() < deadline) await sleep(5);
  await sleep(SETTLE_MS);
}

// ---- the tests ----

const lifecycle: Group = {
  name: 'lifecycle',
  tests(h, { it, expect }) {
    it('ready() resolves, again and again', async () => {
      await expect(h.store.ready()).resolves.toBeUndefined();
      await expect(h.store.ready()).resolves.toBeUndefined();
    });

    it('close() resolves and is idempotent', async () => {
      const store = await h.open();
      await expect(store.close()).resolves.toBeUndefined();
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('a new store answers "nothing on file" for unknown keys', async () => {
      const uid = newUid();
      const { store } = h;
      expect(await store.getSession(newTokenHash())).toBeUndefined();
      expect(await store.revokeSession(newTokenHash(), h.now())).toBeUndefined();
      expect(await store.listSessions(uid)).toEqual([]);
      expect(await store.getUser(uid)).toBeUndefined();
      expect(await store.listConnections(uid)).toEqual([]);
      expect(await store.deleteConnection(uid, 1, 1)).toBe(false);
      expect(await store.getPushTokens(uid)).toEqual([]);
      expect(await store.clearPushTokens(uid, PUSH_TOKEN_KINDS)).toEqual([]);
    });

    it('onLinkChange, when the store has it, returns an unsubscribe function and reports no outage', async () => {
      if (h.store.onLinkChange === undefined) return;
      const reports: boolean[] = [];
      const stop = h.store.onLinkChange((up) => reports.push(up));
      expect(typeof stop).toBe('function');
      await h.store.putSession(h.session(newUid()));
      await sleep(SETTLE_MS);
      stop();
      expect(reports).not.toContain(false);
    });
  },
};

const sessions: Group = {
  name: 'sessions',
  tests(h, { it, expect }) {
    it('putSession then getSession returns the same record', async () => {
      const session = h.session(newUid(), { deviceFlag: 0 });
      await h.store.putSession(session);
      expect(await h.store.getSession(session.tokenHash)).toEqual(session);
      expect(await h.store.getSession(newTokenHash())).toBeUndefined();
    });

    it('keeps its own copy: mutating a record given or returned changes nothing on file', async () => {
      const session = h.session(newUid());
      const expected = { ...session };
      await h.store.putSession(session);
      session.expiresAtMs += 1;
      const returned = await h.store.getSession(session.tokenHash);
      expect(returned).toEqual(expected);
      returned!.revokedAtMs = h.now();
      expect(await h.store.getSession(session.tokenHash)).toEqual(expected);
    });

    it('revokeSession returns the session as it was and marks it revoked at atMs; it stays on file', async () => {
      const uid = newUid();
      const session = h.session(uid);
      await h.store.putSession(session);
      const atMs = h.now() + 7;
      const before = await h.store.revokeSession(session.tokenHash, atMs);
      expect(before).toEqual(session);
      expect(before?.revokedAtMs).toBeUndefined();
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs: atMs });
      expect(await h.store.listSessions(uid)).toEqual([{ ...session, revokedAtMs: atMs }]);
    });

    it('revoking twice keeps the first time, even when the second is earlier', async () => {
      const session = h.session(newUid());
      await h.store.putSession(session);
      const first = h.now() + 50;
      await h.store.revokeSession(session.tokenHash, first);
      const again = await h.store.revokeSession(session.tokenHash, first + 10);
      expect(again).toEqual({ ...session, revokedAtMs: first });
      const earlier = await h.store.revokeSession(session.tokenHash, first - 10);
      expect(earlier).toEqual({ ...session, revokedAtMs: first });
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs: first });
    });

    it('revokeSession of an unknown session returns undefined and creates nothing', async () => {
      const tokenHash = newTokenHash();
      expect(await h.store.revokeSession(tokenHash, h.now())).toBeUndefined();
      expect(await h.store.getSession(tokenHash)).toBeUndefined();
    });

    it("listSessions holds exactly the user's sessions, of every device", async () => {
      const alice = newUid();
      const bob = newUid();
      const mine = [
        h.session(alice, { deviceFlag: 0 }),
        h.session(alice, { deviceFlag: 1 }),
        h.session(alice, { deviceFlag: 1, issuedAtMs: h.now() + 1 }),
      ];
      const theirs = [h.session(bob, { deviceFlag: 0 }), h.session(bob, { deviceFlag: 2 })];
      for (const session of [...mine, ...theirs]) await h.store.putSession(session);
      expect(bySessionHash(await h.store.listSessions(alice))).toEqual(bySessionHash(mine));
      expect(bySessionHash(await h.store.listSessions(bob))).toEqual(bySessionHash(theirs));
      expect(await h.store.listSessions(newUid())).toEqual([]);
    });
  },
};

const users: Group = {
  name: 'users',
  tests(h, { it, expect }) {
    it('getUser of an unknown user is undefined', async () => {
      expect(await h.store.getUser(newUid())).toBeUndefined();
    });

    it('touchUser makes an empty record, and never shortens its life', async () => {
      const uid = newUid();
      const expiresAtMs = h.now() + LIVE_MS;
      await h.store.touchUser(uid, expiresAtMs);
      expect(await h.store.getUser(uid)).toEqual({ uid, deviceCutoffs: {}, devices: {}, expiresAtMs });
      await h.store.touchUser(uid, expiresAtMs - 1_000);
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(expiresAtMs);
      await h.store.touchUser(uid, expiresAtMs + 1_000);
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(expiresAtMs + 1_000);
    });

    it('touchUser keeps what is on file', async () => {
      const uid = newUid();
      const session = h.session(uid, { deviceFlag: 3 });
      const cutoff: Cutoff = { atMs: h.now() - 1, reason: 'kicked' };
      await h.store.putSession(session);
      await h.store.raiseCutoff(uid, null, cutoff, session.expiresAtMs);
      await h.store.touchUser(uid, session.expiresAtMs + 1);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff,
        deviceCutoffs: {},
        devices: { 3: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs + 1,
      });
    });

    it('putSession records the device on the user', async () => {
      const uid = newUid();
      const session = h.session(uid, { deviceFlag: 0 });
      await h.store.putSession(session);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: { 0: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs,
      });
    });

    it("a device's lastIssuedAtMs and expiresAtMs, and the user's expiresAtMs, only grow", async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.putSession(
        h.session(uid, { deviceFlag: 2, issuedAtMs: t + 10, expiresAtMs: t + 100_000 }),
      );
      await h.store.putSession(
        h.session(uid, { deviceFlag: 2, issuedAtMs: t + 5, expiresAtMs: t + 200_000 }),
      );
      expect((await h.store.getUser(uid))?.devices[2]).toEqual({
        lastIssuedAtMs: t + 10,
        expiresAtMs: t + 200_000,
      });
      await h.store.putSession(
        h.session(uid, { deviceFlag: 2, issuedAtMs: t + 20, expiresAtMs: t + 50_000 }),
      );
      await h.store.putSession(h.session(uid, { deviceFlag: 7, issuedAtMs: t + 1, expiresAtMs: t + 40_000 }));
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: {
          2: { lastIssuedAtMs: t + 20, expiresAtMs: t + 200_000 },
          7: { lastIssuedAtMs: t + 1, expiresAtMs: t + 40_000 },
        },
        expiresAtMs: t + 200_000,
      });
    });

    it('raiseCutoff with deviceFlag null sets the user cutoff: an atomic maximum', async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.raiseCutoff(uid, null, { atMs: t, reason: 'kicked' }, t + LIVE_MS);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff: { atMs: t, reason: 'kicked' },
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: t + LIVE_MS,
      });
      await h.store.raiseCutoff(uid, null, { atMs: t - 1, reason: 'device_quit' }, t + LIVE_MS);
      expect((await h.store.getUser(uid))?.cutoff).toEqual({ atMs: t, reason: 'kicked' });
      await h.store.raiseCutoff(uid, null, { atMs: t + 1, reason: 'device_quit' }, t + LIVE_MS);
      expect((await h.store.getUser(uid))?.cutoff).toEqual({ atMs: t + 1, reason: 'device_quit' });
    });

    it('raiseCutoff with a device flag sets that device only (flag 0 is a device, not "all")', async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.raiseCutoff(uid, 0, { atMs: t, reason: 'device_quit' }, t + LIVE_MS);
      await h.store.raiseCutoff(uid, 255, { atMs: t + 5, reason: 'kicked' }, t + LIVE_MS);
      await h.store.raiseCutoff(uid, 0, { atMs: t - 5, reason: 'kicked' }, t + LIVE_MS);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: { 0: { atMs: t, reason: 'device_quit' }, 255: { atMs: t + 5, reason: 'kicked' } },
        devices: {},
        expiresAtMs: t + LIVE_MS,
      });
      expect((await h.store.getUser(uid))?.cutoff).toBeUndefined();
      await h.store.raiseCutoff(uid, 0, { atMs: t + 9, reason: 'kicked' }, t + LIVE_MS);
      expect((await h.store.getUser(uid))?.deviceCutoffs).toEqual({
        0: { atMs: t + 9, reason: 'kicked' },
        255: { atMs: t + 5, reason: 'kicked' },
      });
    });

    it("raiseCutoff grows the user's expiresAtMs, never shrinks it, and keeps devices", async () => {
      const uid = newUid();
      const session = h.session(uid);
      await h.store.putSession(session);
      const cutoff: Cutoff = { atMs: h.now(), reason: 'kicked' };
      await h.store.raiseCutoff(uid, null, cutoff, session.expiresAtMs - 1_000);
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(session.expiresAtMs);
      await h.store.raiseCutoff(uid, 1, cutoff, session.expiresAtMs + 1_000);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff,
        deviceCutoffs: { 1: cutoff },
        devices: { 1: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs + 1_000,
      });
    });
  },
};

const connections: Group = {
  name: 'connections',
  tests(h, { it, expect }) {
    it('putConnection then listConnections returns it; deleteConnection removes it', async () => {
      const uid = newUid();
      const connection = h.connection(uid, { deviceFlag: 0, nodeId: 3, connId: 42 });
      await h.store.putConnection(connection);
      expect(await h.store.listConnections(uid)).toEqual([connection]);
      expect(await h.store.deleteConnection(uid, 3, 42)).toBe(true);
      expect(await h.store.listConnections(uid)).toEqual([]);
      expect(await h.store.deleteConnection(uid, 3, 42)).toBe(false);
    });

    it('putting a connection again replaces it, without a second entry', async () => {
      const uid = newUid();
      const connection = h.connection(uid);
      await h.store.putConnection(connection);
      const refreshed = { ...connection, deviceFlag: 5, connectedAtMs: connection.connectedAtMs + 30_000 };
      await h.store.putConnection(refreshed);
      expect(await h.store.listConnections(uid)).toEqual([refreshed]);
    });

    it('a connection is keyed by nodeId and connId together, on every node', async () => {
      const uid = newUid();
      const all = [
        h.connection(uid, { nodeId: 1, connId: 1 }),
        h.connection(uid, { nodeId: 2, connId: 1, deviceFlag: 2 }),
        h.connection(uid, { nodeId: 1, connId: 2 }),
        h.connection(uid, { nodeId: 12, connId: 3 }),
        h.connection(uid, { nodeId: 1, connId: 23 }),
      ];
      for (const connection of all) await h.store.putConnection(connection);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(all));
      expect(await h.store.deleteConnection(uid, 2, 1)).toBe(true);
      expect(await h.store.deleteConnection(uid, 1, 23)).toBe(true);
      expect(await h.store.deleteConnection(uid, 2, 2)).toBe(false);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(
        byConnection([all[0]!, all[2]!, all[3]!]),
      );
    });

    it("deleteConnection under another uid returns false and leaves the owner's connection", async () => {
      const owner = newUid();
      const connection = h.connection(owner);
      await h.store.putConnection(connection);
      expect(await h.store.deleteConnection(newUid(), connection.nodeId, connection.connId)).toBe(false);
      expect(await h.store.listConnections(owner)).toEqual([connection]);
    });
  },
};

const pushTokens: Group = {
  name: 'push tokens',
  tests(h, { it, expect }) {
    it('setPushToken then getPushTokens returns it', async () => {
      const uid = newUid();
      const ring = h.pushToken('ring', { deviceFlag: 0 });
      await h.store.setPushToken(uid, ring);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
      expect(await h.store.getPushTokens(newUid())).toEqual([]);
    });

    it('setPushToken replaces the token of its kind only', async () => {
      const uid = newUid();
      await h.store.setPushToken(uid, h.pushToken('ring'));
      const ring = h.pushToken('ring', { deviceFlag: 2, updatedAtMs: h.now() + 1 });
      await h.store.setPushToken(uid, ring);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
      const message = h.pushToken('message');
      await h.store.setPushToken(uid, message);
      expect(byKind(await h.store.getPushTokens(uid))).toEqual(byKind([ring, message]));
    });

    it('clearPushTokens clears the named kinds and returns those that were set', async () => {
      const uid = newUid();
      const ring = h.pushToken('ring');
      const message = h.pushToken('message');
      await h.store.setPushToken(uid, ring);
      await h.store.setPushToken(uid, message);
      expect(await h.store.clearPushTokens(uid, ['message'])).toEqual(['message']);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
      expect(await h.store.clearPushTokens(uid, ['ring', 'message'])).toEqual(['ring']);
      expect(await h.store.getPushTokens(uid)).toEqual([]);
      expect(await h.store.clearPushTokens(uid, ['ring', 'message'])).toEqual([]);
    });

    it('clearPushTokens with both kinds set returns both; with no kinds, clears nothing', async () => {
      const uid = newUid();
      const ring = h.pushToken('ring');
      const message = h.pushToken('message');
      await h.store.setPushToken(uid, ring);
      await h.store.setPushToken(uid, message);
      expect(await h.store.clearPushTokens(uid, [])).toEqual([]);
      expect(byKind(await h.store.getPushTokens(uid))).toEqual(byKind([ring, message]));
      expect(sortedKinds(await h.store.clearPushTokens(uid, PUSH_TOKEN_KINDS))).toEqual(['message', 'ring']);
      expect(await h.store.getPushTokens(uid)).toEqual([]);
    });
  },
};

const hits: Group = {
  name: 'hit (fixed windows)',
  tests(h, { it, expect }) {
    it('counts hits in one window: 1, 2, 3', async () => {
      const key = newKey();
      const start = h.windowStart(60_000);
      expect(await h.store.hit(key, start, 60_000)).toBe(1);
      expect(await h.store.hit(key, start + 1, 60_000)).toBe(2);
      expect(await h.store.hit(key, start + 59_999, 60_000)).toBe(3);
    });

    it('windows are aligned to multiples of windowMs, not to the first hit', async () => {
      const key = newKey();
      const windowMs = 7_000;
      const start = h.windowStart(windowMs);
      expect(await h.store.hit(key, start + 3_000, windowMs)).toBe(1);
      expect(await h.store.hit(key, start + 6_999, windowMs)).toBe(2);
      expect(await h.store.hit(key, start + 7_000, windowMs)).toBe(1);
      expect(await h.store.hit(key, start + 9_999, windowMs)).toBe(2);
      expect(await h.store.hit(key, start + 13_999, windowMs)).toBe(3);
      expect(await h.store.hit(key, start + 14_000, windowMs)).toBe(1);
    });

    it('the count starts again in the next window', async () => {
      const key = newKey();
      const start = h.windowStart(1_000);
      for (const expected of [1, 2, 3, 4]) expect(await h.store.hit(key, start + 500, 1_000)).toBe(expected);
      expect(await h.store.hit(key, start + 1_000, 1_000)).toBe(1);
      expect(await h.store.hit(key, start + 2_500, 1_000)).toBe(1);
    });

    it('separate keys count separately', async () => {
      const a = newKey();
      const b = newKey();
      const start = h.windowStart(60_000);
      expect(await h.store.hit(a, start, 60_000)).toBe(1);
      expect(await h.store.hit(a, start, 60_000)).toBe(2);
      expect(await h.store.hit(b, start, 60_000)).toBe(1);
      expect(await h.store.hit(`${a}:x`, start, 60_000)).toBe(1);
      expect(await h.store.hit(a, start, 60_000)).toBe(3);
    });
  },
};

const pubSub: Group = {
  name: 'publish and subscribe',
  tests(h, { it, expect }, options) {
    it('a published message reaches every subscriber, the publisher included, once each', async () => {
      const uid = newUid();
      const first = inbox(h.store, uid);
      const second = inbox(h.store, uid);
      const message: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 4 };
      await h.store.publish(message);
      await delivered([first, second], 1);
      first.stop();
      second.stop();
      expect(first.received).toEqual([message]);
      expect(second.received).toEqual([message]);
    });

    it('both kinds of message arrive unchanged and in order', async () => {
      const uid = newUid();
      const box = inbox(h.store, uid);
      const messages: ClusterMessage[] = [
        { type: 'revoked', uid, fromNodeId: 1 },
        {
          type: 'close-connections',
          nodeId: 2,
          connections: [
            { uid, connId: 1 },
            { uid, connId: 2 },
          ],
          code: 4001,
          reason: 'kicked: "signed in elsewhere" ✓',
          fromNodeId: 1,
        },
        { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 3 },
      ];
      for (const message of messages) await h.store.publish(message);
      await delivered([box], messages.length);
      box.stop();
      expect(box.received).toEqual(messages);
    });

    it('unsubscribing stops delivery to that listener only, and twice is harmless', async () => {
      const uid = newUid();
      const gone = inbox(h.store, uid);
      const kept = inbox(h.store, uid);
      gone.stop();
      gone.stop();
      const message: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      await h.store.publish(message);
      await delivered([kept], 1);
      kept.stop();
      expect(kept.received).toEqual([message]);
      expect(gone.received).toEqual([]);
    });

    if (!options.sharedBackend) return;

    it('(shared backend) a second store sees the records of the first', async () => {
      const other = await h.open();
      const uid = newUid();
      const session = h.session(uid);
      await h.store.putSession(session);
      const connection = h.connection(uid);
      await h.store.putConnection(connection);
      expect(await other.getSession(session.tokenHash)).toEqual(session);
      expect(await other.listSessions(uid)).toEqual([session]);
      expect(await other.listConnections(uid)).toEqual([connection]);
      expect(await other.deleteConnection(uid, connection.nodeId, connection.connId)).toBe(true);
      expect(await h.store.listConnections(uid)).toEqual([]);
    });

    it('(shared backend) a message published by one store reaches the subscribers of both', async () => {
      const other = await h.open();
      const uid = newUid();
      const here = inbox(h.store, uid);
      const there = inbox(other, uid);
      const fromHere: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      const fromThere: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 2 };
      await h.store.publish(fromHere);
      await delivered([here, there], 1);
      await other.publish(fromThere);
      await delivered([here, there], 2);
      here.stop();
      there.stop();
      expect(here.received).toEqual([fromHere, fromThere]);
      expect(there.received).toEqual([fromHere, fromThere]);
    });

    it('(shared backend) a closed store delivers nothing more', async () => {
      const other = await h.open();
      const uid = newUid();
      const closed = inbox(other, uid);
      const open = inbox(h.store, uid);
      await other.close();
      const message: ClusterMessage = { type: 'revoked', uid, fromNodeId: 1 };
      await h.store.publish(message);
      await delivered([open], 1);
      open.stop();
      expect(open.received).toEqual([message]);
      expect(closed.received).toEqual([]);
    });
  },
};

const expiry: Group = {
  name: 'expiry',
  // Each check that a record is still there comes at least two steps before its deadline, and each
  // check that it is gone comes just after: the margins hold even when real time drives expiry.
  tests(h, { it, expect }) {
    it('a session is returned past its expiresAtMs until its retainUntilMs, even once the user record is gone', async () => {
      const uid = newUid();
      const t = h.now();
      const session = h.session(uid, { expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs });
      await h.store.putSession(session);
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).toBeUndefined();
      expect(await h.store.getSession(session.tokenHash)).toEqual(session);
      expect(await h.store.listSessions(uid)).toEqual([session]);
      await h.elapse(2 * h.stepMs);
      expect(await h.store.getSession(session.tokenHash)).toBeUndefined();
      expect(await h.store.listSessions(uid)).toEqual([]);
    });

    it('a revoked session stays on file until its retainUntilMs, then goes', async () => {
      const t = h.now();
      const session = h.session(newUid(), { expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs });
      await h.store.putSession(session);
      await h.store.revokeSession(session.tokenHash, t);
      await h.elapse(h.stepMs);
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs: t });
      await h.elapse(2 * h.stepMs);
      expect(await h.store.getSession(session.tokenHash)).toBeUndefined();
      expect(await h.store.revokeSession(session.tokenHash, h.now())).toBeUndefined();
    });

    it('listSessions drops each session once its own retainUntilMs has passed', async () => {
      const uid = newUid();
      const t = h.now();
      const short = h.session(uid, { expiresAtMs: t + h.stepMs, retainUntilMs: t + h.stepMs });
      const long = h.session(uid, { expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs });
      await h.store.putSession(short);
      await h.store.putSession(long);
      await h.elapse(h.stepMs);
      expect(await h.store.listSessions(uid)).toEqual([long]);
      expect(await h.store.getSession(short.tokenHash)).toBeUndefined();
    });

    it('the user record goes once its expiresAtMs has passed, and comes back empty', async () => {
      const uid = newUid();
      const t = h.now();
      await h.store.raiseCutoff(uid, null, { atMs: t, reason: 'kicked' }, t + h.stepMs);
      await h.store.raiseCutoff(uid, 4, { atMs: t, reason: 'device_quit' }, t + h.stepMs);
      expect((await h.store.getUser(uid))?.cutoff).toEqual({ atMs: t, reason: 'kicked' });
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).toBeUndefined();
      const expiresAtMs = h.now() + LIVE_MS;
      await h.store.touchUser(uid, expiresAtMs);
      expect(await h.store.getUser(uid)).toEqual({ uid, deviceCutoffs: {}, devices: {}, expiresAtMs });
    });

    it('touchUser keeps a user known until its expiresAtMs', async () => {
      const uid = newUid();
      const expiresAtMs = h.now() + 3 * h.stepMs;
      await h.store.touchUser(uid, expiresAtMs);
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).toEqual({ uid, deviceCutoffs: {}, devices: {}, expiresAtMs });
      await h.elapse(2 * h.stepMs);
      expect(await h.store.getUser(uid)).toBeUndefined();
    });

    it('a push token past its expiresAtMs is neither returned nor reported as cleared', async () => {
      const uid = newUid();
      const t = h.now();
      const ring = h.pushToken('ring', { expiresAtMs: t + h.stepMs });
      const message = h.pushToken('message', { expiresAtMs: t + 3 * h.stepMs });
      await h.store.setPushToken(uid, ring);
      await h.store.setPushToken(uid, message);
      await h.elapse(h.stepMs);
      expect(await h.store.getPushTokens(uid)).toEqual([message]);
      expect(await h.store.clearPushTokens(uid, PUSH_TOKEN_KINDS)).toEqual(['message']);
    });
  },
};

const N = 50;

const concurrency: Group = {
  name: 'concurrency',
  tests(h, { it, expect }) {
    it(`${N} concurrent raiseCutoff: the latest cutoff wins, per scope`, async () => {
      const uid = newUid();
      const t = h.now();
      const cutoffs = shuffled(range(N)).map(
        (i): Cutoff => ({ atMs: t - 1_000 + i * 10, reason: i % 2 === 0 ? 'kicked' : 'device_quit' }),
      );
      const latest = cutoffs.reduce((a, b) => (b.atMs > a.atMs ? b : a));
      await Promise.all(
        cutoffs.flatMap((cutoff, i) => [
          h.store.raiseCutoff(uid, null, cutoff, t + LIVE_MS + i),
          h.store.raiseCutoff(uid, 9, cutoff, t + LIVE_MS - i),
        ]),
      );
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff: latest,
        deviceCutoffs: { 9: latest },
        devices: {},
        expiresAtMs: t + LIVE_MS + N - 1,
      });
    });

    it(`${N} concurrent putSession on one device: every session listed, the device at the maximum`, async () => {
      const uid = newUid();
      const t = h.now();
      const all = shuffled(range(N)).map((i) =>
        h.session(uid, { deviceFlag: 5, issuedAtMs: t + i, expiresAtMs: t + LIVE_MS + 3 * i }),
      );
      await Promise.all(all.map((session) => h.store.putSession(session)));
      expect(bySessionHash(await h.store.listSessions(uid))).toEqual(bySessionHash(all));
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: { 5: { lastIssuedAtMs: t + N - 1, expiresAtMs: t + LIVE_MS + 3 * (N - 1) } },
        expiresAtMs: t + LIVE_MS + 3 * (N - 1),
      });
    });

    it('concurrent writes of every kind to one user lose nothing', async () => {
      const uid = newUid();
      const t = h.now();
      const kick: Cutoff = { atMs: t, reason: 'kicked' };
      const quit: Cutoff = { atMs: t, reason: 'device_quit' };
      const sessions = range(10).map((i) => h.session(uid, { deviceFlag: 10 + i }));
      const connections = range(10).map((i) => h.connection(uid, { connId: i }));
      const ring = h.pushToken('ring');
      const message = h.pushToken('message');
      await Promise.all([
        h.store.raiseCutoff(uid, null, kick, t + LIVE_MS),
        h.store.raiseCutoff(uid, 3, quit, t + LIVE_MS),
        h.store.touchUser(uid, t + 3 * LIVE_MS),
        ...sessions.map((session) => h.store.putSession(session)),
        ...connections.map((connection) => h.store.putConnection(connection)),
        h.store.setPushToken(uid, ring),
        h.store.setPushToken(uid, message),
      ]);
      expect(await h.store.getUser(uid)).toEqual({
        uid,
        cutoff: kick,
        deviceCutoffs: { 3: quit },
        devices: Object.fromEntries(
          sessions.map((s) => [s.deviceFlag, { lastIssuedAtMs: s.issuedAtMs, expiresAtMs: s.expiresAtMs }]),
        ),
        expiresAtMs: t + 3 * LIVE_MS,
      });
      expect(bySessionHash(await h.store.listSessions(uid))).toEqual(bySessionHash(sessions));
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(connections));
      expect(byKind(await h.store.getPushTokens(uid))).toEqual(byKind([ring, message]));
    });

    it(`${N} concurrent revokeSession: exactly one applies, and its time is kept`, async () => {
      const session = h.session(newUid());
      await h.store.putSession(session);
      const times = shuffled(range(N)).map((i) => h.now() + i);
      const befores = await Promise.all(times.map((atMs) => h.store.revokeSession(session.tokenHash, atMs)));
      const winners = times.filter((_, i) => befores[i]?.revokedAtMs === undefined);
      expect(winners).toHaveLength(1);
      const revokedAtMs = winners[0];
      for (const before of befores) expect(before?.tokenHash).toBe(session.tokenHash);
      for (const [i, before] of befores.entries()) {
        if (times[i] !== revokedAtMs) expect(before).toEqual({ ...session, revokedAtMs });
      }
      expect(await h.store.getSession(session.tokenHash)).toEqual({ ...session, revokedAtMs });
    });

    it(`${N} concurrent putConnection interleaved with deleteConnection: the index stays exact`, async () => {
      const uid = newUid();
      const initial = range(N).map((i) => h.connection(uid, { nodeId: 1 + (i % 3), connId: i }));
      await Promise.all(initial.map((connection) => h.store.putConnection(connection)));
      const removed = initial.filter((_, i) => i % 2 === 0);
      const added = range(N).map((i) => h.connection(uid, { nodeId: 1 + (i % 3), connId: 1_000 + i }));
      const results = await Promise.all(
        interleaved<boolean | undefined>(
          removed.map((c) => () => h.store.deleteConnection(uid, c.nodeId, c.connId)),
          added.map((c) => async () => {
            await h.store.putConnection(c);
            return undefined;
          }),
        ),
      );
      expect(results.filter((result) => result === true)).toHaveLength(removed.length);
      const kept = initial.filter((_, i) => i % 2 === 1);
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection([...kept, ...added]));
    });

    it('concurrent deleteConnection of one connection: exactly one returns true', async () => {
      const uid = newUid();
      const connection = h.connection(uid);
      await h.store.putConnection(connection);
      const results = await Promise.all(
        range(10).map(() => h.store.deleteConnection(uid, connection.nodeId, connection.connId)),
      );
      expect(results.filter((deleted) => deleted)).toHaveLength(1);
      expect(await h.store.listConnections(uid)).toEqual([]);
    });

    it('concurrent clearPushTokens: each kind is reported cleared exactly once', async () => {
      const uid = newUid();
      await h.store.setPushToken(uid, h.pushToken('ring'));
      await h.store.setPushToken(uid, h.pushToken('message'));
      const results = await Promise.all(range(10).map(() => h.store.clearPushTokens(uid, PUSH_TOKEN_KINDS)));
      expect(sortedKinds(results.flat())).toEqual(['message', 'ring']);
      expect(await h.store.getPushTokens(uid)).toEqual([]);
    });

    it(`${N} concurrent hits count 1 to ${N}, each once`, async () => {
      const key = newKey();
      const start = h.windowStart(60_000);
      const counts = await Promise.all(range(N).map((i) => h.store.hit(key, start + i, 60_000)));
      expect([...counts].sort((a, b) => a - b)).toEqual(range(N).map((i) => i + 1));
    });
  },
};

/** A kick of the whole user at `h.now()`, requiring the user, as the engine sends it; `overrides` change that. */
function kickRequest(h: Harness, uid: string, overrides: Partial<KickRequest> = {}): KickRequest {
  const atMs = h.now();
  return {
    uid,
    deviceFlag: null,
    cutoff: { atMs, reason: 'kicked' },
    expiresAtMs: atMs + LIVE_MS,
    require: { user: true, device: false },
    announce: { type: 'revoked', uid, fromNodeId: 1 },
    ...overrides,
  };
}

/** A kick of one device, requiring the user and the device, as `quitDevice` sends it. */
function deviceKickRequest(h: Harness, uid: string, deviceFlag: number): KickRequest {
  const atMs = h.now();
  return kickRequest(h, uid, {
    deviceFlag,
    cutoff: { atMs, reason: 'device_quit' },
    require: { user: true, device: true },
  });
}

const kick: Group = {
  name: 'kick (optional)',
  // Stores are made per test, so whether this one has `kick` is known only inside a test: as with
  // `onLinkChange`, each test below returns at once when the store leaves it out.
  tests(h, { it, expect }) {
    /**
     * Kicks with `request`, expects it refused for `missing`, and checks that it wrote nothing (the
     * user and the connections read the same before and after) and published nothing (a message
     * published right after it is the only one to arrive: messages arrive in publishing order).
     */
    const refused = async (request: KickRequest, missing: 'user' | 'device') => {
      const { store } = h;
      const box = inbox(store, request.uid);
      const read = async () => [
        await store.getUser(request.uid),
        byConnection(await store.listConnections(request.uid)),
      ];
      const before = await read();
      expect(await store.kick!(request)).toEqual({ applied: false, missing });
      expect(await read()).toEqual(before);
      const marker: ClusterMessage = {
        type: 'revoked',
        uid: request.uid,
        tokenHash: newTokenHash(),
        fromNodeId: 99,
      };
      await store.publish(marker);
      await delivered([box], 1);
      box.stop();
      expect(box.received).toEqual([marker]);
    };

    it('kick is optional: a function when the store has it (tested below), else absent and every kick test returns at once (the engine then kicks step by step)', () => {
      const kick = h.store.kick;
      expect(kick === undefined || typeof kick === 'function').toBe(true);
    });

    it('kick of a user not on file (unknown, or expired) with the user required: missing "user" (before "device"); nothing written or published', async () => {
      if (h.store.kick === undefined) return;
      const unknown = newUid();
      await refused(kickRequest(h, unknown), 'user');
      await refused(deviceKickRequest(h, unknown, 3), 'user');
      expect(await h.store.getUser(unknown)).toBeUndefined();

      const lapsed = newUid();
      const t = h.now();
      await h.store.putSession(
        h.session(lapsed, { deviceFlag: 3, expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs }),
      );
      await h.store.raiseCutoff(lapsed, 4, { atMs: t - 1, reason: 'device_quit' }, t + h.stepMs);
      await h.elapse(h.stepMs);
      await refused(kickRequest(h, lapsed), 'user');
      await refused(deviceKickRequest(h, lapsed, 3), 'user');
      expect(await h.store.getUser(lapsed)).toBeUndefined();
    });

    it('kick of a device with no record and no connection: missing "device", with or without the user check; nothing written or published', async () => {
      if (h.store.kick === undefined) return;
      const uid = newUid();
      await h.store.putSession(h.session(uid, { deviceFlag: 2 }));
      await h.store.putConnection(h.connection(uid, { deviceFlag: 2 }));
      await h.store.touchUser(uid, h.now() + 2 * LIVE_MS);
      const request = deviceKickRequest(h, uid, 3);
      await refused(request, 'device');
      // A host with its own user table: the store checks the device only.
      await refused({ ...request, require: { user: false, device: true } }, 'device');
      // Flag 0 is a device like any other, not "all".
      await refused(deviceKickRequest(h, uid, 0), 'device');
      const unknown = newUid();
      await refused(
        { ...deviceKickRequest(h, unknown, 3), require: { user: false, device: true } },
        'device',
      );
      expect(await h.store.getUser(unknown)).toBeUndefined();
    });

    it('kick of a device whose record has expired (and no connection): missing "device"; nothing written or published', async () => {
      if (h.store.kick === undefined) return;
      const uid = newUid();
      const t = h.now();
      await h.store.putSession(
        h.session(uid, { deviceFlag: 3, expiresAtMs: t + h.stepMs, retainUntilMs: t + 3 * h.stepMs }),
      );
      // The user outlives the device.
      await h.store.touchUser(uid, t + 3 * h.stepMs);
      await h.elapse(h.stepMs);
      expect(await h.store.getUser(uid)).not.toBeUndefined();
      await refused(deviceKickRequest(h, uid, 3), 'device');
    });

    it('kick of a device issued at or before a cutoff that applies to it (the user\'s or its own): missing "device"; after every one, or cut off on another device only: applied', async () => {
      if (h.store.kick === undefined) return;
      const t = h.now();
      /** A user whose device 3 was issued at `issuedAtMs`, with the given cutoffs already on file. */
      const userWith = async (issuedAtMs: number, cutoffs: [number | null, number][]) => {
        const uid = newUid();
        await h.store.putSession(h.session(uid, { deviceFlag: 3, issuedAtMs }));
        for (const [flag, atMs] of cutoffs) {
          await h.store.raiseCutoff(
            uid,
            flag,
            { atMs, reason: flag === null ? 'kicked' : 'device_quit' },
            t + LIVE_MS,
          );
        }
        return uid;
      };
      const absent = [
        await userWith(t - 10, [[null, t - 10]]), // the user's cutoff, at the very ms
        await userWith(t - 10, [[null, t - 5]]), // the user's cutoff, after
        await userWith(t - 10, [[3, t - 10]]), // the device's, at the very ms
        await userWith(t - 10, [[3, t - 5]]), // the device's, after
        await userWith(t - 10, [
          [null, t - 20],
          [3, t - 10],
        ]), // the latest of the two applies
        await userWith(t - 10, [
          [null, t - 10],
          [3, t - 20],
        ]),
      ];
      for (const uid of absent) await refused(deviceKickRequest(h, uid, 3), 'device');
      const present = [
        await userWith(t - 10, [[null, t - 11]]),
        await userWith(t - 10, [[3, t - 11]]),
        await userWith(t - 10, [
          [null, t - 11],
          [3, t - 12],
        ]),
        await userWith(t - 10, [[4, t]]), // another device's cutoff does not apply
      ];
      for (const uid of present) {
        expect(await h.store.kick!(deviceKickRequest(h, uid, 3))).toEqual({ applied: true, connections: [] });
        expect((await h.store.getUser(uid))?.deviceCutoffs[3]).toEqual({ atMs: t, reason: 'device_quit' });
      }
    });

    it('kick of a device present through a live connection only (no record, or one cut off): applied; a connection of a dead node incarnation, or one of another device, does not count', async () => {
      if (h.store.kick === undefined) return;
      const t = h.now();
      const connected = newUid();
      const connection = h.connection(connected, { deviceFlag: 3, nodeId: 2, connId: 7 });
      await h.store.putConnection(connection);
      expect(await h.store.kick!(deviceKickRequest(h, connected, 3))).toEqual({
        applied: true,
        connections: [connection],
      });
      // Its record is cut off by that quit now; its connection still makes it present.
      await h.store.putSession(h.session(connected, { deviceFlag: 3, issuedAtMs: t - 1 }));
      expect(await h.store.kick!(deviceKickRequest(h, connected, 3))).toEqual({
        applied: true,
        connections: [connection],
      });

      const stale = newUid();
      await h.store.putConnection(h.connection(stale, { deviceFlag: 3, connId: 1, incarnation: 'replaced' }));
      await h.store.putConnection(h.connection(stale, { deviceFlag: 2, connId: 2 }));
      await refused(deviceKickRequest(h, stale, 3), 'device');
    });

    it("kick applied: the cutoff is raised exactly as raiseCutoff raises it (an atomic maximum: a lower cutoff does not lower it, an equal one keeps the one on file), and the user's expiry only grows", async () => {
      if (h.store.kick === undefined) return;
      const t = h.now();
      const byKick = newUid();
      const byRaise = newUid();
      const session = h.session(byKick, { deviceFlag: 2, issuedAtMs: t - 100 });
      await h.store.putSession(session);
      await h.store.putSession({ ...session, tokenHash: newTokenHash(), uid: byRaise });
      const steps: [number | null, number, 'kicked' | 'device_quit', number][] = [
        [null, t + 10, 'kicked', session.expiresAtMs - 1_000], // shorter than the user's: no change
        [null, t + 5, 'device_quit', session.expiresAtMs + 1_000], // lower: kept, the expiry grows
        [null, t + 10, 'device_quit', session.expiresAtMs], // equal: the one on file stays
        [2, t + 20, 'device_quit', session.expiresAtMs],
        [2, t + 20, 'kicked', session.expiresAtMs + 3_000],
        [2, t + 15, 'kicked', session.expiresAtMs],
        [7, t + 1, 'device_quit', session.expiresAtMs + 2_000], // a device never seen
        [null, t + 30, 'device_quit', session.expiresAtMs],
      ];
      for (const [deviceFlag, atMs, reason, expiresAtMs] of steps) {
        const cutoff: Cutoff = { atMs, reason };
        expect(await h.store.kick!(kickRequest(h, byKick, { deviceFlag, cutoff, expiresAtMs }))).toEqual({
          applied: true,
          connections: [],
        });
        await h.store.raiseCutoff(byRaise, deviceFlag, cutoff, expiresAtMs);
        expect({ ...(await h.store.getUser(byKick)), uid: byRaise }).toEqual(await h.store.getUser(byRaise));
      }
      expect(await h.store.getUser(byKick)).toEqual({
        uid: byKick,
        cutoff: { atMs: t + 30, reason: 'device_quit' },
        deviceCutoffs: {
          2: { atMs: t + 20, reason: 'device_quit' },
          7: { atMs: t + 1, reason: 'device_quit' },
        },
        devices: { 2: { lastIssuedAtMs: t - 100, expiresAtMs: session.expiresAtMs } },
        expiresAtMs: session.expiresAtMs + 3_000,
      });
    });

    it('kick applied without the user check: a user not on file (unknown, or expired) is started afresh with the cutoff, as raiseCutoff does; with no device flag, "device" asks nothing', async () => {
      if (h.store.kick === undefined) return;
      const t = h.now();
      const unknown = newUid();
      const cutoff: Cutoff = { atMs: t, reason: 'kicked' };
      const noCheck = { require: { user: false, device: false } };
      expect(await h.store.kick!(kickRequest(h, unknown, noCheck))).toEqual({
        applied: true,
        connections: [],
      });
      expect(await h.store.getUser(unknown)).toEqual({
        uid: unknown,
        cutoff,
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: t + LIVE_MS,
      });

      const lapsed = newUid();
      await h.store.raiseCutoff(lapsed, null, { atMs: t + 50, reason: 'device_quit' }, t + h.stepMs);
      await h.store.raiseCutoff(lapsed, 4, { atMs: t + 50, reason: 'device_quit' }, t + h.stepMs);
      await h.elapse(h.stepMs);
      const later = h.now();
      const quit: Cutoff = { atMs: later, reason: 'device_quit' };
      const result = await h.store.kick!(
        kickRequest(h, lapsed, { ...noCheck, deviceFlag: 5, cutoff: quit, expiresAtMs: later + LIVE_MS }),
      );
      expect(result).toEqual({ applied: true, connections: [] });
      expect(await h.store.getUser(lapsed)).toEqual({
        uid: lapsed,
        deviceCutoffs: { 5: quit },
        devices: {},
        expiresAtMs: later + LIVE_MS,
      });

      // The device is asked for only with a device flag: a kick of every device needs the user only.
      const known = newUid();
      await h.store.touchUser(known, later + LIVE_MS);
      const all = kickRequest(h, known, { require: { user: true, device: true } });
      expect(await h.store.kick!(all)).toEqual({ applied: true, connections: [] });
      expect((await h.store.getUser(known))?.cutoff).toEqual({ atMs: later, reason: 'kicked' });
    });

    it("kick applied: returns exactly the user's live connections (of every device and node, those of dead node incarnations left out), as listConnections lists them right after, as copies", async () => {
      if (h.store.kick === undefined) return;
      const uid = newUid();
      const live = [
        h.connection(uid, { deviceFlag: 1, nodeId: 1, connId: 1 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 2, connId: 2 }),
        h.connection(uid, { deviceFlag: 2, nodeId: 1, connId: 3 }),
      ];
      for (const connection of live) await h.store.putConnection(connection);
      await h.store.putConnection(
        h.connection(uid, { deviceFlag: 2, nodeId: 2, connId: 4, incarnation: 'replaced' }),
      );
      await h.store.putConnection(h.connection(newUid(), { deviceFlag: 2, nodeId: 1, connId: 5 }));

      const quit = await h.store.kick!(deviceKickRequest(h, uid, 2));
      expect(quit.applied).toBe(true);
      const listed = quit.applied ? quit.connections : [];
      expect(byConnection(listed)).toEqual(byConnection(live));
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(live));
      listed[0]!.incarnation = 'changed';
      expect(byConnection(await h.store.listConnections(uid))).toEqual(byConnection(live));

      const kicked = await h.store.kick!(kickRequest(h, uid));
      expect(kicked.applied).toBe(true);
      expect(byConnection(kicked.applied ? kicked.connections : [])).toEqual(byConnection(live));
    });

    it('kick applied: the announcement is published once, unchanged, to every subscriber, before the kick resolves (a message published right after it arrives after it)', async () => {
      if (h.store.kick === undefined) return;
      const uid = newUid();
      const stores = h.options.sharedBackend ? [h.store, await h.open()] : [h.store];
      const boxes = stores.flatMap((store) => [inbox(store, uid), inbox(store, uid)]);
      await h.store.touchUser(uid, h.now() + LIVE_MS);
      const announce: ClusterMessage = { type: 'revoked', uid, fromNodeId: 7 };
      expect(await h.store.kick!(kickRequest(h, uid, { announce }))).toEqual({
        applied: true,
        connections: [],
      });
      const marker: ClusterMessage = { type: 'revoked', uid, tokenHash: newTokenHash(), fromNodeId: 8 };
      await h.store.publish(marker);
      await delivered(boxes, 2);
      for (const box of boxes) {
        box.stop();
        expect(box.received).toEqual([announce, marker]);
      }
    });

    it(`${N} concurrent kicks, mixed with raiseCutoff, never lower the cutoff: the latest wins, per scope, and each kick is announced`, async () => {
      if (h.store.kick === undefined) return;
      const uid = newUid();
      const t = h.now();
      await h.store.putSession(h.session(uid, { deviceFlag: 9, issuedAtMs: t - 2_000 }));
      const box = inbox(h.store, uid);
      const cutoffs = shuffled(range(N)).map(
        (i): Cutoff => ({ atMs: t - 1_000 + i * 10, reason: i % 2 === 0 ? 'kicked' : 'device_quit' }),
      );
      const latest = cutoffs.reduce((a, b) => (b.atMs > a.atMs ? b : a));
      const results = await Promise.all(
        cutoffs.flatMap((cutoff, i) => [
          h.store.kick!(kickRequest(h, uid, { cutoff, expiresAtMs: t + LIVE_MS + i })),
          h.store.kick!(kickRequest(h, uid, { deviceFlag: 9, cutoff, expiresAtMs: t + LIVE_MS - i })),
          h.store.raiseCutoff(uid, i % 2 === 0 ? null : 9, { ...cutoff, atMs: cutoff.atMs - 5 }, t + LIVE_MS),
        ]),
      );
      for (const result of results)
        if (result !== undefined) expect(result).toEqual({ applied: true, connections: [] });
      expect((await h.store.getUser(uid))?.cutoff).toEqual(latest);
      expect((await h.store.getUser(uid))?.deviceCutoffs).toEqual({ 9: latest });
      expect((await h.store.getUser(uid))?.expiresAtMs).toBe(t + LIVE_MS + N - 1);
      await delivered([box], 2 * N);
      box.stop();
      expect(box.received).toHaveLength(2 * N);
    });
  },
};

const largeValues: Group = {
  name: 'large values',
  tests(h, { it, expect }) {
    it('a 4 KiB push token round-trips', async () => {
      const uid = newUid();
      const token = randomBytes(3_072).toString('base64');
      expect(token).toHaveLength(4_096);
      const ring = h.pushToken('ring', { token });
      await h.store.setPushToken(uid, ring);
      expect(await h.store.getPushTokens(uid)).toEqual([ring]);
    });

    it('1000 sessions of one user are all listed', async () => {
      const uid = newUid();
      const t = h.now();
      const all = range(1_000).map((i) => h.session(uid, { deviceFlag: i % 256, issuedAtMs: t + i }));
      await Promise.all(all.map((session) => h.store.putSession(session)));
      const listed = await h.store.listSessions(uid);
      expect(listed).toHaveLength(1_000);
      expect(bySessionHash(listed)).toEqual(bySessionHash(all));
      const user = await h.store.getUser(uid);
      expect(Object.keys(user?.devices ?? {})).toHaveLength(256);
      expect(user?.devices[255]?.lastIssuedAtMs).toBe(t + 767);
    });

    it('a message closing 500 connections arrives whole', async () => {
      const uid = newUid();
      const box = inbox(h.store, uid);
      const message: ClusterMessage = {
        type: 'close-connections',
        nodeId: 7,
        connections: range(500).map((connId) => ({ uid, connId })),
        code: 4000,
        reason: 'x'.repeat(123),
        fromNodeId: 8,
      };
      await h.store.publish(message);
      await delivered([box], 1);
      box.stop();
      expect(box.received).toEqual([message]);
    });
  },
};

/** Uids that break naive key building: glob and hash-tag characters, separators, unicode, 255 bytes. */
function oddUids(): string[] {
  const base = randomBytes(6).toString('hex');
  const uids = [
    base,
    `${base}x`,
    `${base}}b`,
    `{${base}}`,
    `${base}{`,
    `${base}*`,
    `*${base}`,
    `${base}?`,
    `${base}[x]`,
    `${base}\\*`,
    `${base}:sessions`,
    `${base}:connections`,
    `${base}:push`,
    `${base}:user`,
    `:${base}:`,
    ` ${base} with spaces `,
    `ユーザー${base}`,
    `${base}👩🏽‍💻🔥`,
    `${base}"'%\``,
  ];
  let long = `${base}-`;
  while (new TextEncoder().encode(`${long}é`).length <= 255) long += 'é';
  while (new TextEncoder().encode(long).length < 255) long += 'z';
  uids.push(long);
  return uids;
}

const oddKeys: Group = {
  name: 'odd keys',
  tests(h, { it, expect }) {
    it('the odd uids are distinct, and one is exactly 255 bytes of UTF-8', () => {
      const uids = oddUids();
      expect(new Set(uids).size).toBe(uids.length);
      expect(uids.map((uid) => new TextEncoder().encode(uid).length)).toContain(255);
    });

    it('every method round-trips odd uids', async () => {
      const { store } = h;
      const start = h.windowStart(60_000);
      for (const uid of oddUids()) {
        const session = h.session(uid, { deviceFlag: 2 });
        await store.putSession(session);
        expect(await store.getSession(session.tokenHash)).toEqual(session);
        expect(await store.listSessions(uid)).toEqual([session]);
        expect(await store.revokeSession(session.tokenHash, h.now())).toEqual(session);
        const cutoff: Cutoff = { atMs: h.now(), reason: 'kicked' };
        await store.raiseCutoff(uid, null, cutoff, session.expiresAtMs);
        await store.raiseCutoff(uid, 2, cutoff, session.expiresAtMs);
        await store.touchUser(uid, session.expiresAtMs + 1);
        expect(await store.getUser(uid)).toEqual({
          uid,
          cutoff,
          deviceCutoffs: { 2: cutoff },
          devices: { 2: { lastIssuedAtMs: session.issuedAtMs, expiresAtMs: session.expiresAtMs } },
          expiresAtMs: session.expiresAtMs + 1,
        });
        const connection = h.connection(uid);
        await store.putConnection(connection);
        expect(await store.listConnections(uid)).toEqual([connection]);
        expect(await store.deleteConnection(uid, connection.nodeId, connection.connId)).toBe(true);
        expect(await store.listConnections(uid)).toEqual([]);
        const ring = h.pushToken('ring');
        await store.setPushToken(uid, ring);
        expect(await store.getPushTokens(uid)).toEqual([ring]);
        expect(await store.clearPushTokens(uid, PUSH_TOKEN_KINDS)).toEqual(['ring']);
        expect(await store.hit(`${uid}:login`, start, 60_000)).toBe(1);
        expect(await store.hit(`${uid}:login`, start, 60_000)).toBe(2);
        if (store.kick === undefined) continue;
        // Device 2 is cut off; its connection keeps it present.
        const device = h.connection(uid, { deviceFlag: 2, connId: 2 });
        await store.putConnection(device);
        const quit: Cutoff = { atMs: h.now() + 1, reason: 'device_quit' };
        const request = kickRequest(h, uid, {
          deviceFlag: 2,
          cutoff: quit,
          require: { user: true, device: true },
        });
        expect(await store.kick(request)).toEqual({ applied: true, connections: [device] });
        expect((await store.getUser(uid))?.deviceCutoffs).toEqual({ 2: quit });
      }
    });

    it("odd uids never see each other's records", async () => {
      const uids = oddUids();
      const start = h.windowStart(60_000);
      const t = h.now();
      const written = uids.map((uid, i) => ({
        uid,
        session: h.session(uid, { deviceFlag: i }),
        connection: h.connection(uid, { connId: i }),
        ring: h.pushToken('ring', { token: `ring-of-${i}` }),
        cutoff: { atMs: t + i, reason: 'kicked' } as Cutoff,
      }));
      for (const w of written) {
        await h.store.putSession(w.session);
        await h.store.putConnection(w.connection);
        await h.store.setPushToken(w.uid, w.ring);
        await h.store.raiseCutoff(w.uid, null, w.cutoff, w.session.expiresAtMs);
        expect(await h.store.hit(w.uid, start, 60_000)).toBe(1);
      }
      for (const w of written) {
        expect(await h.store.listSessions(w.uid)).toEqual([w.session]);
        expect(await h.store.listConnections(w.uid)).toEqual([w.connection]);
        expect(await h.store.getPushTokens(w.uid)).toEqual([w.ring]);
        expect(await h.store.getUser(w.uid)).toEqual({
          uid: w.uid,
          cutoff: w.cutoff,
          deviceCutoffs: {},
          devices: {
            [w.session.deviceFlag]: {
              lastIssuedAtMs: w.session.issuedAtMs,
              expiresAtMs: w.session.expiresAtMs,
            },
          },
          expiresAtMs: w.session.expiresAtMs,
        });
      }
      // Clearing or deleting under one uid leaves every other uid's records alone.
      const [first, ...others] = written;
      expect(await h.store.clearPushTokens(first!.uid, PUSH_TOKEN_KINDS)).toEqual(['ring']);
      expect(await h.store.deleteConnection(first!.uid, 1, 0)).toBe(true);
      for (const w of others) {
        expect(await h.store.getPushTokens(w.uid)).toEqual([w.ring]);
        expect(await h.store.listConnections(w.uid)).toEqual([w.connection]);
        expect(await h.store.hit(w.uid, start, 60_000)).toBe(2);
      }
    });

    it('odd token hashes and hit keys round-trip', async () => {
      const uid = newUid();
      const suffix = randomBytes(6).toString('hex');
      const hashes = [`a:b{c}*?[d]-${suffix}`, `ハッシュ ${suffix} 🔑`, `${suffix}+/=`];
      for (const tokenHash of hashes) {
        const session = h.session(uid, { tokenHash });
        await h.store.putSession(session);
        expect(await h.store.getSession(tokenHash)).toEqual(session);
        expect(await h.store.getSession(`${tokenHash}x`)).toBeUndefined();
      }
      expect((await h.store.listSessions(uid)).map((s) => s.tokenHash).sort(compareText)).toEqual(
        [...hashes].sort(compareText),
      );
      const start = h.windowStart(60_000);
      for (const key of hashes) expect(await h.store.hit(key, start, 60_000)).toBe(1);
      expect(await h.store.hit(`${hashes[0]}*`, start, 60_000)).toBe(1);
    });
  },
};

const GROUPS: readonly Group[] = [
  lifecycle,
  sessions,
  users,
  connections,
  pushTokens,
  hits,
  pubSub,
  expiry,
  concurrency,
  kick,
  largeValues,
  oddKeys,
  nodeLiveness,
];
