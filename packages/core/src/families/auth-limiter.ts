import type { Evict } from '../engine/evict.js';

/** Failed authentications are counted in windows of one minute. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** Locked-out clients remembered per node; the oldest are dropped beyond this. */
const MAX_LOCKED_CLIENTS = 10_000;

/**
 * Limits failed authentications per client (its remote address): the failures are counted in the
 * store with `engine.countHit`, so every node of a cluster adds to the same count; once a client is
 * over `maxPerWindow` in the current minute, this node answers every call of that client with "too
 * many attempts" until the minute is over, the right credential included, so that a guess that
 * happens to be right is not told apart from a wrong one. A success resets nothing.
 *
 * A node learns that a client is locked out from its own failed attempts: a client spreading its
 * guesses over `k` nodes gets at most `maxPerWindow + k - 1` answered guesses per minute.
 *
 * When the store cannot count a failure, the node counts it itself (on top of the count the store
 * last gave it for that client this minute): an outage of the store does not lift the limit. Without
 * that, a client would get unlimited guesses for as long as the outage lasts, and the routes still
 * tell a right credential from a wrong one then (a right token with a bad body answers the family's
 * parameter error before the store is needed, a wrong one the internal error).
 */
export interface AuthFailureLimiter {
  /** The client is over the limit, as this node last saw it. */
  locked(client: string): boolean;
  /**
   * Counts a failure of the client; true when it is now over the limit. When the store fails, true if
   * this node's own count of the client's failures this minute is over the limit, else it rejects.
   */
  fail(client: string): Promise<boolean>;
}

export function authFailureLimiter(engine: Evict, scope: string, maxPerWindow: number): AuthFailureLimiter {
  const lockedUntil = new Map<string, number>();
  /**
   * The client's failures this node knows of in the current window: the store's count, or more when
   * the store could not count some of them (an outage, a store that lost its counters).
   */
  const seen = new Map<string, { windowStartMs: number; count: number }>();
  const now = () => engine.clock.nowMs();
  const windowStart = (at: number) => at - (at % AUTH_FAILURE_WINDOW_MS);

  const lock = (client: string, untilMs: number) => {
    lockedUntil.delete(client);
    lockedUntil.set(client, untilMs);
    if (lockedUntil.size <= MAX_LOCKED_CLIENTS) return;
    const at = now();
    for (const [key, until] of lockedUntil) if (until <= at) lockedUntil.delete(key);
    while (lockedUntil.size > MAX_LOCKED_CLIENTS) lockedUntil.delete(lockedUntil.keys().next().value!);
  };

  const remember = (client: string, windowStartMs: number, count: number) => {
    seen.delete(client);
    seen.set(client, { windowStartMs, count });
    if (seen.size <= MAX_LOCKED_CLIENTS) return;
    const current = windowStart(now());
    for (const [key, entry] of seen) if (entry.windowStartMs < current) seen.delete(key);
    while (seen.size > MAX_LOCKED_CLIENTS) seen.delete(seen.keys().next().value!);
  };

  return {
    locked(client) {
      const until = lockedUntil.get(client);
      if (until === undefined) return false;
      if (until > now()) return true;
      lockedUntil.delete(client);
      return false;
    },
    async fail(client) {
      // The scope is the family's name: what a metrics exporter labels the failure with.
      engine.observer?.adminAuthFailure?.(scope);
      const windowStartMs = windowStart(now());
      let stored = 0;
      let storeFailure: { error: unknown } | undefined;
      try {
        stored = await engine.countHit(`${scope}:authfail:${client}`, AUTH_FAILURE_WINDOW_MS);
      } catch (error) {
        storeFailure = { error };
      }
      // Read after the store answered, so that concurrent failures of one client all count here too.
      const known = seen.get(client);
      const count = Math.max(stored, (known?.windowStartMs === windowStartMs ? known.count : 0) + 1);
      remember(client, windowStartMs, count);
      if (count <= maxPerWindow) {
        if (storeFailure !== undefined) throw storeFailure.error;
        return false;
      }
      lock(client, windowStartMs + AUTH_FAILURE_WINDOW_MS);
      return true;
    },
  };
}

/** The key a request's client is counted under. */
export const clientOf = (request: { remoteAddress?: string }): string => request.remoteAddress ?? 'unknown';
