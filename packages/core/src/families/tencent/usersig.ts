/**
 * Tencent Cloud IM / TRTC UserSig (TLSSigAPIv2) verification and signing, byte-compatible with
 * Tencent's `tls-sig-api-v2` library, using Node built-ins only.
 *
 * Wire format: `escape(base64(zlib.deflate(JSON)))`, where `escape` writes `+` `/` `=` as `*` `-` `_`,
 * and the JSON document is, in this key order:
 *   {"TLS.ver":"2.0","TLS.identifier":…,"TLS.sdkappid":…,"TLS.time":…,"TLS.expire":…,["TLS.userbuf":…,]"TLS.sig":…}
 * `TLS.sig` is base64(HMAC-SHA256(secretKey, content)) with
 *   content = "TLS.identifier:<id>\nTLS.sdkappid:<appid>\nTLS.time:<time>\nTLS.expire:<expire>\n"
 *             [+ "TLS.userbuf:<base64 userbuf>\n"]
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';

export interface UserSigClaims {
  identifier: string;
  sdkAppId: number;
  /** `TLS.time`: when the sig was issued, in seconds since the epoch */
  issuedAtSec: number;
  /** `TLS.expire`: lifetime in seconds, counted from `issuedAtSec` */
  expireSec: number;
  /** `(issuedAtSec + expireSec) * 1000`: the sig is expired from this instant on */
  expiresAtMs: number;
  /** decoded `TLS.userbuf` (e.g. a TRTC PrivateMapKey payload), when present */
  userBuf?: Buffer;
}

export type UserSigFailure = 'expired' | 'invalid' | 'identifier_mismatch' | 'sdkappid_mismatch';

export type UserSigResult =
  | ({ ok: true } & UserSigClaims)
  | { ok: false; failure: UserSigFailure; message: string };

export interface VerifyUserSigOptions {
  sdkAppId: number;
  secretKey: string;
  nowMs: number;
  /** when given, the sig's identifier must equal it */
  identifier?: string;
}

export interface SignUserSigOptions {
  sdkAppId: number;
  secretKey: string;
  identifier: string;
  expireSec: number;
  nowMs?: number;
  userBuf?: Buffer;
}

/** Longest UserSig string `verifyUserSig` will look at, in characters. */
export const MAX_USERSIG_LENGTH = 8192;

/** Cap on the inflated JSON document, so a zlib bomb cannot allocate more than this. */
const MAX_INFLATED_BYTES = 16384;

/** Sigs whose `TLS.time` is further ahead of `nowMs` than this are rejected. */
const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** Escaped base64: `+` `/` `=` written as `*` `-` `_`; padding (`_`) only at the end. */
const ESCAPED_BASE64 = /^[A-Za-z0-9*-]+_{0,2}$/;

