/**
 * `RedisStore.kick`, the engine's kick in one store call: the same outcome as the calls it replaces
 * (the engine's checks of the user and the device, `raiseCutoff`, `publish`, `listConnections`), in
 * one round trip on one Redis. Each runs on ioredis and on node-redis, on the Redis at REDIS_URL.
 */
import { randomUUID } from 'node:crypto';
import {
  type ClusterMessage,
  type ConnectionCloseInfo,
  Evict,
  type EvictStore,
  isEvictError,
  type KickRequest,
  MemoryStore,
} from '@evict/core';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { describeRedis, randomPrefix } from '../../../test/support/redis.js';
import { RedisStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import { SCRIPTS } from '../src/scripts.js';
import {
  CLIENT_LIBRARIES,
  countingClient,
  deleteKeysUnder,
  type HostClient,
  hostClient,
  keysUnder,
} from './clients.js';
import { connectionOnNode2 } from './kicks.js';

const MINUTE_MS = 60_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A kick request of `uid` at `atMs`, with everything else as the engine sends it. */
function kickOf(uid: string, atMs: number, overrides: Partial<KickRequest> = {}): KickRequest {
  return {
    uid,
    deviceFlag: null,
    cutoff: { atMs, reason: 'kicked' },
    expiresAtMs: atMs + 10 * MINUTE_MS,
    require: { user: true, device: false },
    announce: { type: 'revoked', uid, fromNodeId: 1 },
    ...overrides,
  };
}

/** What an engine call answered: the result, or the error code. */
async function outcome(call: Promise<{ connectionsClosed: number }>): Promise<string> {
  try {
    return `ok, ${(await call).connectionsClosed} closed`;
  } catch (error) {
    return isEvictError(error) ? error.code : `thrown: ${String(error)}`;
  }
}

for (const library of CLIENT_LIBRARIES) {
  describeRedis(`RedisStore.kick on ${library}`, () => {
    let host: HostClient;
    let prefix: string;
    const stores: EvictStore[] = [];
    const engines: Evict[] = [];

    const open = (client = host.client, clock?: { nowMs(): number }) => {
      const store = new RedisStore({ client, prefix, ...(clock === undefined ? {} : { clock }) });
      stores.push(store);
      return store;
    };
    /** A second store on the prefix that records every message it hears. */
    const listener = async () => {
      const store = open();
      const heard: ClusterMessage[] = [];
      store.subscribe((m) => heard.push(m));
      await store.ready();
      return heard;
    };

    beforeEach(async () => {
      prefix = randomPrefix();
      host = await hostClient(library);
    });

    afterEach(async () => {
      await Promise.all(engines.splice(0).map((engine) => engine.close()));
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await deleteKeysUnder(host, prefix);
      await host.close();
    });

    it('answers what is missing, and then writes and publishes nothing', async () => {
      const store = open();
      const heard = await listener();
      const t = Date.now();
      expect(await store.kick(kickOf('nobody', t))).toEqual({ applied: false, missing: 'user' });
      expect(
        await store.kick(kickOf('nobody', t, { deviceFlag: 3, require: { user: true, device: true } })),
      ).toEqual({ applied: false, missing: 'user' });
      expect(await keysUnder(host, prefix)).toEqual([]);

      await store.touchUser('known', t + MINUTE_MS);
      const userKey = new KeyLayout(prefix).user('known').user;
      const before = await host.command(['HGETALL', userKey]);
      const request = kickOf('known', t, { deviceFlag: 3, require: { user: true, device: true } });
      expect(await store.kick(request)).toEqual({ applied: false, missing: 'device' });
      // Without a user check (a host with its own user table), the device is still checked.
      expect(await store.kick({ ...request, require: { user: false, device: true } })).toEqual({
        applied: false,
        missing: 'device',
      });
      expect(await host.command(['HGETALL', userKey])).toEqual(before);
      await sleep(50);
      expect(heard).toEqual([]);
    });

    it('raises the cutoff as raiseCutoff does (an atomic maximum) and announces every kick it applies', async () => {
      const store = open();
      const heard = await listener();
      const t = Date.now();
      // The same writes on two users: one through kick, one through raiseCutoff; the records must match.
      const steps: [number | null, number, 'kicked' | 'device_quit'][] = [
        [null, t + 10, 'kicked'],
        [null, t + 5, 'device_quit'],
        [2, t + 20, 'device_quit'],
        [2, t + 20, 'kicked'],
        [null, t + 30, 'device_quit'],
        [7, t + 1, 'device_quit'],
      ];
      for (const uid of ['by-kick', 'by-raise']) {
        await store.putSession({
          tokenHash: `${uid}-${randomUUID()}`,
          uid,
          deviceFlag: 2,
          issuedAtMs: t,
          expiresAtMs: t + MINUTE_MS,
          retainUntilMs: t + 2 * MINUTE_MS,
        });
      }
      for (const [deviceFlag, atMs, reason] of steps) {
        const expiresAtMs = atMs + 10 * MINUTE_MS;
        const result = await store.kick(
          kickOf('by-kick', atMs, { deviceFlag, cutoff: { atMs, reason }, expiresAtMs }),
        );
        expect(result).toEqual({ applied: true, connections: [] });
        await store.raiseCutoff('by-raise', deviceFlag, { atMs, reason }, expiresAtMs);
      }
      const kicked = await store.getUser('by-kick');
      expect(kicked).toEqual({ ...(await store.getUser('by-raise')), uid: 'by-kick' });
      expect(kicked?.cutoff).toEqual({ atMs: t + 30, reason: 'device_quit' });
      expect(kicked?.deviceCutoffs).toEqual({
        2: { atMs: t + 20, reason: 'device_quit' },
        7: { atMs: t + 1, reason: 'device_quit' },
      });
      await waitFor('every announcement', () => heard.length === steps.length);
      expect(heard).toEqual(steps.map(() => ({ type: 'revoked', uid: 'by-kick', fromNodeId: 1 })));
    });

    it("lists the live connections once the cutoff is written, leaving out dead nodes' ones", async () => {
      let now = Date.now();
      const store = open(host.client, { nowMs: () => now });
      const uid = 'connected';
      await store.heartbeatNode({ nodeId: 1, incarnation: 'run-1', expiresAtMs: now + MINUTE_MS });
      await store.heartbeatNode({ nodeId: 2, incarnation: 'run-1', expiresAtMs: now + MINUTE_MS });
      await store.heartbeatNode({ nodeId: 3, incarnation: 'run-1', expiresAtMs: now + 1_000 });
      const conn = (connId: number, deviceFlag: number, nodeId: number) => ({
        uid,
        deviceFlag,
        nodeId,
        connId,
        connectedAtMs: now,
        incarnation: 'run-1',
      });
      const live = [conn(1, 1, 1), conn(2, 2, 2), conn(3, 2, 1)];
      for (const c of live) await store.putConnection(c);
      await store.putConnection(conn(4, 1, 3));
      now += 2_000;
      const result = await store.kick(kickOf(uid, now));
      expect(result.applied).toBe(true);
      const listed = result.applied ? result.connections : [];
      expect(listed.sort((a, b) => a.connId - b.connId)).toEqual(live);
      expect(await store.listConnections(uid)).toHaveLength(3);
      // A device that has only a connection is present.
      const quit = await store.kick(
        kickOf(uid, now, {
          deviceFlag: 2,
          cutoff: { atMs: now, reason: 'device_quit' },
          require: { user: true, device: true },
        }),
      );
      expect(quit.applied).toBe(true);
    });

    it("publishes each node's close-connections itself when given `closes`: after the announcement, in the kick's one round trip", async () => {
      const now = Date.now();
      const store = open();
      const heard = await listener();
      const uid = 'told';
      const { connection, closes } = await connectionOnNode2(store, uid, now);
      expect(await store.kick(kickOf(uid, now, { closes }))).toEqual({
        applied: true,
        connections: [connection],
        closesAnnounced: true,
        recordsDropped: true,
      });
      await waitFor('the two messages', () => heard.length === 2);
      expect(heard).toEqual([
        { type: 'revoked', uid, fromNodeId: 1 },
        { type: 'close-connections', nodeId: 2, connections: [{ uid, connId: 7 }], ...closes },
      ]);
    });

    it("drops the records of the connections whose closes it announced, and their index entries, in the kick's step: another device's stay, counted; with the last gone the user lives by its expiry again", async () => {
      const now = Date.now();
      const store = open();
      const layout = new KeyLayout(prefix);
      const uid = 'dropped';
      await store.touchUser(uid, now + MINUTE_MS);
      const { connection: onDevice1, closes } = await connectionOnNode2(store, uid, now);
      const onDevice2 = { ...onDevice1, deviceFlag: 2, connId: 8 };
      await store.putConnection(onDevice2);
      const key = layout.user(uid).user;
      const buckets = layout.indexBuckets(2, '1');
      expect(await host.command(['HGET', key, 'n'])).toBe('2');
      expect(await host.command(['SMEMBERS', buckets])).toEqual(['0']);

      const quit = await store.kick(
        kickOf(uid, now, { deviceFlag: 1, require: { user: true, device: true }, closes }),
      );
      expect(quit).toEqual({
        applied: true,
        connections: [onDevice1, onDevice2],
        closesAnnounced: true,
        recordsDropped: true,
      });
      expect(await store.listConnections(uid)).toEqual([onDevice2]);
      expect(await host.command(['HGET', key, `2:${(7).toString(36)}`])).toBeNull();
      expect(await host.command(['HGET', key, 'n'])).toBe('1');
      expect(Number(await host.command(['PTTL', key]))).toBe(-1);
      expect(await host.command(['HGET', layout.indexBucket(2, '1', 0), '7'])).toBeNull();
      expect(await host.command(['HGET', layout.indexBucket(2, '1', 0), '8'])).toBe(uid);

      const all = await store.kick(kickOf(uid, now + 1, { closes }));
      expect(all).toEqual({
        applied: true,
        connections: [onDevice2],
        closesAnnounced: true,
        recordsDropped: true,
      });
      expect(await store.listConnections(uid)).toEqual([]);
      expect(await host.command(['SMEMBERS', buckets])).toEqual([]);
      expect(await host.command(['HGET', key, 'n'])).toBeNull();
      expect(Number(await host.command(['PTTL', key]))).toBeGreaterThan(9 * MINUTE_MS);
    });

    it("an engine's kick: the records go with the kick's script and their index entries after it; the engine deletes only its own connection the store had lost", async () => {
      const counted = countingClient(host.client);
      const store = open(counted.client);
      const engine = new Evict({ store });
      engines.push(engine);
      await engine.ready();
      await engine.addUser('alice');
      const closes: number[] = [];
      const register = (deviceFlag: number) =>
        engine.registerConnection({ uid: 'alice', deviceFlag, close: ({ code }) => closes.push(code) });
      const onFile = await register(0);
      const lost = await register(1);
      // Its write lost (a failover, say): held here, not on file.
      expect(await store.deleteConnection('alice', lost.nodeId, lost.connId)).toBe(true);
      const deletes = vi.spyOn(store, 'deleteConnections');
      counted.sent.length = 0;
      expect((await engine.kickUser('alice')).connectionsClosed).toBe(2);
      expect(closes).toEqual([4001, 4001]);
      expect(deletes.mock.calls).toEqual([[[{ uid: 'alice', nodeId: lost.nodeId, connId: lost.connId }]]]);
      // The kick, the index entries of the one it dropped, then the lost one's deletion (found gone);
      // a heartbeat may fall between them.
      const scriptNamed = new Map(SCRIPTS.map((script) => [script.sha, script.name]));
      const scripts = counted.sent
        .filter(([name]) => name === 'EVALSHA')
        .map(([, sha]) => scriptNamed.get(sha!));
      expect(scripts.filter((name) => name !== 'heartbeatNode')).toEqual([
        'kick',
        'unindexConnections',
        'deleteConnections',
      ]);
      expect(await store.listConnections('alice')).toEqual([]);
      expect(onFile.connId).not.toBe(lost.connId);
    });

    it('starts an expired user afresh, as raiseCutoff does, when no user is required', async () => {
      let now = Date.now();
      const store = open(host.client, { nowMs: () => now });
      await store.raiseCutoff('lapsed', null, { atMs: now + 50, reason: 'kicked' }, now + 1_000);
      now += 1_500;
      expect(await store.kick(kickOf('lapsed', now))).toEqual({ applied: false, missing: 'user' });
      const result = await store.kick(kickOf('lapsed', now, { require: { user: false, device: false } }));
      expect(result).toEqual({ applied: true, connections: [] });
      expect(await store.getUser('lapsed')).toEqual({
        uid: 'lapsed',
        cutoff: { atMs: now, reason: 'kicked' },
        deviceCutoffs: {},
        devices: {},
        expiresAtMs: now + 10 * MINUTE_MS,
      });
    });

    it('costs the engine one round trip per kick and per device quit (the Redis commands it sends)', async () => {
      const counted = countingClient(host.client);
      const engine = new Evict({ store: open(counted.client) });
      engines.push(engine);
      await engine.ready();
      await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
      // Loads the script (EVALSHA, then EVAL on NOSCRIPT) before counting.
      await engine.kickUser('alice');
      await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
      for (const kick of [
        () => engine.kickUser('alice'),
        () => engine.quitDevice('alice', 'all'),
        () => engine.quitDevice('alice', 1).catch(() => undefined),
      ]) {
        counted.sent.length = 0;
        await kick();
        expect(counted.sent.map(([name]) => name)).toEqual(['EVALSHA']);
      }
    });

    it('gives the engine the same answers as the memory store, step by step', async () => {
      const closed: Record<string, ConnectionCloseInfo[]> = { memory: [], redis: [] };
      const run = async (engine: Evict, name: 'memory' | 'redis') => {
        const answers: string[] = [];
        const uid = `steps-${randomUUID()}`;
        const record = async (call: Promise<{ connectionsClosed: number }>) => {
          answers.push(await outcome(call));
        };
        await record(engine.quitDevice(uid, 'all'));
        await record(engine.kickUser(uid));
        for (const flag of [1, 2, 3, 6]) await engine.issueSession({ uid, deviceFlag: flag });
        await engine.registerConnection({ uid, deviceFlag: 4, close: (info) => closed[name]!.push(info) });
        await record(engine.quitDevice(uid, 2)); // a live session
        await record(engine.quitDevice(uid, 2)); // its session is cut off now
        await record(engine.quitDevice(uid, 4)); // a connection only, closed
        await record(engine.quitDevice(uid, 4)); // gone
        await record(engine.quitDevice(uid, 5)); // never seen
        await record(engine.kickUser(uid));
        await record(engine.quitDevice(uid, 1)); // cut off by the kick
        await engine.issueSession({ uid, deviceFlag: 6 });
        await record(engine.quitDevice(uid, 6)); // a session issued after the kick
        await record(engine.quitDevice(uid, 3)); // cut off by the kick
        await record(engine.quitDevice(uid, 'all'));
        return answers;
      };
      const memory = new Evict({ store: new MemoryStore() });
      const redis = new Evict({ store: open() });
      engines.push(memory, redis);
      await redis.ready();
      const expected = await run(memory, 'memory');
      expect(expected).toEqual([
        'EVICT_UNKNOWN_USER',
        'EVICT_UNKNOWN_USER',
        'ok, 0 closed',
        'EVICT_DEVICE_NOT_FOUND',
        'ok, 1 closed',
        'EVICT_DEVICE_NOT_FOUND',
        'EVICT_DEVICE_NOT_FOUND',
        'ok, 0 closed',
        'EVICT_DEVICE_NOT_FOUND',
        'ok, 0 closed',
        'EVICT_DEVICE_NOT_FOUND',
        'ok, 0 closed',
      ]);
      expect(await run(redis, 'redis')).toEqual(expected);
      expect(closed.redis).toEqual(closed.memory);
    });

    it("asks the host's userExists instead of the store, and then checks only the device", async () => {
      const known = new Set(['hosted']);
      const engine = new Evict({ store: open(), userExists: (uid) => known.has(uid) });
      engines.push(engine);
      await engine.ready();
      await engine.issueSession({ uid: 'not-hosted', deviceFlag: 1 });
      expect(await outcome(engine.kickUser('not-hosted'))).toBe('EVICT_UNKNOWN_USER');
      expect((await engine.store.getUser('not-hosted'))?.cutoff).toBeUndefined();
      expect(await outcome(engine.quitDevice('hosted', 1))).toBe('EVICT_DEVICE_NOT_FOUND');
      expect(await engine.store.getUser('hosted')).toBeUndefined();
      expect(await outcome(engine.kickUser('hosted'))).toBe('ok, 0 closed');
      expect((await engine.store.getUser('hosted'))?.cutoff?.reason).toBe('kicked');
    });

    it('tells the other node of the kick before asking it to close its connection, and drops the record', async () => {
      const one = new Evict({ store: open(), nodeId: 1 });
      const twoStore = open();
      const two = new Evict({ store: twoStore, nodeId: 2 });
      engines.push(one, two);
      const heard: string[] = [];
      twoStore.subscribe((m) => heard.push(m.type));
      await Promise.all([one.ready(), two.ready()]);
      const { token } = await two.issueSession({ uid: 'remote', deviceFlag: 1 });
      const closes: ConnectionCloseInfo[] = [];
      await two.registerConnection({ uid: 'remote', deviceFlag: 1, close: (info) => closes.push(info) });
      expect((await two.check({ type: 'session', token })).ok).toBe(true);
      const result = await one.kickUser('remote');
      expect(result.connectionsClosed).toBe(1);
      // Acknowledged: node 2 rejects the token from here on (its cache was dropped by the message).
      await waitFor('node 2 to hear the kick', () => heard.includes('revoked'));
      expect(await two.check({ type: 'session', token })).toMatchObject({ ok: false, reason: 'kicked' });
      await waitFor('the close on node 2', () => closes.length === 1);
      expect(closes).toEqual([{ code: 4001, reason: 'kicked' }]);
      expect(heard).toEqual(['revoked', 'close-connections']);
      expect(await one.store.listConnections('remote')).toEqual([]);
    });
  });
}
