import { type Clock, systemClock } from '@evict/core';
import { DEFAULT_PREFIX, KeyLayout } from './keys.js';
import {
  type ClientKind,
  clientKind,
  type RedisClient,
  type RedisCommands,
  redisCommands,
} from './redis-commands.js';

// Parsed once, at construction: a wrong option is a TypeError naming it, an unknown one a warning.

export interface RedisStoreOptions {
  /**
   * The host's client: an ioredis `Redis` or `Cluster`, or a node-redis client or cluster client
   * (connected). The store borrows it and never closes it.
   */
  client: RedisClient;
  /** Put in front of every key and of the pub/sub channel. Default `evict:`. No `{` or `}` (hash tags). */
  prefix?: string;
  /** Source of "now" for expiry; defaults to the system clock. Use the engine's clock. */
  clock?: Clock;
  /**
   * A connection the host dedicates to subscriptions, lent like `client` (never closed by the store).
   * Without it the store duplicates `client` on first `subscribe` and closes the duplicate on `close`.
   */
  subscriber?: RedisClient;
}

const KNOWN_OPTIONS = new Set(['client', 'prefix', 'clock', 'subscriber']);

export interface ResolvedOptions {
  commands: RedisCommands;
  client: RedisClient;
  clientKind: ClientKind;
  subscriber: { client: RedisClient; kind: ClientKind; owned: boolean };
  keys: KeyLayout;
  clock: Clock;
}

export function parseOptions(options: RedisStoreOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('RedisStore: options must be an object with a client');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      process.emitWarning(`RedisStore: unknown option ${JSON.stringify(key)} is ignored`, {
        code: 'EVICT_UNKNOWN_OPTION',
      });
    }
  }
  const defined = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<RedisStoreOptions>;
  const { client, prefix = DEFAULT_PREFIX, clock = systemClock, subscriber } = defined;

  const kind = clientKind(client);
  if (client === undefined || kind === undefined) {
    throw new TypeError(
      'RedisStore: client must be an ioredis Redis or Cluster, or a node-redis client or cluster client',
    );
  }
  if (typeof prefix !== 'string' || prefix.length === 0) {
    throw new TypeError('RedisStore: prefix must be a non-empty string');
  }
  if (/[{}]/.test(prefix)) {
    throw new TypeError(
      'RedisStore: prefix must not contain "{" or "}" (the store puts its own hash tags after it)',
    );
  }
  if (typeof clock !== 'object' || clock === null || typeof clock.nowMs !== 'function') {
    throw new TypeError('RedisStore: clock must have a nowMs() method');
  }
  const subscriberKind = subscriber === undefined ? kind : clientKind(subscriber);
  if (subscriberKind === undefined) {
    throw new TypeError(
      'RedisStore: subscriber must be an ioredis Redis or Cluster, or a node-redis client or cluster client',
    );
  }
  return {
    commands: redisCommands(client, kind),
    client,
    clientKind: kind,
    subscriber: { client: subscriber ?? client, kind: subscriberKind, owned: subscriber === undefined },
    keys: new KeyLayout(prefix),
    clock,
  };
}
