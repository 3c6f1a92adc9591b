/**
 * The store on node-redis's Sentinel client (`createSentinel`), through a failover: a primary, two
 * replicas and three Sentinels of the test's own. Before the failover: revocations confirmed by a
 * replica (`waitForReplicas`), cluster messages heard. Then kicks go on while the primary is
 * SIGKILLed: the link reports down, then up once the Sentinels promoted a replica and the client
 * moved to it; messages are heard again, kicks are confirmed again, and every kick that was
 * acknowledged is on the new primary. Needs the `redis-server` binary.
 */
import type { ClusterMessage } from '@evict/core';
import { runStoreConformance } from '@evict/core/testing';
import { Redis } from 'ioredis';
import { createSentinel } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../../../test/support/demo-process.js';
import { randomPrefix } from '../../../test/support/redis.js';
import { describeWithRedisServer, OwnRedis, OwnSentinel } from '../../../test/support/redis-server.js';
import { RedisStore } from '../src/index.js';
import { KeyLayout } from '../src/keys.js';
import type { RedisClient } from '../src/redis-commands.js';
import { kickOf, outcomeOf } from './kicks.js';

const NAME = 'evictsentinel';
const MINUTE_MS = 60_000;
const WAIT_TIMEOUT_MS = 500;

describeWithRedisServer('RedisStore on a node-redis Sentinel client, through a failover', () => {
  let primary: OwnRedis;
  const replicas: OwnRedis[] = [];
  const sentinels: OwnSentinel[] = [];
  let sentinel: ReturnType<typeof createSentinel>;
  const conformancePrefix = randomPrefix();

  beforeAll(async () => {
    primary = new OwnRedis(await freePort(), false);
    await primary.start();
    for (let i = 0; i < 2; i += 1) {
      const replica = new OwnRedis(await freePort(), false, [
        '--replicaof',
        '127.0.0.1',
        String(primary.port),
      ]);
      await replica.start();
      replicas.push(replica);
    }
    for (let i = 0; i < 3; i += 1)
      sentinels.push(
        new OwnSentinel(await freePort(), NAME, primary.port, {
          quorum: 2,
          downAfterMs: 1_000,
          failoverTimeoutMs: 5_000,
        }),
      );
    // Both replicas online at the primary, acknowledging its writes.
    const onPrimary = new Redis(primary.port, '127.0.0.1');
    try {
      await waitFor(
        'both replicas to acknowledge',
        async () => Number(await onPrimary.call('WAIT', '2', '200')) === 2,
        10_000,
      );
    } finally {
      onPrimary.disconnect();
    }
    await Promise.all(sentinels.map((s) => s.start()));
    await waitFor(
      'the Sentinels to see both replicas and each other',
      async () => {
        for (const s of sentinels) {
          const state = await s.primaryState();
          if (Number(state['num-slaves']) < 2 || Number(state['num-other-sentinels']) < 2) return false;
        }
        return true;
      },
      30_000,
    );
    sentinel = createSentinel({
      name: NAME,
      sentinelRootNodes: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    });
    sentinel.on('error', () => undefined);
    await sentinel.connect();
  }, 60_000);

  afterAll(async () => {
    await sentinel?.close().catch(() => sentinel?.destroy());
    await Promise.all([...sentinels, ...replicas, primary].map((server) => server?.remove()));
  });

  // Every store operation through the Sentinel client, before anything fails. The longest cases
  // (the sweep's) make hundreds of round trips through one pooled connection beside six servers of
  // the file's own: on a loaded machine they passed 20 s once.
  describe('the conformance suite', { timeout: 60_000 }, () => {
    runStoreConformance(
      'RedisStore (node-redis Sentinel)',
      (clock) =>
        new RedisStore({ client: sentinel as unknown as RedisClient, prefix: conformancePrefix, clock }),
      { describe, it, expect, beforeEach, afterEach },
      { sharedBackend: true },
    );
  });

  it('confirms revocations on a replica, hears messages, and follows the promoted replica', async () => {
    const prefix = randomPrefix();
    const keys = new KeyLayout(prefix);
    const client = sentinel as unknown as RedisClient;
    const store = new RedisStore({
      client,
      prefix,
      waitForReplicas: { replicas: 1, timeoutMs: WAIT_TIMEOUT_MS },
    });
    const listener = new RedisStore({ client, prefix });
    expect(store.clientKind).toBe('node-redis-sentinel');
    const links: boolean[] = [];
    listener.onLinkChange((up) => links.push(up));
    const heard: ClusterMessage[] = [];
    listener.subscribe((message) => heard.push(message));
    try {
      await Promise.all([store.ready(), listener.ready()]);
      const now = Date.now();
      // Confirmed by a replica before it is acknowledged: each replica holds the kick, or will.
      expect((await store.kick(kickOf('before', now))).applied).toBe(true);
      const onReplicas = replicas.map((r) => new Redis(r.port, '127.0.0.1', { maxRetriesPerRequest: 0 }));
      try {
        const held = await Promise.all(onReplicas.map((r) => r.hget(keys.user('before').user, 'c')));
        expect(held.some((cutoff) => cutoff?.startsWith(String(now)))).toBe(true);
      } finally {
        for (const r of onReplicas) r.disconnect();
      }
      // Scripts, scans, pipelines: a session round trip, a revocation, a listing.
      const session = {
        tokenHash: 'sentinel-h',
        uid: 'before',
        deviceFlag: 1,
        issuedAtMs: now - 1,
        expiresAtMs: now + MINUTE_MS,
        retainUntilMs: now + MINUTE_MS,
        lastSeenAtMs: now - 1,
      };
      await store.putSession(session);
      expect((await store.listSessions('before')).map((s) => s.tokenHash)).toEqual(['sentinel-h']);
      expect((await store.revokeSession('sentinel-h', now + 1))?.tokenHash).toBe('sentinel-h');
      await store.publish({ type: 'revoked', uid: 'm1', fromNodeId: 9 });
      await waitFor('the first message', async () => heard.some((m) => 'uid' in m && m.uid === 'm1'), 5_000);

      // Kicks all along, while the primary is killed and a replica promoted.
      const acknowledged: { uid: string; atMs: number }[] = [];
      const outcomes: Record<string, number> = {};
      let stop = false;
      const stream = (async () => {
        for (let i = 0; !stop; i += 1) {
          const uid = `during-${i}`;
          const atMs = Date.now();
          const started = performance.now();
          const result = await outcomeOf(store.kick(kickOf(uid, atMs)));
          // storeTimeoutMs is the engine's: here the store's own call must not hang either.
          expect(performance.now() - started).toBeLessThan(20_000);
          outcomes[result] = (outcomes[result] ?? 0) + 1;
          if (result === 'ok') acknowledged.push({ uid, atMs });
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killedAt = Date.now();
      await primary.kill();
      await waitFor('the link to be reported down', async () => links.includes(false), 10_000);
      await waitFor(
        'the Sentinels to promote a replica',
        async () => Number((await sentinels[0]!.primaryState()).port) !== primary.port,
        30_000,
      );
      await waitFor('the link to be reported up again', async () => links.at(-1) === true, 30_000);
      const promoted = Number((await sentinels[0]!.primaryState()).port);
      expect(replicas.map((r) => r.port)).toContain(promoted);
      // Messages flow through the new primary.
      await store.publish({ type: 'revoked', uid: 'm2', fromNodeId: 9 });
      await waitFor(
        'a message after the failover',
        async () => heard.some((m) => 'uid' in m && m.uid === 'm2'),
        10_000,
      );
      // Confirmed again once the other replica follows the new primary (the Sentinels reconfigure it).
      await waitFor(
        'a kick confirmed by a replica of the new primary',
        async () => (await outcomeOf(store.kick(kickOf('after', Date.now())))) === 'ok',
        30_000,
      );
      stop = true;
      await stream;
      const recoveredMs = Date.now() - killedAt;

      // Nothing acknowledged is missing from the new primary.
      const onPromoted = new Redis(promoted, '127.0.0.1');
      try {
        expect(await onPromoted.hget(keys.user('before').user, 'c')).toContain(String(now));
        const lost: string[] = [];
        for (const { uid, atMs } of acknowledged) {
          const cutoff = await onPromoted.hget(keys.user(uid).user, 'c');
          if (cutoff === null || Number(cutoff.split(' ')[0]) < atMs) lost.push(uid);
        }
        expect(lost).toEqual([]);
      } finally {
        onPromoted.disconnect();
      }
      expect(acknowledged.length).toBeGreaterThan(0);
      console.log(
        `sentinel failover: kicks ${JSON.stringify(outcomes)}, ${acknowledged.length} acknowledged, 0 lost; link ${links.join(' → ')}; serving again ${recoveredMs} ms after the kill`,
      );
    } finally {
      await store.close();
      await listener.close();
    }
  }, 90_000);
});
