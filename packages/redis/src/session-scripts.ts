import { COMMON, script } from './lua-script.js';
import { USER } from './user-prelude.js';

// The user's record, its sessions and their index: what the engine writes at sign-in and revocation.

/** ARGV: now, expiresAtMs. */
export const TOUCH_USER = script(
  'touchUser',
  `${USER}
keep_user(open_user(), tonumber(ARGV[2]))
return 1
`,
);

/**
 * The session the user's hash indexes (field \`s\`, see \`keys.ts\`), while its retention lasts: its
 * token hash in base64url (what JavaScript reads is text, while the field may hold the hash's bytes),
 * else nothing. ARGV: now.
 */
export const INDEXED_SESSION = script(
  'indexedSession',
  `${USER}
local raw = redis.call('HGET', user_key, 's')
if not raw then return false end
local until_ms, hash = index_entry(raw, true)
if until_ms <= now then return false end
return hash
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
if raise then keep_user(expires, tonumber(ARGV[5]), ARGV[2], ARGV[3]) else keep_user(expires, tonumber(ARGV[5])) end
return 1
`,
);

/**
 * The user's side of a session's write, which RECORD_SESSION and ADMIT_SESSION share: the device
 * record (its times only grow), the session index (\`index_session\`), the user kept (with the fields and values that
 * follow, in the same HSET). ARGV: now, deviceFlag,
 * issuedAtMs, expiresAtMs, tokenHash, retainUntilMs (then each script's own).
 */
const RECORD = `
local function record_session(expires, field, device_raw, index_raw, ...)
  local issued = tonumber(ARGV[3])
  local until_ms = tonumber(ARGV[4])
  if expires ~= 0 and device_raw then
    local last, longest = device_times(field, device_raw)
    if last > issued then issued = last end
    if longest > until_ms then until_ms = longest end
  end
  local args = { field, device_value(issued, until_ms) }
  for _, v in ipairs(index_session(index_raw)) do args[#args + 1] = v end
  for _, v in ipairs({ ... }) do args[#args + 1] = v end
  keep_user(expires, tonumber(ARGV[4]), unpack(args))
end
`;

/** The user's side of putSession (RECORD). ARGV: now, deviceFlag, issuedAtMs, expiresAtMs, tokenHash, retainUntilMs. */
export const RECORD_SESSION = script(
  'recordSession',
  `${USER}${RECORD}
local field = 'd:' .. ARGV[2]
local got = redis.call('HMGET', user_key, 'e', field, 'n', 's')
local expires = read_user_expiry(got[1], got[3])
record_session(expires, field, got[2], got[4])
return 1
`,
);

/**
 * The user's side of admitSession (RECORD_SESSION's, and the admission list in the same step): the
 * rule of \`admit\` in @evict/core, which this mirrors. The list is a field per admission,
 * \`a:<tokenHash>\` → \`<deviceClass> <deviceFlag> <issuedAtMs> <expiresAtMs>\` (see \`keys.ts\`), each
 * short enough that the user's hash stays a listpack. KEYS: user, sessions, push. ARGV: now,
 * deviceFlag, issuedAtMs, expiresAtMs, tokenHash, retainUntilMs, deviceClass, classLimit ('' none),
 * userLimit ('' none), refuse ('1'), then on one Redis the channel, the uid and the node id the
 * pushed-out sessions' announcements carry ('' on a cluster, where the store publishes after).
 * Returns { 'admitted' or 'full', then each session pushed out (or filling the limit) as two
 * entries: its token hash, and its field's value }.
 */
