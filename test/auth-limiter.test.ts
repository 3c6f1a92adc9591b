/**
 * The failed-authentication limiter on its own, against an engine whose `countHit` can be made to
 * fail: what HTTP tests cannot pin down (concurrent failures while the store is down, the count it
 * carries over when the store heals). `test/security.test.ts` tests it over HTTP on every adapter.
 */
import type { Evict } from '@evict/core';
import { describe, expect, it } from 'vitest';
import { AUTH_FAILURE_WINDOW_MS, authFailureLimiter } from '../packages/core/src/families/auth-limiter.js';
import { ManualClock } from './support/clock.js';

function engineWithCounter() {
  const clock = new ManualClock();
  clock.advance(AUTH_FAILURE_WINDOW_MS - (clock.nowMs() % AUTH_FAILURE_WINDOW_MS)); // the start of a minute
  const counts = new Map<string, { windowStartMs: number; count: number }>();
  const state = { down: false, keys: [] as string[] };
  const engine = {
    clock,
    async countHit(key: string, windowMs: number): Promise<number> {
      state.keys.push(key);
      // Answer on a later tick, as a real store does, so that calls overlap.
      await new Promise((resolve) => setImmediate(resolve));
      if (state.down) throw new Error('the store failed');
      const at = clock.nowMs();
      const windowStartMs = at - (at % windowMs);
      const entry = counts.get(key);
      const count = entry?.windowStartMs === windowStartMs ? entry.count + 1 : 1;
      counts.set(key, { windowStartMs, count });
      return count;
    },
  };
  return { engine: engine as unknown as Evict, clock, counts, state };
}

describe('authFailureLimiter', () => {
  it('counts in the store under <scope>:authfail:<client>, and locks past the limit to the end of the minute', async () => {
    const { engine, clock, state } = engineWithCounter();
    const limiter = authFailureLimiter(engine, 'wukongim', 3);
    for (let i = 0; i < 3; i++) expect(await limiter.fail('10.0.0.1')).toBe(false);
    expect(limiter.locked('10.0.0.1')).toBe(false);
    expect(await limiter.fail('10.0.0.1')).toBe(true);
    expect(state.keys).toEqual(Array(4).fill('wukongim:authfail:10.0.0.1'));
    expect(limiter.locked('10.0.0.1')).toBe(true);
    expect(limiter.locked('10.0.0.2')).toBe(false);
    clock.advance(AUTH_FAILURE_WINDOW_MS - 1);
    expect(limiter.locked('10.0.0.1')).toBe(true);
    clock.advance(1);
    expect(limiter.locked('10.0.0.1')).toBe(false);
    expect(await limiter.fail('10.0.0.1')).toBe(false);
  });

  it('while the store is down: rejects up to the limit, then locks; concurrent failures all count', async () => {
    const { engine, state } = engineWithCounter();
    const limiter = authFailureLimiter(engine, 'tencent', 10);
    state.down = true;
    const results = await Promise.allSettled(Array.from({ length: 25 }, () => limiter.fail('10.0.0.1')));
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(10);
    for (const r of rejected)
      expect((r as PromiseRejectedResult).reason).toEqual(new Error('the store failed'));
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === true)).toHaveLength(15);
    expect(limiter.locked('10.0.0.1')).toBe(true);
    // Another client has its own count.
    await expect(limiter.fail('10.0.0.2')).rejects.toThrow('the store failed');
    expect(limiter.locked('10.0.0.2')).toBe(false);
  });

  it('the failures the store missed still count when it heals, until the minute is over', async () => {
    const { engine, clock, state } = engineWithCounter();
    const limiter = authFailureLimiter(engine, 'wukongim', 5);
    state.down = true;
    for (let i = 0; i < 4; i++) await expect(limiter.fail('10.0.0.1')).rejects.toThrow();
    state.down = false;
    expect(await limiter.fail('10.0.0.1')).toBe(false); // the store says 1, this node knows of 5
    expect(await limiter.fail('10.0.0.1')).toBe(true);
    // A new minute starts from the store's count alone.
    clock.advance(AUTH_FAILURE_WINDOW_MS);
    expect(limiter.locked('10.0.0.1')).toBe(false);
    for (let i = 0; i < 5; i++) expect(await limiter.fail('10.0.0.1')).toBe(false);
    expect(await limiter.fail('10.0.0.1')).toBe(true);
  });

  it('the store’s count wins when it is higher (failures seen by the other nodes)', async () => {
    const { engine, counts } = engineWithCounter();
    const limiter = authFailureLimiter(engine, 'wukongim', 5);
    expect(await limiter.fail('10.0.0.1')).toBe(false);
    const entry = counts.get('wukongim:authfail:10.0.0.1')!;
    entry.count = 5; // four failures on other nodes
    expect(await limiter.fail('10.0.0.1')).toBe(true);
  });
});
