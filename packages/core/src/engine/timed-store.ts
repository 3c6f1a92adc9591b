import { isEvictError, StoreTimeoutError, StoreUnavailableError } from '../errors.js';
import type { EvictStore } from '../store.js';
import type { EvictObserver } from './observer.js';

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

export function timedStore(
  store: EvictStore,
  timeoutMs: number,
  observer: () => EvictObserver | undefined = () => undefined,
): TimedStore {
  const timed: Partial<Record<Method, unknown>> = {};
  for (const name of METHODS) {
    const call = (args: unknown[]) =>
      withinTimeout(
        () => (store[name] as (...a: unknown[]) => Promise<unknown>).apply(store, args),
        timeoutMs,
      );
    timed[name] = (...args: unknown[]) => {
      const report = observer()?.storeOperation;
      return report === undefined ? call(args) : timeCall(name, () => call(args), report);
    };
  }
  return timed as TimedStore;
}

/** Reports how long a store call took and how it ended. Only when an observer listens: it reads a clock. */
async function timeCall<T>(
  operation: string,
  call: () => Promise<T>,
  report: NonNullable<EvictObserver['storeOperation']>,
): Promise<T> {
  // A monotonic clock: the engine's clock may be a test's, or jump.
  const startMs = performance.now();
  try {
    const value = await call();
    report(operation, performance.now() - startMs, 'ok');
    return value;
  } catch (error) {
    report(
      operation,
      performance.now() - startMs,
      isEvictError(error, 'EVICT_STORE_TIMEOUT') ? 'timeout' : 'error',
    );
    throw error;
  }
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
