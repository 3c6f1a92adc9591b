/**
 * What the conformance suite cannot see from outside the contract: the key layout and hash tags,
 * the TTL of every key, atomicity under heavier concurrency, corrupt records, pub/sub between two
 * stores on two clients, link changes when the subscriber connection is killed, and that the store
 * never closes what it borrowed. Each runs on ioredis and on node-redis, on the Redis at REDIS_URL.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  type ClusterMessage,
  type ConnectionRecord,
  type Cutoff,
  isEvictError,
  type PushTokenRecord,
  type ScanPage,
  type SessionRecord,
  StoreCorruptError,
} from '@evict/core';
import { Redis } from 'ioredis';
import { createClient, createSentinel } from 'redis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeRedis, randomPrefix } from '../../../test/support/redis.js';
import { RedisStore } from '../src/index.js';
import { encodeKeyPart, escapeGlob, KeyLayout } from '../src/keys.js';
import { GRACE_MS } from '../src/lua-script.js';
import {
  CLIENT_LIBRARIES,
  type ClientLibrary,
  countingClient,
  deleteKeysUnder,
  type HostClient,
  hostClient,
  keysUnder,
} from './clients.js';

const MINUTE_MS = 60_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The part of a key Redis Cluster hashes: what is between the first `{` and the next `}`. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open === -1 || close <= open + 1 ? key : key.slice(open + 1, close);
}

function session(uid: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    tokenHash: `hash-${randomUUID()}`,
    uid,
    deviceFlag: 1,
    issuedAtMs: now,
    expiresAtMs: now + 10 * MINUTE_MS,
    retainUntilMs: now + 20 * MINUTE_MS,
    ...overrides,
  };
}

function connection(uid: string, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const now = Date.now();
  return {
    uid,
    deviceFlag: 1,
    nodeId: 1,
    connId: 1,
    connectedAtMs: now,
    incarnation: 'run-1',
    ...overrides,
  };
}

function stringsOf(reply: unknown): string[] {
  return (reply as unknown[]).map(String);
}

function pushToken(overrides: Partial<PushTokenRecord> = {}): PushTokenRecord {
  const now = Date.now();
  return {
    kind: 'ring',
    token: 'ring-token',
    deviceFlag: 1,
    updatedAtMs: now,
    expiresAtMs: now + MINUTE_MS,
    ...overrides,
  };
}

/** The ids of the pub/sub connections carrying `name` (the store's duplicate inherits the host's name). */
async function pubsubClientIds(host: HostClient, name: string): Promise<string[]> {
  const list = String(await host.command(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
}

async function clientCountNamed(host: HostClient, name: string): Promise<number> {
  const list = String(await host.command(['CLIENT', 'LIST']));
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
}

describe('RedisStore options', () => {
  const fakeIoredis = {
    call: async () => 'PONG',
    subscribe: async () => 1,
    duplicate: () => fakeIoredis,
    on: () => fakeIoredis,
    off: () => fakeIoredis,
  };

  it('refuses a missing or unknown client with a TypeError naming client', () => {
    expect(() => new RedisStore({} as never)).toThrow(/client/);
    expect(() => new RedisStore({ client: {} as never })).toThrow(TypeError);
    expect(() => new RedisStore(undefined as never)).toThrow(TypeError);
  });

  it("takes node-redis's Sentinel client for one, not for a plain client", async () => {
    // Never connected: the kind is told by the client's shape (sentinel.test.ts runs one for real).
    const sentinel = createSentinel({ name: 'unused', sentinelRootNodes: [{ host: '127.0.0.1', port: 1 }] });
    const store = new RedisStore({ client: sentinel as never });
    expect(store.clientKind).toBe('node-redis-sentinel');
    await store.close();
    // Its sendCommand takes other arguments: a look-alike without the rest is refused.
    const lookAlike = {
      ...fakeIoredis,
      call: undefined,
      sendCommand: async () => 'PONG',
      getSentinelNode: () => undefined,
    };
    expect(() => new RedisStore({ client: lookAlike as never })).toThrow(TypeError);
  });

  it('refuses a prefix with hash-tag braces, or an empty one, naming prefix', () => {
    expect(() => new RedisStore({ client: fakeIoredis as never, prefix: 'app{1}:' })).toThrow(/prefix/);
    expect(() => new RedisStore({ client: fakeIoredis as never, prefix: 'app}' })).toThrow(TypeError);
    expect(() => new RedisStore({ client: fakeIoredis as never, prefix: '' })).toThrow(/prefix/);
    expect(() => new RedisStore({ client: fakeIoredis as never, prefix: 42 as never })).toThrow(/prefix/);
  });

  it('refuses a clock without nowMs, and a subscriber that is no client', () => {
    expect(() => new RedisStore({ client: fakeIoredis as never, clock: {} as never })).toThrow(/clock/);
    expect(() => new RedisStore({ client: fakeIoredis as never, subscriber: {} as never })).toThrow(
      /subscriber/,
    );
  });

  it('defaults the prefix to evict: and warns about an unknown option', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const store = new RedisStore({ client: fakeIoredis as never, prefix: undefined, ttl: 5 } as never);
      expect(store.prefix).toBe('evict:');
      expect(store.channel).toBe('evict:cluster');
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('"ttl"'), expect.anything());
    } finally {
      warn.mockRestore();
    }
  });
});

