/**
 * The manager token and secrets are compared in constant time (SECURITY.md). A timing measurement in
 * a unit test would be flaky, so the property is tested by construction: `timingSafeEqual` (mocked
 * here as a spy around the real one) is what decides, once per comparison, on two SHA-256 digests of
 * the same length whatever the inputs; and the WuKongIM route's token check goes through it for a
 * wrong token of every length.
 */

import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MANAGER_TOKEN } from '../../../test/support/fixtures.js';
import { createAdminApi } from '../src/admin-api.js';
import { createEvict, type Evict } from '../src/engine/evict.js';
import type { EvictRequest } from '../src/http/types.js';
import { MemoryStore } from '../src/memory-store.js';
import { secretsEqual } from '../src/secrets.js';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, default: real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const timingSafeEqual = vi.mocked(nodeCrypto.timingSafeEqual);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

beforeEach(() => {
  timingSafeEqual.mockClear();
});

/** Calls secretsEqual and checks how it decided: one timingSafeEqual on the two inputs' digests. */
function compare(given: string, expected: string): boolean {
  timingSafeEqual.mockClear();
  const result = secretsEqual(given, expected);
  expect(timingSafeEqual).toHaveBeenCalledTimes(1);
  const [a, b] = timingSafeEqual.mock.calls[0]! as [Buffer, Buffer];
  expect(Buffer.isBuffer(a) && Buffer.isBuffer(b)).toBe(true);
  expect(a.byteLength).toBe(32);
  expect(b.byteLength).toBe(32);
  expect(a.equals(sha256(given))).toBe(true);
  expect(b.equals(sha256(expected))).toBe(true);
  // The answer is the constant-time comparison's own answer, not one made up beside it.
  expect(timingSafeEqual.mock.results[0]).toEqual({ type: 'return', value: result });
  return result;
}

describe('secretsEqual', () => {
  it('the mock is the one secrets.ts sees (else the tests below would prove nothing)', () => {
    secretsEqual('a', 'b');
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
  });

  it('equal inputs are equal: ASCII, empty, long, non-ASCII', () => {
    for (const s of [
      'manager-token-0123456789abcdef',
      '',
      'x'.repeat(4096),
      'é',
      'mötley-crüe',
      '令牌-トークン',
      '😀🔑',
      'a\u0000b',
      '\u00e9',
    ]) {
      expect(compare(s, s), JSON.stringify(s)).toBe(true);
      // The same text built anew, not the same string object.
      expect(compare(s.split('').join(''), [...s].join('')), JSON.stringify(s)).toBe(true);
    }
  });

  it('different inputs differ: one character, different lengths, empty against non-empty, case', () => {
    const token = 'manager-token-0123456789abcdef';
    const pairs: [string, string][] = [
      [`${token.slice(0, -1)}X`, token],
      [`X${token.slice(1)}`, token],
      [token.slice(0, -1), token],
      [`${token}0`, token],
      [token.toUpperCase(), token],
      ['', token],
      [token, ''],
      ['', ' '],
      ['a', 'a\u0000'],
      ['x'.repeat(4096), token],
      ['x'.repeat(4096), 'x'.repeat(4097)],
      // Non-ASCII: composed and decomposed é are different strings (no normalisation).
      ['\u00e9', 'e\u0301'],
      ['é', 'e'],
      ['令牌', '令'],
      ['😀', '😁'],
      // Latin-1 bytes of é (as a header decodes them) against the UTF-8 text.
      ['\u00c3\u00a9', 'é'],
    ];
    for (const [a, b] of pairs) {
      expect(compare(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(false);
      expect(compare(b, a), `${JSON.stringify(b)} vs ${JSON.stringify(a)}`).toBe(false);
    }
  });

  it('for random pairs of any length and code points: equal iff the strings are equal, always through timingSafeEqual', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 80 }),
      fc.string({ unit: 'binary-ascii', maxLength: 300 }),
    );
    fc.assert(
      fc.property(text, text, fc.boolean(), (a, b, same) => {
        const other = same ? a : b;
        expect(compare(a, other)).toBe(a === other);
      }),
      { seed: 20_260_101, numRuns: 500 },
    );
  });

  it('never throws on inputs of different lengths (timingSafeEqual alone would)', () => {
    expect(() => nodeCrypto.timingSafeEqual(Buffer.from('a'), Buffer.from('ab'))).toThrow();
    expect(() => secretsEqual('a', 'ab')).not.toThrow();
  });
});