export const ADMIT_SESSION = script(
  'admitSession',
  `${USER}${RECORD}
local field = 'd:' .. ARGV[2]
local got = redis.call('HMGET', user_key, 'e', field, 'n', 'c', 's')
local expires = read_user_expiry(got[1], got[3])
-- An admission as read, an array (one small table each): { field, value, class, flag, issued }.
local function older(x, y)
  if x[5] ~= y[5] then return x[5] < y[5] end
  return x[1] < y[1]
end
-- The admissions that count, oldest first (by issue time, then hash): live, and issued after every
-- cutoff that applies to them (admissionCounts). Those that no longer count are dropped with this
-- write. One HSCAN reads them and the devices' cutoffs (\`c:<flag>\`) together.
local standing, dropped = {}, {}
if expires ~= 0 then
  local live, cuts = {}, {}
  -- One page on a listpack; a hash table is paged, and may repeat a field (then \`seen\` is kept).
  local page = redis.call('HSCAN', user_key, '0', 'MATCH', '[ac]:*', 'COUNT', 1000)
  local items, seen = page[2], nil
  while page[1] ~= '0' do
    if not seen then
      seen = {}
      for i = 1, #items, 2 do seen[items[i]] = true end
    end
    page = redis.call('HSCAN', user_key, page[1], 'MATCH', '[ac]:*', 'COUNT', 1000)
    for i = 1, #page[2], 2 do
      local name = page[2][i]
      if not seen[name] then
        seen[name] = true
        items[#items + 1] = name
        items[#items + 1] = page[2][i + 1]
      end
    end
  end
  local own = 'a:' .. ARGV[5]
  for i = 1, #items, 2 do
    local name, value = items[i], items[i + 1]
    if string.byte(name) == 99 then -- 'c': a device's cutoff
      cuts[name] = cutoff_at(name, value)
    else
      -- The times as the engine writes them (decimal ms), matched and converted in one step.
      local class, flag, issued, until_ms =
        string.match(value, '^(%S+) (%d+) (%-?%d+%.?%d*) (%-?%d+%.?%d*)$')
      if not class then corrupt(user_key, name) end
      if name ~= own then
        if tonumber(until_ms) > now then
          live[#live + 1] = { name, value, class, flag, tonumber(issued) }
        else
          dropped[#dropped + 1] = name
        end
      end
    end
  end
  if #live > 1 then table.sort(live, older) end
  local user_cut = got[4] and cutoff_at('c', got[4]) or nil
  for _, e in ipairs(live) do
    local cut = cuts['c:' .. e[4]]
    if user_cut and (not cut or user_cut > cut) then cut = user_cut end
    if not cut or e[5] > cut then standing[#standing + 1] = e else dropped[#dropped + 1] = e[1] end
  end
end
local out = {}
if ARGV[8] ~= '' then
  local same = {}
  for _, e in ipairs(standing) do
    if e[3] == ARGV[7] then same[#same + 1] = e end
  end
  for i = 1, #same + 1 - tonumber(ARGV[8]) do out[same[i]] = true end
end
if ARGV[9] ~= '' then
  local rest = {}
  for _, e in ipairs(standing) do
    if not out[e] then rest[#rest + 1] = e end
  end
  for i = 1, #rest + 1 - tonumber(ARGV[9]) do out[rest[i]] = true end
end
-- The reply: the verdict, then each one pushed out (or filling the limit) as its hash and its value.
local pushed = {}
for _, e in ipairs(standing) do
  if out[e] then
    pushed[#pushed + 1] = string.sub(e[1], 3)
    pushed[#pushed + 1] = e[2]
    dropped[#dropped + 1] = e[1]
  end
end
if #pushed > 0 and ARGV[10] == '1' then
  table.insert(pushed, 1, 'full')
  return pushed
end
record_session(expires, field, got[2], got[5], 'a:' .. ARGV[5], table.concat({ ARGV[7], ARGV[2], ARGV[3], ARGV[4] }, ' '))
if #dropped > 0 then redis.call('HDEL', user_key, unpack(dropped)) end
if ARGV[11] ~= '' and #pushed > 0 then
  -- ClusterMessage \`revoked\` (replaced): the fields but the token hash, then each one's.
  local head = '{"type":"revoked","uid":' .. cjson.encode(ARGV[12]) .. ',"replaced":true,"fromNodeId":'
    .. ARGV[13] .. ',"tokenHash":'
  for i = 1, #pushed, 2 do redis.call('PUBLISH', ARGV[11], head .. cjson.encode(pushed[i]) .. '}') end
end
table.insert(pushed, 1, 'admitted')
return pushed
`,
);

