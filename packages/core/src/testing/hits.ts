import { type Group, newKey } from './harness.js';

export const hits: Group = {
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
