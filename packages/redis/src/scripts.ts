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
 * KEYS: user, sessions, push (one hash tag). The user hash's fields are in `keys.ts`. The user is on
 * file while `e` is live or the hash holds a connection; while it holds one the hash has no TTL (a
 * connection lives as long as its node, which the store cannot see from this slot), and once the
 * last goes the hash expires with `e` again. A hash without `e` holds connections alone.
 */
const USER = `${COMMON}
-- The user worked on: its hash and push-token keys. A batch script moves them from user to user.
local user_key, push_key = KEYS[1], KEYS[3]

-- Whether a field names a connection (\`<nodeId>:<connId>\`).
local function is_connection(field)
  return string.find(field, '^%d+:%d+$') ~= nil
end

-- How many connections the hash holds, from its \`e\` and \`n\` fields as read (false: absent): \`n\`
-- beside \`e\`; without \`e\` every field is one, so the hash's length.
local function conn_count(e_raw, n_raw)
  if not e_raw then return redis.call('HLEN', user_key) end
  if not n_raw then return 0 end
  local n = num(n_raw)
  if n == nil or n < 0 then corrupt(user_key, 'n') end
  return n
end

-- The user's expiry from its \`e\` field (false: absent; 0 then), or nil when the user is not on file:
-- unknown, or expired with no connection to keep it.
local function live_expiry(raw, conns)
  if not raw then
    if conns > 0 then return 0 end
    return nil
  end
  local expires = num(raw)
  if expires == nil then corrupt(user_key, 'e') end
  if expires <= now and conns == 0 then return nil end
  return expires
end

-- The user's expiry, or 0 after starting the user afresh (as MemoryStore does) when not on file. The
-- session index is not the user's: it lives as long as the sessions it lists, which may outlive the user.
local function open_expiry(expires)
  if expires == nil then
    redis.call('DEL', user_key, push_key)
    return 0
  end
  return expires
end

local function open_user()
  local got = redis.call('HMGET', user_key, 'e', 'n')
  return open_expiry(live_expiry(got[1], conn_count(got[1], got[2])))
end

-- The connections of a hash without \`e\`, checking that it holds nothing else.
local function count_connections_alone()
  local fields = redis.call('HKEYS', user_key)
  for _, field in ipairs(fields) do
    if not is_connection(field) then corrupt(user_key, field) end
  end
  return #fields
end

-- Grows the user's expiry to at least \`wanted\`, in the same HSET as \`field\` (if any); the user hash
-- lives that long (or as long as it holds a connection). A hash of connections alone counts them in
-- \`n\` from now on, as it gets its \`e\`.
local function keep_user(expires, wanted, field, value)
  if wanted > expires then expires = wanted end
  local args = { 'e', fmt(expires) }
  if field then
    args[3] = field
    args[4] = value
  end
  local conns = 0
  if redis.call('HEXISTS', user_key, 'e') == 0 then
    conns = count_connections_alone()
    if conns > 0 then
      args[#args + 1] = 'n'
      args[#args + 1] = tostring(conns)
    end
  else
    conns = conn_count('', redis.call('HGET', user_key, 'n'))
  end
  redis.call('HSET', user_key, unpack(args))
  if conns > 0 then
    redis.call('PERSIST', user_key)
  else
    expire_at(user_key, expires)
  end
end

-- The instant of a cutoff on file (\`<atMs> <reason>\`).
local function cutoff_at(field, raw)
  local at, reason = string.match(raw, '^(%S+) (%S+)$')
  local n = num(at)
  if n == nil or (reason ~= 'kicked' and reason ~= 'device_quit') then corrupt(user_key, field) end
  return n
end

-- The times of a device on file (\`<lastIssuedAtMs> <expiresAtMs>\`).
local function device_times(field, raw)
  local a, b = string.match(raw, '^(%S+) (%S+)$')
  local issued, expires = num(a), num(b)
  if issued == nil or expires == nil then corrupt(user_key, field) end
  return issued, expires
end

-- A connection on file (\`<deviceFlag> <connectedAt> <incarnation>\`, see \`keys.ts\`): its device flag
-- and incarnation.
local function conn_parts(field, raw)
  local flag, at, incarnation = string.match(raw, '^(%S+) (%S+) ([%w_%-]+)$')
  local time_ok = at ~= nil
    and (string.find(at, '^%-?[0-9a-z]+$') ~= nil or num(string.match(at, '^~(.*)$')) ~= nil)
  if num(flag) == nil or not time_ok then corrupt(user_key, field) end
  return tonumber(flag), incarnation
end

-- Drops the index entries whose retention has passed; the index lives as long as its last entry.
local function prune_index()
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  expire_at(KEYS[2], last[2] and tonumber(last[2]) or 0)
end

-- Runs \`step(i)\` for each record of a batch, each in its own protected call: a record that fails
-- (one that cannot be read) leaves the others to run, and its error is raised once all have.
local function each_record(count, step)
  local failure
  for i = 1, count do
    local ok, err = pcall(step, i)
    if not ok and failure == nil then failure = err end
  end
  if failure ~= nil then error(failure) end
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
local got = redis.call('HMGET', user_key, 'e', ARGV[2], 'n')
local expires = open_expiry(live_expiry(got[1], conn_count(got[1], got[3])))
-- A user started afresh has no cutoff any more.
local raise = expires == 0 or not got[2] or cutoff_at(ARGV[2], got[2]) < tonumber(ARGV[4])
keep_user(expires, tonumber(ARGV[5]), raise and ARGV[2] or nil, ARGV[3])
return 1
`,
);

