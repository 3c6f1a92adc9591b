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

/** Any client the store can borrow. */
export type RedisClient = IoredisClient | NodeRedisClient | NodeRedisClusterClient;

export type ClientKind = 'ioredis' | 'ioredis-cluster' | 'node-redis' | 'node-redis-cluster';

/** Which client this is, by its shape; undefined when it is none the store knows. */
export function clientKind(client: unknown): ClientKind | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const c = client as Record<string, unknown>;
  if (typeof c.on !== 'function' || typeof c.duplicate !== 'function') return undefined;
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
}

export function redisCommands(client: RedisClient, kind: ClientKind): RedisCommands {
  let send: (args: string[], key?: string) => Promise<unknown>;
  // WAIT has no key: a cluster must be told which node's connection to run it on.
  let sendKeyless: (args: string[], key: string) => Promise<unknown> = (args, key) => send(args, key);
  switch (kind) {
    case 'ioredis':
    case 'ioredis-cluster': {
      // ioredis routes a cluster command by the keys it finds in it (EVALSHA's included).
      const io = client as IoredisClient;
      send = ([name, ...rest]) => io.call(name!, ...rest);
      if (kind === 'ioredis-cluster') sendKeyless = (args, key) => ioredisClusterRouted(io, args, key);
      break;
    }
    case 'node-redis': {
      const nr = client as NodeRedisClient;
      send = (args) => nr.sendCommand(args);
      break;
    }
    case 'node-redis-cluster': {
      const cluster = client as NodeRedisClusterClient;
      send = (args, key) => cluster.sendCommand(key, false, args);
      sendKeyless = (args, key) => nodeRedisClusterRouted(cluster, args, key);
      break;
    }
  }
  return {
    kind,
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