describe('the WuKongIM manager-token check', () => {
  let engine: Evict;

  beforeEach(() => {
    // A clock at the start of a minute that stays put: the failed-auth window never rolls over mid-test.
    const clock = { nowMs: () => Date.UTC(2026, 0, 1, 12, 0, 0) };
    engine = createEvict({ store: new MemoryStore({ clock }), clock });
  });
  afterEach(async () => {
    await engine.close();
  });

  const request = (token: string | undefined, from: string): EvictRequest => ({
    method: 'POST',
    path: '/user/device_quit',
    headers: token === undefined ? {} : { token },
    query: new URLSearchParams(),
    readBody: async () => ({ kind: 'json', value: { uid: 'alice01' } }),
    remoteAddress: from,
  });

  it('compares every wrong token, of every length, in constant time against the configured one', async () => {
    const admin = createAdminApi(engine, {
      families: ['wukongim'],
      // Far above the number of guesses below: this test is about the comparison, not the limit.
      wukongim: { managerToken: MANAGER_TOKEN, maxFailedAuthPerMinute: 1_000 },
    });
    await engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    const wrong: string[] = [];
    for (let length = 0; length <= MANAGER_TOKEN.length + 2; length++) {
      // A prefix of the right token (all but the last characters right), and a random-looking one.
      wrong.push(
        MANAGER_TOKEN.slice(0, length) +
          (length > MANAGER_TOKEN.length ? 'x'.repeat(length - MANAGER_TOKEN.length) : ''),
      );
      wrong.push('z'.repeat(length));
    }
    wrong.push(
      `${MANAGER_TOKEN.slice(0, -1)}g`,
      MANAGER_TOKEN.toUpperCase(),
      'x'.repeat(8192),
      'é'.repeat(50),
    );
    const expectedDigest = sha256(MANAGER_TOKEN);
    for (const token of wrong.filter((t) => t !== MANAGER_TOKEN)) {
      timingSafeEqual.mockClear();
      const answer = await admin.handle(request(token, '10.0.0.1'));
      expect(answer?.status, JSON.stringify(token)).toBe(401);
      expect(timingSafeEqual, JSON.stringify(token)).toHaveBeenCalledTimes(1);
      const [given, expected] = timingSafeEqual.mock.calls[0]! as [Buffer, Buffer];
      expect(given.equals(sha256(token))).toBe(true);
      expect(expected.equals(expectedDigest)).toBe(true);
      expect(timingSafeEqual.mock.results[0]).toEqual({ type: 'return', value: false });
    }

    // The right token is decided the same way.
    timingSafeEqual.mockClear();
    const right = await admin.handle(request(MANAGER_TOKEN, '10.0.0.1'));
    expect(right?.status).toBe(200);
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    expect(timingSafeEqual.mock.results[0]).toEqual({ type: 'return', value: true });
  });

  it('a locked-out client is refused before any comparison (nothing about the token to time)', async () => {
    const admin = createAdminApi(engine, {
      families: ['wukongim'],
      wukongim: { managerToken: MANAGER_TOKEN, maxFailedAuthPerMinute: 1 },
    });
    expect((await admin.handle(request('a', '10.0.0.2')))?.status).toBe(401);
    expect((await admin.handle(request('b', '10.0.0.2')))?.status).toBe(429);
    timingSafeEqual.mockClear();
    for (const token of [MANAGER_TOKEN, 'c', '']) {
      expect((await admin.handle(request(token, '10.0.0.2')))?.status).toBe(429);
    }
    expect(timingSafeEqual).not.toHaveBeenCalled();
  });
});
