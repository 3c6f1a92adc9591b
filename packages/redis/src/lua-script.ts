import { createHash } from 'node:crypto';
import { StoreCorruptError } from '@evict/core';
import { errorMessage, type RedisCommands } from './redis-commands.js';

/**
 * The Lua scripts: every read-modify-write runs as one script, so concurrent writers never lose each
 * other's updates, and every script's keys share one hash tag (one Cluster slot).
 *
 * Conventions:
 * - `ARGV[1]` is "now" by the store's clock: expiry is judged by the same clock as `MemoryStore`
 *   judges it, and key TTLs are set relative to it (a fake clock in tests, skew between nodes).
 * - Every key written gets a TTL from the expiry of what it holds, plus `GRACE_MS` for clock skew
 *   between nodes; a key whose content has already expired is deleted instead.
 * - A record that cannot be read raises `EVICT_CORRUPT ...`, which the store turns into
 *   `StoreCorruptError`; nothing is overwritten on top of a record that could not be read.
 * - Numbers written back are formatted with `%.17g`, which round-trips every double.
 */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** Kept past a record's own expiry before Redis drops the key; reads filter by expiry anyway. */
export const GRACE_MS = 1_000;

export function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** The start of every script that judges expiry: `now`, and the helpers that keep the conventions above. */
export const COMMON = `
local now = tonumber(ARGV[1])

local function corrupt(key, what)
  error({ err = 'EVICT_CORRUPT ' .. key .. ' ' .. what })
end

local function fmt(n)
  return string.format('%.17g', n)
end

-- A number as the store writes them (decimal, as JavaScript's String or %.17g prints it), else nil:
-- tonumber alone would also take hex, "inf" and "nan".
local function num(s)
  if type(s) ~= 'string' then return nil end
  if string.find(s, '^%-?%d+$') or string.find(s, '^%-?%d+%.%d+$')
    or string.find(s, '^%-?%d+e[%+%-]%d+$') or string.find(s, '^%-?%d+%.%d+e[%+%-]%d+$') then
    return tonumber(s)
  end
  return nil
end

-- An instant as sessions and the index entry \`s\` hold it: base 36 when a safe integer, else \`~\` and
-- the decimal (as JavaScript's \`toString(36)\` and \`String\` print them, see \`encodeTime\` in \`records.ts\`).
local DIGITS36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function to36(n)
  if n ~= math.floor(n) or n > 9007199254740991 or n < -9007199254740991 then return '~' .. fmt(n) end
  local sign, digits = '', ''
  if n < 0 then sign, n = '-', -n end
  repeat
    local d = n % 36
    digits = string.sub(DIGITS36, d + 1, d + 1) .. digits
    n = (n - d) / 36
  until n == 0
  return sign .. digits
end

local function from36(s)
  if string.sub(s, 1, 1) == '~' then return num(string.sub(s, 2)) end
  local sign, digits = string.match(s, '^(%-?)([0-9a-z]+)$')
  -- Canonical only, as \`decodeTime\` reads them: no leading zero, no \`-0\`.
  if not digits or #digits > 11 or (#digits > 1 and string.sub(digits, 1, 1) == '0') then return nil end
  if sign == '-' and digits == '0' then return nil end
  local n = tonumber(digits, 36)
  if sign == '-' then n = -n end
  return n
end

-- Sets the key's TTL from the expiry of its content (ms, by the store's clock), or deletes it once expired.
local function expire_at(key, at_ms)
  if at_ms <= now then
    redis.call('DEL', key)
  else
    redis.call('PEXPIRE', key, string.format('%d', math.ceil(at_ms - now) + ${GRACE_MS}))
  end
end

-- A JSON record with a numeric field \`field\`, decoded.
local function decode(key, name, raw, field)
  local ok, value = pcall(cjson.decode, raw)
  if not ok or type(value) ~= 'table' or type(value[field]) ~= 'number' then
    corrupt(key, name)
  end
  return value
end

-- Reads a hash of JSON records, checking every one before anything is written: field -> expiresAtMs,
-- and field -> the record as stored.
local function read_records(key)
  local fields = redis.call('HGETALL', key)
  local records, raws = {}, {}
  for i = 1, #fields, 2 do
    records[fields[i]] = decode(key, fields[i], fields[i + 1], 'expiresAtMs').expiresAtMs
    raws[fields[i]] = fields[i + 1]
  end
  return records, raws
end

-- Drops the fields of a hash of records that expired (or that the caller set to 0: removed), in one
-- HDEL. The key's TTL follows its latest record; it is set again only when \`changed\` (a record was
-- written, or a live one removed): dropping expired records never lowers the latest. With no field
-- left, Redis has removed the hash already.
local function prune(key, records, changed)
  local latest, dead = 0, {}
  for field, expires in pairs(records) do
    if expires <= now then
      dead[#dead + 1] = field
      if #dead == 1000 then
        redis.call('HDEL', key, unpack(dead))
        dead = {}
      end
    elseif expires > latest then
      latest = expires
    end
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  if changed and latest > 0 then expire_at(key, latest) end
end
`;

/** Runs a script, turning a record it could not read (`EVICT_CORRUPT ...`) into `StoreCorruptError`. */
export async function runScript(
  commands: RedisCommands,
  script: LuaScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await commands.evalScript(script, keys, args);
  } catch (error) {
    const message = errorMessage(error);
    const corrupt = /EVICT_CORRUPT (.*?)(?: script: [0-9a-f]{40}.*)?$/s.exec(message);
    if (corrupt !== null) throw new StoreCorruptError(`unreadable record in Redis: ${corrupt[1]}`);
    throw error;
  }
}
