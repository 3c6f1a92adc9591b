/**
 * Redis dies mid-run and comes back. The test runs its own `redis-server` (persisting with the
 * append-only file, fsync on every write: without it a restart may forget acknowledged kicks) and
 * two demo processes on it. While Redis is down the admin endpoints answer their internal errors
 * quickly and the guard fails closed; once it is back no node accepts a credential revoked before.
 * Needs the build and the `redis-server` binary.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type DemoNode,
  freePort,
  requireBuilt,
  sleep,
  startDemoNode,
  waitFor,
} from './support/demo-process.js';
import { describeRedis, randomPrefix } from './support/redis.js';
import { describeWithRedisServer, OwnRedis } from './support/redis-server.js';

/** The demos' storeTimeoutMs here: every answer while Redis is down must come well within it. */
const STORE_TIMEOUT_MS = 1_000;

describeWithRedisServer(
  'Redis restarts under two demo processes',
  () => {
    let redis: OwnRedis;
    let a: DemoNode;
    let b: DemoNode;

    beforeAll(async () => {
      requireBuilt('express', 'koa');
      redis = new OwnRedis(await freePort(), true);
      await redis.start();
      const env = {
        REDIS_URL: redis.url,
        EVICT_REDIS_PREFIX: randomPrefix(),
        EVICT_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
        DEMO_SEED: '0',
      };
      [a, b] = await Promise.all([startDemoNode('express', 1, env), startDemoNode('koa', 2, env)]);
    });

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis?.remove();
    });

    it('keeps acknowledged kicks, answers errors (not hangs) while down, and fails closed', async () => {
      const uid = `restart${process.pid}`;
      const before = await a.login(uid, 0);
      // Both guards have the session cached.
      for (const node of [a, b])
        for (let i = 0; i < 2; i += 1) expect((await node.me(before)).status).toBe(200);
      expect((await a.tencentKick(uid)).json).toEqual({ ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' });
      await waitFor(
        'node 2 to reject the kicked token',
        async () => (await b.me(before)).status === 401,
        1_000,
      );
      // Issued after the kick, cached by both nodes.
      const after = await b.login(uid, 0);
      for (const node of [a, b]) expect((await node.me(after)).status).toBe(200);

      await redis.kill();

      // The guard fails closed on both nodes, for any token, once each node saw its link drop.
      for (const node of [a, b]) {
        await waitFor(
          `node ${node.nodeId} to fail closed`,
          async () => (await node.me(after)).status === 503,
          STORE_TIMEOUT_MS * 3,
        );
        for (const token of [after, before, 'never-issued']) {
          const answer = await node.me(token);
          expect(answer.status).toBe(503);
          expect(answer.json).toMatchObject({ error: 'unauthorized', reason: 'unavailable' });
        }
      }
      // The admin endpoints answer their internal errors, promptly.
      const quit = await a.call('POST', '/user/device_quit', { body: { uid }, timeoutMs: 5_000 });
      expect(quit.status).toBe(500);
      expect(quit.json).toEqual({ msg: expect.any(String), status: 500 });
      expect(quit.ms).toBeLessThan(5_000);
      const kick = await b.tencentKick(uid);
      expect(kick.json).toMatchObject({ ActionStatus: 'FAIL' });
      expect([70169, 70500]).toContain(kick.json.ErrorCode);
      expect(kick.ms).toBeLessThan(5_000);
      const logout = await a.call('POST', '/v1/api/user/logout', {
        body: { username: uid, token: after },
        timeoutMs: 5_000,
      });
      expect(logout.status).toBe(500);
      expect(logout.ms).toBeLessThan(5_000);
      const remove = await b.call('POST', '/conn/remove', { body: { uid, conn_id: 1 }, timeoutMs: 5_000 });
      expect(remove.status).toBe(500);
      expect(remove.ms).toBeLessThan(5_000);
      console.log(
        `redis down: device_quit ${quit.status} in ${quit.ms.toFixed(0)} ms, Tencent kick ${kick.json.ErrorCode} in ` +
          `${kick.ms.toFixed(0)} ms, logout ${logout.status} in ${logout.ms.toFixed(0)} ms, conn/remove ${remove.status} in ${remove.ms.toFixed(0)} ms`,
      );

      await redis.start();

      // Each node answers again once it reconnected, and the kick from before is still on file.
      for (const node of [a, b]) {
        let answer = await node.me(before);
        const deadline = Date.now() + 15_000;
        while (answer.status === 503 && Date.now() < deadline) {
          await sleep(50);
          answer = await node.me(before);
        }
        expect(answer.status).toBe(401);
        expect(answer.json).toMatchObject({ reason: 'kicked' });
        expect((await node.me(after)).status).toBe(200);
      }
      // Nothing half-applied while down: the failed logout left the session live (a retry finishes it).
      const retried = await a.call('POST', '/v1/api/user/logout', { body: { username: uid, token: after } });
      expect(retried.json).toEqual({ status: 'ok' });
      await waitFor(
        'node 2 to reject the logged-out token',
        async () => (await b.me(after)).status === 401,
        1_000,
      );
      // A new login works on both.
      const fresh = await a.login(uid, 0);
      for (const node of [a, b]) expect((await node.me(fresh)).status).toBe(200);
    });
  },
  describeRedis,
);