/** Standard, padded base64, as the library writes `TLS.userbuf`. */
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function escapeBase64(b64: string): string {
  return b64.replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

function unescapeBase64(escaped: string): string {
  return escaped.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
}

/** The exact string TLSSigAPIv2's `_hmacsha256` signs, and its base64 HMAC-SHA256. */
function computeSig(
  secretKey: string,
  identifier: string,
  sdkAppId: number,
  time: number,
  expire: number,
  base64UserBuf: string | undefined,
): string {
  let content = `TLS.identifier:${identifier}\n`;
  content += `TLS.sdkappid:${sdkAppId}\n`;
  content += `TLS.time:${time}\n`;
  content += `TLS.expire:${expire}\n`;
  if (base64UserBuf !== undefined) {
    content += `TLS.userbuf:${base64UserBuf}\n`;
  }
  return createHmac('sha256', secretKey).update(content).digest('base64');
}

function isSafeNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function fail(failure: UserSigFailure, message: string): UserSigResult {
  return { ok: false, failure, message };
}

/**
 * Verifies a TLSSigAPIv2 UserSig. Never throws: any malformed, tampered, foreign, or expired sig
 * comes back as `{ ok: false, failure, message }`. Messages never contain the key or the sig.
 */
export function verifyUserSig(userSig: string, options: VerifyUserSigOptions): UserSigResult {
  try {
    return verify(userSig, options);
  } catch {
    // Belt and braces: every step below is guarded, but a verifier must fail closed, never throw.
    return fail('invalid', 'usersig could not be verified');
  }
}

function verify(userSig: string, options: VerifyUserSigOptions): UserSigResult {
  const { sdkAppId, secretKey, nowMs, identifier } = options;
  // Fail closed on a misconfigured verifier (an empty key would make every sig forgeable).
  if (
    typeof secretKey !== 'string' ||
    secretKey.length === 0 ||
    !isSafeNonNegativeInteger(sdkAppId) ||
    typeof nowMs !== 'number' ||
    !Number.isFinite(nowMs)
  ) {
    return fail('invalid', 'usersig verifier options are invalid');
  }

  if (typeof userSig !== 'string' || userSig.length === 0) {
    return fail('invalid', 'usersig is empty');
  }
  if (userSig.length > MAX_USERSIG_LENGTH) {
    return fail('invalid', `usersig is longer than ${MAX_USERSIG_LENGTH} characters`);
  }
  if (!ESCAPED_BASE64.test(userSig)) {
    return fail('invalid', 'usersig is not escaped base64');
  }

  let json: string;
  try {
    const compressed = Buffer.from(unescapeBase64(userSig), 'base64');
    json = inflateSync(compressed, { maxOutputLength: MAX_INFLATED_BYTES }).toString('utf8');
  } catch {
    return fail('invalid', 'usersig is not a valid zlib stream');
  }

  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return fail('invalid', 'usersig does not contain JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return fail('invalid', 'usersig does not contain a JSON object');
  }
  const fields = doc as Record<string, unknown>;
  const ver = fields['TLS.ver'];
  const sigIdentifier = fields['TLS.identifier'];
  const sigSdkAppId = fields['TLS.sdkappid'];
  const time = fields['TLS.time'];
  const expire = fields['TLS.expire'];
  const sig = fields['TLS.sig'];
  const userBuf = fields['TLS.userbuf'];

  if (ver !== '2.0') {
    return fail('invalid', 'usersig version is not 2.0');
  }
  if (typeof sigIdentifier !== 'string' || sigIdentifier.length === 0) {
    return fail('invalid', 'usersig identifier is missing');
  }
  if (!isSafeNonNegativeInteger(sigSdkAppId)) {
    return fail('invalid', 'usersig sdkappid is malformed');
  }
  if (!isSafeNonNegativeInteger(time) || !isSafeNonNegativeInteger(expire)) {
    return fail('invalid', 'usersig time or expire is malformed');
  }
  // Keeps expiresAtMs an exact integer; no real sig lives anywhere near 285,000 years.
  const expiresAtMs = (time + expire) * 1000;
  if (!Number.isSafeInteger(expiresAtMs)) {
    return fail('invalid', 'usersig expiry is out of range');
  }
  if (typeof sig !== 'string') {
    return fail('invalid', 'usersig signature is missing');
  }
  if (userBuf !== undefined && (typeof userBuf !== 'string' || !STANDARD_BASE64.test(userBuf))) {
    return fail('invalid', 'usersig userbuf is malformed');
  }

  const expected = Buffer.from(
    computeSig(secretKey, sigIdentifier, sigSdkAppId, time, expire, userBuf),
    'utf8',
  );
  const actual = Buffer.from(sig, 'utf8');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    return fail('invalid', 'usersig signature does not match');
  }

  if (sigSdkAppId !== sdkAppId) {
    return fail('sdkappid_mismatch', 'usersig was issued for another SDKAppID');
  }
  if (identifier !== undefined && sigIdentifier !== identifier) {
    return fail('identifier_mismatch', 'usersig was issued for another identifier');
  }

  // A sig issued more than 5 minutes in the future is forged or the clocks are broken: reject it.
  if (time * 1000 > nowMs + MAX_FUTURE_SKEW_MS) {
    return fail('invalid', 'usersig is issued in the future');
  }
  if (expiresAtMs <= nowMs) {
    return fail('expired', 'usersig has expired');
  }

  const claims: UserSigClaims = {
    identifier: sigIdentifier,
    sdkAppId: sigSdkAppId,
    issuedAtSec: time,
    expireSec: expire,
    expiresAtMs,
  };
  if (userBuf !== undefined) {
    claims.userBuf = Buffer.from(userBuf, 'base64');
  }
  return { ok: true, ...claims };
}

/**
 * Signs a UserSig exactly as TLSSigAPIv2's `genSig` does (`genUserSig` without `userBuf`,
 * `genPrivateMapKey*` with one): same JSON key order, same content string, same deflate.
 * Throws a `TypeError` on options that could not yield a verifiable sig.
 */
export function signUserSig(options: SignUserSigOptions): string {
  const { sdkAppId, secretKey, identifier, expireSec, userBuf } = options;
  const nowMs = options.nowMs ?? Date.now();
  if (typeof secretKey !== 'string' || secretKey.length === 0) {
    throw new TypeError('secretKey must be a non-empty string');
  }
  if (typeof identifier !== 'string' || identifier.length === 0) {
    throw new TypeError('identifier must be a non-empty string');
  }
  if (!isSafeNonNegativeInteger(sdkAppId)) {
    throw new TypeError('sdkAppId must be a non-negative integer');
  }
  if (!isSafeNonNegativeInteger(expireSec)) {
    throw new TypeError('expireSec must be a non-negative integer');
  }
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < 0) {
    throw new TypeError('nowMs must be a non-negative finite number');
  }
  if (userBuf !== undefined && !Buffer.isBuffer(userBuf)) {
    throw new TypeError('userBuf must be a Buffer');
  }
  const time = Math.floor(nowMs / 1000);
  if (!Number.isSafeInteger((time + expireSec) * 1000)) {
    throw new TypeError('expireSec is out of range');
  }

  // Key insertion order matters: it is the JSON field order of the library.
  const doc: Record<string, string | number> = {
    'TLS.ver': '2.0',
    'TLS.identifier': identifier,
    'TLS.sdkappid': sdkAppId,
    'TLS.time': time,
    'TLS.expire': expireSec,
  };
  let base64UserBuf: string | undefined;
  if (userBuf !== undefined) {
    base64UserBuf = userBuf.toString('base64');
    doc['TLS.userbuf'] = base64UserBuf;
  }
  doc['TLS.sig'] = computeSig(secretKey, identifier, sdkAppId, time, expireSec, base64UserBuf);

  const compressed = deflateSync(Buffer.from(JSON.stringify(doc), 'utf8'));
  return escapeBase64(compressed.toString('base64'));
}
