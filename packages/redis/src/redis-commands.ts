import { hashSlot } from './keys.js';
import type { LuaScript } from './lua-script.js';

/**
 * The client shapes the store accepts, reduced to what it calls. They are structural so that neither
 * ioredis nor redis is needed at type level: pass the client as it is.
 */

export type RedisEventListener = (...args: unknown[]) => void;

/** node-redis hands a message as a string, or a Buffer in buffer mode. */
export type PubSubListener = (message: string | Buffer, channel: string | Buffer) => void;

export interface RedisEventEmitter {
  on(event: string, listener: RedisEventListener): unknown;
  off(event: string, listener: RedisEventListener): unknown;
}

/** An ioredis `Redis` or `Cluster` (ioredis 5 or 6). */
export interface IoredisClient extends RedisEventEmitter {
  call(command: string, ...args: string[]): Promise<unknown>;
  duplicate(...args: never[]): unknown;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** A node-redis client (`createClient()` of redis 4 to 6), connected by the host. */
export interface NodeRedisClient extends RedisEventEmitter {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): unknown;
  subscribe(channel: string, listener: PubSubListener): Promise<unknown>;
  unsubscribe(channel: string, listener: PubSubListener): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
}

/** A node-redis cluster client (`createCluster()` of redis 4 to 6), connected by the host. */
export interface NodeRedisClusterClient extends RedisEventEmitter {
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
  ): Promise<unknown>;
  duplicate(): unknown;
  subscribe(channel: string, listener: PubSubListener): Promise<unknown>;
  unsubscribe(channel: string, listener: PubSubListener): Promise<unknown>;
  readonly isOpen: boolean;
  readonly masters: unknown;
}

/**
 * A node-redis Sentinel client (`createSentinel()` of redis 5 or 6), connected by the host. Its
 * commands go to the primary the Sentinels name, through a pool of connections it replaces on a
 * failover; its subscriptions live on one more connection to the primary, moved along with it.
 */
export interface NodeRedisSentinelClient extends RedisEventEmitter {
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  multi(): NodeRedisSentinelPipeline;
  subscribe(channel: string, listener: PubSubListener): Promise<unknown>;
  unsubscribe(channel: string, listener: PubSubListener): Promise<unknown>;
  getSentinelNode(): unknown;
  readonly isOpen: boolean;
  readonly isReady: boolean;
}

/** What the store uses of a Sentinel client's `multi()`: commands sent together, on one connection. */
export interface NodeRedisSentinelPipeline {
  addCommand(isReadonly: boolean | undefined, args: string[]): NodeRedisSentinelPipeline;
  execAsPipeline(): Promise<unknown[]>;
}

/** Any client the store can borrow. */
export type RedisClient = IoredisClient | NodeRedisClient | NodeRedisClusterClient | NodeRedisSentinelClient;

export type ClientKind =
  | 'ioredis'
  | 'ioredis-cluster'
  | 'node-redis'
  | 'node-redis-cluster'
  | 'node-redis-sentinel';

/** Which client this is, by its shape; undefined when it is none the store knows. */
export function clientKind(client: unknown): ClientKind | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const c = client as Record<string, unknown>;
  if (typeof c.on !== 'function' || typeof c.duplicate !== 'function') return undefined;
  // Before node-redis's client: a Sentinel client has a `sendCommand` too, with other arguments.
  if (typeof c.getSentinelNode === 'function' && typeof c.sendCommand === 'function')
    return typeof c.multi === 'function' && typeof c.subscribe === 'function'
      ? 'node-redis-sentinel'
      : undefined;
  // ioredis first: its clients have a `sendCommand` too, taking a Command object.
  if (typeof c.call === 'function' && typeof c.subscribe === 'function') {
    return c.isCluster === true || typeof c.nodes === 'function' ? 'ioredis-cluster' : 'ioredis';
  }
  if (typeof c.sendCommand === 'function' && typeof c.subscribe === 'function') {
    return 'masters' in c || typeof c.getSlotRandomNode === 'function' ? 'node-redis-cluster' : 'node-redis';
  }
  return undefined;
}

/** The one way the store talks to Redis, whichever client it borrowed. */
export interface RedisCommands {
  readonly kind: ClientKind;
  /** Runs one command; `key` (its first key) routes it on a cluster. */
  command(args: string[], key?: string): Promise<unknown>;
  /**
   * Runs a script by EVALSHA, falling back to EVAL when the node answering does not have it yet
   * (on a cluster each node loads it on first use that way).
   */
  evalScript(script: LuaScript, keys: string[], args: string[]): Promise<unknown>;
  /**
   * `WAIT replicas timeoutMs` on the connection that wrote `key` (WAIT counts the writes of its own
   * connection only), resolving to how many replicas confirmed them.
   */
  waitForReplicas(key: string, replicas: number, timeoutMs: number): Promise<number>;
  /**
   * How many times a connection of the client dropped or was replaced so far. A client resends a
   * command in flight on its next connection (ioredis), queues one sent while it reconnects
   * (node-redis), or retries it on the new primary (node-redis Sentinel): a WAIT that ran on a
   * connection other than the write's counts none of that write, and may answer at once. Equal
   * before a write and after its WAIT, both ran on one connection.
   */
  connectionDrops(): number;
  /** Stops watching the client's connections (the client stays open: the host owns it). */
  release(): void;
}

