import { createHash } from 'node:crypto';

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

function script(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

const COMMON = `
local now = tonumber(ARGV[1])

local function corrupt(key, what)
  error({ err = 'EVICT_CORRUPT ' .. key .. ' ' .. what })
end

local function fmt(n)
  return string.format('%.17g', n)
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

-- Reads a hash of JSON records, checking every one before anything is written: field -> expiresAtMs.
local function read_records(key)
  local fields = redis.call('HGETALL', key)
  local records = {}
  for i = 1, #fields, 2 do
    records[fields[i]] = decode(key, fields[i], fields[i + 1], 'expiresAtMs').expiresAtMs
  end
  return records
end

-- Drops the expired fields of a hash of records and sets its TTL from the latest expiry left.
local function prune(key, records)
  local latest = 0
  for field, expires in pairs(records) do
    if expires <= now then
      redis.call('HDEL', key, field)
    elseif expires > latest then
      latest = expires
    end
  end
  expire_at(key, latest)
end
`;

/** KEYS: user, sessions, conns, push (one hash tag). */
const USER = `${COMMON}
-- The user's expiry, or nil when the user is unknown or expired by the store's clock.
local function live_user()
  local raw = redis.call('HGET', KEYS[1], 'expiresAtMs')
  if not raw then
    if redis.call('EXISTS', KEYS[1]) == 1 then corrupt(KEYS[1], 'expiresAtMs') end
    return nil
  end
  local expires = tonumber(raw)
  if not expires then corrupt(KEYS[1], 'expiresAtMs') end
  if expires <= now then return nil end
  return expires
end

-- The user's expiry, starting the user afresh (as MemoryStore does) when unknown or expired. The
-- session index is not the user's: it lives as long as the sessions it lists, which may outlive the user.
local function open_user()
  local expires = live_user()
  if expires == nil then
    redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
    return 0
  end
  return expires
end

-- Grows the user's expiry to at least \`wanted\`; the user hash lives that long.
local function keep_user(expires, wanted)
  if wanted > expires then expires = wanted end
  redis.call('HSET', KEYS[1], 'expiresAtMs', fmt(expires))
  expire_at(KEYS[1], expires)
end

-- Drops the index entries whose retention has passed; the index lives as long as its last entry.
local function prune_index()
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  expire_at(KEYS[2], last[2] and tonumber(last[2]) or 0)
end
`;

/** ARGV: now, expiresAtMs. */
export const TOUCH_USER = script(
  'touchUser',
  `${USER}
keep_user(open_user(), tonumber(ARGV[2]))
return 1
`,
);

/** ARGV: now, field (`cutoff` or `cutoff:<flag>`), cutoff JSON, cutoff atMs, expiresAtMs. Atomic maximum. */
export const RAISE_CUTOFF = script(
  'raiseCutoff',
  `${USER}
local expires = open_user()
local current = redis.call('HGET', KEYS[1], ARGV[2])
if not current or decode(KEYS[1], ARGV[2], current, 'atMs').atMs < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
keep_user(expires, tonumber(ARGV[5]))
return 1
`,
);

/**
 * The user's side of putSession: the device record (its times only grow) and the session index.
 * ARGV: now, deviceFlag, issuedAtMs, expiresAtMs, tokenHash, retainUntilMs.
 */
export const RECORD_SESSION = script(
  'recordSession',
  `${USER}
local expires = open_user()
local field = 'device:' .. ARGV[2]
local issued = tonumber(ARGV[3])
local until_ms = tonumber(ARGV[4])
local raw = redis.call('HGET', KEYS[1], field)
if raw then
  local device = decode(KEYS[1], field, raw, 'lastIssuedAtMs')
  if type(device.expiresAtMs) ~= 'number' then corrupt(KEYS[1], field) end
  if device.lastIssuedAtMs > issued then issued = device.lastIssuedAtMs end
  if device.expiresAtMs > until_ms then until_ms = device.expiresAtMs end
end
redis.call('HSET', KEYS[1], field,
  '{"lastIssuedAtMs":' .. fmt(issued) .. ',"expiresAtMs":' .. fmt(until_ms) .. '}')
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
prune_index()
keep_user(expires, tonumber(ARGV[4]))
return 1
`,
);

/** The token hashes in the user's session index, dropping entries whose retention has passed. ARGV: now. */
export const SESSION_INDEX = script(
  'sessionIndex',
  `${USER}
prune_index()
return redis.call('ZRANGE', KEYS[2], 0, -1)
`,
);

/** ARGV: now, field (`<nodeId>:<connId>`), record JSON, expiresAtMs. */
export const PUT_CONNECTION = script(
  'putConnection',
  `${USER}
local expires = open_user()
local records = read_records(KEYS[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
records[ARGV[2]] = tonumber(ARGV[4])
prune(KEYS[3], records)
keep_user(expires, tonumber(ARGV[4]))
return 1
`,
);

/** 1 when a live connection was removed. ARGV: now, field. */
export const DELETE_CONNECTION = script(
  'deleteConnection',
  `${USER}
local records = read_records(KEYS[3])
local expires = records[ARGV[2]]
if expires == nil then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
records[ARGV[2]] = nil
prune(KEYS[3], records)
if expires <= now then return 0 end
return 1
`,
);

/** The live connection records (JSON), dropping the expired ones. ARGV: now. */
export const LIST_CONNECTIONS = script(
  'listConnections',
  `${USER}
local records = read_records(KEYS[3])
prune(KEYS[3], records)
local live = {}
for field, expires in pairs(records) do
  if expires > now then live[#live + 1] = redis.call('HGET', KEYS[3], field) end
end
return live
`,
);

/** ARGV: now, kind, record JSON, expiresAtMs. */
export const SET_PUSH_TOKEN = script(
  'setPushToken',
  `${USER}
local expires = open_user()
local records = read_records(KEYS[4])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
records[ARGV[2]] = tonumber(ARGV[4])
prune(KEYS[4], records)
keep_user(expires, tonumber(ARGV[4]))
return 1
`,
);

/** The kinds that were set (live), in the order asked. ARGV: now, kind... */
export const CLEAR_PUSH_TOKENS = script(
  'clearPushTokens',
  `${USER}
local records = read_records(KEYS[4])
local cleared = {}
for i = 2, #ARGV do
  local expires = records[ARGV[i]]
  if expires ~= nil then
    redis.call('HDEL', KEYS[4], ARGV[i])
    records[ARGV[i]] = nil
    if expires > now then cleared[#cleared + 1] = ARGV[i] end
  end
end
prune(KEYS[4], records)
return cleared
`,
);

/**
 * Marks a live session revoked, keeping the first time and the key's TTL; returns the record as it
 * was. KEYS: session. ARGV: now, atMs.
 */
export const REVOKE_SESSION = script(
  'revokeSession',
  `${COMMON}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local session = decode(KEYS[1], 'session', raw, 'retainUntilMs')
if session.retainUntilMs <= now then return false end
if session.revokedAtMs == nil or session.revokedAtMs == cjson.null then
  if string.sub(raw, -1) ~= '}' then corrupt(KEYS[1], 'session') end
  -- Spliced rather than re-encoded: cjson would round numbers to 14 digits.
  redis.call('SET', KEYS[1], string.sub(raw, 1, -2) .. ',"revokedAtMs":' .. ARGV[2] .. '}', 'KEEPTTL')
end
return raw
`,
);

/** Counts a hit in a fixed window. KEYS: counter. ARGV: ttlMs (until the window ends). */
export const HIT = script(
  'hit',
  `
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
`,
);

/**
 * Publishes a cluster message. KEYS: a routing key that is never written. ARGV: channel, message.
 * Through a script with a fixed key, every message of every node enters Redis Cluster at the same
 * master, so subscribers receive them in publishing order (a plain PUBLISH goes to any master).
 */
export const PUBLISH = script(
  'publish',
  `
return redis.call('PUBLISH', ARGV[1], ARGV[2])
`,
);

export const SCRIPTS: readonly LuaScript[] = [
  PUBLISH,
  TOUCH_USER,
  RAISE_CUTOFF,
  RECORD_SESSION,
  SESSION_INDEX,
  PUT_CONNECTION,
  DELETE_CONNECTION,
  LIST_CONNECTIONS,
  SET_PUSH_TOKEN,
  CLEAR_PUSH_TOKENS,
  REVOKE_SESSION,
  HIT,
];