/**
 * Marks a live session revoked, keeping the first time and the key's TTL; returns the record as it
 * was (nothing when there is no such key, 0 when its retention has passed). The record: `<deviceFlag>:<issuedAt>:<expiresAt>:<retainUntil>:<revokedAt or - or +>:<uid>`,
 * the instants in base 36 (see `encodeSession`), or as written before that layout, the same fields
 * space-separated in decimal; a record is rewritten in its own layout. KEYS: session. ARGV: now, atMs.
 */
export const REVOKE_SESSION = script(
  'revokeSession',
  `${COMMON}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local sep, time = ':', from36
local flag, issued, expires, retain, revoked, uid = string.match(raw, '^([^:%s]+):([^:]*):([^:]*):([^:]*):([^:]*):(.*)$')
if not flag then
  sep, time = ' ', num
  flag, issued, expires, retain, revoked, uid = string.match(raw, '^(%S+) (%S+) (%S+) (%S+) (%S+) (.*)$')
end
local until_ms = retain and time(retain)
if not (num(flag) and time(issued) and time(expires) and until_ms and (revoked == '-' or revoked == '+' or time(revoked))) then
  corrupt(KEYS[1], 'session')
end
if until_ms <= now then return 0 end
if revoked == '-' or revoked == '+' then
  -- Rebuilt from the fields as read: the numbers keep their exact digits.
  local at = sep == ':' and to36(tonumber(ARGV[2])) or ARGV[2]
  redis.call('SET', KEYS[1], table.concat({ flag, issued, expires, retain, at, uid }, sep), 'KEEPTTL')
end
return raw
`,
);

/**
 * Raises a session's last-seen time (it only grows), keeping the rest of the record and its TTL;
 * a session not on file (reply: nothing) or past its retention is left alone. The record's tail: the uid, then a
 * details line (`-` for none), then the last-seen line, decimal (see `encodeSession`). KEYS:
 * session. ARGV: now, atMs.
 */
export const TOUCH_SESSION = script(
  'touchSession',
  `${COMMON}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local sep, time = ':', from36
local numbers, retain, rest = string.match(raw, '^([^:%s]+:[^:]*:[^:]*:([^:]*):[^:]*):(.*)$')
if not numbers then
  sep, time = ' ', num
  numbers, retain, rest = string.match(raw, '^(%S+ %S+ %S+ (%S+) %S+) (.*)$')
end
local until_ms = retain and time(retain)
if not until_ms then corrupt(KEYS[1], 'session') end
if until_ms <= now then return 0 end
local uid, details, seen = rest, '-', nil
local first = string.find(rest, '\\n', 1, true)
if first then
  uid = string.sub(rest, 1, first - 1)
  local tail = string.sub(rest, first + 1)
  local second = string.find(tail, '\\n', 1, true)
  if second then
    details = string.sub(tail, 1, second - 1)
    seen = num(string.sub(tail, second + 1))
    if not seen then corrupt(KEYS[1], 'session') end
  else
    details = tail
  end
end
if seen and seen >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], numbers .. sep .. uid .. '\\n' .. details .. '\\n' .. ARGV[2], 'KEEPTTL')
return 1
`,
);

/**
 * The fields of a user's hash that \`getUser\` decodes, and how many fields the hash holds: \`{ length,
 * fields }\`. A hash of at most 128 fields (a listpack at Redis's defaults) is read whole, in the one
 * step HGETALL would take; a larger one holds connections by the hundred, which a check of the user
 * never needs (each socket a user opens is checked against the user, so the n-th would read the n - 1
 * before it), so only its own fields are read (a connection's field starts with a digit, every other
 * with a letter). KEYS: the user's hash.
 */
export const READ_USER = script(
  'readUser',
  `
local length = redis.call('HLEN', KEYS[1])
if length <= 128 then return { length, redis.call('HGETALL', KEYS[1]) } end
-- Paged: a field may come twice; the reader keeps the last value read.
local fields, cursor = {}, '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'MATCH', '[a-z]*', 'COUNT', 1000)
  cursor = page[1]
  for i = 1, #page[2] do fields[#fields + 1] = page[2][i] end
until cursor == '0'
return { length, fields }
`,
);
