import { script } from './lua-script.js';
import { USER } from './user-prelude.js';

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
