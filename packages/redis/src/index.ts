export { DEFAULT_PREFIX } from './keys.js';
export type {
  ClientKind,
  IoredisClient,
  NodeRedisClient,
  NodeRedisClusterClient,
  RedisClient,
} from './redis-commands.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
