import type { Evict } from '../engine.js';

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
 */
export interface AuthFailureLimiter {
  /** The client is over the limit, as this node last saw it. */
  locked(client: string): boolean;
  /** Counts a failure of the client; true when it is now over the limit. Rejects when the store fails. */
  fail(client: string): Promise<boolean>;
}

export function authFailureLimiter(engine: Evict, scope: string, maxPerWindow: number): AuthFailureLimiter {
  const lockedUntil = new Map<string, number>();
  const now = () => engine.clock.nowMs();

  const lock = (client: string, untilMs: number) => {
    lockedUntil.delete(client);
    lockedUntil.set(client, untilMs);
    if (lockedUntil.size <= MAX_LOCKED_CLIENTS) return;
    const at = now();
    for (const [key, until] of lockedUntil) if (until <= at) lockedUntil.delete(key);
    while (lockedUntil.size > MAX_LOCKED_CLIENTS) lockedUntil.delete(lockedUntil.keys().next().value!);
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
      const at = now();
      const count = await engine.countHit(`${scope}:authfail:${client}`, AUTH_FAILURE_WINDOW_MS);
      if (count <= maxPerWindow) return false;
      lock(client, at - (at % AUTH_FAILURE_WINDOW_MS) + AUTH_FAILURE_WINDOW_MS);
      return true;
    },
  };
}

/** The key a request's client is counted under. */
export const clientOf = (request: { remoteAddress?: string }): string => request.remoteAddress ?? 'unknown';
