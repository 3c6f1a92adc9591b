import { script } from './lua-script.js';

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
