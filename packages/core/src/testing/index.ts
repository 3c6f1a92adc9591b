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
import type { EvictStore } from '../store.js';
import { admissions } from './admissions.js';
import { ConformanceClock } from './clock.js';
import { concurrency } from './concurrency.js';
import { connections } from './connections.js';
import { deviceRosters } from './device-rosters.js';
import { expiry } from './expiry.js';
import { type Group, Harness } from './harness.js';
import { hits } from './hits.js';
import { kick } from './kick.js';
import { largeValues } from './large-values.js';
import { lifecycle } from './lifecycle.js';
import { nodeLiveness } from './node-liveness.js';
import { oddKeys } from './odd-keys.js';
import { pubSub } from './pub-sub.js';
import { pushTokens } from './push-tokens.js';
import { sessions } from './sessions.js';
import { users } from './users.js';

export { ConformanceClock };

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
  /**
   * A test. Its function takes the runner's test context as a rest argument (so that its `length`
   * stays 0, and jest does not read it as a `done` callback): where the context has `skip()`
   * (vitest's does), a test of an optional method the store leaves out is reported as skipped;
   * elsewhere it returns at once.
   */
  it(name: string, fn: (...context: unknown[]) => Promise<void> | void): void;
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

const GROUPS: readonly Group[] = [
  lifecycle,
  sessions,
  admissions,
  users,
  connections,
  deviceRosters,
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
