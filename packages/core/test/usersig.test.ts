import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import { deflateSync, inflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SECRET_KEY as KEY, OTHER_KEY } from '../../../test/support/fixtures.js';
import {
  MAX_USERSIG_LENGTH,
  signUserSig,
  type UserSigFailure,
  type UserSigResult,
  type VerifyUserSigOptions,
  verifyUserSig,
} from '../src/families/tencent/usersig.js';

/** Tencent's reference implementation (CommonJS, untyped): the independent oracle for these tests. */
interface TlsSigApi {
  genUserSig(userid: string, expire: number): string;
  genSig(userid: string, expire: number, userBuf: Buffer | null): string;
  genPrivateMapKey(userid: string, expire: number, roomid: number, privilegeMap: number): string;
  _genUserbuf(
    account: string,
    dwAuthID: number,
    dwExpTime: number,
    dwPrivilegeMap: number,
    dwAccountType: number,
    roomstr: string | null,
  ): Buffer;
}
const require = createRequire(import.meta.url);
const TLSSigAPIv2 = require('tls-sig-api-v2') as { Api: new (sdkappid: number, key: string) => TlsSigApi };

const SDKAPPID = 1400000000;
const EXPIRE = 86400 * 180;
/** A fixed instant with a sub-second part, so flooring to seconds is exercised. */
const NOW_MS = Date.UTC(2025, 0, 15, 12, 0, 0) + 987;
const NOW_SEC = Math.floor(NOW_MS / 1000);

const api = new TLSSigAPIv2.Api(SDKAPPID, KEY);
const opts: VerifyUserSigOptions = { sdkAppId: SDKAPPID, secretKey: KEY, nowMs: NOW_MS };

type SigDoc = Record<string, unknown>;

function sigBytes(sig: string): Buffer {
  return Buffer.from(sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '='), 'base64');
}

function escapeBytes(buf: Buffer): string {
  return buf.toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

function decodeDoc(sig: string): SigDoc {
  return JSON.parse(inflateSync(sigBytes(sig)).toString('utf8')) as SigDoc;
}

function encodeText(text: string | Buffer): string {
  return escapeBytes(deflateSync(typeof text === 'string' ? Buffer.from(text, 'utf8') : text));
}

function encodeDoc(doc: SigDoc): string {
  return encodeText(JSON.stringify(doc));
}

function expectFailure(result: UserSigResult, failure: UserSigFailure, sig?: string): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.failure).toBe(failure);
  expect(typeof result.message).toBe('string');
  expect(result.message.length).toBeGreaterThan(0);
  expect(result.message).not.toContain(KEY);
  if (sig !== undefined && sig.length >= 16) expect(result.message).not.toContain(sig);
}

function verifyNoThrow(sig: string, options: VerifyUserSigOptions = opts): UserSigResult {
  let result: UserSigResult | undefined;
  expect(() => {
    result = verifyUserSig(sig, options);
  }).not.toThrow();
  return result!;
}