/**
 * A kick in one step (`EvictStore.kick`): checks what is required, raises the cutoff as RAISE_CUTOFF
 * does, and publishes the announcement (on one Redis only: on a cluster the store publishes it
 * through PUBLISH afterwards). Replies `{'user'}` or `{'device'}` when that is missing (nothing
 * written or published), else `{'live', field, value, ...}`: the live connections, when KEYS[4] is
 * the node table (one Redis: any key may join a script), or `{'ok', field, value, ...}`: every
 * connection on file, for the store to judge after this script (a cluster: the table lives in
 * another slot). ARGV: now, deviceFlag ('' for all devices), cutoff (`<atMs> <reason>`), cutoff
 * atMs, expiresAtMs, require user ('1'/'0'), require device ('1'/'0'), channel ('' for none),
 * message, then (without KEYS[4]) the live node incarnations as `<nodeId> <incarnation>`, read just
 * before.
 */
export const KICK = script(
  'kick',
  `${USER}
local flag = ARGV[2]
local field = flag == '' and 'c' or 'c:' .. flag
local got = redis.call('HMGET', user_key, 'e', field, 'c', 'd:' .. flag, 'n')
local conns = conn_count(got[1], got[5])
local expires = live_expiry(got[1], conns)
if expires == nil and ARGV[6] == '1' then return { 'user' } end
-- Read (and checked) before anything is written.
local records = {}
if conns > 0 then
  local all = redis.call('HGETALL', user_key)
  for i = 1, #all, 2 do
    local f, raw = all[i], all[i + 1]
    if is_connection(f) then
      local dev, incarnation = conn_parts(f, raw)
      local node = string.match(f, '^(%d+):')
      records[#records + 1] = { f, raw, dev, node .. ' ' .. incarnation }
    elseif not got[1] then
      -- A hash without \`e\` holds connections alone.
      corrupt(user_key, f)
    end
  end
end
local live = {}
if KEYS[4] then
  local nodes = redis.call('HGETALL', KEYS[4])
  for i = 1, #nodes, 2 do
    local incarnation, at = string.match(nodes[i + 1], '^(%S+) (%S+)$')
    local expires = num(at)
    if expires == nil then corrupt(KEYS[4], nodes[i]) end
    if expires > now then live[nodes[i] .. ' ' .. incarnation] = true end
  end
else
  for i = 10, #ARGV do live[ARGV[i]] = true end
end
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
    for _, r in ipairs(records) do
      if r[3] == wanted and live[r[4]] then present = true end
    end
  end
  if not present then return { 'device' } end
end
-- Started afresh, as RAISE_CUTOFF does: nothing of a user not on file is kept (it holds no connection).
expires = open_expiry(expires)
local raise = expires == 0 or not got[2] or cutoff_at(field, got[2]) < tonumber(ARGV[4])
keep_user(expires, tonumber(ARGV[5]), raise and field or nil, ARGV[3])
local reply = { KEYS[4] and 'live' or 'ok' }
for _, r in ipairs(records) do
  if not KEYS[4] or live[r[4]] then
    reply[#reply + 1] = r[1]
    reply[#reply + 1] = r[2]
  end
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
local got = redis.call('HMGET', user_key, 'e', field, 'n')
local expires = open_expiry(live_expiry(got[1], conn_count(got[1], got[3])))
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
 * The users' side of a batch of connections: saves each one's field (replacing one on file, checked
 * first) and keeps its user on file while it is there. Each record is one step of its own (see
 * \`each_record\`). KEYS: user and push keys, a pair per record. ARGV: now, then a field and a value
 * per record.
 */
export const PUT_CONNECTIONS = script(
  'putConnections',
  `${USER}
each_record(#KEYS / 2, function(i)
  user_key, push_key = KEYS[2 * i - 1], KEYS[2 * i]
  local field, value = ARGV[2 * i], ARGV[2 * i + 1]
  local got = redis.call('HMGET', user_key, 'e', 'n', field)
  local conns = conn_count(got[1], got[2])
  local on_file = got[3]
  if live_expiry(got[1], conns) == nil then
    -- Not on file: started afresh (a user holding a connection is always on file, so none is lost).
    open_expiry(nil)
    redis.call('HSET', user_key, field, value)
    return
  end
  if on_file then conn_parts(field, on_file) end
  if not got[1] then
    redis.call('HSET', user_key, field, value)
    return
  end
  if not on_file then conns = conns + 1 end
  redis.call('HSET', user_key, field, value, 'n', tostring(conns))
  redis.call('PERSIST', user_key)
end)
return 1
`,
);

/**
 * The users' side of removing connections: per record, its incarnation when one was on file (and
 * removed), else ''. Each record is one step of its own (see \`each_record\`). KEYS: a user key per
 * record. ARGV: now, then a field and an incarnation per record ('' for any: the sweep removes only
 * the dead one's).
 */
export const DELETE_CONNECTIONS = script(
  'deleteConnections',
  `${USER}
local removed = {}
each_record(#KEYS, function(i)
  user_key = KEYS[i]
  removed[i] = ''
  local field, wanted = ARGV[2 * i], ARGV[2 * i + 1]
  local got = redis.call('HMGET', user_key, field, 'e', 'n')
  if not got[1] then return end
  local _, incarnation = conn_parts(field, got[1])
  if wanted ~= '' and incarnation ~= wanted then return end
  if not got[2] then
    -- Connections alone: the hash goes with the last of them.
    redis.call('HDEL', user_key, field)
    removed[i] = incarnation
    return
  end
  local expires = num(got[2])
  if expires == nil then corrupt(user_key, 'e') end
  local conns = conn_count(got[2], got[3]) - 1
  if conns > 0 then
    redis.call('HSET', user_key, 'n', tostring(conns))
    redis.call('HDEL', user_key, field)
  else
    -- The last connection: the user lives by its expiry again (or goes, if that has passed).
    redis.call('HDEL', user_key, field, 'n')
    expire_at(user_key, expires)
  end
  removed[i] = incarnation
end)
return removed
`,
);

/**
 * Saves or refreshes a node's record (`EvictStore.heartbeatNode`). KEYS: node table, replaced set.
 * ARGV: now, nodeId, incarnation, expiresAtMs. 1 when the record holds this incarnation, live; 0 when
 * this incarnation had lapsed (nothing written).
 */
export const HEARTBEAT_NODE = script(
  'heartbeatNode',
  `${COMMON}
local raw = redis.call('HGET', KEYS[1], ARGV[2])
local wanted = tonumber(ARGV[4])
if raw then
  local incarnation, at = string.match(raw, '^(%S+) (%S+)$')
  local expires = num(at)
  if expires == nil then corrupt(KEYS[1], ARGV[2]) end
  if incarnation == ARGV[3] then
    if expires <= now then return 0 end
    if expires >= wanted then return 1 end
  else
    -- Replaced: dead at once, and left to the sweep.
    redis.call('SADD', KEYS[2], ARGV[2] .. ' ' .. incarnation)
  end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ' ' .. ARGV[4])