describe('key layout', () => {
  it("keeps each user's keys in one hash tag that no uid can break", () => {
    const keys = new KeyLayout('evict:');
    for (const uid of ['alice', 'a{b}c', '}{', '{x}', 'a:b*c?[d]', '%7B', 'ユーザー', '\ud800lone']) {
      const { user, sessions, push } = keys.user(uid);
      const tag = hashTag(user);
      expect(tag).toBe(`u:${encodeKeyPart(uid)}`);
      for (const key of [sessions, push]) expect(hashTag(key)).toBe(tag);
      expect(user.startsWith('evict:{u:')).toBe(true);
    }
    expect(keys.user('a{b}c').user).toBe('evict:{u:a%7bb%7dc}:user');
    expect(keys.session('x}y')).toBe('evict:{s:x%7dy}');
    expect(keys.counter('k', 60_000)).toBe('evict:{r:k}:60000');
  });

  it('never maps two values to one key part', () => {
    const values = ['%', '%25', '{', '%7b', '%7B', '\ud800', '%ud800', 'a', 'A'];
    expect(new Set(values.map(encodeKeyPart)).size).toBe(values.length);
  });

  it("escapes the prefix's glob characters for SCAN", () => {
    expect(escapeGlob('app*[1]?\\:')).toBe('app\\*\\[1\\]\\?\\\\:');
    expect(new KeyLayout('a*b:').scanPattern()).toBe('a\\*b:*');
  });

  it('never sends KEYS (SCAN only): no source file names the command', () => {
    const dir = join(import.meta.dirname, '..', 'src');
    for (const file of readdirSync(dir)) {
      const source = readFileSync(join(dir, file), 'utf8');
      // Lua's KEYS[n] is the script's key list, not the command; the command would be a string.
      expect(source).not.toMatch(/(['"`])keys\1/i);
    }
  });
});

for (const library of CLIENT_LIBRARIES) {
  describeRedis(`RedisStore on ${library}`, () => {
    let host: HostClient;
    let prefix: string;
    let name: string;
    const stores: RedisStore[] = [];
    const hosts: HostClient[] = [];

    const open = (options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) => {
      const store = new RedisStore({ client: host.client, prefix, ...options });
      stores.push(store);
      return store;
    };
    const anotherHost = async (lib: ClientLibrary = library) => {
      const other = await hostClient(lib, { name });
      hosts.push(other);
      return other;
    };

    beforeEach(async () => {
      prefix = randomPrefix();
      name = `evict-test-${randomUUID()}`;
      host = await hostClient(library, { name });
      hosts.push(host);
    });

    afterEach(async () => {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await deleteKeysUnder(host, prefix);
      await Promise.all(hosts.splice(0).map((h) => h.close()));
    });

    it(`recognises the client as ${library}`, () => {
      expect(open().clientKind).toBe(library);
    });

    it('puts every key under the prefix, one hash tag per user, and gives every key a TTL', async () => {
      const store = open();
      const uid = 'ttl{user}:*';
      const t = Date.now();
      const s = session(uid, { expiresAtMs: t + 5 * MINUTE_MS, retainUntilMs: t + 7 * MINUTE_MS });
      await store.putSession(s);
      await store.revokeSession(s.tokenHash, t);
      await store.raiseCutoff(uid, null, { atMs: t, reason: 'kicked' }, t + 9 * MINUTE_MS);
      await store.raiseCutoff(uid, 2, { atMs: t, reason: 'device_quit' }, t + 9 * MINUTE_MS);
      await store.touchUser(uid, t + 8 * MINUTE_MS);
      await store.setPushToken(uid, pushToken({ expiresAtMs: t + 4 * MINUTE_MS }));
      await store.hit('login:ttl', t, MINUTE_MS);
      await store.touchUser('other', t + MINUTE_MS);

      const keys = (await keysUnder(host, prefix)).sort();
      const layout = new KeyLayout(prefix);
      const userKeys = layout.user(uid);
      const windowStart = t - (t % MINUTE_MS);
      // The user's one session is indexed in its hash: no sorted set yet.
      expect(keys).toEqual(
        [
          userKeys.user,
          userKeys.push,
          layout.session(s.tokenHash),
          layout.counter('login:ttl', windowStart),
          layout.user('other').user,
        ].sort(),
      );
      for (const key of keys) expect(key.startsWith(prefix)).toBe(true);
      expect(new Set(Object.values(userKeys).map(hashTag)).size).toBe(1);

      const now = Date.now();
      const pttl = async (key: string) => Number(await host.command(['PTTL', key]));
      for (const key of keys) expect(await pttl(key)).toBeGreaterThan(0);
      // Each key lives as long as what it holds (plus the grace for clock skew), not longer.
      const near = async (key: string, untilMs: number) => {
        const ttl = await pttl(key);
        expect(ttl).toBeLessThanOrEqual(untilMs - t + GRACE_MS + 5);
        expect(ttl).toBeGreaterThan(untilMs - now + GRACE_MS - 2_000);
      };
      await near(userKeys.user, t + 9 * MINUTE_MS);
      await near(userKeys.push, t + 4 * MINUTE_MS);
      await near(layout.session(s.tokenHash), s.retainUntilMs);
      await near(layout.counter('login:ttl', windowStart), windowStart + MINUTE_MS);
    });

    it('lists a user holding thousands of sessions and connections a bounded reply at a time', async () => {
      const store = open();
      const uid = 'crowded';
      const t = Date.now();
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: t + MINUTE_MS });
      const sessions = Array.from({ length: 3_000 }, () => session(uid));
      await Promise.all(sessions.map((s) => store.putSession(s)));
      const connections = Array.from({ length: 3_000 }, (_, i) =>
        connection(uid, { connId: i + 1, ip: '198.51.100.7', port: 1_024 + i, sessionId: `s${i}` }),
      );
      await store.putConnections(connections);
      // A page is about the COUNT asked for (Redis's hint), never the whole user.
      const pageSizes = async <T>(scan: (cursor: string | undefined) => Promise<ScanPage<T>>) => {
        const sizes: number[] = [];
        const items: T[] = [];
        let cursor: string | undefined;
        do {
          const page = await scan(cursor);
          sizes.push(page.items.length);
          items.push(...page.items);
          cursor = page.cursor;
        } while (cursor !== undefined);
        return { sizes, items };
      };
      const scannedSessions = await pageSizes((cursor) => store.scanSessions(uid, cursor, 100));
      expect(new Set(scannedSessions.items.map((s) => s.tokenHash)).size).toBe(3_000);
      expect(scannedSessions.sizes.length).toBeGreaterThan(10);
      expect(Math.max(...scannedSessions.sizes)).toBeLessThanOrEqual(400);
      const scannedConnections = await pageSizes((cursor) => store.scanConnections(uid, cursor, 100));
      expect(new Set(scannedConnections.items.map((c) => c.connId)).size).toBe(3_000);
      expect(scannedConnections.sizes.length).toBeGreaterThan(10);
      expect(Math.max(...scannedConnections.sizes)).toBeLessThanOrEqual(400);
      // The whole listings page too: no HGETALL or full ZRANGE of the user is sent.
      const sent = vi.spyOn(
        host.client as unknown as Record<string, () => unknown>,
        library === 'ioredis' ? 'call' : 'sendCommand',
      );
      try {
        expect((await store.listSessions(uid)).length).toBe(3_000);
        expect((await store.listConnections(uid)).length).toBe(3_000);
        const userKeys = Object.values(new KeyLayout(prefix).user(uid));
        const onUser = sent.mock.calls
          .map((call: unknown[]) => (Array.isArray(call[0]) ? call[0] : call).map(String))
          .filter((args) => userKeys.includes(args[args[0]!.toUpperCase() === 'EVALSHA' ? 3 : 1]!))
          .map((args) => args[0]!.toUpperCase());
        // EVALSHA: the one index entry a user's hash may hold (`s`), read with the first page.
        expect(new Set(onUser)).toEqual(new Set(['EVALSHA', 'HSCAN', 'ZSCAN']));
      } finally {
        sent.mockRestore();
      }
    });

    it('reads a user holding thousands of connections without reading the connections (getUser)', async () => {
      const store = open();
      const t = Date.now();
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: t + MINUTE_MS });
      // Connections alone first: the user is on file through them, with no end.
      await store.putConnections(
        Array.from({ length: 3_000 }, (_, i) => connection('gateway', { connId: i + 1 })),
      );
      expect(await store.getUser('gateway')).toEqual({
        uid: 'gateway',
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: Number.POSITIVE_INFINITY,
      });
      // Then a session, a cutoff and a device's cutoff beside them, in a hash table of 3,000 fields
      // and more (paged by HSCAN).
      const signedIn = session('gateway', { issuedAtMs: t + 1 });
      await store.putSession(signedIn);
      await store.raiseCutoff('gateway', null, { atMs: t, reason: 'kicked' }, t + 9 * MINUTE_MS);
      await store.raiseCutoff('gateway', 2, { atMs: t, reason: 'device_quit' }, t + 9 * MINUTE_MS);
      const sent = vi.spyOn(
        host.client as unknown as Record<string, () => unknown>,
        library === 'ioredis' ? 'call' : 'sendCommand',
      );
      try {
        expect(await store.getUser('gateway')).toEqual({
          uid: 'gateway',
          cutoff: { atMs: t, reason: 'kicked' },
          deviceCutoffs: { 2: { atMs: t, reason: 'device_quit' } },
          devices: { 1: { lastIssuedAtMs: t + 1, expiresAtMs: signedIn.expiresAtMs } },
          expiresAtMs: signedIn.expiresAtMs,
        });
        const commands = sent.mock.calls.map((call: unknown[]) =>
          String((Array.isArray(call[0]) ? call[0] : call)[0]).toUpperCase(),
        );
        // One script (HLEN, then HSCAN of the user's own fields past 128 fields), not an HGETALL.
        expect(commands).toEqual(['EVALSHA']);
      } finally {
        sent.mockRestore();
      }
      expect(await store.getUser('nobody-at-all')).toBeUndefined();
    });

    it('deletes a key once nothing in it is live, instead of keeping it', async () => {
      const store = open();
      const uid = 'short-lived';
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: Date.now() + MINUTE_MS });
      await store.putConnection(connection(uid));
      expect(await store.deleteConnection(uid, 1, 1)).toBe(true);
      await store.setPushToken(uid, pushToken());
      expect(await store.clearPushTokens(uid, ['ring', 'message'])).toEqual(['ring']);
      const layout = new KeyLayout(prefix);
      const keys = await keysUnder(host, prefix);
      expect(keys.sort()).toEqual([layout.nodes, layout.user(uid).user].sort());
    });

    it("keeps a user's connections in the user's hash, with no TTL while it holds one, and indexes them by node generation in buckets", async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'connected';
      const t = Date.now();
      expect(await store.heartbeatNode({ nodeId: 4, incarnation: 'run-1', expiresAtMs: t + MINUTE_MS })).toBe(
        true,
      );
      await store.touchUser(uid, t + 5 * MINUTE_MS);
      const a = connection(uid, { nodeId: 4, connId: 4_000_000_001 });
      const b = connection(uid, { nodeId: 4, connId: 4_000_000_600, deviceFlag: 2 });
      await store.putConnections([a, b]);
      const key = layout.user(uid).user;
      expect(Number(await host.command(['PTTL', key]))).toBe(-1);
      expect(await host.command(['HGET', layout.nodes, '4'])).toBe(`run-1 ${t + MINUTE_MS} 1`);
      // The connId in base 36, the node incarnation as its generation.
      expect(await host.command(['HGET', key, `4:${(4_000_000_001).toString(36)}`])).toBe(
        `1 ${a.connectedAtMs.toString(36)} 1`,
      );
      expect(await host.command(['HGET', key, 'n'])).toBe('2');
      const buckets = layout.indexBuckets(4, '1');
      expect(hashTag(buckets)).toBe('n:4');
      const members = stringsOf(await host.command(['SMEMBERS', buckets])).sort();
      expect(members).toEqual(['7812500', '7812501']);
      expect(await host.command(['HGET', layout.indexBucket(4, '1', 7_812_501), '88'])).toBe(uid);
      expect(await host.command(['OBJECT', 'ENCODING', key])).toBe('listpack');

      expect(await store.deleteConnections([{ uid, nodeId: 4, connId: a.connId }])).toEqual([true]);
      expect(Number(await host.command(['PTTL', key]))).toBe(-1);
      expect(await store.deleteConnection(uid, 4, b.connId)).toBe(true);
      // The last one gone: the user lives by its own expiry again, and the index is empty.
      expect(Number(await host.command(['PTTL', key]))).toBeGreaterThan(4 * MINUTE_MS);
      expect(await host.command(['HGET', key, 'n'])).toBeNull();
      expect(stringsOf(await host.command(['SMEMBERS', buckets]))).toEqual([]);
      expect(await store.getUser(uid)).toEqual({
        uid,
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: t + 5 * MINUTE_MS,
      });
    });

    it('keeps a user on file through connections alone as a hash of its connections and nothing else, counted in n once it has e', async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'connections-only';
      const t = Date.now();
      await store.heartbeatNode({ nodeId: 12, incarnation: 'run-1', expiresAtMs: t + MINUTE_MS });
      const a = connection(uid, { nodeId: 12, connId: 12_000_000_001, connectedAtMs: t });
      const b = connection(uid, { nodeId: 12, connId: 12_000_000_002, connectedAtMs: -1.5 });
      await store.putConnections([a, b]);
      const key = layout.user(uid).user;
      expect(Number(await host.command(['PTTL', key]))).toBe(-1);
      expect(await host.command(['OBJECT', 'ENCODING', key])).toBe('listpack');
      expect(stringsOf(await host.command(['HKEYS', key])).sort()).toEqual([
        `12:${(12_000_000_001).toString(36)}`,
        `12:${(12_000_000_002).toString(36)}`,
      ]);
      expect(await host.command(['HGET', key, `12:${(12_000_000_002).toString(36)}`])).toBe('1 ~-1.5 1');
      expect((await store.getUser(uid))?.expiresAtMs).toBe(Number.POSITIVE_INFINITY);
      expect((await store.listConnections(uid)).sort((x, y) => x.connId - y.connId)).toEqual([a, b]);

      // Given an expiry, the hash counts its connections in `n`, and keeps no TTL while it holds one.
      await store.touchUser(uid, t + 5 * MINUTE_MS);
      expect(await host.command(['HGET', key, 'n'])).toBe('2');
      expect(Number(await host.command(['PTTL', key]))).toBe(-1);
      expect(await store.deleteConnections([a, b])).toEqual([true, true]);
      expect(await host.command(['HGET', key, 'n'])).toBeNull();
      expect(Number(await host.command(['PTTL', key]))).toBeGreaterThan(4 * MINUTE_MS);

      // Connections alone: the hash goes with the last of them.
      const other = 'connections-only-2';
      await store.putConnection(connection(other, { nodeId: 12, connId: 7 }));
      expect(await store.deleteConnection(other, 12, 7)).toBe(true);
      expect(await host.command(['EXISTS', layout.user(other).user])).toBe(0);
    });

    it('writes and removes a batch of 1000 users in one script on one Redis', async () => {
      const counted = countingClient(host.client);
      const store = open({ client: counted.client });
      await store.heartbeatNode({ nodeId: 3, incarnation: 'run-1', expiresAtMs: Date.now() + MINUTE_MS });
      const batch = Array.from({ length: 1000 }, (_, i) =>
        connection(`batch-${i}`, { nodeId: 3, connId: i }),
      );
      counted.sent.length = 0;
      await store.putConnections(batch);
      const scripts = (sent: string[][]) => sent.filter(([name]) => name === 'EVALSHA' || name === 'EVAL');
      // The index's two buckets (512 connIds each), then every user.
      expect(scripts(counted.sent)).toHaveLength(3);
      expect((await store.listConnections('batch-999')).map((c) => c.connId)).toEqual([999]);
      counted.sent.length = 0;
      expect(await store.deleteConnections(batch)).toEqual(batch.map(() => true));
      expect(scripts(counted.sent)).toHaveLength(3);
      expect(await keysUnder(host, prefix)).toEqual([new KeyLayout(prefix).nodes]);
    });

    it('writes and removes the readable records of a batch when one cannot be read, and rejects', async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: Date.now() + MINUTE_MS });
      await host.command(['HSET', layout.user('unreadable').user, '1:1', 'nope']);
      const batch = [
        connection('readable-a', { connId: 2 }),
        connection('unreadable'),
        connection('readable-b', { connId: 3 }),
      ];
      await expect(store.putConnections(batch)).rejects.toBeInstanceOf(StoreCorruptError);
      expect((await store.listConnections('readable-a')).map((c) => c.connId)).toEqual([2]);
      expect((await store.listConnections('readable-b')).map((c) => c.connId)).toEqual([3]);
      await expect(store.deleteConnections(batch)).rejects.toBeInstanceOf(StoreCorruptError);
      expect(await store.listConnections('readable-a')).toEqual([]);
      expect(await store.listConnections('readable-b')).toEqual([]);
      expect(await host.command(['HGET', layout.user('unreadable').user, '1:1'])).toBe('nope');
    });

    it('stays atomic under 100 concurrent writes of each kind to one user', async () => {
      const store = open();
      const uid = 'busy';
      const t = Date.now();
      const range = Array.from({ length: 100 }, (_, i) => i);
      const cutoffs = range.map((i): Cutoff => ({ atMs: t - 10_000 + i, reason: 'kicked' }));
      const sessions = range.map((i) =>
        session(uid, { deviceFlag: 3, issuedAtMs: t + i, expiresAtMs: t + MINUTE_MS + i }),
      );
      const revoked = session(uid, { deviceFlag: 4 });
      await store.putSession(revoked);
      const window = t - (t % MINUTE_MS);

      const [, , revocations, hits] = await Promise.all([
        Promise.all([...cutoffs].reverse().map((c) => store.raiseCutoff(uid, null, c, t + MINUTE_MS))),
        Promise.all(sessions.map((s) => store.putSession(s))),
        Promise.all(range.map((i) => store.revokeSession(revoked.tokenHash, t + 1 + i))),
        Promise.all(range.map(() => store.hit('busy-hits', window, MINUTE_MS))),
      ]);

      const user = await store.getUser(uid);
      expect(user?.cutoff).toEqual(cutoffs[99]);
      expect(user?.devices[3]).toEqual({ lastIssuedAtMs: t + 99, expiresAtMs: t + MINUTE_MS + 99 });
      expect((await store.listSessions(uid)).map((s) => s.tokenHash).sort()).toEqual(
        [...sessions, revoked].map((s) => s.tokenHash).sort(),
      );
      const winners = revocations.filter((before) => before?.revokedAtMs === undefined);
      expect(winners).toHaveLength(1);
      const kept = (await store.getSession(revoked.tokenHash))?.revokedAtMs;
      for (const before of revocations)
        if (before?.revokedAtMs !== undefined) expect(before.revokedAtMs).toBe(kept);
      expect([...hits].sort((a, b) => a - b)).toEqual(range.map((i) => i + 1));
    });

    it('keeps a revoked session revoked, with its TTL, when revoked again', async () => {
      const store = open();
      const s = session('twice');
      await store.putSession(s);
      const key = new KeyLayout(prefix).session(s.tokenHash);
      const before = Number(await host.command(['PTTL', key]));
      await store.revokeSession(s.tokenHash, 111);
      await store.revokeSession(s.tokenHash, 222);
      expect(await store.getSession(s.tokenHash)).toEqual({ ...s, revokedAtMs: 111 });
      const after = Number(await host.command(['PTTL', key]));
      expect(after).toBeGreaterThan(before - 1_000);
      expect(after).toBeLessThanOrEqual(before);
    });

    it('round-trips uids made of hash-tag and glob characters', async () => {
      const store = open();
      const t = Date.now();
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: t + MINUTE_MS });
      for (const uid of ['{', '}', '{}', 'a}b{c', ':', '*', '{*}:sessions', 'a\\*?[x]']) {
        const s = session(uid, { deviceFlag: 7 });
        await store.putSession(s);
        await store.raiseCutoff(uid, 7, { atMs: t, reason: 'device_quit' }, s.expiresAtMs);
        await store.putConnection(connection(uid, { connId: 9 }));
        await store.setPushToken(uid, pushToken({ kind: 'message' }));
        expect(await store.listSessions(uid)).toEqual([s]);
        expect((await store.getUser(uid))?.deviceCutoffs).toEqual({ 7: { atMs: t, reason: 'device_quit' } });
        expect((await store.listConnections(uid)).map((c) => c.connId)).toEqual([9]);
        expect((await store.getPushTokens(uid)).map((p) => p.kind)).toEqual(['message']);
      }
      expect(await store.listSessions('{}x')).toEqual([]);
      for (const key of await keysUnder(host, prefix)) expect(key.startsWith(prefix)).toBe(true);
    });

    it('writes sessions, cutoffs and devices as the plain text keys.ts documents', async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'plain text: a b';
      const t = Date.now();
      const expiresAtMs = t + MINUTE_MS + 0.5;
      const s = session(uid, { deviceFlag: 3, issuedAtMs: t, expiresAtMs, retainUntilMs: 9e15 });
      await store.putSession(s);
      const key = layout.session(s.tokenHash);
      // Instants in base 36 when safe integers, else `~` and the decimal.
      const b36 = (n: number) => n.toString(36);
      const head = `3:${b36(t)}:~${expiresAtMs}:${b36(9e15)}`;
      expect(await host.command(['GET', key])).toBe(`${head}:-:${uid}`);
      await store.revokeSession(s.tokenHash, t + 7);
      expect(await host.command(['GET', key])).toBe(`${head}:${b36(t + 7)}:${uid}`);
      expect(await store.getSession(s.tokenHash)).toEqual({ ...s, revokedAtMs: t + 7 });
      await store.touchSessions([{ tokenHash: s.tokenHash, atMs: t + 9 }]);
      expect(await host.command(['GET', key])).toBe(`${head}:${b36(t + 7)}:${uid}\n-\n${t + 9}`);
      await store.raiseCutoff(uid, null, { atMs: t, reason: 'kicked' }, t + MINUTE_MS);
      await store.raiseCutoff(uid, 3, { atMs: t + 1, reason: 'device_quit' }, t + MINUTE_MS);
      const reply = await host.command(['HGETALL', layout.user(uid).user]);
      // RESP2 replies a flat list, RESP3 a map.
      const fields = Array.isArray(reply)
        ? Object.fromEntries(
            reply.flatMap((v, i) => (i % 2 === 0 ? [[String(v), String(reply[i + 1])]] : [])),
          )
        : reply;
      expect(fields).toEqual({
        e: String(expiresAtMs),
        c: `${t} kicked`,
        'c:3': `${t + 1} device_quit`,
        'd:3': `${b36(t)}:~${expiresAtMs}`,
        // The user's one session's index entry: its retainUntilMs in base 36, then its token hash.
        s: `${(9e15).toString(36)} ${s.tokenHash}`,
      });
    });

    it('reads, revokes and touches a session written before the base-36 layout, keeping its layout', async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'older: a:b c';
      const t = Date.now();
      const s = session(uid, {
        issuedAtMs: t,
        expiresAtMs: t + MINUTE_MS + 0.5,
        retainUntilMs: t + 2 * MINUTE_MS,
      });
      const key = layout.session(s.tokenHash);
      // As RedisStore wrote a session before: space-separated decimals.
      const head = `1 ${t} ${s.expiresAtMs} ${s.retainUntilMs}`;
      await host.command(['SET', key, `${head} - ${uid}`, 'PX', String(2 * MINUTE_MS)]);
      expect(await store.getSession(s.tokenHash)).toEqual(s);
      await store.touchSessions([{ tokenHash: s.tokenHash, atMs: t + 3 }]);
      expect(await host.command(['GET', key])).toBe(`${head} - ${uid}\n-\n${t + 3}`);
      expect(await store.revokeSession(s.tokenHash, t + 5)).toEqual({ ...s, lastSeenAtMs: t + 3 });
      expect(await host.command(['GET', key])).toBe(`${head} ${t + 5} ${uid}\n-\n${t + 3}`);
      expect(await store.getSession(s.tokenHash)).toEqual({ ...s, lastSeenAtMs: t + 3, revokedAtMs: t + 5 });
      expect(Number(await host.command(['PTTL', key]))).toBeGreaterThan(MINUTE_MS);
    });

    it("indexes a user's first session in its hash, and moves the index to a sorted set at the second", async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'indexed';
      const keys = layout.user(uid);
      const t = Date.now();
      const first = session(uid, { retainUntilMs: t + 30 * MINUTE_MS + 0.25 });
      await store.putSession(first);
      expect(await host.command(['HGET', keys.user, 's'])).toBe(`~${first.retainUntilMs} ${first.tokenHash}`);
      expect(await host.command(['EXISTS', keys.sessions])).toBe(0);
      expect(await host.command(['OBJECT', 'ENCODING', keys.user])).toBe('listpack');
      // The hash lives as long as the entry it holds, past the user's own expiry.
      const ttl = Number(await host.command(['PTTL', keys.user]));
      expect(ttl).toBeGreaterThan(first.retainUntilMs - Date.now());
      // Written again (the same token): still the one entry, with its new retention.
      const again = { ...first, retainUntilMs: t + 40 * MINUTE_MS };
      await store.putSession(again);
      expect(await host.command(['HGET', keys.user, 's'])).toBe(
        `${again.retainUntilMs.toString(36)} ${first.tokenHash}`,
      );
      const second = session(uid);
      await store.putSession(second);
      expect(await host.command(['HEXISTS', keys.user, 's'])).toBe(0);
      const score = async (hash: string) => Number(await host.command(['ZSCORE', keys.sessions, hash]));
      expect(await score(first.tokenHash)).toBe(again.retainUntilMs);
      expect(await score(second.tokenHash)).toBe(second.retainUntilMs);
      // A third goes to the set too; the hash takes an entry again only once the set is gone.
      const third = session(uid);
      await store.putSession(third);
      expect(await host.command(['HEXISTS', keys.user, 's'])).toBe(0);
      expect((await store.listSessions(uid)).map((x) => x.tokenHash).sort()).toEqual(
        [first.tokenHash, second.tokenHash, third.tokenHash].sort(),
      );
    });

    it("refuses a user's index entry it cannot read, and writes nothing over it", async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'corrupt-index';
      const keys = layout.user(uid);
      await store.putSession(session(uid));
      for (const raw of ['garbage', '4.5 hash', 'x', '0x3 hash']) {
        await host.command(['HSET', keys.user, 's', raw]);
        await expect(store.listSessions(uid)).rejects.toBeInstanceOf(StoreCorruptError);
        await expect(store.putSession(session(uid))).rejects.toBeInstanceOf(StoreCorruptError);
        expect(await host.command(['HGET', keys.user, 's'])).toBe(raw);
        expect(await host.command(['EXISTS', keys.sessions])).toBe(0);
      }
    });

    it("keeps the hash's index entry when the user lapses and starts afresh, as the sorted set outlives the user", async () => {
      let nowMs = Date.now();
      const store = open({ clock: { nowMs: () => nowMs } });
      const layout = new KeyLayout(prefix);
      const uid = 'lapsed';
      const keys = layout.user(uid);
      const t = nowMs;
      const first = session(uid, {
        issuedAtMs: t,
        expiresAtMs: t + MINUTE_MS,
        retainUntilMs: t + 10 * MINUTE_MS,
      });
      await store.putSession(first);
      nowMs = t + 2 * MINUTE_MS;
      expect(await store.getUser(uid)).toBeUndefined();
      expect((await store.listSessions(uid)).map((x) => x.tokenHash)).toEqual([first.tokenHash]);
      // A connection of the lapsed user starts it afresh and counts itself beside the kept entry.
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: nowMs + MINUTE_MS });
      await store.putConnections([connection(uid, { connId: 7, connectedAtMs: nowMs })]);
      expect((await store.getUser(uid))?.expiresAtMs).toBe(Number.POSITIVE_INFINITY);
      expect((await store.listConnections(uid)).map((c) => c.connId)).toEqual([7]);
      expect(Number(await host.command(['PTTL', keys.user]))).toBe(-1);
      await store.deleteConnections([{ uid, nodeId: 1, connId: 7 }]);
      // The last connection gone: the hash lives on for the entry, the user is not on file.
      expect(await store.getUser(uid)).toBeUndefined();
      expect(Number(await host.command(['PTTL', keys.user]))).toBeGreaterThan(5 * MINUTE_MS);
      // A new session of the lapsed user: both listed, the first moved to the sorted set.
      const second = session(uid, {
        issuedAtMs: nowMs,
        expiresAtMs: nowMs + MINUTE_MS,
        retainUntilMs: nowMs + MINUTE_MS,
      });
      await store.putSession(second);
      expect(await host.command(['HEXISTS', keys.user, 's'])).toBe(0);
      expect((await store.listSessions(uid)).map((x) => x.tokenHash).sort()).toEqual(
        [first.tokenHash, second.tokenHash].sort(),
      );
      // Past both retentions nothing is listed, and the next write drops the set's dead entries.
      nowMs = t + 11 * MINUTE_MS;
      expect(await store.listSessions(uid)).toEqual([]);
      const third = session(uid, {
        issuedAtMs: nowMs,
        expiresAtMs: nowMs + MINUTE_MS,
        retainUntilMs: nowMs + 2 * MINUTE_MS,
      });
      await store.putSession(third);
      expect(await host.command(['ZCARD', keys.sessions])).toBe(1);
      expect((await store.listSessions(uid)).map((x) => x.tokenHash)).toEqual([third.tokenHash]);
    });

    it("keeps a login policy's admissions a field each, so that the user's hash stays a listpack", async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'governed';
      const t = Date.now();
      // A token hash is 43 characters of base64url, as hashToken makes them.
      const hash = (n: number) => `${'h'.repeat(42)}${n}`;
      const request = (deviceClass: string) => ({ deviceClass, classLimit: 1, refuse: false, fromNodeId: 1 });
      for (const flag of [1, 2, 3])
        await store.admitSession(
          session(uid, {
            tokenHash: hash(flag),
            deviceFlag: flag,
            issuedAtMs: t,
            expiresAtMs: t + MINUTE_MS,
          }),
          request(`flag:${flag}`),
        );
      const key = layout.user(uid).user;
      expect(await host.command(['HGET', key, `a:${hash(2)}`])).toBe(`flag:2 2 ${t} ${t + MINUTE_MS}`);
      expect(await host.command(['OBJECT', 'ENCODING', key])).toBe('listpack');
      // A newer login of flag 2 pushes the older out: its field goes in the same step.
      const outcome = await store.admitSession(
        session(uid, { tokenHash: hash(4), deviceFlag: 2, issuedAtMs: t + 1, expiresAtMs: t + MINUTE_MS }),
        request('flag:2'),
      );
      expect(outcome).toEqual({
        admitted: true,
        replaced: [
          {
            tokenHash: hash(2),
            deviceClass: 'flag:2',
            deviceFlag: 2,
            issuedAtMs: t,
            expiresAtMs: t + MINUTE_MS,
          },
        ],
      });
      expect(await host.command(['HEXISTS', key, `a:${hash(2)}`])).toBe(0);
      expect((await store.getUser(uid))?.admissions?.map((a) => a.tokenHash)).toEqual([
        hash(1),
        hash(3),
        hash(4),
      ]);
      expect(await host.command(['OBJECT', 'ENCODING', key])).toBe('listpack');
      await store.dischargeSessions(uid, [hash(1), hash(4)]);
      expect((await store.getUser(uid))?.admissions?.map((a) => a.tokenHash)).toEqual([hash(3)]);
    });

    it('admits and pushes out, announcing it, a session whose token hash holds spaces, quotes and glob characters', async () => {
      const store = open();
      await store.ready();
      const heard: ClusterMessage[] = [];
      store.subscribe((m) => heard.push(m));
      const uid = 'odd hashes';
      const t = Date.now();
      const odd = 'an "odd" hash\\ with [glob] * and spaces';
      const request = { deviceClass: 'web', classLimit: 1, refuse: false, fromNodeId: 7 };
      const expiresAtMs = t + MINUTE_MS;
      await store.admitSession(session(uid, { tokenHash: odd, issuedAtMs: t, expiresAtMs }), request);
      expect((await store.getUser(uid))?.admissions?.map((a) => a.tokenHash)).toEqual([odd]);
      expect(await store.admitSession(session(uid, { issuedAtMs: t + 1, expiresAtMs }), request)).toEqual({
        admitted: true,
        replaced: [{ tokenHash: odd, deviceClass: 'web', deviceFlag: 1, issuedAtMs: t, expiresAtMs }],
      });
      await waitFor('the announcement', () => heard.length === 1);
      expect(heard).toEqual([{ type: 'revoked', uid, replaced: true, fromNodeId: 7, tokenHash: odd }]);
    });

    it('admits under a policy when the user hash is a hash table (paged by HSCAN), pushing out the oldest', async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'governed, large';
      const t = Date.now();
      const key = layout.user(uid).user;
      const request = { deviceClass: 'any', classLimit: 2, refuse: false, fromNodeId: 1 };
      const admitted = async (n: number) =>
        store.admitSession(
          session(uid, { tokenHash: `hash-${n}`, issuedAtMs: t + n, expiresAtMs: t + MINUTE_MS }),
          request,
        );
      await admitted(1);
      // Fields a later version may add: 600 of them turn the hash into a hash table.
      const extra = Array.from({ length: 600 }, (_, i) => [`x:${i}`, 'later']).flat();
      await host.command(['HSET', key, ...extra]);
      expect(await host.command(['OBJECT', 'ENCODING', key])).toBe('hashtable');
      await admitted(2);
      expect(await admitted(3)).toEqual({
        admitted: true,
        replaced: [
          {
            tokenHash: 'hash-1',
            deviceClass: 'any',
            deviceFlag: 1,
            issuedAtMs: t + 1,
            expiresAtMs: t + MINUTE_MS,
          },
        ],
      });
      expect((await store.getUser(uid))?.admissions?.map((a) => a.tokenHash)).toEqual(['hash-2', 'hash-3']);
    });

    it('throws StoreCorruptError for a record it cannot read, and writes nothing over it', async () => {
      const store = open();
      const layout = new KeyLayout(prefix);
      const s = session('corrupt');
      await store.putSession(s);
      const sessionKey = layout.session(s.tokenHash);
      // JSON (the layout before this one) is as unreadable as garbage: no field may be missing or not a number.
      for (const raw of [
        '{not json',
        JSON.stringify({ ...s }),
        '1 2 3 4 -',
        '1 2 3 x - corrupt',
        '1 2 0x3 4 - corrupt',
        '1 2 3 4 never corrupt',
        '1 2 3 Infinity - corrupt',
        // The base-36 layout: the same checks, and base 36 as JavaScript writes it.
        '1:2:3:4:-',
        '1:2:3:4.5:-:corrupt',
        '1:2:0x3:4:-:corrupt',
        '1:2:3:Infinity:-:corrupt',
        '1:2:3:4:never!:corrupt',
      ]) {
        await host.command(['SET', sessionKey, raw, 'PX', '60000']);
        await expect(store.getSession(s.tokenHash)).rejects.toBeInstanceOf(StoreCorruptError);
        await expect(store.revokeSession(s.tokenHash, 1)).rejects.toBeInstanceOf(StoreCorruptError);
        expect(await host.command(['GET', sessionKey])).toBe(raw);
      }

      const keys = layout.user('corrupt');
      const kick = (require: { user: boolean; device: boolean }) =>
        store.kick({
          uid: 'corrupt',
          deviceFlag: 1,
          cutoff: { atMs: Date.now(), reason: 'device_quit' },
          expiresAtMs: Date.now() + MINUTE_MS,
          require,
          announce: { type: 'revoked', uid: 'corrupt', fromNodeId: 1 },
        });
      for (const [field, raw] of [
        ['c', '[1,2'],
        ['c', '{"atMs":1,"reason":"kicked"}'],
        ['c:1', '5 banned'],
        ['d:1', '5'],
      ] as const) {
        const before = await host.command(['HGETALL', keys.user]);
        const prior = await host.command(['HGET', keys.user, field]);
        await host.command(['HSET', keys.user, field, raw]);
        await expect(store.getUser('corrupt')).rejects.toBeInstanceOf(StoreCorruptError);
        if (field !== 'd:1') {
          const error = await store
            .raiseCutoff(
              'corrupt',
              field === 'c' ? null : 1,
              { atMs: Date.now(), reason: 'kicked' },
              Date.now(),
            )
            .catch((e: unknown) => e);
          expect(isEvictError(error, 'EVICT_STORE_CORRUPT')).toBe(true);
        }
        await expect(kick({ user: true, device: true })).rejects.toBeInstanceOf(StoreCorruptError);
        expect(await host.command(['HGET', keys.user, field])).toBe(raw);
        if (prior === null) await host.command(['HDEL', keys.user, field]);
        else await host.command(['HSET', keys.user, field, String(prior)]);
        expect(await host.command(['HGETALL', keys.user])).toEqual(before);
      }
      // A user hash without its expiry holds connections alone: any other field makes it unreadable.
      await host.command(['HDEL', keys.user, 'e']);
      await host.command(['HSET', keys.user, 'expiresAtMs', String(Date.now() + MINUTE_MS)]);
      await expect(store.getUser('corrupt')).rejects.toBeInstanceOf(StoreCorruptError);
      await expect(store.touchUser('corrupt', Date.now() + MINUTE_MS)).rejects.toBeInstanceOf(
        StoreCorruptError,
      );
      await expect(kick({ user: false, device: false })).rejects.toBeInstanceOf(StoreCorruptError);
      expect(await host.command(['HGET', keys.user, 'e'])).toBeNull();

      // Connections, of a user whose own record is fine.
      const conns = layout.user('corrupt-conns').user;
      const lives = Date.now() + MINUTE_MS;
      await store.touchUser('corrupt-conns', lives);
      await host.command(['HSET', conns, '1:1', 'nope', 'n', '1']);
      await expect(store.listConnections('corrupt-conns')).rejects.toBeInstanceOf(StoreCorruptError);
      await expect(
        store.kick({
          uid: 'corrupt-conns',
          deviceFlag: null,
          cutoff: { atMs: Date.now(), reason: 'kicked' },
          expiresAtMs: Date.now() + MINUTE_MS,
          require: { user: false, device: false },
          announce: { type: 'revoked', uid: 'corrupt-conns', fromNodeId: 1 },
        }),
      ).rejects.toBeInstanceOf(StoreCorruptError);
      // A put or a delete reads its own record only: a user's others are not read on every write.
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: Date.now() + MINUTE_MS });
      await expect(
        store.putConnection(connection('corrupt-conns', { nodeId: 1, connId: 1 })),
      ).rejects.toBeInstanceOf(StoreCorruptError);
      await expect(store.deleteConnection('corrupt-conns', 1, 1)).rejects.toBeInstanceOf(StoreCorruptError);
      expect(await host.command(['HGET', conns, '1:1'])).toBe('nope');
      const other = connection('corrupt-conns', { nodeId: 1, connId: 2 });
      await store.putConnection(other);
      // The user's other records are written and removed as usual, around the unreadable one.
      expect(await store.deleteConnection('corrupt-conns', 1, 2)).toBe(true);
      expect(await host.command(['HGET', conns, '1:1'])).toBe('nope');
      await host.command(['HSET', keys.push, 'ring', '{"kind":"ring"}']);
      await expect(store.getPushTokens('corrupt')).rejects.toBeInstanceOf(StoreCorruptError);
    });

    it('works again after SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
      const store = open();
      await store.touchUser('flushed', Date.now() + MINUTE_MS);
      await host.command(['SCRIPT', 'FLUSH']);
      await store.touchUser('flushed', Date.now() + 2 * MINUTE_MS);
      expect((await store.getUser('flushed'))?.expiresAtMs).toBeGreaterThan(Date.now() + MINUTE_MS);
    });

    for (const otherLibrary of CLIENT_LIBRARIES) {
      it(`carries messages to a second store on a second client (${otherLibrary}), ignoring unreadable ones`, async () => {
        const here = open();
        const there = new RedisStore({ client: (await anotherHost(otherLibrary)).client, prefix });
        stores.push(there);
        await Promise.all([here.ready(), there.ready()]);
        const heard: ClusterMessage[] = [];
        const heardThere: ClusterMessage[] = [];
        here.subscribe((m) => heard.push(m));
        const stop = there.subscribe((m) => heardThere.push(m));
        await host.command(['PUBLISH', here.channel, 'not json']);
        await host.command(['PUBLISH', here.channel, '{"type":"unknown"}']);
        const first: ClusterMessage = { type: 'revoked', uid: 'a{b}', tokenHash: 'h', fromNodeId: 1 };
        const second: ClusterMessage = {
          type: 'close-connections',
          nodeId: 2,
          connections: [{ uid: 'a{b}', connId: 5 }],
          code: 4001,
          reason: 'kicked',
          fromNodeId: 1,
        };
        await here.publish(first);
        await there.publish(second);
        await waitFor('both messages on both stores', () => heard.length === 2 && heardThere.length === 2);
        expect(heard).toEqual([first, second]);
        expect(heardThere).toEqual([first, second]);
        stop();
        await here.publish(first);
        await waitFor('a third message here', () => heard.length === 3);
        await sleep(30);
        expect(heardThere).toHaveLength(2);
        // Another prefix is another channel.
        const elsewhere = new RedisStore({ client: host.client, prefix: randomPrefix() });
        stores.push(elsewhere);
        await elsewhere.publish(first);
        await sleep(30);
        expect(heard).toHaveLength(3);
      });
    }

    it('counts the hits of two stores on two clients in one window: a rate limit shared by the nodes', async () => {
      const a = open();
      const b = new RedisStore({ client: (await anotherHost()).client, prefix });
      stores.push(b);
      const t = Date.now();
      const window = t - (t % 1_000);
      const counts = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 === 0 ? a : b).hit('tencent:1400000000', window + (i % 1_000), 1_000),
        ),
      );
      expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await b.hit('tencent:1400000000', window + 999, 1_000)).toBe(201);
      expect(await a.hit('tencent:1400000000', window + 1_000, 1_000)).toBe(1);
    });

    it('reports the link down when its subscriber connection is killed, and up once resubscribed', async () => {
      const store = open();
      const reports: boolean[] = [];
      store.onLinkChange((up) => reports.push(up));
      const heard: ClusterMessage[] = [];
      store.subscribe((m) => heard.push(m));
      await store.ready();
      expect(reports).toEqual([true]);
      const ids = await pubsubClientIds(host, name);
      expect(ids).toHaveLength(1);
      await host.command(['CLIENT', 'KILL', 'ID', ids[0]!]);
      await waitFor('the link down then up', () => reports.length >= 3);
      expect(reports).toEqual([true, false, true]);
      // Resubscribed: messages flow again, on a new connection.
      expect(await pubsubClientIds(host, name)).not.toEqual(ids);
      const message: ClusterMessage = { type: 'revoked', uid: 'back', fromNodeId: 1 };
      await store.publish(message);
      await waitFor('the message after the reconnect', () => heard.length === 1);
      expect(heard).toEqual([message]);
      await store.ready();
    });

    it('closes only the connection it created: the host client stays open, close is idempotent', async () => {
      const store = open();
      store.subscribe(() => undefined);
      await store.ready();
      expect(await clientCountNamed(host, name)).toBe(2);
      await store.close();
      await store.close();
      await waitFor('the subscriber connection gone', async () => (await clientCountNamed(host, name)) === 1);
      expect(host.isOpen()).toBe(true);
      expect(await host.command(['PING'])).toBe('PONG');
      expect(store.subscribe(() => undefined)).toBeTypeOf('function');
      await sleep(30);
      expect(await clientCountNamed(host, name)).toBe(1);
    });

    it('subscribes on a subscriber connection the host lends, and never closes it', async () => {
      const lent = await anotherHost();
      const store = open({ subscriber: lent.client });
      const heard: ClusterMessage[] = [];
      store.subscribe((m) => heard.push(m));
      await store.ready();
      expect(await clientCountNamed(host, name)).toBe(2);
      const message: ClusterMessage = { type: 'revoked', uid: 'lent', fromNodeId: 1 };
      await store.publish(message);
      await waitFor('the message', () => heard.length === 1);
      await store.close();
      expect(await clientCountNamed(host, name)).toBe(2);
      expect(await pubsubClientIds(host, name)).toEqual([]);
    });
  });
}

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A redis-server of this test's own, on a free port, that the test can kill and start again. */
class OwnRedis {
  #process: ChildProcess | undefined;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    this.#process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitFor(`redis-server on ${this.port}`, () => {
      const pong = spawnSync('redis-cli', ['-p', String(this.port), 'PING'], { encoding: 'utf8' });
      return pong.stdout.includes('PONG');
    });
  }

  async kill(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

const IS_CI = process.env.CI === 'true' || process.env.CI === '1';
if (!hasRedisServer)
  console.warn(`\n!!! REDIS RESTART TESTS ${IS_CI ? 'FAIL' : 'SKIPPED'}: no redis-server on PATH.\n`);

(hasRedisServer || IS_CI ? describe : describe.skip)('RedisStore when its Redis dies and comes back', () => {
  beforeEach(() => {
    if (!hasRedisServer) throw new Error('redis-server is required under CI=true');
  });

  for (const library of CLIENT_LIBRARIES) {
    it(`(${library}) reports the link down, then up once subscribed again, and messages flow`, async () => {
      const redis = new OwnRedis(await freePort());
      await redis.start();
      const url = `redis://127.0.0.1:${redis.port}`;
      let client: Redis | ReturnType<typeof createClient>;
      if (library === 'ioredis') {
        client = new Redis(url, { retryStrategy: () => 50 });
      } else {
        client = createClient({ url, socket: { reconnectStrategy: () => 50 } });
        await client.connect();
      }
      client.on('error', () => undefined);
      const store = new RedisStore({ client, prefix: randomPrefix() });
      try {
        const reports: boolean[] = [];
        store.onLinkChange((up) => reports.push(up));
        const heard: ClusterMessage[] = [];
        store.subscribe((message) => heard.push(message));
        await store.ready();
        expect(reports).toEqual([true]);
        await redis.kill();
        await waitFor('the link down', () => reports.length >= 2);
        expect(reports).toEqual([true, false]);
        await redis.start();
        await waitFor('the link up again', () => reports.length >= 3, 10_000);
        expect(reports).toEqual([true, false, true]);
        await store.ready();
        const message: ClusterMessage = { type: 'revoked', uid: 'after-restart', fromNodeId: 1 };
        await store.publish(message);
        await waitFor('the message after the restart', () => heard.length === 1);
        expect(heard).toEqual([message]);
      } finally {
        await store.close();
        if (client instanceof Redis) client.disconnect();
        else client.destroy();
        await redis.kill();
      }
    });

    it(`(${library}) subscribes once its Redis comes up, when it was down at first`, async () => {
      const redis = new OwnRedis(await freePort());
      const url = `redis://127.0.0.1:${redis.port}`;
      let client: Redis | ReturnType<typeof createClient>;
      let connected: Promise<unknown> = Promise.resolve();
      if (library === 'ioredis') {
        client = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
      } else {
        client = createClient({ url, socket: { reconnectStrategy: () => 50 } });
        connected = client.connect();
      }
      client.on('error', () => undefined);
      const store = new RedisStore({ client, prefix: randomPrefix() });
      try {
        const reports: boolean[] = [];
        store.onLinkChange((up) => reports.push(up));
        const heard: ClusterMessage[] = [];
        store.subscribe((message) => heard.push(message));
        await sleep(300);
        expect(reports).not.toContain(true);
        await redis.start();
        await connected;
        await waitFor('the link up', () => reports.at(-1) === true, 10_000);
        await store.ready();
        const message: ClusterMessage = { type: 'revoked', uid: 'late', fromNodeId: 1 };
        await store.publish(message);
        await waitFor('the message', () => heard.length === 1);
        expect(heard).toEqual([message]);
      } finally {
        await store.close();
        if (client instanceof Redis) client.disconnect();
        else client.destroy();
        await redis.kill();
      }
    });
  }
});
