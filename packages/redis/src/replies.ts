import { StoreCorruptError } from '@evict/core';

// Replies as the clients hand them (strings or Buffers, RESP2 arrays or RESP3 maps), read into strings.

export function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/** A list of strings from a reply (a script's table, ZRANGE). */
export function stringList(reply: unknown, what: string): string[] {
  if (!Array.isArray(reply)) throw new StoreCorruptError(`unexpected reply from Redis for ${what}`);
  return reply.map((item) => {
    const s = text(item);
    if (s === undefined) throw new StoreCorruptError(`unexpected reply from Redis for ${what}`);
    return s;
  });
}

/** HGETALL's reply as field/value pairs: a flat array (RESP2), or a map or object (RESP3). */
export function pairs(reply: unknown, key: string): [string, string][] {
  if (reply === null || reply === undefined) return [];
  let entries: [unknown, unknown][];
  if (Array.isArray(reply)) {
    entries = [];
    for (let i = 0; i + 1 < reply.length; i += 2) entries.push([reply[i], reply[i + 1]]);
  } else if (reply instanceof Map) {
    entries = [...reply.entries()];
  } else if (typeof reply === 'object') {
    entries = Object.entries(reply);
  } else {
    throw new StoreCorruptError(`unexpected reply from Redis at ${key}`);
  }
  return entries.map(([field, value]) => {
    const f = text(field);
    const v = text(value);
    if (f === undefined || v === undefined)
      throw new StoreCorruptError(`unexpected reply from Redis at ${key}`);
    return [f, v];
  });
}

/** A SCAN-family reply (`HSCAN`, `ZSCAN`): the next cursor (undefined once it is `0`) and the flat list of entries. */
export function scanReply(reply: unknown, key: string): { cursor: string | undefined; entries: string[] } {
  const [next, entries] = Array.isArray(reply) ? reply : [];
  const cursor = text(next);
  if (cursor === undefined) throw new StoreCorruptError(`unexpected scan reply from Redis at ${key}`);
  return { cursor: cursor === '0' ? undefined : cursor, entries: stringList(entries, `a scan of ${key}`) };
}
