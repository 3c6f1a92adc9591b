/**
 * The two client libraries the store borrows, made the same way for every Redis test of this package,
 * and the cleanup of a test's keys (SCAN on the escaped prefix, never KEYS).
 */
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { REDIS_URL } from '../../../test/support/redis.js';
import { escapeGlob } from '../src/keys.js';
import type { RedisClient } from '../src/redis-commands.js';

export type ClientLibrary = 'ioredis' | 'node-redis';
export const CLIENT_LIBRARIES: readonly ClientLibrary[] = ['ioredis', 'node-redis'];

/** A host-owned client, connected; `close` quits it (the test owns it, the store only borrows it). */
export interface HostClient {
  client: RedisClient;
  /** Runs one command (for assertions and cleanup). */
  command(args: string[]): Promise<unknown>;
  /** Whether the host's connection is still usable. */
  isOpen(): boolean;
  close(): Promise<void>;
}

export async function hostClient(
  library: ClientLibrary,
  options: { name?: string } = {},
): Promise<HostClient> {
  if (library === 'ioredis') {
    const client = new Redis(REDIS_URL, {
      maxRetriesPerRequest: 2,
      ...(options.name === undefined ? {} : { connectionName: options.name }),
    });
    client.on('error', () => undefined);
    await client.ping();
    return {
      client,
      command: ([name, ...args]) => client.call(name!, ...args),
      isOpen: () => client.status === 'ready',
      close: async () => {
        await client.quit().catch(() => client.disconnect());
      },
    };
  }
  const client = createClient({
    url: REDIS_URL,
    ...(options.name === undefined ? {} : { name: options.name }),
  });
  client.on('error', () => undefined);
  await client.connect();
  return {
    client,
    command: (args) => client.sendCommand(args),
    isOpen: () => client.isReady,
    close: async () => {
      if (client.isOpen) await client.close();
    },
  };
}

/** Every key under `prefix` (SCAN MATCH on the escaped prefix). */
export async function keysUnder(host: Pick<HostClient, 'command'>, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const reply = (await host.command([
      'SCAN',
      cursor,
      'MATCH',
      `${escapeGlob(prefix)}*`,
      'COUNT',
      '1000',
    ])) as [string, string[]];
    cursor = String(reply[0]);
    keys.push(...reply[1].map(String));
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix`. */
export async function deleteKeysUnder(host: Pick<HostClient, 'command'>, prefix: string): Promise<void> {
  const keys = await keysUnder(host, prefix);
  for (let i = 0; i < keys.length; i += 500) await host.command(['DEL', ...keys.slice(i, i + 500)]);
}

/**
 * The client, seen through a proxy that counts the commands the store sends on it: one per round trip
 * (`call` on ioredis, `sendCommand` on node-redis). Its duplicates (the subscriber) are not counted.
 */
export function countingClient(client: RedisClient): { client: RedisClient; sent: string[][] } {
  const sent: string[][] = [];
  const method = 'call' in client && typeof client.call === 'function' ? 'call' : 'sendCommand';
  const proxy = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== method) return value.bind(target);
      return (...args: unknown[]) => {
        // ioredis: call(name, ...args); node-redis: sendCommand(args) or, on a cluster, (key, readonly, args).
        const command = method === 'call' ? args : (args[args.length - 1] as unknown[]);
        sent.push(command.map(String));
        return value.apply(target, args);
      };
    },
  });
  return { client: proxy, sent };
}
