/**
 * Where the store keeps what, under one prefix. Every key of one user shares one hash tag, so that a
 * Lua script can touch all of them on Redis Cluster (a script's keys must live in one slot); so do
 * the keys of one node, and the node table:
 *
 * - `<prefix>{u:<uid>}:user`      hash, the user's record and connections (fields below)
 * - `<prefix>{u:<uid>}:sessions`  sorted set: token hash scored by the session's `retainUntilMs`,
 *                                 the session index of a user with more than one session (it lives
 *                                 as long as its last session, which may outlive the user). A user's
 *                                 first session is indexed in the user's hash instead (`s`, below):
 *                                 a key less for the commonest user, the set comes with the second
 * - `<prefix>{u:<uid>}:push`      hash: kind → push token record (JSON)
 * - `<prefix>{s:<hashStart>}`     string: session record (below), under the first 20 characters of
 *                                 its token hash (`SESSION_KEY_HASH_CHARS`: 30 bytes with `evict:`,
 *                                 which keeps the key's allocation in Redis's smallest class for it);
 *                                 a token hash not shaped as the engine's (43 characters of base64url)
 *                                 is the key's whole. Sessions written before were under the whole
 *                                 hash: read there on a miss (and touched or revoked there), and
 *                                 deleted there by the next write of the session
 * - `<prefix>{r:<key>}:<windowStartMs>`  integer: hits in one rate-limit window
 * - `<prefix>{nodes}`             hash: nodeId → node record, `<incarnation> <expiresAtMs>
 *                                 <generation>`; no TTL (a lapsed record stays, so that its
 *                                 incarnation is never revived). The generation numbers the node's
 *                                 incarnations (base 36, from `1`, one more for each that replaces
 *                                 another): connections carry it rather than the incarnation, which
 *                                 costs a byte or two per connection where the incarnation cost eight
 * - `<prefix>{nodes}:replaced`    set of `<nodeId> <generation>`: incarnations that a new one
 *                                 replaced, whose indexes the sweep has not drained yet
 * - `<prefix>{n:<nodeId>}:<generation>:<bucket>`  hash, one bucket of a node incarnation's index:
 *                                 `connId - bucket × 512` → uid, for its connections whose
 *                                 `floor(connId / 512)` is `bucket`. At most 512 small fields, so
 *                                 Redis keeps it a listpack; what the sweep drains, a bucket (a
 *                                 bounded step) at a time.
 * - `<prefix>{n:<nodeId>}:<generation>:buckets`  set: the incarnation's non-empty buckets
 * - `<prefix>cluster`             the pub/sub channel
 * - `<prefix>{cluster}`           never written: routes every publish to one master (see `PUBLISH`)
 * - `<prefix>replicated`          string `1`, expiring a minute after it was last written: written
 *                                 right before a WAIT on a node-redis Sentinel client, on WAIT's
 *                                 connection (see `redis-commands.ts`)
 *
 * A connection is written on two slots (its node's index, its user): index first, then user; and
 * removed user first, then index. A failure in between leaves an index entry with no record (the
 * sweep skips it), never a record the sweep cannot find.
 *
 * Records are plain text of space-separated fields, not JSON, so that no field name is stored with
 * every record. Every number is decimal ms, as JavaScript's `String` (or Lua's `%.17g`) prints it,
 * unless said otherwise; a reader refuses anything else (`StoreCorruptError`).
 *
 * - session: `<deviceFlag>:<issuedAt>:<expiresAt>:<retainUntil>:<revokedAt>:<uid>`, each instant in
 *   base 36 when it is a safe integer, else `~` and the decimal (as a connection's `connectedAt`),
 *   with `-` for a session not revoked (`+` for one a login policy governs); the uid last, as it may
 *   contain colons and spaces, and the token hash only in the key. E.g.
 *   `1:mwreqrjv:mxy9ybjv:mxzpe67v:-:alice`: for a uid of up to 13 characters the record fits the 44
 *   bytes Redis keeps in one allocation with its object header (`embstr`). A record written before
 *   this layout (`<deviceFlag> <issuedAtMs> <expiresAtMs> <retainUntilMs> <revokedAtMs> <uid>`,
 *   decimal, space-separated) is read, revoked and touched as it is, in its own layout.
 * - user hash fields:
 *   - `e`: the user's `expiresAtMs`;
 *   - `c`: the cutoff of all devices, `<atMs> <reason>` (`kicked` or `device_quit`);
 *   - `c:<deviceFlag>`: the cutoff of one device, the same way;
 *   - `d:<deviceFlag>`: the device record, `<lastIssuedAt>:<expiresAt>`, each instant as a
 *     connection's `connectedAt` is written (base 36, or `~` and the decimal). Written before as
 *     `<lastIssuedAtMs> <expiresAtMs>` (decimal, space-separated), which is read as it is;
 *   - `<nodeId>:<connId>`: a connection, `<deviceFlag> <connectedAt> <generation>`: the connId in
 *     base 36 (`0-9a-z`, a leading `-` if negative), `connectedAt` is `connectedAtMs` in base 36
 *     when it is a safe integer, else `~` and the decimal, and the generation is its node
 *     incarnation's (see `{nodes}`). E.g. field `3:1dm4ett` (connId 3000000017), value
 *     `1 mwreqrjv 1`. Only a connection's field starts with a digit. Short on purpose: a user holding
 *     one connection and nothing else (a gateway's commonest user) is a hash of 32 bytes in Redis's
 *     allocator, where a byte more would make it 48. A connection registered with details adds
 *     four lines: its session id, device id, IP and port, each empty when absent;
 *   - `n`: how many connections the hash holds, kept only beside `e` (absent: none).
 *   - `s`: the session index while the user's sessions on file are one: `<retainUntil>:<32 bytes>`,
 *     the instant as a connection's `connectedAt` is written (base 36, or `~` and the decimal), then
 *     the token hash's SHA-256 as bytes, not its 43 characters of base64url: the whole hash, as
 *     listing needs it, and 11 bytes less, which with the device record in base 36 keeps the hash of
 *     a user's first session (`e`, `d:1`, `s`) within 96 bytes of listpack (`MEMORY USAGE` 168, 184
 *     otherwise). Lua turns it back into base64url for every reply: what JavaScript reads is text. A
 *     token hash of another shape is kept as text, `<retainUntil> <tokenHash>`, as every one was
 *     before (told apart by the separator, which no instant holds, and the 32 bytes' length). A
 *     write of another session moves it to the sorted set, where every later one goes until the set
 *     is gone (so the hash never holds more than one, and every write stays O(log n) in the set).
 *     The index outlives the user, so the hash lives as long as `s` does: a user that lapses or is
 *     started afresh keeps `s` beside its lapsed `e` (a hash holding `s` always holds `e`). Before
 *     this field, every session went to the sorted set; such data reads as before (the set is read
 *     after `s`, and a write goes to the set while it exists).
 *   - `a:<tokenHash>`: a session a login policy admitted and has not pushed out (the user's
 *     admission list is these fields), `<deviceClass> <deviceFlag> <issuedAtMs> <expiresAtMs>`. A
 *     field each rather than one list: a field and a value each stay under Redis's
 *     `hash-max-listpack-value` (64 bytes; a class name longer than 32 characters passes it),
 *     so the user's hash stays a listpack (`MEMORY USAGE` 456 bytes for a user of three devices
 *     and three admissions, against 720 as a hash table), which every read of the user walks
 *     faster; and taking one off is an `HDEL`;
 *   A hash without `e` holds connections alone (a user on file through them only, the commonest
 *   user of a gateway): its connection count is its length, and it carries nothing else. A hash
 *   holding a connection has no TTL (a connection lives as long as its node, which a script on the
 *   user's slot cannot see); otherwise it expires with `e`. Connections share the user's hash, not a
 *   key of their own, and the hash stays small enough to be a listpack.
 *
 * Uids, token hashes and counter keys are escaped inside their tag (`%`, `{`, `}` and lone
 * surrogates become `%XX` / `%uXXXX`), so no value can close the tag early or share a key with
 * another value.
 */

