/**
 * What every conformance test shares: the harness that makes and closes the stores of a test and
 * moves its clock, record builders, random names, and the inbox that collects published messages.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type {
  ClusterMessage,
  ConnectionRecord,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
} from '../model.js';
import type { EvictStore, KickRequest, ScanPage } from '../store.js';
import { ConformanceClock } from './clock.js';
import type { ConformanceOptions, ConformanceRunner, MakeStore } from './index.js';

/** How long records live in tests that are not about expiry. */
export const LIVE_MS = 10 * 60_000;
/** The step of expiry tests: long on a manual clock, short when the backend expires keys in real time. */
const MANUAL_STEP_MS = 60 * 60_000;
const REAL_TIME_STEP_MS = 25;
/** Real time allowed past a deadline, for a backend that rounds or checks expiry a little late. */
const REAL_TIME_SLACK_MS = 5;
/** How long a message may take to arrive, and how long to keep listening for duplicates. */
const DELIVERY_TIMEOUT_MS = 2_000;
export const SETTLE_MS = 30;
/** The nodes every store starts a test with, live far beyond any test's clock (see `Harness.open`). */
const HARNESS_NODE_IDS = Array.from({ length: 12 }, (_, i) => i + 1);
const HARNESS_NODE_LIVE_MS = 365 * 24 * 60 * 60_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Harness {
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

/**
 * True when the store leaves out the optional method a test is about (`present` is false): the test
 * is then marked skipped through the runner's context where it can be (vitest's `skip`), and the
 * caller returns. A test that checked nothing must not read as passed.
 */
export function lacks(context: unknown[], present: boolean, method: string): boolean {
  if (present) return false;
  const skip = (context[0] as { skip?: (note?: string) => void } | undefined)?.skip;
  skip?.(`the store has no ${method}`);
  return true;
}

export type Group = {
  name: string;
  tests: (h: Harness, runner: ConformanceRunner, options: Required<ConformanceOptions>) => void;
};

export const newUid = () => `uid-${randomUUID()}`;
export const newTokenHash = () => randomBytes(32).toString('base64url');
export const newKey = () => `hit-${randomUUID()}`;
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
export const bySessionHash = (records: readonly SessionRecord[]) =>
  [...records].sort((a, b) => compareText(a.tokenHash, b.tokenHash));
/**
 * Every item of a scan (`scanSessions`, `scanConnections`), a page at a time with `count` as the hint,
 * and how many pages it took; a scan that does not end within `maxPages` fails the test.
 */
export async function scanAll<T>(
  scan: (cursor: string | undefined, count: number) => Promise<ScanPage<T>>,
  count: number,
  maxPages = 10_000,
): Promise<{ items: T[]; pages: number; largestPage: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  let largestPage = 0;
  do {
    const page = await scan(cursor, count);
    items.push(...page.items);
    largestPage = Math.max(largestPage, page.items.length);
    cursor = page.cursor;
    if (++pages > maxPages) throw new Error(`conformance: a scan did not end within ${maxPages} pages`);
  } while (cursor !== undefined);
  return { items, pages, largestPage };
}

/** One of each (by `key`): a scan may return an item more than once. */
export function distinct<T>(items: readonly T[], key: (item: T) => string): T[] {
  return [...new Map(items.map((item) => [key(item), item])).values()];
}

export const byConnection = (records: readonly ConnectionRecord[]) =>
  [...records].sort((a, b) => a.nodeId - b.nodeId || a.connId - b.connId);
export const byKind = (records: readonly PushTokenRecord[]) =>
  [...records].sort((a, b) => compareText(a.kind, b.kind));
export const sortedKinds = (kinds: readonly PushTokenKind[]) => [...kinds].sort(compareText);

/** The items in a random order. */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Calls every function without waiting in between, alternating between the lists. */
export function interleaved<T>(...lists: (() => Promise<T>)[][]): Promise<T>[] {
  const calls: Promise<T>[] = [];
  const longest = Math.max(...lists.map((list) => list.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) calls.push(list[i]!());
  return calls;
}

/** The messages of one test only: other suites may publish on the same backend at the same time. */
export function inbox(store: EvictStore, uid: string): { received: ClusterMessage[]; stop: () => void } {
  const received: ClusterMessage[] = [];
  const stop = store.subscribe((message) => {
    const mentioned =
      message.type === 'revoked' ? message.uid === uid : message.connections.some((c) => c.uid === uid);
    if (mentioned) received.push(message);
  });
  return { received, stop };
}

/** Waits until every inbox holds `count` messages (or the delivery timeout), then for duplicates. */
export async function delivered(inboxes: { received: ClusterMessage[] }[], count: number): Promise<void> {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  while (inboxes.some((i) => i.received.length < count) && Date.now() < deadline) await sleep(5);
  await sleep(SETTLE_MS);
}

/** How many calls the concurrency tests race at once. */
export const CONCURRENT_CALLS = 50;

/** A kick of the whole user at `h.now()`, requiring the user, as the engine sends it; `overrides` change that. */
export function kickRequest(h: Harness, uid: string, overrides: Partial<KickRequest> = {}): KickRequest {
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
export function deviceKickRequest(h: Harness, uid: string, deviceFlag: number): KickRequest {
  const atMs = h.now();
  return kickRequest(h, uid, {
    deviceFlag,
    cutoff: { atMs, reason: 'device_quit' },
    require: { user: true, device: true },
  });
}
