/**
 * A login policy across two demo processes on one Redis (issue 14): logins racing on both nodes
 * leave exactly the policy's limit, and the sockets of every session pushed out close on whichever
 * node holds them. Needs the build and Redis (`REDIS_URL`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoNode, requireBuilt, startDemoNode, startRedisPair } from './support/demo-process.js';
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

describe.each(['express', 'koa', 'nestjs'] as const)('the %s demo under a refuse-new policy', (framework) => {
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
});
