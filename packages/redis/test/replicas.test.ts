/**
 * `waitForReplicas`: a revocation is acknowledged only once replicas confirmed it. The test runs its
 * own primary and replica (`redis-server --replicaof`), and stops the replica (SIGSTOP) to see a
 * revocation that cannot be confirmed fail with EVICT_STORE_NOT_REPLICATED instead of a false "ok".
 * Each case runs on ioredis and on node-redis. Needs the `redis-server` binary.
 */
import { createEvict, type Evict } from '@evict/core';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, waitFor } from '../../../test/support/demo-process.js';
import { describeRedis, randomPrefix } from '../../../test/support/redis.js';
import { describeWithRedisServer, OwnRedis } from '../../../test/support/redis-server.js';
import { RedisStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import type { RedisClient } from '../src/redis-commands.js';
import { CLIENT_LIBRARIES, type ClientLibrary } from './clients.js';
import { connectionOnNode2, kickOf, outcomeOf } from './kicks.js';

const MINUTE_MS = 60_000;
const WAIT_TIMEOUT_MS = 300;

describeWithRedisServer(
  'waitForReplicas on a primary with one replica of its own',
  () => {
    let primary: OwnRedis;
    let replica: OwnRedis;
    let onReplica: Redis;
    const hostClients: (() => Promise<unknown>)[] = [];

    async function clientOf(library: ClientLibrary): Promise<RedisClient> {
      if (library === 'ioredis') {
        const client = new Redis(primary.url, { maxRetriesPerRequest: 1 });
        client.on('error', () => undefined);
        hostClients.push(() => client.quit());
        return client;
      }
      const client = createClient({ url: primary.url });
      client.on('error', () => undefined);
      await client.connect();
      hostClients.push(() => client.close());
      return client as unknown as RedisClient;
    }

    beforeAll(async () => {
      primary = new OwnRedis(await freePort(), false);
      await primary.start();
      replica = new OwnRedis(await freePort(), false, ['--replicaof', '127.0.0.1', String(primary.port)]);
      await replica.start();
      onReplica = new Redis(replica.url);
      await waitFor(
        'the replica to sync',
        async () => (await onReplica.info('replication')).includes('master_link_status:up'),
        10_000,
      );
    });

    afterAll(async () => {
      replica?.resume();
      onReplica?.disconnect();
      await Promise.all(hostClients.map((close) => close().catch(() => undefined)));
      await replica?.remove();
      await primary?.remove();
    });

    it('rejects a wrong waitForReplicas at construction, naming it', async () => {
      const client = await clientOf('ioredis');
      for (const waitForReplicas of [
        { replicas: 0, timeoutMs: 100 },
        { replicas: 1, timeoutMs: 0 },
        { replicas: 1.5, timeoutMs: 100 },
        null,
      ])
        expect(() => new RedisStore({ client, waitForReplicas } as never)).toThrow(/waitForReplicas/);
    });

    it.each(CLIENT_LIBRARIES)(
      '%s: every revocation waits for the replica; stopped, each one fails with EVICT_STORE_NOT_REPLICATED',
      async (library) => {
        const prefix = randomPrefix();
        const keys = new KeyLayout(prefix);
        const client = await clientOf(library);
        const store = new RedisStore({
          client,
          prefix,
          waitForReplicas: { replicas: 1, timeoutMs: WAIT_TIMEOUT_MS },
        });
        const primaryOnly = new RedisStore({ client, prefix });
        try {
          await store.ready();
          const now = Date.now();
          const uid = `ack-${library}`;
          const session = {
            tokenHash: `h-${library}`,
            uid,
            deviceFlag: 1,
            issuedAtMs: now - 1,
            expiresAtMs: now + MINUTE_MS,
            retainUntilMs: now + MINUTE_MS,
            lastSeenAtMs: now - 1,
          };
          await store.putSession(session);

          // Confirmed: the replica holds the kick the moment it is acknowledged.
          expect((await store.kick(kickOf(uid, now))).applied).toBe(true);
          expect(await onReplica.hget(keys.user(uid).user, 'c')).toContain(String(now));
          expect(await store.revokeSession(session.tokenHash, now + 1)).toMatchObject({
            tokenHash: session.tokenHash,
          });
          const sessionKey = keys.session(session.tokenHash);
          const onPrimary = new Redis(primary.url);
          try {
            expect(await onReplica.get(sessionKey)).toBe(await onPrimary.get(sessionKey));
          } finally {
            onPrimary.disconnect();
          }

          replica.pause();
          try {
            const started = performance.now();
            expect(await outcomeOf(store.kick(kickOf(uid, now + 2)))).toBe('EVICT_STORE_NOT_REPLICATED');
            const waitedMs = performance.now() - started;
            expect(waitedMs).toBeGreaterThanOrEqual(WAIT_TIMEOUT_MS - 5);
            expect(waitedMs).toBeLessThan(WAIT_TIMEOUT_MS + 2_000);
            const cutoff = { atMs: now + 3, reason: 'kicked' as const };
            expect(await outcomeOf(store.raiseCutoff(uid, 1, cutoff, now + MINUTE_MS))).toBe(
              'EVICT_STORE_NOT_REPLICATED',
            );
            expect(await outcomeOf(store.revokeSession(session.tokenHash, now + 4))).toBe(
              'EVICT_STORE_NOT_REPLICATED',
            );
            // The default: the primary's word is enough, replica or not.
            expect(await outcomeOf(primaryOnly.kick(kickOf(uid, now + 5)))).toBe('ok');
          } finally {
            replica.resume();
          }
          // A login policy pushing a session out waits for the replica too.
          const admission = { deviceClass: 'phone', classLimit: 1, refuse: false, fromNodeId: 1 };
          const governed = (n: number) => ({ ...session, tokenHash: `g${n}-${library}`, uid: `${uid}-g` });
          expect(await store.admitSession(governed(1), admission)).toMatchObject({
            admitted: true,
            replaced: [],
          });
          replica.pause();
          try {
            expect(await outcomeOf(store.admitSession(governed(2), admission))).toBe(
              'EVICT_STORE_NOT_REPLICATED',
            );
          } finally {
            replica.resume();
          }
          // Back: the retry of a kick that was not confirmed is.
          expect((await store.kick(kickOf(uid, now + 6))).applied).toBe(true);
          expect(await onReplica.hget(keys.user(uid).user, 'c')).toContain(String(now + 6));
        } finally {
          await store.close();
          await primaryOnly.close();
        }
      },
    );

    it('with waitForReplicas, a kick leaves the close-connections messages to the engine, which publishes them once the replica confirmed; without, the kick script publishes them', async () => {
      const client = await clientOf('ioredis');
      const prefix = randomPrefix();
      const store = new RedisStore({ client, prefix, waitForReplicas: { replicas: 1, timeoutMs: 1_000 } });
      const primaryOnly = new RedisStore({ client, prefix });
      const heard: string[] = [];
      primaryOnly.subscribe((message) => heard.push(message.type));
      try {
        await Promise.all([store.ready(), primaryOnly.ready()]);
        const now = Date.now();
        const uid = 'told-after-replicas';
        const { connection, closes } = await connectionOnNode2(store, uid, now);
        const confirmed = await store.kick({ ...kickOf(uid, now), closes });
        expect(confirmed).toEqual({ applied: true, connections: [connection] });
        await primaryOnly.publish({ type: 'revoked', uid: 'marker', fromNodeId: 1 });
        await waitFor('the marker', () => heard.length === 2);
        expect(heard).toEqual(['revoked', 'revoked']);
        // Left on file by the kick whose closes wait for the replicas (the engine drops it after).
        expect(await primaryOnly.kick({ ...kickOf(uid, now + 1), closes })).toEqual({
          applied: true,
          connections: [connection],
          closesAnnounced: true,
          recordsDropped: true,
        });
        expect(await primaryOnly.listConnections(uid)).toEqual([]);
        await waitFor('the kick and its close', () => heard.length === 4);
        expect(heard.slice(2)).toEqual(['revoked', 'close-connections']);
      } finally {
        await store.close();
        await primaryOnly.close();
      }
    });

    it('a WAIT sent after the connection dropped confirms nothing: the kick answers EVICT_STORE_NOT_REPLICATED', async () => {
      const client = new Redis(primary.url, { maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      hostClients.push(() => client.quit());
      const store = new RedisStore({
        client,
        prefix: randomPrefix(),
        waitForReplicas: { replicas: 1, timeoutMs: WAIT_TIMEOUT_MS },
      });
      try {
        await store.ready();
        expect(await outcomeOf(store.kick(kickOf('drop', Date.now())))).toBe('ok');
        // The connection drops between the kick's write and its WAIT: ioredis sends the WAIT on the
        // next connection, which wrote nothing, so its count says nothing of the kick.
        const call = client.call.bind(client) as (...args: string[]) => Promise<unknown>;
        let dropped = 0;
        (client as unknown as { call: typeof call }).call = (...args: string[]) => {
          if (args[0] === 'WAIT' && dropped === 0) {
            dropped += 1;
            client.disconnect(true);
          }
          return call(...args);
        };
        expect(await outcomeOf(store.kick(kickOf('drop', Date.now())))).toBe('EVICT_STORE_NOT_REPLICATED');
        expect(dropped).toBe(1);
        // The next one, on one connection, is confirmed.
        expect(await outcomeOf(store.kick(kickOf('drop', Date.now())))).toBe('ok');
      } finally {
        await store.close();
      }
    });

    it('the engine answers a kick no replica confirmed with EVICT_STORE_NOT_REPLICATED, a store failure', async () => {
      const client = await clientOf('ioredis');
      const store = new RedisStore({
        client,
        prefix: randomPrefix(),
        waitForReplicas: { replicas: 1, timeoutMs: WAIT_TIMEOUT_MS },
      });
      const engine: Evict = createEvict({ nodeId: 1, store, storeTimeoutMs: 5_000 });
      try {
        await engine.ready();
        const { token } = await engine.issueSession({ uid: 'engine-ack', deviceFlag: 1 });
        expect((await engine.check({ type: 'session', token })).ok).toBe(true);
        replica.pause();
        try {
          expect(await outcomeOf(engine.kickUser('engine-ack'))).toBe('EVICT_STORE_NOT_REPLICATED');
        } finally {
          replica.resume();
        }
        // Applied on the primary all the same: the guard rejects the token, and a retry is confirmed.
        expect((await engine.check({ type: 'session', token })).ok).toBe(false);
        expect(await outcomeOf(engine.kickUser('engine-ack'))).toBe('ok');
      } finally {
        await engine.close();
        await store.close();
      }
    });

    it('a logout no replica confirmed still reaches every node: none goes on accepting the session', async () => {
      const prefix = randomPrefix();
      const clients = [0, 1].map(() => new Redis(primary.url, { maxRetriesPerRequest: 1 }));
      const stores = clients.map(
        (client) =>
          new RedisStore({ client, prefix, waitForReplicas: { replicas: 1, timeoutMs: WAIT_TIMEOUT_MS } }),
      );
      const [a, b] = stores.map((store, i) => createEvict({ nodeId: i + 1, store, storeTimeoutMs: 5_000 }));
      try {
        await Promise.all([a!.ready(), b!.ready()]);
        const { token } = await a!.issueSession({ uid: 'logout-ack', deviceFlag: 1 });
        const credential = { type: 'session' as const, token };
        // Cached by node 2.
        expect((await b!.check(credential)).ok).toBe(true);
        expect((await b!.check(credential)).ok).toBe(true);
        replica.pause();
        try {
          expect(await outcomeOf(a!.logout(token))).toBe('EVICT_STORE_NOT_REPLICATED');
        } finally {
          replica.resume();
        }
        await waitFor(
          'node 2 to reject the logged-out session',
          async () => !(await b!.check(credential)).ok,
          2_000,
        );
      } finally {
        await Promise.all([a!.close(), b!.close()]);
        await Promise.all(stores.map((store) => store.close()));
        for (const client of clients) client.disconnect();
      }
    });
  },
  describeRedis,
);