export function redisCommands(client: RedisClient, kind: ClientKind, markKey: string): RedisCommands {
  let send: (args: string[], key?: string) => Promise<unknown>;
  // WAIT has no key: a cluster must be told which node's connection to run it on.
  let sendKeyless: (args: string[], key: string) => Promise<unknown> = (args, key) => send(args, key);
  const drops = new DropCounter();
  switch (kind) {
    case 'ioredis':
    case 'ioredis-cluster': {
      // ioredis routes a cluster command by the keys it finds in it (EVALSHA's included).
      const io = client as IoredisClient;
      send = ([name, ...rest]) => io.call(name!, ...rest);
      if (kind === 'ioredis-cluster') {
        sendKeyless = (args, key) => ioredisClusterRouted(io, args, key);
        drops.watchIoredisCluster(io);
      } else drops.watch(io, ['close']);
      break;
    }
    case 'node-redis': {
      const nr = client as NodeRedisClient;
      send = (args) => nr.sendCommand(args);
      drops.watch(nr, ['error', 'reconnecting', 'end']);
      break;
    }
    case 'node-redis-cluster': {
      const cluster = client as NodeRedisClusterClient;
      send = (args, key) => cluster.sendCommand(key, false, args);
      sendKeyless = (args, key) => nodeRedisClusterRouted(cluster, args, key);
      drops.watch(cluster, ['node-error', 'node-reconnecting', 'node-disconnect']);
      break;
    }
    case 'node-redis-sentinel': {
      const sentinel = client as NodeRedisSentinelClient;
      send = (args) => sentinel.sendCommand(false, args);
      sendKeyless = (args) => sentinelMarkedWait(sentinel, args, markKey);
      // `client-error`: a connection of its pool failed; `reconnecting`: the primary changed.
      drops.watch(sentinel, ['client-error', 'reconnecting', 'end']);
      break;
    }
  }
  return {
    kind,
    connectionDrops: () => drops.count,
    release: () => drops.release(),
    command: (args, key) => send(args, key),
    async evalScript(script, keys, args) {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return await send(['EVALSHA', script.sha, ...tail], keys[0]);
      } catch (error) {
        if (!errorMessage(error).startsWith('NOSCRIPT')) throw error;
        return send(['EVAL', script.source, ...tail], keys[0]);
      }
    },
    async waitForReplicas(key, replicas, timeoutMs) {
      return Number(await sendKeyless(['WAIT', String(replicas), String(timeoutMs)], key));
    },
  };
}

/** Counts the drops of a client's connections, by the events that report them. */
class DropCounter {
  count = 0;
  readonly #off: (() => void)[] = [];
  readonly #dropped = () => {
    this.count += 1;
  };

  watch(emitter: RedisEventEmitter, events: readonly string[]): void {
    for (const event of events) {
      emitter.on(event, this.#dropped);
      this.#off.push(() => emitter.off(event, this.#dropped));
    }
  }

  /** An ioredis `Cluster` reports no drop of a node's connection: each node's own client is watched. */
  watchIoredisCluster(cluster: IoredisClient): void {
    const nodes = cluster as unknown as { nodes?(role: string): RedisEventEmitter[] };
    for (const node of nodes.nodes?.('all') ?? []) this.watch(node, ['close']);
    const added = (node: unknown) => this.watch(node as RedisEventEmitter, ['close']);
    cluster.on('+node', added);
    this.#off.push(() => cluster.off('+node', added));
    this.watch(cluster, ['-node', 'close']);
  }

  release(): void {
    for (const off of this.#off.splice(0)) off();
  }
}

/**
 * WAIT on a node-redis Sentinel client: its pool may hand each command another connection to the
 * primary, so WAIT is sent in one pipeline (one connection) right behind a write of its own, which
 * the primary applied after the write being confirmed: the replicas that confirm the one hold both.
 */
async function sentinelMarkedWait(
  sentinel: NodeRedisSentinelClient,
  args: string[],
  markKey: string,
): Promise<unknown> {
  const replies = await sentinel
    .multi()
    .addCommand(false, ['SET', markKey, '1', 'PX', String(MARK_TTL_MS)])
    .addCommand(false, args)
    .execAsPipeline();
  const reply = replies[1];
  if (reply instanceof Error) throw reply;
  return reply;
}

/** The Sentinel WAIT's mark: a key that only ever needs to outlive its pipeline. */
const MARK_TTL_MS = 60_000;

/**
 * A keyless command on the connection of the master that holds `key`: node-redis would send WAIT to
 * every shard (its command policy for WAIT), so it goes to that master's client directly.
 */
async function nodeRedisClusterRouted(
  cluster: NodeRedisClusterClient,
  args: string[],
  key: string,
): Promise<unknown> {
  const shards = cluster as unknown as {
    slots?: ({ master?: unknown } | undefined)[];
    nodeClient?(node: unknown): NodeRedisClient | Promise<NodeRedisClient>;
  };
  const master = shards.slots?.[hashSlot(key)]?.master;
  // Without a slot map to read, the cluster's own routing: with WAIT's minimum over the shards, it
  // waits longer than needed but never confirms less than the key's master did.
  if (master === undefined || typeof shards.nodeClient !== 'function')
    return cluster.sendCommand(key, false, args);
  return (await shards.nodeClient(master)).sendCommand(args);
}

/**
 * A keyless command on the connection of the node that holds `key`: an ioredis `Cluster` sends a
 * pipeline to the node of the keys in it, so an EXISTS of the key takes the command along.
 */
async function ioredisClusterRouted(client: IoredisClient, args: string[], key: string): Promise<unknown> {
  const cluster = client as unknown as {
    pipeline(commands: string[][]): { exec(): Promise<[Error | null, unknown][] | null> };
  };
  const [name, ...rest] = args;
  // A pipeline's commands are named as its methods are: lower case.
  const replies = await cluster
    .pipeline([
      ['exists', key],
      [name!.toLowerCase(), ...rest],
    ])
    .exec();
  const reply = replies?.[1];
  if (reply === undefined) throw new Error(`no reply from Redis for ${args[0]}`);
  if (reply[0] !== null) throw reply[0];
  return reply[1];
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
