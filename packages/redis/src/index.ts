export { DEFAULT_PREFIX } from './keys.js';
export type {
  ClientKind,
  IoredisClient,
  NodeRedisClient,
  NodeRedisClusterClient,
  NodeRedisSentinelClient,
  NodeRedisSentinelPipeline,
  PubSubListener,
  RedisClient,
  RedisEventEmitter,
  RedisEventListener,
} from './redis-commands.js';
export { RedisStore, type RedisStoreOptions, type ReplicaAcknowledgement } from './redis-store.js';
