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

/**
 * KEYS: user, sessions, conns, push, conn-expiry (one hash tag). The user hash's fields (see
 * `keys.ts`): `e` the user's expiresAtMs, `c` and `c:<flag>` cutoffs as `<atMs> <reason>`, `d:<flag>`
 * devices as `<lastIssuedAtMs> <expiresAtMs>`.
 *
 * Connections: the records in the `conns` hash, and their expiries in the `conn-expiry` sorted set
 * (same fields), always written together. A put or a delete touches its own field only, and finds
 * what expired and the latest expiry in the sorted set (O(log n) for a user of n connections): a
 * user's n connections cost O(n log n) to register, refresh or drop, not O(n²). Only the listings
 * (LIST_CONNECTIONS, KICK) read every record.
 */
const USER = `${COMMON}
-- The user's expiry from its \`e\` field (false: absent), or nil when the user is unknown or expired
-- by the store's clock. A hash without \`e\` is not one the store wrote.
local function live_expiry(raw)
  if not raw then
    if redis.call('EXISTS', KEYS[1]) == 1 then corrupt(KEYS[1], 'e') end
    return nil
  end
  local expires = num(raw)
  if expires == nil then corrupt(KEYS[1], 'e') end
  if expires <= now then return nil end
  return expires
end

-- The user's expiry, or 0 after starting the user afresh (as MemoryStore does) when unknown or
-- expired. The session index is not the user's: it lives as long as the sessions it lists, which may
-- outlive the user.
local function open_expiry(expires)
  if expires == nil then
    redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5])
    return 0
  end
  return expires
end

local function open_user()
  return open_expiry(live_expiry(redis.call('HGET', KEYS[1], 'e')))
end

-- Grows the user's expiry to at least \`wanted\`, in the same HSET as \`field\` (if any); the user hash
-- lives that long.
local function keep_user(expires, wanted, field, value)
  if wanted > expires then expires = wanted end
  if field then
    redis.call('HSET', KEYS[1], field, value, 'e', fmt(expires))
  else
    redis.call('HSET', KEYS[1], 'e', fmt(expires))
  end
  expire_at(KEYS[1], expires)
end

-- The instant of a cutoff on file (\`<atMs> <reason>\`).
local function cutoff_at(field, raw)
  local at, reason = string.match(raw, '^(%S+) (%S+)$')
  local n = num(at)
  if n == nil or (reason ~= 'kicked' and reason ~= 'device_quit') then corrupt(KEYS[1], field) end
  return n
end

-- The times of a device on file (\`<lastIssuedAtMs> <expiresAtMs>\`).
local function device_times(field, raw)
  local a, b = string.match(raw, '^(%S+) (%S+)$')
  local issued, expires = num(a), num(b)
  if issued == nil or expires == nil then corrupt(KEYS[1], field) end
  return issued, expires
end

-- Both connection keys live as long as the latest expiry in the sorted set (both go when it has passed).
local function expire_conns()
  local last = redis.call('ZRANGE', KEYS[5], -1, -1, 'WITHSCORES')
  local latest = last[2] and tonumber(last[2]) or 0
  expire_at(KEYS[3], latest)
  expire_at(KEYS[5], latest)
end

-- Drops expired connections found through the sorted set, at most 1000 a call: a call adds one
-- record at most, so the expired ones never pile up, and each is dropped once (amortized O(log n)).
-- Whatever is left expires with the keys, and no reader returns an expired record.
local function drop_expired_conns()
  local dead = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1], 'LIMIT', 0, 1000)
  if #dead > 0 then
    redis.call('HDEL', KEYS[3], unpack(dead))
    redis.call('ZREM', KEYS[5], unpack(dead))
  end
end

-- After reading every connection (\`records\`, from read_records): drops the expired ones from both
-- keys. The TTLs stay: dropping expired records never lowers the latest. The sorted set then holds
-- exactly the live records; if it does not (or if \`rebuild\`), it is rebuilt from them, and both
-- TTLs follow the latest.
local function settle_conns(records, rebuild)
  prune(KEYS[3], records, false)
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[1])
  local live = 0
  for _, expires in pairs(records) do
    if expires > now then live = live + 1 end
  end
  if rebuild or redis.call('ZCARD', KEYS[5]) ~= live then
    redis.call('DEL', KEYS[5])
    for field, expires in pairs(records) do
      if expires > now then redis.call('ZADD', KEYS[5], fmt(expires), field) end
    end
    expire_conns()
  end
end

-- Before a put or a delete, which trust the sorted set: both keys hold the same fields, expired ones
-- included (every script adds and removes a field in both). When their counts differ, they disagree
-- (a key lost to eviction, or records written by an earlier version, which kept no sorted set):
-- every record is read and the set rebuilt from them, once. Otherwise the TTLs would follow the set
-- alone, and a record it misses could be dropped while live.
local function check_conns()
  if redis.call('HLEN', KEYS[3]) ~= redis.call('ZCARD', KEYS[5]) then
    settle_conns(read_records(KEYS[3]), true)
  end
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

/** ARGV: now, field (`c` or `c:<flag>`), cutoff (`<atMs> <reason>`), cutoff atMs, expiresAtMs. Atomic maximum. */
export const RAISE_CUTOFF = script(
  'raiseCutoff',
  `${USER}