if wanted <= now then return 0 end
return 1
`,
);

/**
 * Adds entries to a node incarnation's index. KEYS: the buckets set, then each bucket touched.
 * ARGV: now, then for each bucket in KEYS order: its number, its entry count, then field/uid pairs.
 */
export const INDEX_CONNECTIONS = script(
  'indexConnections',
  `
local a = 2
for k = 2, #KEYS do
  local bucket, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  redis.call('HSET', KEYS[k], unpack(ARGV, a, a + 2 * count - 1))
  a = a + 2 * count
  redis.call('SADD', KEYS[1], bucket)
end
return 1
`,
);

/**
 * Removes entries from a node incarnation's index, each only while it still names the same uid; a
 * bucket left empty leaves the buckets set. KEYS and ARGV as INDEX_CONNECTIONS.
 */
export const UNINDEX_CONNECTIONS = script(
  'unindexConnections',
  `
local a = 2
for k = 2, #KEYS do
  local bucket, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  for i = a, a + 2 * count - 1, 2 do
    if redis.call('HGET', KEYS[k], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[k], ARGV[i]) end
  end
  a = a + 2 * count
  if redis.call('EXISTS', KEYS[k]) == 0 then redis.call('SREM', KEYS[1], bucket) end
end
return 1
`,
);

/** ARGV: now, kind, record JSON, expiresAtMs. */
export const SET_PUSH_TOKEN = script(
  'setPushToken',
  `${USER}
local expires = open_user()
local records = read_records(KEYS[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
records[ARGV[2]] = tonumber(ARGV[4])
prune(KEYS[3], records, true)
keep_user(expires, tonumber(ARGV[4]))
return 1
`,
);

/** The kinds that were set (live), in the order asked. ARGV: now, kind... */
export const CLEAR_PUSH_TOKENS = script(
  'clearPushTokens',
  `${USER}
local records = read_records(KEYS[3])
local cleared = {}
for i = 2, #ARGV do
  local expires = records[ARGV[i]]
  if expires ~= nil then
    records[ARGV[i]] = 0
    if expires > now then cleared[#cleared + 1] = ARGV[i] end
  end
end
prune(KEYS[3], records, #cleared > 0)
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
  HEARTBEAT_NODE,
  INDEX_CONNECTIONS,
  UNINDEX_CONNECTIONS,
  TOUCH_USER,
  RAISE_CUTOFF,
  KICK,
  RECORD_SESSION,
  SESSION_INDEX,
  PUT_CONNECTIONS,
  DELETE_CONNECTIONS,
  SET_PUSH_TOKEN,
  CLEAR_PUSH_TOKENS,
  REVOKE_SESSION,
  HIT,
];
