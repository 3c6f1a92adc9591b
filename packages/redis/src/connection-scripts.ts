import { COMMON, script } from './lua-script.js';
import { USER } from './user-prelude.js';

// Connections on their users' hashes, the node table, and each node incarnation's index of its connections.

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
    if redis.call('HEXISTS', user_key, 'e') == 1 then
      -- The session index entry was kept, beside a lapsed \`e\`: the connection is counted in \`n\`.
      redis.call('HSET', user_key, field, value, 'n', '1')
      redis.call('PERSIST', user_key)
    else
      redis.call('HSET', user_key, field, value)
    end
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
 * The users' side of removing connections: per record, its generation when one was on file (and
 * removed), else ''. Each record is one step of its own (see \`each_record\`). KEYS: a user key per
 * record. ARGV: now, then a field and a generation per record ('' for any: the sweep removes only
 * the dead incarnation's).
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
  local _, generation = conn_parts(field, got[1])
  if wanted ~= '' and generation ~= wanted then return end
  if not got[2] then
    -- Connections alone: the hash goes with the last of them.
    redis.call('HDEL', user_key, field)
    removed[i] = generation
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
    expire_at(user_key, math.max(expires, index_until()))
  end
  removed[i] = generation
end)
return removed
`,
);

/**
 * Saves or refreshes a node's record (`EvictStore.heartbeatNode`). KEYS: node table, replaced set.
 * ARGV: now, nodeId, incarnation, expiresAtMs. The incarnation's generation when the record holds
 * it, live; nil when this incarnation had lapsed (nothing written) or the record is born lapsed.
 */
export const HEARTBEAT_NODE = script(
  'heartbeatNode',
  `${COMMON}
local function base36(n)
  local digits, s = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  repeat
    local d = n % 36
    s = string.sub(digits, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end

local raw = redis.call('HGET', KEYS[1], ARGV[2])
local wanted = tonumber(ARGV[4])
local generation = '1'
if raw then
  local incarnation, at, on_file = string.match(raw, '^(%S+) (%S+) ([0-9a-z]+)$')
  local expires = num(at)
  if expires == nil or on_file == nil then corrupt(KEYS[1], ARGV[2]) end
  if incarnation == ARGV[3] then
    if expires <= now then return false end
    if expires >= wanted then return on_file end
    generation = on_file
  else
    -- Replaced: dead at once, and left to the sweep.
    redis.call('SADD', KEYS[2], ARGV[2] .. ' ' .. on_file)
    generation = base36(tonumber(on_file, 36) + 1)
  end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. generation)
if wanted <= now then return false end
return generation
`,
);

/**
 * The walk over a node incarnation's index buckets that INDEX_CONNECTIONS and UNINDEX_CONNECTIONS
 * share: `step(key, bucket, first, last)` per bucket in KEYS order, its field/uid pairs at
 * ARGV[first..last].
 */
const BUCKETS = `
local function each_bucket(step)
  local a = 2
  for k = 2, #KEYS do
    local bucket, count = ARGV[a], tonumber(ARGV[a + 1])
    step(KEYS[k], bucket, a + 2, a + 1 + 2 * count)
    a = a + 2 + 2 * count
  end
end
`;

/**
 * Adds entries to a node incarnation's index. KEYS: the buckets set, then each bucket touched.
 * ARGV: now, then for each bucket in KEYS order: its number, its entry count, then field/uid pairs.
 */
export const INDEX_CONNECTIONS = script(
  'indexConnections',
  `${BUCKETS}
each_bucket(function(key, bucket, first, last)
  redis.call('HSET', key, unpack(ARGV, first, last))
  redis.call('SADD', KEYS[1], bucket)
end)
return 1
`,
);

/**
 * Removes entries from a node incarnation's index, each only while it still names the same uid; a
 * bucket left empty leaves the buckets set. KEYS and ARGV as INDEX_CONNECTIONS.
 */
export const UNINDEX_CONNECTIONS = script(
  'unindexConnections',
  `${BUCKETS}
each_bucket(function(key, bucket, first, last)
  for i = first, last, 2 do
    if redis.call('HGET', key, ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', key, ARGV[i]) end
  end
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[1], bucket) end
end)
return 1
`,
);

/**
 * The user's connections counted by node, generation and device flag: one short reply, however many
 * connections the user holds (which of them count is the node table's to say, read by the caller).
 * Each entry: `<nodeId> <generation> <deviceFlag> <count>`. KEYS: the user's hash. ARGV: now.
 */
export const COUNT_CONNECTIONS = script(
  'countConnections',
  `${COMMON}
local fields = redis.call('HGETALL', KEYS[1])
local counts, order = {}, {}
for i = 1, #fields, 2 do
  local node = string.match(fields[i], '^(%d+):')
  if node then
    local flag, generation = string.match(fields[i + 1], '^(%d+) %S+ ([0-9a-z]+)%f[\\n%z]')
    if not flag then corrupt(KEYS[1], fields[i]) end
    local group = node .. ' ' .. generation .. ' ' .. flag
    if not counts[group] then
      counts[group] = 0
      order[#order + 1] = group
    end
    counts[group] = counts[group] + 1
  end
end
local reply = {}
for i, group in ipairs(order) do reply[i] = group .. ' ' .. counts[group] end
return reply
`,
);

/**
 * Joins a connection on file to its user's roster of its device flag (field \`r:<flag>\`: the
 * connection fields that joined, in join order, space-separated) and returns the fields and values
 * of those before it still on file (the roster drops the others as it goes). A connection not on
 * file joins nothing (nil). A hash of connections alone gets its \`e\` first (\`keep_user\`): it then
 * holds a field that is not a connection. KEYS: user, sessions, push. ARGV: now, deviceFlag, the
 * connection's field.
 */
export const JOIN_DEVICE = script(
  'joinDevice',
  `${USER}
local own, roster = ARGV[3], 'r:' .. ARGV[2]
local got = redis.call('HMGET', user_key, own, roster)
if not got[1] then return false end
local names, earlier, kept = {}, {}, {}
for name in string.gmatch(got[2] or '', '%S+') do
  if not is_connection(name) then corrupt(user_key, roster) end
  if name ~= own then names[#names + 1] = name end
end
-- In slices: unpack has a limit on how many values it returns.
for first = 1, #names, 1000 do
  local slice = { unpack(names, first, math.min(first + 999, #names)) }
  local values = redis.call('HMGET', user_key, unpack(slice))
  for i, name in ipairs(slice) do
    if values[i] then
      kept[#kept + 1] = name
      earlier[#earlier + 1] = name
      earlier[#earlier + 1] = values[i]
    end
  end
end
kept[#kept + 1] = own
keep_user(open_user(), 0, roster, table.concat(kept, ' '))
return earlier
`,
);