describe('usersig', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW_MS, toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('sigs from tls-sig-api-v2', () => {
    it('fakes the clock the library reads', () => {
      expect(decodeDoc(api.genUserSig('xiaojun', EXPIRE))['TLS.time']).toBe(NOW_SEC);
    });

    it('verifies a genUserSig sig and returns its claims', () => {
      const sig = api.genUserSig('xiaojun', EXPIRE);
      const result = verifyUserSig(sig, { ...opts, identifier: 'xiaojun' });
      expect(result).toEqual({
        ok: true,
        identifier: 'xiaojun',
        sdkAppId: SDKAPPID,
        issuedAtSec: NOW_SEC,
        expireSec: EXPIRE,
        expiresAtMs: (NOW_SEC + EXPIRE) * 1000,
      });
      expect('userBuf' in result).toBe(false);
    });

    it('verifies without an expected identifier', () => {
      const result = verifyUserSig(api.genUserSig('someone', 60), opts);
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.identifier).toBe('someone');
    });

    it('verifies a genPrivateMapKey sig (with userbuf) and decodes the userbuf', () => {
      const sig = api.genPrivateMapKey('xiaojun', EXPIRE, 10000, 255);
      const userBuf = api._genUserbuf('xiaojun', 10000, EXPIRE, 255, 0, null);
      expect(decodeDoc(sig)['TLS.userbuf']).toBe(userBuf.toString('base64'));
      const result = verifyUserSig(sig, { ...opts, identifier: 'xiaojun' });
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.identifier).toBe('xiaojun');
      expect(result.sdkAppId).toBe(SDKAPPID);
      expect(result.issuedAtSec).toBe(NOW_SEC);
      expect(result.expireSec).toBe(EXPIRE);
      expect(result.expiresAtMs).toBe((NOW_SEC + EXPIRE) * 1000);
      expect(Buffer.isBuffer(result.userBuf)).toBe(true);
      expect(result.userBuf?.equals(userBuf)).toBe(true);
    });

    it('verifies a genSig sig with an arbitrary userbuf, including an empty one', () => {
      for (const userBuf of [Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]), Buffer.alloc(0)]) {
        const result = verifyUserSig(api.genSig('u1', 3600, userBuf), opts);
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.userBuf?.equals(userBuf)).toBe(true);
      }
    });

    it('verifies non-ASCII and JSON-special identifiers', () => {
      for (const id of ['用户-1', 'a"b\\c\n', '🙂', '12345']) {
        const result = verifyUserSig(api.genUserSig(id, 60), { ...opts, identifier: id });
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.identifier).toBe(id);
      }
    });

    it('uses the library JSON field order', () => {
      expect(Object.keys(decodeDoc(api.genUserSig('xiaojun', EXPIRE)))).toEqual([
        'TLS.ver',
        'TLS.identifier',
        'TLS.sdkappid',
        'TLS.time',
        'TLS.expire',
        'TLS.sig',
      ]);
      expect(Object.keys(decodeDoc(api.genPrivateMapKey('xiaojun', EXPIRE, 1, 255)))).toEqual([
        'TLS.ver',
        'TLS.identifier',
        'TLS.sdkappid',
        'TLS.time',
        'TLS.expire',
        'TLS.userbuf',
        'TLS.sig',
      ]);
    });
  });

  describe('signUserSig', () => {
    it('equals the library output for the same second, without userbuf', () => {
      const ours = signUserSig({
        sdkAppId: SDKAPPID,
        secretKey: KEY,
        identifier: 'xiaojun',
        expireSec: EXPIRE,
      });
      expect(ours).toBe(api.genUserSig('xiaojun', EXPIRE));
    });

    it('equals the library output with an explicit nowMs anywhere in the same second', () => {
      const lib = api.genUserSig('xiaojun', EXPIRE);
      for (const nowMs of [NOW_SEC * 1000, NOW_SEC * 1000 + 999]) {
        expect(
          signUserSig({
            sdkAppId: SDKAPPID,
            secretKey: KEY,
            identifier: 'xiaojun',
            expireSec: EXPIRE,
            nowMs,
          }),
        ).toBe(lib);
      }
      expect(
        signUserSig({
          sdkAppId: SDKAPPID,
          secretKey: KEY,
          identifier: 'xiaojun',
          expireSec: EXPIRE,
          nowMs: NOW_SEC * 1000 + 1000,
        }),
      ).not.toBe(lib);
    });

    it('equals the library output with a userbuf (genSig / genPrivateMapKey)', () => {
      const userBuf = api._genUserbuf('xiaojun', 10000, EXPIRE, 255, 0, null);
      const ours = signUserSig({
        sdkAppId: SDKAPPID,
        secretKey: KEY,
        identifier: 'xiaojun',
        expireSec: EXPIRE,
        userBuf,
      });
      expect(ours).toBe(api.genSig('xiaojun', EXPIRE, userBuf));
      expect(ours).toBe(api.genPrivateMapKey('xiaojun', EXPIRE, 10000, 255));
      const roomBuf = api._genUserbuf('xiaojun', 0, 300, 42, 0, 'room-1');
      expect(
        signUserSig({
          sdkAppId: SDKAPPID,
          secretKey: KEY,
          identifier: 'xiaojun',
          expireSec: 300,
          userBuf: roomBuf,
        }),
      ).toBe(api.genSig('xiaojun', 300, roomBuf));
    });

    it('equals the library output for unusual identifiers and an empty userbuf', () => {
      for (const id of ['用户-1', 'a"b\\c\n', '🙂', '12345']) {
        expect(signUserSig({ sdkAppId: SDKAPPID, secretKey: KEY, identifier: id, expireSec: 60 })).toBe(
          api.genUserSig(id, 60),
        );
      }
      const empty = Buffer.alloc(0);
      expect(
        signUserSig({ sdkAppId: SDKAPPID, secretKey: KEY, identifier: 'u', expireSec: 60, userBuf: empty }),
      ).toBe(api.genSig('u', 60, empty));
    });

    it('produces sigs that verify, with claims', () => {
      const userBuf = Buffer.from('hello userbuf');
      const sig = signUserSig({
        sdkAppId: 1400123456,
        secretKey: 'another secret',
        identifier: 'alice',
        expireSec: 120,
        nowMs: 1_700_000_000_500,
        userBuf,
      });
      const result = verifyUserSig(sig, {
        sdkAppId: 1400123456,
        secretKey: 'another secret',
        nowMs: 1_700_000_010_000,
        identifier: 'alice',
      });
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.identifier).toBe('alice');
      expect(result.sdkAppId).toBe(1400123456);
      expect(result.issuedAtSec).toBe(1_700_000_000);
      expect(result.expireSec).toBe(120);
      expect(result.expiresAtMs).toBe(1_700_000_120_000);
      expect(result.userBuf?.equals(userBuf)).toBe(true);
    });

    it('rejects options that cannot produce a valid sig', () => {
      const base = { sdkAppId: SDKAPPID, secretKey: KEY, identifier: 'u', expireSec: 60 };
      for (const bad of [
        { ...base, secretKey: '' },
        { ...base, identifier: '' },
        { ...base, sdkAppId: -1 },
        { ...base, sdkAppId: 1.5 },
        { ...base, expireSec: Number.NaN },
        { ...base, expireSec: -1 },
        { ...base, nowMs: Number.POSITIVE_INFINITY },
      ]) {
        expect(() => signUserSig(bad)).toThrow(TypeError);
      }
      expect(() => signUserSig({ ...base, identifier: '' })).toThrow('identifier must be a non-empty string');
    });
  });

  describe('tampering', () => {
    const plainSig = () => api.genUserSig('xiaojun', EXPIRE);
    const bufSig = () => api.genPrivateMapKey('xiaojun', EXPIRE, 10000, 255);

    it('re-encoding an untouched document still verifies (control for the cases below)', () => {
      expect(verifyUserSig(encodeDoc(decodeDoc(plainSig())), opts).ok).toBe(true);
      expect(verifyUserSig(encodeDoc(decodeDoc(bufSig())), opts).ok).toBe(true);
    });

    it('rejects every single-character flip of the escaped base64', () => {
      const sig = plainSig();
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-';
      let flips = 0;
      for (let i = 0; i < sig.length; i++) {
        const index = alphabet.indexOf(sig[i]!);
        if (index < 0) continue; // '_' padding
        // Flipping the top bit of a 6-bit group always changes a decoded byte.
        const flipped = sig.slice(0, i) + alphabet[index ^ 32] + sig.slice(i + 1);
        expect(sigBytes(flipped).equals(sigBytes(sig))).toBe(false);
        expectFailure(verifyNoThrow(flipped), 'invalid', flipped);
        flips++;
      }
      expect(flips).toBeGreaterThan(50);
    });

    const changes: Array<[string, (doc: SigDoc) => void]> = [
      ['identifier', (doc) => (doc['TLS.identifier'] = 'mallory')],
      ['sdkappid', (doc) => (doc['TLS.sdkappid'] = SDKAPPID + 1)],
      ['time', (doc) => (doc['TLS.time'] = NOW_SEC + 1)],
      ['expire', (doc) => (doc['TLS.expire'] = EXPIRE * 10)],
      [
        'sig (same length)',
        (doc) => {
          const sig = doc['TLS.sig'] as string;
          doc['TLS.sig'] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
        },
      ],
      ['sig (truncated)', (doc) => (doc['TLS.sig'] = (doc['TLS.sig'] as string).slice(0, -1))],
      ['sig (empty)', (doc) => (doc['TLS.sig'] = '')],
      ['sig (missing)', (doc) => delete doc['TLS.sig']],
      ['sig (number)', (doc) => (doc['TLS.sig'] = 42)],
      ['ver (2.1)', (doc) => (doc['TLS.ver'] = '2.1')],
      ['ver (number)', (doc) => (doc['TLS.ver'] = 2)],
      ['ver (missing)', (doc) => delete doc['TLS.ver']],
      ['identifier (empty)', (doc) => (doc['TLS.identifier'] = '')],
      ['identifier (number)', (doc) => (doc['TLS.identifier'] = 12345)],
      ['sdkappid (string)', (doc) => (doc['TLS.sdkappid'] = String(SDKAPPID))],
      ['sdkappid (negative)', (doc) => (doc['TLS.sdkappid'] = -1)],
      ['time (fraction)', (doc) => (doc['TLS.time'] = NOW_SEC + 0.5)],
      ['time (unsafe)', (doc) => (doc['TLS.time'] = 2 ** 60)],
      ['expire (string)', (doc) => (doc['TLS.expire'] = String(EXPIRE))],
      ['expire (negative)', (doc) => (doc['TLS.expire'] = -1)],
      ['userbuf (added)', (doc) => (doc['TLS.userbuf'] = Buffer.from('grant me').toString('base64'))],
      ['userbuf (number)', (doc) => (doc['TLS.userbuf'] = 7)],
    ];

    it.each(changes)('rejects a document with %s changed but not re-signed', (_name, change) => {
      const doc = decodeDoc(plainSig());
      change(doc);
      const forged = encodeDoc(doc);
      expectFailure(verifyNoThrow(forged), 'invalid', forged);
      // An expected identifier never turns a forged sig into anything but `invalid`.
      expectFailure(verifyNoThrow(forged, { ...opts, identifier: 'mallory' }), 'invalid');
    });

    const bufChanges: Array<[string, (doc: SigDoc) => void]> = [
      [
        'userbuf (other bytes)',
        (doc) => {
          const buf = Buffer.from(doc['TLS.userbuf'] as string, 'base64');
          buf[buf.length - 1] = buf[buf.length - 1]! ^ 0xff;
          doc['TLS.userbuf'] = buf.toString('base64');
        },
      ],
      ['userbuf (removed)', (doc) => delete doc['TLS.userbuf']],
      ['userbuf (emptied)', (doc) => (doc['TLS.userbuf'] = '')],
      ['userbuf (not base64)', (doc) => (doc['TLS.userbuf'] = '!!!!')],
      ['identifier', (doc) => (doc['TLS.identifier'] = 'mallory')],
      ['expire', (doc) => (doc['TLS.expire'] = EXPIRE * 10)],
    ];

    it.each(bufChanges)('rejects a userbuf document with %s changed but not re-signed', (_name, change) => {
      const doc = decodeDoc(bufSig());
      change(doc);
      const forged = encodeDoc(doc);
      expectFailure(verifyNoThrow(forged), 'invalid', forged);
    });

    it('rejects a sig signed with another key', () => {
      const sig = new TLSSigAPIv2.Api(SDKAPPID, OTHER_KEY).genUserSig('xiaojun', EXPIRE);
      expectFailure(verifyNoThrow(sig), 'invalid', sig);
      const ours = signUserSig({
        sdkAppId: SDKAPPID,
        secretKey: OTHER_KEY,
        identifier: 'xiaojun',
        expireSec: 60,
      });
      expectFailure(verifyNoThrow(ours), 'invalid', ours);
    });

    it('reports sdkappid_mismatch for another app signed with the same key', () => {
      const sig = new TLSSigAPIv2.Api(1400000001, KEY).genUserSig('xiaojun', EXPIRE);
      expectFailure(verifyNoThrow(sig), 'sdkappid_mismatch', sig);
    });

    it('reports identifier_mismatch when the expected identifier differs', () => {
      const sig = api.genUserSig('xiaojun', EXPIRE);
      expectFailure(verifyNoThrow(sig, { ...opts, identifier: 'xiaoming' }), 'identifier_mismatch');
      expectFailure(verifyNoThrow(sig, { ...opts, identifier: 'Xiaojun' }), 'identifier_mismatch');
      expect(verifyUserSig(sig, { ...opts, identifier: 'xiaojun' }).ok).toBe(true);
    });

    it('checks the signature before sdkappid and identifier', () => {
      const sig = new TLSSigAPIv2.Api(1400000001, OTHER_KEY).genUserSig('xiaojun', EXPIRE);
      expectFailure(verifyNoThrow(sig, { ...opts, identifier: 'other' }), 'invalid');
    });

    it('fails closed on a misconfigured verifier', () => {
      const sig = api.genUserSig('xiaojun', EXPIRE);
      expectFailure(verifyNoThrow(sig, { ...opts, secretKey: '' }), 'invalid');
      expectFailure(verifyNoThrow(sig, { ...opts, nowMs: Number.NaN }), 'invalid');
      expectFailure(verifyNoThrow(sig, { ...opts, sdkAppId: Number.NaN }), 'invalid');
    });
  });

  describe('expiry', () => {
    const expire = 600;
    const sig = () => api.genUserSig('xiaojun', expire);
    const expiresAtMs = (NOW_SEC + expire) * 1000;

    it('is expired once now reaches time + expire (in seconds)', () => {
      expectFailure(verifyNoThrow(sig(), { ...opts, nowMs: expiresAtMs }), 'expired');
      expectFailure(verifyNoThrow(sig(), { ...opts, nowMs: expiresAtMs + 1 }), 'expired');
      expectFailure(verifyNoThrow(sig(), { ...opts, nowMs: expiresAtMs + 86_400_000 }), 'expired');
    });

    it('is valid one second (and one millisecond) before that', () => {
      for (const nowMs of [expiresAtMs - 1000, expiresAtMs - 1]) {
        const result = verifyUserSig(sig(), { ...opts, nowMs });
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.expiresAtMs).toBe(expiresAtMs);
      }
    });

    it('treats expire 0 as already expired', () => {
      expectFailure(verifyNoThrow(api.genUserSig('xiaojun', 0)), 'expired');
    });

    it('reports mismatches before expiry', () => {
      const other = new TLSSigAPIv2.Api(1400000001, KEY).genUserSig('xiaojun', expire);
      expectFailure(verifyNoThrow(other, { ...opts, nowMs: expiresAtMs }), 'sdkappid_mismatch');
      expectFailure(
        verifyNoThrow(sig(), { ...opts, nowMs: expiresAtMs, identifier: 'x' }),
        'identifier_mismatch',
      );
    });

    it('accepts clock skew up to 5 minutes but rejects sigs from further in the future', () => {
      const issuedMs = NOW_SEC * 1000;
      expect(verifyUserSig(sig(), { ...opts, nowMs: issuedMs - 5 * 60 * 1000 }).ok).toBe(true);
      expectFailure(verifyNoThrow(sig(), { ...opts, nowMs: issuedMs - 5 * 60 * 1000 - 1 }), 'invalid');
      expectFailure(verifyNoThrow(sig(), { ...opts, nowMs: issuedMs - 3_600_000 }), 'invalid');
    });
  });

  describe('malformed input', () => {
    it('rejects a bad zlib stream', () => {
      for (const bad of [
        escapeBytes(Buffer.from('definitely not zlib data')),
        escapeBytes(Buffer.from([0x78, 0x9c, 0xff, 0xff, 0xff, 0xff])),
        api.genUserSig('xiaojun', EXPIRE).slice(0, 40),
        'AAAA',
        'eJw_',
      ]) {
        expectFailure(verifyNoThrow(bad), 'invalid', bad);
      }
    });

    it('rejects non-JSON, non-object JSON and JSON arrays inside valid zlib', () => {
      for (const text of [
        'not json',
        '{"TLS.ver":"2.0"',
        '',
        'null',
        '42',
        '"2.0"',
        'true',
        '[]',
        '[{"TLS.ver":"2.0"}]',
      ]) {
        const bad = encodeText(text);
        expectFailure(verifyNoThrow(bad), 'invalid', bad);
      }
      const doc = decodeDoc(api.genUserSig('xiaojun', EXPIRE));
      const arrayed = encodeText(JSON.stringify([doc]));
      expectFailure(verifyNoThrow(arrayed), 'invalid', arrayed);
    });

    it('rejects a zlib bomb without inflating it fully', () => {
      const bomb = encodeText(Buffer.alloc(1024 * 1024, ' '));
      expect(bomb.length).toBeLessThanOrEqual(MAX_USERSIG_LENGTH); // it reaches the inflater
      expectFailure(verifyNoThrow(bomb), 'invalid', bomb);

      // A bomb hidden in a real, otherwise well-formed document.
      const doc = decodeDoc(api.genUserSig('xiaojun', EXPIRE));
      const padded = encodeText(JSON.stringify(doc).replace('{', `{${' '.repeat(1024 * 1024)}`));
      expect(padded.length).toBeLessThanOrEqual(MAX_USERSIG_LENGTH);
      expect(decodeDoc(padded)).toEqual(doc);
      expectFailure(verifyNoThrow(padded), 'invalid', padded);
    });

    it('rejects input longer than MAX_USERSIG_LENGTH', () => {
      expect(MAX_USERSIG_LENGTH).toBe(8192);
      const sig = api.genUserSig('xiaojun', EXPIRE).replace(/_+$/, '');
      expect(verifyUserSig(sig, opts).ok).toBe(true);
      expectFailure(verifyNoThrow('A'.repeat(MAX_USERSIG_LENGTH + 1)), 'invalid');
      // A valid sig smuggled inside an oversized string is not looked at.
      const big = sig + 'A'.repeat(MAX_USERSIG_LENGTH + 1 - sig.length);
      expect(big.length).toBe(MAX_USERSIG_LENGTH + 1);
      expectFailure(verifyNoThrow(big), 'invalid');
    });

    it('accepts a sig whose padding was stripped', () => {
      const sig = api.genUserSig('xiaojun', EXPIRE);
      expect(sig.endsWith('_')).toBe(true);
      expect(verifyUserSig(sig.replace(/_+$/, ''), opts).ok).toBe(true);
    });

    it('rejects empty, unicode, whitespace and null-ish strings', () => {
      const sig = api.genUserSig('xiaojun', EXPIRE);
      expect(sig).toMatch(/[*-].*_$/); // so the unescaped variant below really differs
      for (const bad of [
        '',
        ' ',
        '\n',
        'null',
        'undefined',
        'NaN',
        '{}',
        '[]',
        'true',
        '0',
        'ユーザー署名',
        '💥💥💥💥',
        '\u0000\u0000\u0000\u0000',
        '\ud800',
        `${sig} `,
        ` ${sig}`,
        `${sig}\n`,
        sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '='),
        `${sig.slice(0, 20)}_${sig.slice(20)}`,
        `${sig}___`,
        `${sig.slice(0, 30)}é${sig.slice(31)}`,
      ]) {
        expectFailure(verifyNoThrow(bad), 'invalid', bad);
      }
    });

    it('rejects non-string input from untyped callers', () => {
      for (const bad of [null, undefined, 42, {}, [], Buffer.from('x')]) {
        expectFailure(verifyNoThrow(bad as unknown as string), 'invalid');
      }
    });
  });
});
