/**
 * Where the store keeps what, under one prefix. Every key of one user shares one hash tag, so that a
 * Lua script can touch all of them on Redis Cluster (a script's keys must live in one slot):
 *
 * - `<prefix>{u:<uid>}:user`      hash, the user's record (fields below)
 * - `<prefix>{u:<uid>}:sessions`  sorted set: token hash scored by the session's `retainUntilMs`
 *                                 (it lives as long as its last session, which may outlive the user)
 * - `<prefix>{u:<uid>}:conns`     hash: `<nodeId>:<connId>` → connection record (JSON)
 * - `<prefix>{u:<uid>}:conn-expiry`  sorted set: the same `<nodeId>:<connId>` fields, scored by
 *                                 the record's `expiresAtMs`; every script adds and removes a field
 *                                 in both keys, which share one TTL. A put or a delete touches its
 *                                 own field and finds the expired records and the latest expiry
 *                                 here, in O(log n), instead of reading all of a user's records.
 *                                 (Records of an earlier version, which kept no such set, are taken
 *                                 in on the next write: see `check_conns` in `scripts.ts`.)
 * - `<prefix>{u:<uid>}:push`      hash: kind → push token record (JSON)
 * - `<prefix>{s:<tokenHash>}`     string: session record (below)
 * - `<prefix>{r:<key>}:<windowStartMs>`  integer: hits in one rate-limit window
 * - `<prefix>cluster`             the pub/sub channel
 * - `<prefix>{cluster}`           never written: routes every publish to one master (see `PUBLISH`)
 *
 * The records written once per session or per user are plain text of space-separated fields, not
 * JSON: no field names, so a session costs about 180 bytes less in Redis. Every number is decimal
 * ms, as JavaScript's `String` (or Lua's `%.17g`) prints it; a reader refuses anything else
 * (`StoreCorruptError`), JSON of the old layout included.
 *
 * - session: `<deviceFlag> <issuedAtMs> <expiresAtMs> <retainUntilMs> <revokedAtMs> <uid>`, with
 *   `-` for a session not revoked; the uid last, as it may contain spaces, and the token hash only
 *   in the key. E.g. `1 1795325995003 1797917995003 1798004395003 - alice`.
 * - user hash fields:
 *   - `e`: the user's `expiresAtMs`;
 *   - `c`: the cutoff of all devices, `<atMs> <reason>` (`kicked` or `device_quit`);
 *   - `c:<deviceFlag>`: the cutoff of one device, the same way;
 *   - `d:<deviceFlag>`: the device record, `<lastIssuedAtMs> <expiresAtMs>`.
 *
 * Uids, token hashes and counter keys are escaped inside their tag (`%`, `{`, `}` and lone
 * surrogates become `%XX` / `%uXXXX`), so no value can close the tag early or share a key with
 * another value.
 */

export const DEFAULT_PREFIX = 'evict:';

export interface UserKeys {
  user: string;
  sessions: string;
  conns: string;
  push: string;
  connExpiry: string;
}

export class KeyLayout {
  readonly channel: string;
  readonly publishRoute: string;

  constructor(readonly prefix: string) {
    this.channel = `${prefix}cluster`;
    this.publishRoute = `${prefix}{cluster}`;
  }

  /** The user's five keys, in the order the user scripts take them (their KEYS[1] to KEYS[5]). */
  user(uid: string): UserKeys {
    const base = `${this.prefix}{u:${encodeKeyPart(uid)}}`;
    return {
      user: `${base}:user`,
      sessions: `${base}:sessions`,
      conns: `${base}:conns`,
      push: `${base}:push`,
      connExpiry: `${base}:conn-expiry`,
    };
  }

  session(tokenHash: string): string {
    return `${this.prefix}{s:${encodeKeyPart(tokenHash)}}`;
  }

  counter(key: string, windowStartMs: number): string {
    return `${this.prefix}{r:${encodeKeyPart(key)}}:${windowStartMs}`;
  }

  /** A `SCAN MATCH` pattern for every key of this prefix (the prefix's glob characters escaped). */
  scanPattern(): string {
    return `${escapeGlob(this.prefix)}*`;
  }
}

export function userKeyList(keys: UserKeys): string[] {
  return [keys.user, keys.sessions, keys.conns, keys.push, keys.connExpiry];
}

/**
 * Escapes what could open or end a hash tag (`{`, `}`), the escape character itself, and lone
 * surrogates (UTF-8 has no bytes for them: two would share one key). Keys are binary-safe otherwise.
 */
export function encodeKeyPart(value: string): string {
  // With the `u` flag a surrogate range matches only lone surrogates (a pair is one code point).
  return value.replace(/[%{}]|[\ud800-\udfff]/gu, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff ? `%u${code.toString(16).padStart(4, '0')}` : `%${code.toString(16).padStart(2, '0')}`;
  });
}

/** Escapes Redis glob characters (`SCAN MATCH`, `PSUBSCRIBE`) so that a prefix matches only itself. */
export function escapeGlob(value: string): string {
  return value.replace(/[\\*?[\]^]/g, '\\$&');
}
