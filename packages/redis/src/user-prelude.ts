import { COMMON } from './lua-script.js';

/**
 * The start of every script on one user's keys: COMMON, then the helpers that read and keep the
 * user hash. KEYS: user, sessions, push (one hash tag). The user hash's fields are in `keys.ts`. The
 * user is on file while `e` is live or the hash holds a connection; while it holds one the hash has
 * no TTL (a connection lives as long as its node, which the store cannot see from this slot), and
 * once the last goes the hash expires with `e` again. A hash without `e` holds connections alone.
 */
export const USER = `${COMMON}
-- The user worked on: its hash and push-token keys. A batch script moves them from user to user.
local user_key, push_key = KEYS[1], KEYS[3]

-- Whether a field names a connection (\`<nodeId>:<connId>\`, the connId in base 36).
local function is_connection(field)
  return string.find(field, '^%d+:%-?[0-9a-z]+$') ~= nil
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

-- The session index entry the user's hash holds (field \`s\`, \`<retainUntil> <tokenHash>\`, see
-- \`keys.ts\`): its retainUntilMs and token hash.
local function index_entry(raw)
  local at, hash = string.match(raw, '^(%S+) (.+)$')
  local until_ms = at and from36(at)
  if until_ms == nil then corrupt(user_key, 's') end
  return until_ms, hash
end

-- What \`index_session\` left in the user's hash, when it ran (the entry's retainUntilMs, 0 for none):
-- the next \`keep_user\` takes it rather than reading the field again.
local index_written = nil

-- How long the index entry in the user's hash must be kept (0: none): the hash lives at least that long.
local function index_until()
  if index_written ~= nil then
    local until_ms = index_written
    index_written = nil
    return until_ms
  end
  local raw = redis.call('HGET', user_key, 's')
  if not raw then return 0 end
  return (index_entry(raw))
end

-- The user's expiry, or 0 after starting the user afresh (as MemoryStore does) when not on file. The
-- session index is not the user's: it lives as long as the sessions it lists, which may outlive the
-- user. So a live entry in the hash (\`s\`) is kept, beside the user's lapsed \`e\` (a hash holding \`s\`
-- always holds \`e\`, so that a hash without \`e\` still holds connections alone).
local function open_expiry(expires)
  if expires == nil then
    local held = redis.call('HMGET', user_key, 's', 'e')
    -- Read (and checked) before anything is deleted.
    local until_ms = held[1] and index_entry(held[1]) or 0
    redis.call('DEL', user_key, push_key)
    if until_ms > now then
      redis.call('HSET', user_key, 'e', held[2] or '0', 's', held[1])
      expire_at(user_key, until_ms)
    end
    return 0
  end
  return expires
end

local function open_user()
  local got = redis.call('HMGET', user_key, 'e', 'n')
  return open_expiry(live_expiry(got[1], conn_count(got[1], got[2])))
end

-- The connections the hash holds as \`read_user_expiry\` found them, for the next \`keep_user\` (which
-- takes them rather than reading \`e\` and \`n\` again); nil: unknown.
local conns_read = nil

-- \`open_user\` from \`e\` and \`n\` as the caller read them (with its own fields, in one HMGET), noting
-- the connections for \`keep_user\`: those on file beside \`e\`, or none once started afresh. A hash of
-- connections alone is left to \`keep_user\`, which gives it its \`e\` and \`n\`.
local function read_user_expiry(e_raw, n_raw)
  local conns = conn_count(e_raw, n_raw)
  local expires = live_expiry(e_raw, conns)
  if expires == nil then
    conns_read = 0
  elseif e_raw then
    conns_read = conns
  end
  return open_expiry(expires)
end

-- The connections of a hash without \`e\`, checking that it holds nothing else.
local function count_connections_alone()
  local fields = redis.call('HKEYS', user_key)
  for _, field in ipairs(fields) do
    if not is_connection(field) then corrupt(user_key, field) end
  end
  return #fields
end

-- Grows the user's expiry to at least \`wanted\`, in the same HSET as the fields and values that follow
-- (if any); the user hash lives that long (or as long as it holds a connection). A hash of connections
-- alone counts them in \`n\` from now on, as it gets its \`e\`.
local function keep_user(expires, wanted, ...)
  if wanted > expires then expires = wanted end
  local args = { 'e', fmt(expires), ... }
  local conns = conns_read
  conns_read = nil
  if conns ~= nil then
    -- As read at the script's start (nothing since has written \`e\` or \`n\`).
  elseif redis.call('HEXISTS', user_key, 'e') == 0 then
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
    expire_at(user_key, math.max(expires, index_until()))
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

-- A connection on file (\`<deviceFlag> <connectedAt> <generation>\`, then its details' lines, see
-- \`keys.ts\`): its device flag and its node incarnation's generation.
local function conn_parts(field, raw)
  local flag, at, generation = string.match(raw, '^(%S+) (%S+) ([0-9a-z]+)%f[\\n%z]')
  local time_ok = at ~= nil
    and (string.find(at, '^%-?[0-9a-z]+$') ~= nil or num(string.match(at, '^~(.*)$')) ~= nil)
  if num(flag) == nil or not time_ok then corrupt(user_key, field) end
  return tonumber(flag), generation
end

-- Drops the sorted set's index entries whose retention has passed; it lives as long as its last entry.
local function prune_index()
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  expire_at(KEYS[2], last[2] and tonumber(last[2]) or 0)
end

-- The index entry of the session being written (ARGV[5], its token hash; ARGV[6], its retainUntilMs):
-- in the user's hash (field \`s\`) while it is the user's one session on file, else in the sorted set,
-- where the entry the hash held moves too (and stays: the set goes once its last entry has). \`raw\`:
-- the field \`s\` as read at the script's start (\`open_expiry\` keeps it, if live). Returns the field
-- and value for the caller's HSET (none when the sorted set took it). O(log n) in the set.
local function index_session(raw)
  local hash, until_ms = ARGV[5], tonumber(ARGV[6])
  local held_until, held
  if raw then held_until, held = index_entry(raw) end
  if held and (held_until <= now or held == hash) then held = nil end
  index_written = 0
  if not held and redis.call('EXISTS', KEYS[2]) == 0 then
    if until_ms > now then
      index_written = until_ms
      return { 's', to36(until_ms) .. ' ' .. hash }
    end
    if raw then redis.call('HDEL', user_key, 's') end
    return {}
  end
  if raw then redis.call('HDEL', user_key, 's') end
  if held then redis.call('ZADD', KEYS[2], fmt(held_until), held) end
  redis.call('ZADD', KEYS[2], ARGV[6], hash)
  prune_index()
  return {}
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