local got = redis.call('HMGET', KEYS[1], 'e', ARGV[2])
local expires = open_expiry(live_expiry(got[1]))
-- A user started afresh has no cutoff any more.
local raise = expires == 0 or not got[2] or cutoff_at(ARGV[2], got[2]) < tonumber(ARGV[4])
keep_user(expires, tonumber(ARGV[5]), raise and ARGV[2] or nil, ARGV[3])
return 1
`,
);

/**
 * A kick in one step (`EvictStore.kick`): checks what is required, raises the cutoff as RAISE_CUTOFF
 * does, lists the live connections as LIST_CONNECTIONS does, and publishes the announcement (on one
 * Redis only: on a cluster the store publishes it through PUBLISH afterwards). Replies `{'user'}` or
 * `{'device'}` when that is missing (nothing written or published), else `{'ok', connection...}`.
 * ARGV: now, deviceFlag ('' for all devices), cutoff (`<atMs> <reason>`), cutoff atMs, expiresAtMs,
 * require user ('1'/'0'), require device ('1'/'0'), channel ('' for none), message.
 */
export const KICK = script(
  'kick',
  `${USER}
local flag = ARGV[2]
local field = flag == '' and 'c' or 'c:' .. flag
local got = redis.call('HMGET', KEYS[1], 'e', field, 'c', 'd:' .. flag)
local expires = live_expiry(got[1])
if expires == nil and ARGV[6] == '1' then return { 'user' } end
-- Read (and checked) before anything is written.
local records, raws = read_records(KEYS[3])
if ARGV[7] == '1' and flag ~= '' then
  -- Present: a live device record issued after every cutoff that applies to it, or a live connection.
  local present = false
  if expires ~= nil and got[4] then
    local issued, until_ms = device_times('d:' .. flag, got[4])
    present = until_ms > now
    if got[2] and issued <= cutoff_at(field, got[2]) then present = false end
    if got[3] and issued <= cutoff_at('c', got[3]) then present = false end
  end
  if not present then
    local wanted = tonumber(flag)
    for f, at in pairs(records) do
      if at > now and cjson.decode(raws[f]).deviceFlag == wanted then present = true end
    end
  end
  if not present then return { 'device' } end
end
if expires == nil then
  -- Started afresh, as RAISE_CUTOFF does: nothing of an expired user is kept.
  expires = open_expiry(nil)
  records = {}
end
local raise = expires == 0 or not got[2] or cutoff_at(field, got[2]) < tonumber(ARGV[4])
keep_user(expires, tonumber(ARGV[5]), raise and field or nil, ARGV[3])
settle_conns(records, false)
local reply = { 'ok' }
for f, at in pairs(records) do
  if at > now then reply[#reply + 1] = raws[f] end
end
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[9]) end
return reply
`,
);

/**
 * The user's side of putSession: the device record (its times only grow) and the session index.
 * ARGV: now, deviceFlag, issuedAtMs, expiresAtMs, tokenHash, retainUntilMs.
 */
export const RECORD_SESSION = script(
  'recordSession',
  `${USER}
