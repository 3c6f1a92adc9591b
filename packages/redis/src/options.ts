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
   * The host's client: an ioredis `Redis` or `Cluster`, or a node-redis client, cluster client or
   * Sentinel client (connected). The store borrows it and never closes it.
   */
  client: RedisClient;
  /** Put in front of every key and of the pub/sub channel. Default `evict:`. No `{` or `}` (hash tags). */
  prefix?: string;
  /** Source of "now" for expiry; defaults to the system clock. Use the engine's clock. */
  clock?: Clock;
  /**
   * A connection the host dedicates to subscriptions, lent like `client` (never closed by the store).
   * Without it the store duplicates `client` on first `subscribe` and closes the duplicate on `close`
   * (a node-redis Sentinel client is not duplicated: it subscribes on a connection of its own already).
   */
  subscriber?: RedisClient;
  /**
   * When a revocation counts as acknowledged. Without it (the default), once the primary applied it:
   * replication is asynchronous, so a failover in the moments after may lose it. With it, every
   * write that can reject a credential (kick, device quit, cutoff, session revocation, a login
   * policy's replacement) is followed by `WAIT replicas timeoutMs` on the connection that made it,
   * and fails with `EVICT_STORE_NOT_REPLICATED` when fewer replicas confirm it in time (the write
   * stays applied on the primary; a retry repeats it and waits again). WAIT holds the connection it
   * runs on until then, and the engine's `storeTimeoutMs` must leave room for `timeoutMs`.
   */
  waitForReplicas?: ReplicaAcknowledgement;
  /**
   * Whether sessions may still be on file under the key of their whole token hash, as releases
   * before the short session keys wrote them (docs/stores.md, upgrading). Default `true`: a session
   * not found under its short key is looked for there too (a second `GET` for a token not on file)
   * and every session write deletes that key (a `DEL` in the same round trip). `false` spares both
   * once none can be left: when every session written before the upgrade is past its retention,
   * or on a Redis that never held an older release's data.
   */
  sessionsUnderWholeHash?: boolean;
}

/** How many replicas must confirm a revocation, and how long to wait for them. */
export interface ReplicaAcknowledgement {
  /** Replicas that must confirm each revocation; at least 1. */
  replicas: number;
  /** How long to wait for them (WAIT's timeout); above 0, as WAIT's 0 would wait forever. */
  timeoutMs: number;
}

const KNOWN_OPTIONS = new Set([
  'client',
  'prefix',
  'clock',
  'subscriber',
  'waitForReplicas',
  'sessionsUnderWholeHash',
]);

export interface ResolvedOptions {
  commands: RedisCommands;
  client: RedisClient;
  clientKind: ClientKind;
  subscriber: { client: RedisClient; kind: ClientKind; owned: boolean };
  keys: KeyLayout;
  clock: Clock;
  waitForReplicas: ReplicaAcknowledgement | undefined;
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
  const {
    client,
    prefix = DEFAULT_PREFIX,
    clock = systemClock,
    subscriber,
    waitForReplicas,
    sessionsUnderWholeHash = true,
  } = defined;

  const kind = clientKind(client);
  if (client === undefined || kind === undefined) {
    throw new TypeError(
      'RedisStore: client must be an ioredis Redis or Cluster, or a node-redis client, cluster client or Sentinel client',
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
      'RedisStore: subscriber must be an ioredis Redis or Cluster, or a node-redis client, cluster client or Sentinel client',
    );
  }
  if (waitForReplicas !== undefined) {
    if (typeof waitForReplicas !== 'object' || waitForReplicas === null) {
      throw new TypeError('RedisStore: waitForReplicas must be an object { replicas, timeoutMs }');
    }
    const { replicas, timeoutMs } = waitForReplicas as Partial<ReplicaAcknowledgement>;
    if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1) {
      throw new TypeError('RedisStore: waitForReplicas.replicas must be an integer of at least 1');
    }
    if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new TypeError('RedisStore: waitForReplicas.timeoutMs must be an integer of at least 1 (ms)');
    }
  }
  if (typeof sessionsUnderWholeHash !== 'boolean') {
    throw new TypeError('RedisStore: sessionsUnderWholeHash must be true or false');
  }
  const keys = new KeyLayout(prefix, sessionsUnderWholeHash);
  return {
    commands: redisCommands(client, kind, keys.replicationMark),
    client,
    clientKind: kind,
    subscriber: { client: subscriber ?? client, kind: subscriberKind, owned: subscriber === undefined },
    keys,
    clock,
    waitForReplicas:
      waitForReplicas === undefined
        ? undefined
        : { replicas: waitForReplicas.replicas, timeoutMs: waitForReplicas.timeoutMs },
  };
}