export const DEFAULT_PREFIX = 'evict:';

export interface UserKeys {
  user: string;
  sessions: string;
  push: string;
}

/**
 * How many characters of a token hash name its session's key (120 bits of its SHA-256). Enough for
 * a lookup key: the hash is of a random token, so finding another token whose hash shares a key's
 * 120 bits costs about 2^120 hashes, and among a billion sessions two share one with a chance of
 * under 1e-18. The session's identity stays the whole hash (every method takes it, every record
 * returned carries it); the key is where to look.
 */
export const SESSION_KEY_HASH_CHARS = 20;

/** A token hash as the engine makes them: SHA-256 in base64url, 43 characters. */
export function isTokenHash(tokenHash: string): boolean {
  return tokenHash.length === 43 && TOKEN_HASH.test(tokenHash);
}

const TOKEN_HASH = /^[\w-]{43}$/;

/** How many connIds one bucket of a node incarnation's index covers. */
export const INDEX_BUCKET_SIZE = 512;

export class KeyLayout {
  readonly channel: string;
  readonly publishRoute: string;
  readonly nodes: string;
  readonly replacedNodes: string;
  readonly replicationMark: string;

  /**
   * @param sessionsUnderWholeHash whether sessions written before the short keys may be on file
   * (`RedisStore`'s option of that name): without them, `sessionBeforeShortKeys` names none.
   */
  constructor(
    readonly prefix: string,
    readonly sessionsUnderWholeHash = true,
  ) {
    this.channel = `${prefix}cluster`;
    this.publishRoute = `${prefix}{cluster}`;
    this.nodes = `${prefix}{nodes}`;
    this.replacedNodes = `${prefix}{nodes}:replaced`;
    this.replicationMark = `${prefix}replicated`;
  }

