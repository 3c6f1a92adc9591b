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
 * Raises a session's last-seen time (it only grows), keeping the rest of the record and its TTL;
 * a session not on file or past its retention is left alone. The record's tail: the uid, then a
 * details line (`-` for none), then the last-seen line (see `encodeSession`). KEYS: session. ARGV:
 * now, atMs.
 */
export const TOUCH_SESSION = script(
  'touchSession',
  `${COMMON}
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local numbers, retain, rest = string.match(raw, '^(%S+ %S+ %S+ (%S+) %S+) (.*)$')
if not numbers or not num(retain) then corrupt(KEYS[1], 'session') end
if num(retain) <= now then return 0 end
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
redis.call('SET', KEYS[1], numbers .. ' ' .. uid .. '\\n' .. details .. '\\n' .. ARGV[2], 'KEEPTTL')
return 1
`,
);
