import { script } from './lua-script.js';

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
