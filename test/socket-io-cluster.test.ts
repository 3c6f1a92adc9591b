/**
 * socket.io on two Express demo processes sharing one Redis (issue 15): a kick through node A
 * disconnects a client held by node B, which hears `evict:revoked` first; a `/conn/remove` of its
 * conn_id does the same. With `@socket.io/redis-adapter` installed and without it: evict's own
 * messages carry the close either way. Needs the build and Redis (`REDIS_URL`).
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoNode, startRedisPair } from './support/demo-process.js';
import { describeRedis } from './support/redis.js';
import { connectSocketIo } from './support/socket-io-client.js';

const clients: Socket[] = [];
const connect = (node: DemoNode, token: string) => connectSocketIo(node.base, clients, { token });

describeRedis('socket.io on two Express demo nodes on one Redis', () => {
  describe.each([
    ['without a socket.io adapter', {}],
    ['with @socket.io/redis-adapter', { EVICT_DEMO_SOCKETIO_ADAPTER: 'redis' }],
  ])('%s', (_name, env) => {
    let a: DemoNode;
    let b: DemoNode;
    let stop: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      ({ a, b, stop } = await startRedisPair(env, ['express', 'express']));
    });

    afterAll(async () => {
      for (const client of clients.splice(0)) client.disconnect();
      await stop?.();
    });

    it('a kick through node A disconnects the client on node B, which hears evict:revoked first', async () => {
      const uid = `sio${process.pid}k${Object.keys(env).length}`;
      const token = await a.login(uid, 1);
      const held = await connect(b, token);
      expect(held.hello).toMatchObject({ uid, device_flag: 1, node_id: 2 });
      expect((await a.tencentKick(uid)).text).toBe('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
      expect(await held.disconnected).toBe('io server disconnect');
      expect(held.events).toEqual([
        ['evict:revoked', { reason: 'kicked', code: 4001 }],
        ['disconnect', 'io server disconnect'],
      ]);
      // The token is revoked: a new handshake is refused, in the guard's words.
      await expect(connect(a, token)).rejects.toMatchObject({ message: 'kicked', data: { status: 401 } });
    });

    it("its conn_id works with WuKongIM's /conn/remove through the other node", async () => {
      const uid = `sio${process.pid}r${Object.keys(env).length}`;
      const held = await connect(b, await b.login(uid, 0));
      const removed = await a.call('POST', '/conn/remove', {
        body: { uid, conn_id: held.hello.conn_id, node_id: held.hello.node_id },
      });
      expect(removed.text).toBe('{"status":"ok"}');
      expect(await held.disconnected).toBe('io server disconnect');
      expect(held.events[0]).toEqual(['evict:revoked', { reason: 'connection_removed', code: 4003 }]);
    });
  });
});
