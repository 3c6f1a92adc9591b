import type { RejectionReason } from '../model.js';

/**
 * What an operator's instrumentation hears from the engine beside its events: a metrics exporter
 * (`@evict/prometheus`) is one. Every method is optional. With no observer attached the engine
 * calls none and reads no clock for them; attached, each is called synchronously where the thing
 * happens, so it must be cheap and must not throw (what it throws is reported as an `error` event).
 * Nothing passed names a user, a token or a connection: only kinds, reasons and durations.
 */
export interface EvictObserver {
  /** The guard accepted a request (or an upgrade, a socket.io handshake), or rejected it and why. */
  guardDecision?(accepted: boolean, reason: RejectionReason | undefined): void;
  /** A store call ended `durationMs` after it began: it answered, failed, or ran out of time. */
  storeOperation?(operation: string, durationMs: number, outcome: 'ok' | 'error' | 'timeout'): void;
  /**
   * A cluster message arrived `lagMs` after the node that sent it made it (by the two nodes' clocks:
   * their skew is in it). Messages that carry no send time (a login policy's, from a store script)
   * are not reported.
   */
  clusterMessage?(lagMs: number): void;
  /** An admin call was refused for its authentication (a missing or wrong manager token, a bad UserSig). */
  adminAuthFailure?(family: string): void;
}

type Method = keyof EvictObserver;
const METHODS: readonly Method[] = ['guardDecision', 'storeOperation', 'clusterMessage', 'adminAuthFailure'];

/**
 * One observer that calls every one in `observers` that has the method, each in a try; undefined
 * for none, and a method left out when none has it, so that callers test one property.
 */
export function combineObservers(
  observers: readonly EvictObserver[],
  onError: (error: unknown) => void,
): EvictObserver | undefined {
  if (observers.length === 0) return undefined;
  const combined: EvictObserver = {};
  for (const method of METHODS) {
    const having = observers.filter((o) => o[method] !== undefined);
    if (having.length === 0) continue;
    // Three arguments at most, passed as they are: no array made per call (the guard's decision is
    // reported on every request).
    (combined as Record<Method, (a: unknown, b: unknown, c: unknown) => void>)[method] = (a, b, c) => {
      for (const observer of having) {
        try {
          (observer[method] as (a: unknown, b: unknown, c: unknown) => void).call(observer, a, b, c);
        } catch (error) {
          onError(error);
        }
      }
    };
  }
  return combined;
}
