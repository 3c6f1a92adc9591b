/**
 * A login policy across two demo processes on one Redis (issue 14): logins racing on both nodes
 * leave exactly the policy's limit, and the sockets of every session pushed out close on whichever
 * node holds them. Needs the build and Redis (`REDIS_URL`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoNode, requireBuilt, startDemoNode, startRedisPair } from './support/demo-process.js';
import { MANAGER_TOKEN } from './support/fixtures.js';
import { describeRedis } from './support/redis.js';

const LIMIT = 3;
let users = 0;
const newUid = () => `policy${process.pid}u${++users}`;

describeRedis('a login policy on two demo processes sharing one Redis', () => {
  let a: DemoNode;
  let b: DemoNode;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, stop } = await startRedisPair({
      EVICT_LOGIN_POLICY: 'openim:1',
      EVICT_MAX_SESSIONS: String(LIMIT),
    }));
  });

  afterAll(async () => stop?.());

  it('50 concurrent logins through both nodes leave exactly the limit, and every older socket closes 4005', async () => {
    const uid = newUid();
    // Three sessions with sockets, one node each way, before the race.
    const early = [await a.login(uid, 1), await b.login(uid, 1), await a.login(uid, 1)];
    const sockets = await Promise.all(early.map((token, i) => (i % 2 === 0 ? b : a).openSocket(token)));
    const raced = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).login(uid, 1)),
    );
    for (const socket of sockets) expect(await socket.closed).toEqual({ code: 4005, reason: 'replaced' });
    const answers = await Promise.all(
      [...early, ...raced].map((token, i) => (i % 2 === 0 ? a : b).me(token)),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(LIMIT);
    for (const answer of answers.filter((x) => x.status !== 200))
      expect(answer.json).toMatchObject({ error: 'unauthorized', reason: 'replaced' });
    // Another platform is left alone.
    expect((await b.me(await a.login(uid, 2))).status).toBe(200);
  });
});

describeRedis("WuKongIM's device levels at connect, on two demo processes sharing one Redis", () => {
  let a: DemoNode;
  let b: DemoNode;
  let stop: (() => Promise<void>) | undefined;
  const setToken = (node: DemoNode, body: Record<string, unknown>) =>
    node.call('POST', '/user/token', { headers: { token: MANAGER_TOKEN }, body });

  beforeAll(async () => {
    ({ a, b, stop } = await startRedisPair({ EVICT_MANAGER_TOKEN: MANAGER_TOKEN }));
  });

  afterAll(async () => stop?.());

  it('20 sockets of one master token racing through both nodes, each another device: exactly one stays, the rest are told and closed 4005', async () => {
    const uid = newUid();
    const token = `wk-${uid}-master`;
    expect((await setToken(a, { uid, token, device_flag: 1, device_level: 1 })).status).toBe(200);
    const sockets = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).openSocket(token, `device-${i}`)),
    );
    // Every close but one: each pushed out by a later arrival, on whichever node it is.
    // Once all but one have closed (at most 3 s), a moment more for a close that should not come.
    let closes = 0;
    const allButOne = new Promise<void>((resolve) => {
      for (const socket of sockets)
        void socket.closed.then(() => ++closes === sockets.length - 1 && resolve());
    });
    await Promise.race([allButOne, new Promise((resolve) => setTimeout(resolve, 3_000))]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const settled = await Promise.all(
      sockets.map((socket) => (socket.isOpen() ? ('open' as const) : socket.closed)),
    );
    expect(settled.filter((s) => s === 'open')).toHaveLength(1);
    for (const [i, s] of settled.entries()) {
      if (s === 'open') continue;
      expect(s).toEqual({ code: 4005, reason: 'replaced' });
      // Told before its close (one pushed out while it registered is told before its hello).
      expect(sockets[i]!.messages.filter((m) => !m.includes('"hello"'))).toEqual([
        '{"type":"disconnect","reason_code":12,"reason":"login in other device"}',
      ]);
    }
    const connz = await a.call('GET', `/connz?uid=${uid}`, { headers: { token: MANAGER_TOKEN } });
    expect((connz.json as { connections: unknown[] }).connections).toHaveLength(1);
  });

  it('a slave token: a device reconnecting on the other node closes its own earlier socket, and other devices stay', async () => {
    const uid = newUid();
    const token = `wk-${uid}-slave`;
    expect((await setToken(b, { uid, token, device_flag: 1, device_level: 0 })).status).toBe(200);
    const tab1 = await a.openSocket(token, 'tab-1');
    const tab2 = await a.openSocket(token, 'tab-2');
    const again = await b.openSocket(token, 'tab-1');
    expect(await tab1.closed).toEqual({ code: 4005, reason: 'replaced' });
    expect(tab1.messages.filter((m) => !m.includes('"hello"'))).toEqual([]);
    expect(tab2.isOpen() && again.isOpen()).toBe(true);
  });
});

describe.each(['express', 'koa', 'nestjs', 'fastify', 'hono'] as const)(
  'the %s demo under a refuse-new policy',
  (framework) => {
    let node: DemoNode | undefined;
    afterAll(async () => node?.stop());

    it('answers a login past the limit 409 with a reason, and the session on file stays the only one', async () => {
      requireBuilt(framework);
      node = await startDemoNode(framework, 1, {
        DEMO_SEED: '0',
        EVICT_LOGIN_POLICY: 'openim:1',
        EVICT_LOGIN_ON_EXCEED: 'refuse-new',
      });
      const first = await node.login('anna', 1);
      const refused = await node.call('POST', '/login', { body: { uid: 'anna', device_flag: 1 } });
      expect(refused.status).toBe(409);
      expect(refused.json).toMatchObject({ error: 'login_refused', reason: 'session_limit' });
      expect((await node.me(first)).status).toBe(200);
      const sessions = await node.call('GET', '/sessions', { headers: { token: first } });
      expect((sessions.json as { sessions: unknown[] }).sessions).toHaveLength(1);
    });
  },
);
