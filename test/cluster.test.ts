/**
 * Two real engine processes on one Redis: node 1 is the Express demo, node 2 the Koa demo (adapters
 * mix in one cluster). A revocation sent to either node reaches the guard and the sockets of the
 * other. Needs the build (the root `test` script builds first) and Redis (`REDIS_URL`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DemoNode, sleep, startDemoNode, startRedisPair, waitFor } from './support/demo-process.js';
import { describeRedis, REDIS_URL } from './support/redis.js';

/** Kicks per second for the app, counted on Redis: the rate-limit test spends them across both nodes. */
const RATE_LIMIT = 4;
let users = 0;
const newUid = () => `cluster${process.pid}u${++users}`;

describeRedis('a cluster of two demo processes on one Redis', () => {
  let a: DemoNode;
  let b: DemoNode;
  let stop: (() => Promise<void>) | undefined;
  /** The pair's key prefix: a third node joins their cluster with it. */
  let prefix: string;

  beforeAll(async () => {
    ({ a, b, stop, prefix } = await startRedisPair({ TENCENT_RATE_LIMIT: String(RATE_LIMIT) }));
  });

  afterAll(async () => stop?.());

  it('a kick through node 1 rejects the credential on node 2 and closes the socket node 2 holds', async () => {
    const uid = newUid();
    const token = await b.login(uid, 1);
    // Node 2's guard has the session cached from here on.
    expect((await b.me(token)).status).toBe(200);
    expect((await b.me(token)).status).toBe(200);
    const socket = await b.openSocket(token);
    expect(socket.nodeId).toBe(2);

    const kick = await a.tencentKick(uid);
    const kickedAt = performance.now();
    expect(kick.json).toEqual({ ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' });
    // The node that served the kick rejects at once.
    expect((await a.me(token)).json).toMatchObject({ error: 'unauthorized', reason: 'kicked' });
    // Node 2 once the cluster's message arrived: poll for at most about a second.
    let answer = await b.me(token);
    while (answer.status === 200 && performance.now() - kickedAt < 1_000) answer = await b.me(token);
    const staleMs = performance.now() - kickedAt;
    expect(answer.status).toBe(401);
    expect(answer.json).toMatchObject({ error: 'unauthorized', reason: 'kicked' });
    expect(await socket.closed).toEqual({ code: 4001, reason: 'kicked' });
    console.log(`cluster: node 2 rejected the kicked token ${staleMs.toFixed(1)} ms after node 1 answered`);
    // A new login works on either node.
    expect((await b.me(await a.login(uid, 1))).status).toBe(200);
  });

  it('conn/remove sent to node 2 without node_id closes the socket node 1 holds', async () => {
    const uid = newUid();
    const token = await a.login(uid);
    const socket = await a.openSocket(token);
    expect(socket.nodeId).toBe(1);
    const removed = await b.call('POST', '/conn/remove', { body: { uid, conn_id: socket.connId } });
    expect(removed.status).toBe(200);
    expect(removed.json).toEqual({ status: 'ok' });
    expect(await socket.closed).toEqual({ code: 4003, reason: 'connection_removed' });
    // The credential stays valid: the client may reconnect.
    expect((await b.me(token)).status).toBe(200);
    // Gone from the store too: a second removal finds nothing.
    const again = await b.call('POST', '/conn/remove', { body: { uid, conn_id: socket.connId } });
    expect(again.status).toBe(404);
  });

  it("conn/remove sent to node 2 with node 1's node_id closes the socket there", async () => {
    const uid = newUid();
    const token = await a.login(uid);
    const socket = await a.openSocket(token);
    const removed = await b.call('POST', '/conn/remove', {
      body: { uid, conn_id: socket.connId, node_id: 1 },
    });
    expect(removed.json).toEqual({ status: 'ok' });
    expect(await socket.closed).toEqual({ code: 4003, reason: 'connection_removed' });
  });

  it("conn/kick sent to node 2 tells node 1's socket first, then node 1 closes it after the grace (4006)", async () => {
    const uid = newUid();
    const socket = await a.openSocket(await a.login(uid));
    const told: string[] = [];
    socket.ws.on('message', (data) => told.push(String(data)));
    const sentAt = performance.now();
    const kicked = await b.call('POST', '/conn/kick', { body: { uid, conn_id: socket.connId } });
    expect(kicked.json).toEqual({ status: 'ok' });
    expect(await socket.closed).toEqual({ code: 4006, reason: 'connection_kicked' });
    const closedAfterMs = performance.now() - sentAt;
    expect(told).toEqual(['{"type":"disconnect","reason_code":12,"reason":"server kick"}']);
    // The demo's engine gives WuKongIM's 2 s (the timer's own slack aside).
    expect(closedAfterMs).toBeGreaterThanOrEqual(1_900);
    // Gone from the store at once: a second kick finds nothing.
    expect((await b.call('POST', '/conn/kick', { body: { uid, conn_id: socket.connId } })).status).toBe(404);
  });

  it('conn/remove naming the wrong node answers 404 and closes nothing', async () => {
    const uid = newUid();
    const socket = await a.openSocket(await a.login(uid));
    const removed = await b.call('POST', '/conn/remove', {
      body: { uid, conn_id: socket.connId, node_id: 2 },
    });
    expect(removed.status).toBe(404);
    expect(removed.json).toMatchObject({ status: 404 });
    await sleep(100);
    expect(socket.isOpen()).toBe(true);
    socket.ws.close();
  });

  it("device_quit through node 2 closes node 1's socket of that device, and only that device's", async () => {
    const uid = newUid();
    const app = await a.login(uid, 0);
    const web = await a.login(uid, 1);
    const appSocket = await a.openSocket(app);
    const webSocket = await a.openSocket(web);
    expect((await a.me(web)).status).toBe(200);
    const quit = await b.call('POST', '/user/device_quit', { body: { uid, device_flag: 1 } });
    expect(quit.json).toEqual({ status: 'ok' });
    expect(await webSocket.closed).toEqual({ code: 4002, reason: 'device_quit' });
    expect((await b.me(web)).json).toMatchObject({ reason: 'device_quit' });
    await waitFor('node 1 to reject the quit device', async () => (await a.me(web)).status === 401, 1_000);
    expect((await a.me(app)).status).toBe(200);
    expect(appSocket.isOpen()).toBe(true);
    appSocket.ws.close();
  });

  it("a Lancens logout through node 2 closes node 1's sockets of that session (4004), not those of the user's other session", async () => {
    const uid = newUid();
    const token = await a.login(uid, 0);
    const other = await a.login(uid, 0);
    const socket = await a.openSocket(token);
    const otherSocket = await a.openSocket(other);
    const out = await b.call('POST', '/v1/api/user/logout', { body: { username: uid, token } });
    expect(out.json).toEqual({ status: 'ok' });
    expect(await socket.closed).toEqual({ code: 4004, reason: 'session_revoked' });
    await sleep(100);
    expect(otherSocket.isOpen()).toBe(true);
    expect((await a.me(other)).status).toBe(200);
    otherSocket.ws.close();
  });

  it('a node that dies stops being listed as holding its connections once its heartbeat lapses', async () => {
    const ttlMs = 600;
    const c = await startDemoNode('express', 3, {
      REDIS_URL,
      EVICT_REDIS_PREFIX: prefix,
      DEMO_SEED: '0',
      EVICT_CONNECTION_TTL_MS: String(ttlMs),
    });
    try {
      const uid = newUid();
      const socket = await c.openSocket(await c.login(uid));
      expect(socket.nodeId).toBe(3);
      // Alive, its heartbeat keeps the connection listed past the ttl.
      await sleep(ttlMs * 1.5);
      const quit = await a.call('POST', '/user/device_quit', { body: { uid, device_flag: 0 } });
      expect(quit.json).toEqual({ status: 'ok' });
      expect(await socket.closed).toEqual({ code: 4002, reason: 'device_quit' });

      const second = await c.openSocket(await c.login(uid));
      await c.kill();
      await sleep(ttlMs + 200);
      // Dead, its connection is gone from the store: nothing to remove, nothing to count.
      const removed = await a.call('POST', '/conn/remove', { body: { uid, conn_id: second.connId } });
      expect(removed.status).toBe(404);
    } finally {
      await c.stop();
    }
  });

  it('counts the Tencent rate limit across both nodes', async () => {
    const uids = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const uid = newUid();
        await a.login(uid);
        return uid;
      }),
    );
    // Fire all six early in one one-second window, three through each node.
    await sleep(1_000 - (Date.now() % 1_000) + 20);
    const answers = await Promise.all(uids.map((uid, i) => (i % 2 === 0 ? a : b).tencentKick(uid)));
    const codes = answers.map((x) => x.json.ErrorCode as number).sort((x, y) => x - y);
    expect(codes).toEqual([0, 0, 0, 0, 60007, 60007]);
  });
});
