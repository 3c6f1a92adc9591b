import * as crypto from 'node:crypto';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new opaque login token: 256 random bits, base64url (43 characters). */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

// `crypto.hash` (Node 20.12+) is the one-shot form: less than half the time of createHash on the guard's hot path.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string })
  .hash;

/**
 * A session's public id: stable, not a credential, not the store's key (the token's hash), and no
 * way back to the token (a hash of its hash, 132 bits). What users and admins see and name a
 * session by.
 */
export function sessionIdOf(tokenHash: string): string {
  return createHash('sha256')
    .update(`evict session id\0${tokenHash}`, 'utf8')
    .digest('base64url')
    .slice(0, 22);
}

/** What the store keeps instead of a token: its SHA-256, base64url. A 256-bit random token needs no salt. */
export function hashToken(token: string): string {
  if (oneShotHash !== undefined) return oneShotHash('sha256', token, 'base64url');
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/**
 * Compares two secrets in time that depends on neither's content nor on where they differ.
 * Both are hashed first so that inputs of different lengths compare in constant time too.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
