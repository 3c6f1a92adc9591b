import { describe, expect, it } from 'vitest';
import { wukongimUptime } from '../src/families/wukongim.js';

describe("WuKongIM's connz formats", () => {
  it('writes an uptime as myUptime does: leading zero units left out, seconds always', () => {
    const s = 1_000;
    const m = 60 * s;
    const h = 60 * m;
    const d = 24 * h;
    expect(wukongimUptime(0)).toBe('0s');
    expect(wukongimUptime(999)).toBe('0s');
    expect(wukongimUptime(-5 * s)).toBe('0s');
    expect(wukongimUptime(59 * s)).toBe('59s');
    expect(wukongimUptime(m)).toBe('1m0s');
    expect(wukongimUptime(h + 2 * m + 5 * s)).toBe('1h2m5s');
    expect(wukongimUptime(3 * d + 4 * s)).toBe('3d0h0m4s');
    expect(wukongimUptime(366 * d + h)).toBe('1y1d1h0m0s');
  });
});
