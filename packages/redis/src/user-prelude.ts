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

-- The 32 bytes of a token hash as the engine makes them (SHA-256 in base64url, 43 characters), else
-- nil: any other string, or one that \`b64url_encode\` would not give back as it is. Every session
-- write runs it: the characters' values are told inline, without a call each.
local function b64url_decode(s)
  if #s ~= 43 then return nil end
  local v = { string.byte(s, 1, 43) }
  for i = 1, 43 do
    local c = v[i]
    if c >= 97 and c <= 122 then c = c - 71
    elseif c >= 65 and c <= 90 then c = c - 65
    elseif c >= 48 and c <= 57 then c = c + 4
    elseif c == 45 then c = 62
    elseif c == 95 then c = 63
    else return nil end
    v[i] = c
  end
  -- The last character's two low bits are past the 256th bit: zero in the one spelling.
  if v[43] % 4 ~= 0 then return nil end
  v[44] = 0
  local out, k = {}, 0
  for i = 1, 41, 4 do
    local n = ((v[i] * 64 + v[i + 1]) * 64 + v[i + 2]) * 64 + v[i + 3]
    local low = n % 256
    n = (n - low) / 256
    local mid = n % 256
    out[k + 1], out[k + 2], out[k + 3] = (n - mid) / 256, mid, low
    k = k + 3
  end
  return string.char(unpack(out, 1, 32))
end

-- The 43 characters of base64url (no padding) of 32 bytes, as \`b64url_decode\` took them.
local function b64url_encode(s)
  local b = { string.byte(s, 1, 32) }
  b[33] = 0
  local out, k = {}, 0
  for i = 1, 31, 3 do
    local n = (b[i] * 256 + b[i + 1]) * 256 + b[i + 2]
    local d = n % 64
    n = (n - d) / 64
    local c = n % 64
    n = (n - c) / 64
    local bb = n % 64
    out[k + 1], out[k + 2], out[k + 3], out[k + 4] = (n - bb) / 64, bb, c, d
    k = k + 4
  end
  for i = 1, 43 do
    local x = out[i]
    if x < 26 then out[i] = x + 65
    elseif x < 52 then out[i] = x + 71
    elseif x < 62 then out[i] = x - 4
    elseif x == 62 then out[i] = 45
    else out[i] = 95 end
  end
  return string.char(unpack(out, 1, 43))
end

-- The session index entry the user's hash holds (field \`s\`, see \`keys.ts\`): its retainUntilMs, and
-- with \`as_text\` its token hash in base64url. Two layouts: \`<retainUntil>:<32 bytes>\` for a token
-- hash as the engine makes them, \`<retainUntil> <tokenHash>\` for any other (and as written before).
local function index_entry(raw, as_text)
  local at, hash = string.match(raw, '^([^:%s]+):(.*)$')
  if at and #hash == 32 then
    if as_text then hash = b64url_encode(hash) end
  else
    at, hash = string.match(raw, '^(%S+) (.+)$')
  end
  local until_ms = at and from36(at)
  if until_ms == nil then corrupt(user_key, 's') end
  return until_ms, hash
end

-- The field \`s\`'s value for a session's token hash (text) and retainUntilMs (see \`index_entry\`).
local function index_value(hash, until_ms)
  local packed = b64url_decode(hash)
  if packed then return to36(until_ms) .. ':' .. packed end
  return to36(until_ms) .. ' ' .. hash
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

-- The times of a device on file: \`<lastIssuedAt>:<expiresAt>\` in base 36 (as \`to36\` writes them),
-- or \`<lastIssuedAtMs> <expiresAtMs>\` in decimal as written before.
local function device_times(field, raw)
  local issued, expires
  local a, b = string.match(raw, '^([^:%s]+):([^:%s]+)$')
  if a then
    issued, expires = from36(a), from36(b)
  else
    a, b = string.match(raw, '^(%S+) (%S+)$')
    issued, expires = num(a), num(b)
  end
  if issued == nil or expires == nil then corrupt(user_key, field) end
  return issued, expires
end

-- A device record as \`device_times\` reads it.
local function device_value(issued, expires)
  return to36(issued) .. ':' .. to36(expires)
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
  if raw then held_until, held = index_entry(raw, true) end
  if held and (held_until <= now or held == hash) then held = nil end
  index_written = 0
  if not held and redis.call('EXISTS', KEYS[2]) == 0 then
    if until_ms > now then
      index_written = until_ms
      return { 's', index_value(hash, until_ms) }
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
