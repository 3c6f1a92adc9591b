import type { KickRequest } from '@evict/core';
import { script } from './lua-script.js';
import { USER } from './user-prelude.js';

/**
 * A kick in one step (`EvictStore.kick`): checks what is required, raises the cutoff as RAISE_CUTOFF
 * does, and publishes the announcement (on one Redis only: on a cluster the store publishes it
 * through PUBLISH afterwards). Replies `{'user'}` or `{'device'}` when that is missing (nothing
 * written or published), else `{'live', field, value, incarnation, ...}`: the live connections with
 * their node's incarnation, when KEYS[4] is the node table (one Redis: any key may join a script),
 * or `{'ok', field, value, '', ...}`: every connection on file, for the store to judge after this
 * script (a cluster: the table lives in another slot). ARGV: now, deviceFlag ('' for all devices),
 * cutoff (`<atMs> <reason>`), cutoff atMs, expiresAtMs, require user ('1'/'0'), require device
 * ('1'/'0'), channel ('' for none), message, then the `close-connections` messages'
 * (`KickRequest.closes`) uid as JSON ('' for none: with KEYS[4] only) and the JSON after their
 * `connections` array (`,"code":…}`), then (without KEYS[4]) the live node incarnations as
 * `<nodeId> <generation>`, read just before. With the `close-connections` messages, the records of
 * the connections they name are dropped from the user's hash (their index entries are the store's,
 * in another slot).
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
      local dev, generation = conn_parts(f, raw)
      local node = string.match(f, '^(%d+):')
      records[#records + 1] = { f, raw, dev, node .. ' ' .. generation }
    elseif not got[1] then
      -- A hash without \`e\` holds connections alone.
      corrupt(user_key, f)
    end
  end
end
-- \`<nodeId> <generation>\` of each live node incarnation -> its incarnation ('' when only the
-- generation was passed).
local live = {}
if KEYS[4] then
  local nodes = redis.call('HGETALL', KEYS[4])
  for i = 1, #nodes, 2 do
    local incarnation, at, generation = string.match(nodes[i + 1], '^(%S+) (%S+) (%S+)$')
    local expires = num(at)
    if expires == nil then corrupt(KEYS[4], nodes[i]) end
    if expires > now then live[nodes[i] .. ' ' .. generation] = incarnation end
  end
else
  for i = 12, #ARGV do live[ARGV[i]] = '' end
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
if raise then keep_user(expires, tonumber(ARGV[5]), field, ARGV[3]) else keep_user(expires, tonumber(ARGV[5])) end
local reply = { KEYS[4] and 'live' or 'ok' }
for _, r in ipairs(records) do
  if not KEYS[4] or live[r[4]] then
    reply[#reply + 1] = r[1]
    reply[#reply + 1] = r[2]
    reply[#reply + 1] = KEYS[4] and live[r[4]] or ''
  end
end
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[9]) end
-- After the announcement, each node's \`close-connections\`: its listed connections of the kicked
-- device (of all, without a flag), in the JSON the engine would publish. The kicking node's own
-- too: its subscriber may read that before the kick's reply, which lists every connection.
if ARGV[8] ~= '' and ARGV[10] ~= '' then
  local wanted = flag ~= '' and tonumber(flag) or nil
  -- \`fields\`: the records of the connections named, dropped once their messages are out.
  local by_node, order, fields = {}, {}, {}
  for _, r in ipairs(records) do
    if live[r[4]] and (wanted == nil or r[3] == wanted) then
      fields[#fields + 1] = r[1]
      local node, sign, digits = string.match(r[1], '^(%d+):(%-?)([0-9a-z]+)$')
      local id = tonumber(digits, 36)
      if sign == '-' then id = -id end
      local list = by_node[node]
      if not list then
        list = {}
        by_node[node] = list
        order[#order + 1] = node
      end
      list[#list + 1] = '{"uid":' .. ARGV[10] .. ',"connId":' .. string.format('%.0f', id) .. '}'
    end
  end
  for _, node in ipairs(order) do
    redis.call('PUBLISH', ARGV[8], '{"type":"close-connections","nodeId":' .. node
      .. ',"connections":[' .. table.concat(by_node[node], ',') .. ']' .. ARGV[11])
  end
  -- Then their records, as DELETE_CONNECTIONS would drop them: the announcement is out, so no node
  -- needs them to find what to close, and the store answers without a second pass over them.
  if #fields > 0 then
    -- In steps: unpack's arguments are bounded (a user may hold 100,000 connections).
    for i = 1, #fields, 1000 do
      redis.call('HDEL', user_key, unpack(fields, i, math.min(i + 999, #fields)))
    end
    local left = conns - #fields
    if left > 0 then
      redis.call('HSET', user_key, 'n', tostring(left))
    else
      -- The last connection: the user lives by its expiry again, as keep_user wrote it.
      redis.call('HDEL', user_key, 'n')
      expire_at(user_key, math.max(expires, tonumber(ARGV[5]), index_until()))
    end
  end
end
return reply
`,
);

/**
 * KICK's last message argument: the JSON after a `close-connections` message's `connections` array,
 * as the engine's `JSON.stringify` of the message writes it (the script writes what comes before).
 */
export function closeMessageTail(closes: NonNullable<KickRequest['closes']>): string {
  const { code, reason, fromNodeId, sentAtMs } = closes;
  return JSON.stringify({ code, reason, fromNodeId, sentAtMs }).replace(/^\{/, ',');
}
