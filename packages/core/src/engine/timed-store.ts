import { isEvictError, StoreTimeoutError, StoreUnavailableError } from '../errors.js';
import type { EvictStore } from '../store.js';

/** The store methods the engine calls, each bounded by the store timeout. */
const METHODS = [
  'putSession',
  'getSession',
  'admitSession',
  'dischargeSessions',
  'listSessions',
  'scanSessions',
  'revokeSession',
  'getUser',
  'touchUser',
  'raiseCutoff',
  'heartbeatNode',
  'putConnections',
  'joinDevice',
  'deleteConnections',
  'sweepConnections',
  'listConnections',
  'scanConnections',
  'touchSessions',
  'countConnections',
  'setPushToken',
  'getPushTokens',
  'clearPushTokens',
  'hit',
  'publish',
  'kick',
] as const satisfies readonly (keyof EvictStore)[];

type Method = (typeof METHODS)[number];

/**
 * The engine's view of the store: every call fails with `EVICT_STORE_TIMEOUT` after `timeoutMs`,
 * and any other failure becomes `EVICT_STORE_UNAVAILABLE` (a store error with a stable code). Each
 * call looks the method up on the store when it is made, so a store may change its methods later
 * (a test's spy, a proxy); the optional `kick` and `sweepConnections` are called only when the store
 * has them (`store.kick !== undefined`).
 */
export type TimedStore = Required<Pick<EvictStore, Method>>;

export function timedStore(store: EvictStore, timeoutMs: number): TimedStore {
  const timed: Partial<Record<Method, unknown>> = {};
  for (const name of METHODS) {
    timed[name] = (...args: unknown[]) =>
      withinTimeout(
        () => (store[name] as (...a: unknown[]) => Promise<unknown>).apply(store, args),
        timeoutMs,
      );
  }
  return timed as TimedStore;
}

async function withinTimeout<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([call(), timeout]);
  } catch (error) {
    if (isEvictError(error)) throw error;
    throw new StoreUnavailableError(
      `the store failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
