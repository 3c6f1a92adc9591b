/**
 * Logins under a login policy through a Redis kill (issue 14): two demo nodes (Express, Koa) under
 * `openim:1` with at most LIMIT sessions per platform, on a redis-server of the test's own (AOF,
 * fsync always). Users log in again and again, each through both nodes in turn, one login at a time
 * per user, while Redis is killed and restarted. Afterwards, for every user:
 *  (a) no cap exceeded: at most LIMIT of its acknowledged sessions are accepted, on every node;
 *  (b) no acknowledged login lost: its last LIMIT acknowledged logins are the ones accepted;
 *  (c) every older acknowledged session is rejected as `replaced`;
 *  (d) a login during the outage answered an error (503) within the store timeout and slack, never a
 *      hang, and any error outside it (a node still reconnecting) was a 503 too.
 * Figures go to test/faults/out/login-policy.md (FAULT_PUBLISH=1: next to this file).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DemoNode, freePort, requireBuilt } from '../support/demo-process.js';
import { randomPrefix } from '../support/redis.js';
import {
  describeWithRedisServer,
  httpCall,
  keepAliveAgent,
  now,
  OwnRedis,
  QUICK,
  sleep,
  startNode,
  writeReport,
} from './support.js';

const LIMIT = 2;
const USERS = QUICK ? 20 : 100;
const STORE_TIMEOUT_MS = 500;
/** How long an answer may take past the store timeout during the outage. */
const SLACK_MS = 1_000;

interface Login {
  uid: string;
  status: number;
  token?: string;
  sentAt: number;
  tookMs: number;
  duringOutage: boolean;
}

describeWithRedisServer('logins under a login policy through a Redis kill', () => {
  let redis: OwnRedis;
  let nodes: DemoNode[] = [];

  beforeAll(async () => {
    requireBuilt('express', 'koa');
    redis = new OwnRedis(await freePort(), true);
    await redis.start();
    const env = {
      REDIS_URL: redis.url,
      EVICT_REDIS_PREFIX: randomPrefix(),
      EVICT_LOGIN_POLICY: 'openim:1',
      EVICT_MAX_SESSIONS: String(LIMIT),
      EVICT_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      DEMO_SEED: '0',
    };
    nodes = await Promise.all([startNode('express', 1, env), startNode('koa', 2, env)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.remove();
  });

  it('leaves exactly the newest acknowledged logins of each user, and answers errors while Redis is down', async () => {
    const agent = keepAliveAgent();
    const logins: Login[] = [];
    let outage = false;
    let stop = false;
    const user = async (u: number) => {
      const uid = `fault-policy-${u}`;
      for (let i = 0; !stop; i += 1) {
        const node = nodes[(u + i) % nodes.length]!;
        const sentAt = now();
        const duringOutage = outage;
        const answer = await httpCall(agent, node.base, 'POST', '/login', {
          body: { uid, device_flag: 1 },
          timeoutMs: 5_000,
        });
        const json = answer.json as { token?: string } | undefined;

        logins.push({
          uid,
          status: answer.status,
          ...(answer.status === 200 && json?.token ? { token: json.token } : {}),
          sentAt,
          tookMs: now() - sentAt,
          duringOutage: duringOutage || outage,
        });
        await sleep(QUICK ? 20 : 10);
      }
    };
    const running = Array.from({ length: USERS }, (_, u) => user(u));
    await sleep(QUICK ? 1_000 : 3_000);
    outage = true;
    const downAt = now();
    await redis.kill();
    await sleep(QUICK ? 1_000 : 2_000);
    await redis.start();
    const upAt = now();
    outage = false;
    await sleep(QUICK ? 2_000 : 5_000);
    stop = true;
    await Promise.all(running);

    // Once every node is back (its link to Redis, its cache resynced).
    await sleep(1_000);
    const violations: string[] = [];
    let checked = 0;
    for (let u = 0; u < USERS; u += 1) {
      const uid = `fault-policy-${u}`;
      const acknowledged = logins.filter((l) => l.uid === uid && l.token !== undefined);
      const newest = new Set(acknowledged.slice(-LIMIT).map((l) => l.token));
      for (const login of acknowledged) {
        for (const node of nodes) {
          const answer = await httpCall(agent, node.base, 'GET', '/me', { headers: { token: login.token! } });
          checked += 1;
          const accepted = answer.status === 200;
          if (newest.has(login.token) && !accepted)
            violations.push(
              `${uid}: an acknowledged login among the newest ${LIMIT} answered ${answer.status} on node ${node.nodeId}`,
            );
          if (!newest.has(login.token)) {
            const reason = (answer.json as { reason?: string } | undefined)?.reason;
            if (accepted)
              violations.push(`${uid}: an older session was accepted on node ${node.nodeId} (cap exceeded)`);
            else if (reason !== 'replaced')
              violations.push(`${uid}: an older session answered ${answer.status} ${reason}`);
          }
        }
      }
    }
    const outageAnswers = logins.filter((l) => l.duringOutage && l.status !== 200);
    const slow = logins.filter((l) => l.duringOutage && l.tookMs > STORE_TIMEOUT_MS + SLACK_MS);
    const wrongStatus = outageAnswers.filter((l) => l.status !== 503);
    for (const l of slow) violations.push(`a login during the outage took ${Math.round(l.tookMs)} ms`);
    for (const l of wrongStatus) violations.push(`a login during the outage answered ${l.status}`);
    // Once Redis is back a node may still be reconnecting: an error then must be the store's (503) too.
    const afterErrors = logins.filter((l) => !l.duringOutage && l.status !== 200);
    for (const l of afterErrors.filter((x) => x.status !== 503))
      violations.push(`a login outside the outage answered ${l.status}`);

    const acknowledged = logins.filter((l) => l.status === 200).length;
    const report = [
      '# Logins under a login policy through a Redis kill',
      '',
      `Two demo nodes (Express, Koa) under openim:1 with at most ${LIMIT} sessions per platform, ${USERS} users logging in again and again (one login at a time each, through both nodes in turn), Redis (AOF, fsync always) killed with SIGKILL for ${Math.round(upAt - downAt)} ms and restarted${QUICK ? ' (quick run)' : ''}.`,
      '',
      '| figure | value |',
      '| --- | ---: |',
      `| logins sent | ${logins.length} |`,
      `| logins acknowledged (200) | ${acknowledged} |`,
      `| logins answered an error during the outage | ${outageAnswers.length} (${wrongStatus.length} not 503) |`,
      `| logins answered an error outside it (nodes reconnecting) | ${afterErrors.length} (${afterErrors.filter((l) => l.status !== 503).length} not 503) |`,
      `| slowest answer during the outage, ms | ${Math.round(Math.max(0, ...logins.filter((l) => l.duringOutage).map((l) => l.tookMs)))} |`,
      `| guard checks of acknowledged sessions afterwards | ${checked} |`,
      `| violations | ${violations.length} |`,
      '',
      ...(violations.length === 0
        ? []
        : ['Violations:', '', ...violations.slice(0, 50).map((v) => `- ${v}`)]),
    ].join('\n');
    writeReport('login-policy.md', `${report}\n`);
    expect(acknowledged).toBeGreaterThan(USERS * 2);
    expect(outageAnswers.length).toBeGreaterThan(0);
    expect(violations).toEqual([]);
  }, 180_000);
});