  /** The user's three keys, in the order the user scripts take them (their KEYS[1] to KEYS[3]). */
  user(uid: string): UserKeys {
    const base = `${this.prefix}{u:${encodeKeyPart(uid)}}`;
    return {
      user: `${base}:user`,
      sessions: `${base}:sessions`,
      push: `${base}:push`,
    };
  }

  /** The set of a node incarnation's non-empty index buckets (by its generation). */
  indexBuckets(nodeId: number, generation: string): string {
    return `${this.prefix}{n:${nodeId}}:${generation}:buckets`;
  }

  /** One bucket of a node incarnation's index (by its generation). */
  indexBucket(nodeId: number, generation: string, bucket: number): string {
    return `${this.prefix}{n:${nodeId}}:${generation}:${bucket}`;
  }

  /**
   * A session's key: for a token hash as the engine makes them (`hashToken`: SHA-256, 43 characters
   * of base64url), its first `SESSION_KEY_HASH_CHARS` characters; any other string whole (one of 20
   * such characters would share the key of the hashes it begins: the engine passes none).
   */
  session(tokenHash: string): string {
    const part = isTokenHash(tokenHash)
      ? tokenHash.slice(0, SESSION_KEY_HASH_CHARS)
      : encodeKeyPart(tokenHash);
    return `${this.prefix}{s:${part}}`;
  }

  /**
   * Where the session was written before its key held a part of the hash only: the whole hash, or
   * undefined when that is the key `session` names already.
   */
  sessionBeforeShortKeys(tokenHash: string): string | undefined {
    return this.sessionsUnderWholeHash && isTokenHash(tokenHash)
      ? `${this.prefix}{s:${tokenHash}}`
      : undefined;
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
  return [keys.user, keys.sessions, keys.push];
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

/** The Redis Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key without one. */
export function hashSlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16_384;
}