local field = 'd:' .. ARGV[2]
local got = redis.call('HMGET', KEYS[1], 'e', field)
local expires = open_expiry(live_expiry(got[1]))
local issued = tonumber(ARGV[3])
local until_ms = tonumber(ARGV[4])
if expires ~= 0 and got[2] then
  local last, longest = device_times(field, got[2])
  if last > issued then issued = last end
  if longest > until_ms then until_ms = longest end
end
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
prune_index()
keep_user(expires, tonumber(ARGV[4]), field, fmt(issued) .. ' ' .. fmt(until_ms))
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

/**
 * Reads only the connection's own record (checked before it is overwritten), not the user's others.
 * ARGV: now, field (`<nodeId>:<connId>`), record JSON, expiresAtMs.
 */
export const PUT_CONNECTION = script(
  'putConnection',
  `${USER}
local expires = open_user()
local field = ARGV[2]
local until_ms = tonumber(ARGV[4])
local raw = redis.call('HGET', KEYS[3], field)
if raw then decode(KEYS[3], field, raw, 'expiresAtMs') end
check_conns()
drop_expired_conns()
if until_ms > now then
  redis.call('HSET', KEYS[3], field, ARGV[3])
  redis.call('ZADD', KEYS[5], ARGV[4], field)
else
  -- Expired already: put and dropped at once, as any expired record.
  redis.call('HDEL', KEYS[3], field)
  redis.call('ZREM', KEYS[5], field)
end
expire_conns()
keep_user(expires, until_ms)
return 1
`,
);

/** 1 when a live connection was removed. Reads only that connection's record. ARGV: now, field. */
export const DELETE_CONNECTION = script(
  'deleteConnection',
  `${USER}
local field = ARGV[2]
local raw = redis.call('HGET', KEYS[3], field)
if not raw then return 0 end
local expires = decode(KEYS[3], field, raw, 'expiresAtMs').expiresAtMs
check_conns()
redis.call('HDEL', KEYS[3], field)
redis.call('ZREM', KEYS[5], field)
drop_expired_conns()
if expires <= now then return 0 end
-- A live record removed: the keys live as long as the latest left.
expire_conns()
return 1
`,
);

/** The live connection records (JSON), dropping the expired ones. ARGV: now. */
export const LIST_CONNECTIONS = script(
  'listConnections',
  `${USER}
local records, raws = read_records(KEYS[3])
settle_conns(records, false)
local live = {}
for field, expires in pairs(records) do
  if expires > now then live[#live + 1] = raws[field] end
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
prune(KEYS[4], records, true)
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
    records[ARGV[i]] = 0
    if expires > now then cleared[#cleared + 1] = ARGV[i] end
  end
end
prune(KEYS[4], records, #cleared > 0)
return cleared
`,
);

/**
 * Marks a live session revoked, keeping the first time and the key's TTL; returns the record as it
 * was. The record: `<deviceFlag> <issuedAtMs> <expiresAtMs> <retainUntilMs> <revokedAtMs or -> <uid>`
 * (see `keys.ts`). KEYS: session. ARGV: now, atMs.
 */
export const REVOKE_SESSION = script(
  'revokeSession',
  `${COMMON}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local flag, issued, expires, retain, revoked, uid = string.match(raw, '^(%S+) (%S+) (%S+) (%S+) (%S+) (.*)$')
local until_ms = num(retain)
if not (num(flag) and num(issued) and num(expires) and until_ms and (revoked == '-' or num(revoked))) then
  corrupt(KEYS[1], 'session')
end
if until_ms <= now then return false end
if revoked == '-' then
  -- Rebuilt from the fields as read: the numbers keep their exact digits.
  redis.call('SET', KEYS[1], table.concat({ flag, issued, expires, retain, ARGV[2], uid }, ' '), 'KEEPTTL')
end
return raw
`,
);

/**
 * Counts a hit in a fixed window. KEYS: counter. ARGV: ttlMs (until the window ends). The first hit
 * creates the key and gives it its TTL in the same atomic step, so a later hit never needs to look.
 */
export const HIT = script(
  'hit',
  `
local count = redis.call('INCR', KEYS[1])
if count == 1 then
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
  KICK,
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
