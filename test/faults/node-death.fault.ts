/**
 * A gateway node holding 100,000 registered connections (FAULT_QUICK: 10,000) is SIGKILLed, beside a
 * surviving demo node on one redis-server of the test's own. Every guard decision (GET /me) and kick
 * is recorded, as in faults.fault.ts; afterwards:
 *  (a) no credential was accepted by a request sent after a kick of it was acknowledged, and every
 *      acknowledged kick holds on the survivor and on the node restarted with the dead one's id;
 *  (b) within connectionTtlMs of the kill the dead node's connections are gone from every view:
 *      `listConnections` of its users, a kick's count of closed connections, `/conn/remove`
 *      (not found), while their records are still on file (the views do not wait for the sweep);
 *  (c) a node restarting with the same id does not bring them back, and absorbs a reconnect storm:
 *      every one of the dead node's clients coming back to it at once (each user's connections
 *      listed again, now those of the new incarnation, and kicked there from the survivor);
 *  (d) the survivor sweeps every record of the dead node's incarnations, in steps.
 * The dead node is test/support/gateway-node.ts: connections registered in-process, no sockets.
 * Figures go to test/faults/node-death.md.
 */
import type { Agent } from 'node:http';
import { RedisStore } from '@evict/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type DemoNode,
  demoAdminUserSig,
  demoKickPath,
  freePort,
  requireBuilt,
  startDemoNode,
  waitFor,
} from '../support/demo-process.js';
import { type GatewayProcess, startGatewayNode } from '../support/gateway-process.js';
import { randomPrefix } from '../support/redis.js';
import {
  describeWithRedisServer,
  httpCall,
  keepAliveAgent,
  now,
  OwnRedis,
  QUICK,
  sleep,
  writeReport,
} from './support.js';

const CONNECTIONS = QUICK ? 10_000 : 100_000;
/** Four connections a user, on devices 0 and 1. */
const USERS = CONNECTIONS / 4;
const CONNECTION_TTL_MS = 3_000;
/** How long after the kill its connections may still be counted: the ttl plus this (polling, a loaded machine). */
const EXPIRY_SLACK_MS = 700;
const DEAD_NODE = 2;
/** Users with sessions (g0…g39): the load's credentials; g0…g19 are kicked along the way. */
const SESSION_USERS = 40;
/** Users never kicked, whose connections the views are asked about (within the first 500: the node's sample). */
const WATCHED = Array.from({ length: 50 }, (_, i) => `g${200 + i}`);

interface Decision {
  token: string;
  uid: string;
  sentAt: number;
  recvAt: number;
  status: number;
}

interface Kick {
  uid: string;
  sentAt: number;
  recvAt: number;
  acked: boolean;
  /** From the survivor's audit line. */
  connectionsClosed?: number;
}

describeWithRedisServer(
  `faults: a node holding ${CONNECTIONS.toLocaleString('en-US')} connections is killed`,
  () => {
    let redis: OwnRedis;
    let client: Redis;
    let store: RedisStore;
    let survivor: DemoNode;
    const prefix = randomPrefix();
    const gateways: GatewayProcess[] = [];
    const agent: Agent = keepAliveAgent();
    const adminSig = demoAdminUserSig(3_600);
    const nodeEnv = () => ({
      REDIS_URL: redis.url,
      EVICT_REDIS_PREFIX: prefix,
      EVICT_CONNECTION_TTL_MS: String(CONNECTION_TTL_MS),
    });

    beforeAll(async () => {
      requireBuilt('express');
      redis = new OwnRedis(await freePort(), false);
      await redis.start();
      client = new Redis(redis.url);
      store = new RedisStore({ client, prefix });
      survivor = await startDemoNode('express', 1, {
        ...nodeEnv(),
        DEMO_SEED: '0',
        TENCENT_RATE_LIMIT: '100000',
      });
    }, 60_000);

    afterAll(async () => {
      agent.destroy();
      await Promise.all(gateways.map((g) => g.kill()));
      await survivor?.stop();
      await store?.close();
      client?.disconnect();
      await redis?.remove();
    });

    const nodeRecord = async (nodeId: number) => {
      const value = await client.hget(`${prefix}{nodes}`, String(nodeId));
      const [incarnation, expiresAtMs, generation] = (value ?? '').split(' ');
      return { incarnation: incarnation!, expiresAtMs: Number(expiresAtMs), generation: generation! };
    };
    /** Connection fields of node `nodeId` in the users' hashes (live or not), over the whole keyspace. */
    const recordsOnFile = async (nodeId: number): Promise<number> => {
      let count = 0;
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}{u:*}:user`, 'COUNT', 1_000);
        cursor = next;
        const pipeline = client.pipeline();
        for (const key of keys) pipeline.hkeys(key);
        for (const [, fields] of (await pipeline.exec()) ?? [])
          count += (fields as string[]).filter((f) => f.startsWith(`${nodeId}:`)).length;
      } while (cursor !== '0');
      return count;
    };

    it('keeps every acknowledged kick, forgets the dead node in every view within connectionTtlMs, never revives it, and sweeps it', async () => {
      const started = now();
      const decisions: Decision[] = [];
      const kicks: Kick[] = [];
      const tokens: Array<{ uid: string; token: string }> = [];

      // ---- the dead-to-be node and its connections ----
      const victim = await startGatewayNode({ ...nodeEnv(), NODE_ID: String(DEAD_NODE) });
      gateways.push(victim);
      const registered = await victim.request({
        op: 'register',
        count: CONNECTIONS,
        users: USERS,
        uidPrefix: 'g',
      });
      const connIdsOf = new Map<string, number[]>();
      for (const { uid, connId } of registered.sample)
        connIdsOf.set(uid, [...(connIdsOf.get(uid) ?? []), connId]);
      const { generation: deadGeneration } = await nodeRecord(DEAD_NODE);

      for (let i = 0; i < SESSION_USERS; i += 1) {
        const uid = `g${i}`;
        tokens.push({ uid, token: await survivor.login(uid, i % 2) });
      }
      for (const uid of WATCHED) expect((await store.listConnections(uid)).length, uid).toBe(4);

      // ---- the load: guard decisions on the survivor all along ----
      let loading = true;
      const load = (async () => {
        let i = 0;
        while (loading) {
          const { uid, token } = tokens[i++ % tokens.length]!;
          const sentAt = now();
          const answer = await httpCall(agent, survivor.base, 'GET', '/me', {
            headers: { token },
            timeoutMs: 5_000,
          });
          decisions.push({ token, uid, sentAt, recvAt: now(), status: answer.status });
          await sleep(5);
        }
      })();
      const kick = async (uid: string): Promise<Kick> => {
        const sentAt = now();
        const answer = await httpCall(
          agent,
          survivor.base,
          'POST',
          demoKickPath(adminSig, Math.floor(Math.random() * 0xffffffff)),
          { body: { Identifier: uid }, timeoutMs: 10_000 },
        );
        const record: Kick = {
          uid,
          sentAt,
          recvAt: now(),
          acked: answer.status === 200 && answer.json?.ActionStatus === 'OK',
        };
        // The survivor's audit line of this kick says how many connections it closed.
        await waitFor(`the audit line of the kick of ${uid}`, () =>
          survivor.lines.some((l) => l.includes(` kick_user uid=${uid} `)),
        );
        const line = survivor.lines.find((l) => l.includes(` kick_user uid=${uid} `))!;
        record.connectionsClosed = Number(/(\d+) connection\(s\) closed/.exec(line)?.[1]);
        kicks.push(record);
        return record;
      };

      // While the node lives, a kick closes its connections there and /conn/remove finds one.
      for (let i = 0; i < 10; i += 1) expect((await kick(`g${i}`)).connectionsClosed).toBe(4);
      const removed = await survivor.call('POST', '/conn/remove', {
        body: { uid: 'g199', conn_id: connIdsOf.get('g199')![0] },
      });
      expect(removed.json).toEqual({ status: 'ok' });
      await sleep(200);
      const beforeKill = await victim.request({ op: 'loop' });
      expect(beforeKill.closedByEngine, 'closed on the live node by the kicks and the removal').toBe(41);

      // ---- SIGKILL ----
      const killedAt = now();
      await victim.kill();
      await waitFor(
        'the dead node to leave listConnections of its users',
        async () => {
          const lists = await Promise.all(WATCHED.map((uid) => store.listConnections(uid)));
          return lists.every((l) => l.length === 0);
        },
        CONNECTION_TTL_MS + 10_000,
      );
      const goneAfterMs = now() - killedAt;
      // Read at once: a store sweeps a lapsed incarnation only a grace period after it lapsed, and a
      // survivor that holds a connection (its own heartbeat) may sweep right after that.
      const recordsAfterLapse = await recordsOnFile(DEAD_NODE);

      // Every view agrees, whether or not the records are swept by now.
      const lists = await Promise.all(WATCHED.map((uid) => store.listConnections(uid)));
      const removals = await Promise.all(
        WATCHED.slice(0, 20).map((uid) =>
          survivor.call('POST', '/conn/remove', { body: { uid, conn_id: connIdsOf.get(uid)![0] } }),
        ),
      );
      const removalsWithNode = await Promise.all(
        WATCHED.slice(20, 30).map((uid) =>
          survivor.call('POST', '/conn/remove', {
            body: { uid, conn_id: connIdsOf.get(uid)![1], node_id: DEAD_NODE },
          }),
        ),
      );
      const deadWindowKicks: Kick[] = [];
      for (let i = 10; i < 15; i += 1) deadWindowKicks.push(await kick(`g${i}`));

      // ---- a node restarting with the dead one's id ----
      const restarted = await startGatewayNode({ ...nodeEnv(), NODE_ID: String(DEAD_NODE) });
      gateways.push(restarted);
      // Two new connections each for g300…g303, whose old ones (four each) died with the first run.
      await restarted.request({ op: 'register', count: 8, users: 4, uidPrefix: 'g30' });
      const { incarnation: restartedIncarnation, generation: restartedGeneration } =
        await nodeRecord(DEAD_NODE);
      const afterRestart = await Promise.all(
        ['g300', 'g301', 'g302', 'g303'].map((uid) => store.listConnections(uid)),
      );
      const watchedAfterRestart = await Promise.all(WATCHED.map((uid) => store.listConnections(uid)));
      // connIds restart at the same number: g0's old first connId is now g300's, and stays not found for g0.
      const oldConnIdReused = await survivor.call('POST', '/conn/remove', {
        body: { uid: 'g0', conn_id: connIdsOf.get('g0')![0], node_id: DEAD_NODE },
      });
      const oldOfRestartedUser = await survivor.call('POST', '/conn/remove', {
        body: { uid: 'g300', conn_id: connIdsOf.get('g300')![2] },
      });

      // ---- the reconnect storm: every client of the dead node comes back to the restarted one ----
      await restarted.request({ op: 'loop' });
      const storm = await restarted.request({
        op: 'register',
        count: CONNECTIONS,
        users: USERS,
        uidPrefix: 'g',
      });
      const stormLoop = await restarted.request({ op: 'loop' });
      const watchedAfterStorm = await Promise.all(WATCHED.map((uid) => store.listConnections(uid)));
      const restartedUsersAfterStorm = await Promise.all(
        ['g300', 'g301', 'g302', 'g303'].map((uid) => store.listConnections(uid)),
      );
      // Kicked from the survivor: each closes the user's four new connections on the restarted node.
      const stormKicks: Kick[] = [];
      for (let i = 15; i < 20; i += 1) stormKicks.push(await kick(`g${i}`));
      const checkedOnRestarted = await restarted.request({
        op: 'check',
        tokens: tokens.map((t) => t.token),
      });
      await restarted.kill();

      // ---- the sweep, by the survivor alone: it sweeps from its heartbeat, which runs while it holds a connection ----
      const witness = await survivor.openSocket(await survivor.login('witness'));
      const slowlogThresholdUs = 10_000;
      await client.config('SET', 'slowlog-log-slower-than', String(slowlogThresholdUs));
      await client.slowlog('RESET');
      const sweepStarted = now();
      const bucketsKeys = [deadGeneration, restartedGeneration].map(
        (generation) => `${prefix}{n:${DEAD_NODE}}:${generation}:buckets`,
      );
      const trajectory: number[] = [];
      await waitFor(
        "the survivor to sweep the dead node's records",
        async () => {
          const left = (await Promise.all(bucketsKeys.map((key) => client.scard(key)))).reduce(
            (a, b) => a + b,
          );
          if (trajectory.at(-1) !== left) trajectory.push(left);
          return left === 0 && (await client.scard(`${prefix}{nodes}:replaced`)) === 0;
        },
        60_000,
      );
      const sweepMs = now() - sweepStarted;
      const slowlog = (await client.slowlog('GET', 100)) as Array<[number, number, number, string[]]>;
      const slowest = slowlog.reduce<[number, number, number, string[]] | undefined>(
        (worst, entry) => (worst === undefined || entry[2] > worst[2] ? entry : worst),
        undefined,
      );
      const recordsAfterSweep = await recordsOnFile(DEAD_NODE);
      const keysAfterSweep = await client.dbsize();

      loading = false;
      await load;
      witness.ws.terminate();

      // ---- (a) violations ----
      const revokedAt = new Map<string, number>();
      for (const k of kicks.filter((k) => k.acked))
        revokedAt.set(k.uid, Math.min(revokedAt.get(k.uid) ?? Number.POSITIVE_INFINITY, k.recvAt));
      const violations = decisions.filter((d) => {
        const at = revokedAt.get(d.uid);
        return d.status === 200 && at !== undefined && at < d.sentAt;
      });
      const notInForce: string[] = [];
      for (const [i, { uid, token }] of tokens.entries()) {
        const kicked = revokedAt.has(uid);
        const me = await survivor.me(token);
        if (me.status !== (kicked ? 401 : 200)) notInForce.push(`survivor: ${uid} ${me.status}`);
        if (checkedOnRestarted.live[i] === kicked) notInForce.push(`restarted node: ${uid} live=${!kicked}`);
      }

      const report = {
        when: new Date().toISOString(),
        mode: QUICK ? 'quick' : 'full',
        seconds: Number(((now() - started) / 1000).toFixed(1)),
        connections: CONNECTIONS,
        users: USERS,
        connectionTtlMs: CONNECTION_TTL_MS,
        registrationSeconds: Number((registered.ms / 1000).toFixed(1)),
        stormSeconds: Number((storm.ms / 1000).toFixed(1)),
        stormPerSecond: Math.round(storm.count / (storm.ms / 1000)),
        stormWorstDelayMs: Number(stormLoop.maxDelayMs.toFixed(1)),
        stormP99DelayMs: Number(stormLoop.p99DelayMs.toFixed(1)),
        stormKickClosed: stormKicks.map((k) => k.connectionsClosed),
        guardDecisions: decisions.length,
        decisionsAfterAnAckedKick: decisions.filter((d) => (revokedAt.get(d.uid) ?? Infinity) < d.sentAt)
          .length,
        kicksAcked: kicks.filter((k) => k.acked).length,
        kicksSent: kicks.length,
        goneAfterMs: Math.round(goneAfterMs),
        deadWindowKickClosed: deadWindowKicks.map((k) => k.connectionsClosed),
        recordsAfterLapse,
        recordsAfterSweep,
        keysAfterSweep,
        sweepMs: Math.round(sweepMs),
        sweepBucketsAtStart: trajectory[0],
        sweepReadings: trajectory.length,
        slowestRedisCommandDuringSweep:
          slowest === undefined ? 'none over 10 ms' : `${slowest[3][0]} ${slowest[2]} µs`,
        violations: violations.length,
        notInForce: notInForce.length,
      };
      writeReport('node-death.md', markdown(report));
      console.log(markdown(report));

      expect(violations, 'a revoked credential was accepted after its kick was acknowledged').toEqual([]);
      expect(notInForce, 'an acknowledged kick does not hold (or a live credential is refused)').toEqual([]);
      expect(kicks.every((k) => k.acked)).toBe(true);
      expect(goneAfterMs, "the dead node's connections still listed").toBeLessThanOrEqual(
        CONNECTION_TTL_MS + EXPIRY_SLACK_MS,
      );
      expect(lists.every((l) => l.length === 0)).toBe(true);
      expect(removals.map((r) => r.status)).toEqual(removals.map(() => 404));
      expect(removalsWithNode.map((r) => r.status)).toEqual(removalsWithNode.map(() => 404));
      expect(deadWindowKicks.map((k) => k.connectionsClosed)).toEqual(deadWindowKicks.map(() => 0));
      // The views forgot them without deleting them: all but the 41 the live node closed on the kicks and the removal.
      expect(recordsAfterLapse).toBe(CONNECTIONS - 41);
      // The restart brings back none of the old connections: only its own two of each user.
      expect(afterRestart.map((l) => l.length)).toEqual([2, 2, 2, 2]);
      for (const list of afterRestart)
        expect(list.every((c) => c.incarnation === restartedIncarnation)).toBe(true);
      expect(watchedAfterRestart.every((l) => l.length === 0)).toBe(true);
      expect(oldConnIdReused.status).toBe(404);
      expect(oldOfRestartedUser.status).toBe(404);
      // The storm: all back within the minute the issue allows, each listed once, by the new incarnation.
      expect(storm.count).toBe(CONNECTIONS);
      expect(storm.ms).toBeLessThan(60_000);
      expect(watchedAfterStorm.map((l) => l.length)).toEqual(WATCHED.map(() => 4));
      for (const list of [...watchedAfterStorm, ...restartedUsersAfterStorm])
        expect(list.every((c) => c.incarnation === restartedIncarnation)).toBe(true);
      expect(restartedUsersAfterStorm.map((l) => l.length)).toEqual([6, 6, 6, 6]);
      expect(stormKicks.map((k) => k.connectionsClosed)).toEqual(stormKicks.map(() => 4));
      // Swept: no record of node 2 left, and the users with nothing else on file went with them.
      expect(recordsAfterSweep).toBe(0);
      expect(keysAfterSweep).toBeLessThan(SESSION_USERS * 4 + 20);
      expect(decisions.length).toBeGreaterThan(0);
      expect(report.decisionsAfterAnAckedKick).toBeGreaterThan(0);
    }, 300_000);
  },
);

// biome-ignore lint/suspicious/noExplicitAny: the report's plain JSON
function markdown(r: any): string {
  return `# Fault suite: a node holding ${r.connections.toLocaleString('en-US')} connections killed

Written by \`pnpm test:faults\` (\`test/faults/node-death.fault.ts\`). Run: ${r.when}, ${r.mode}, ${r.seconds} s;
a surviving Express demo node and a gateway node (test/support/gateway-node.ts) on one redis-server;
connectionTtlMs ${r.connectionTtlMs}; ${r.connections.toLocaleString('en-US')} connections of ${r.users.toLocaleString('en-US')} users registered in-process in ${r.registrationSeconds} s.

| figure | value |
|---|---|
| guard decisions (GET /me on the survivor) / after an acknowledged kick | ${r.guardDecisions} / ${r.decisionsAfterAnAckedKick} |
| kicks acknowledged / sent | ${r.kicksAcked} / ${r.kicksSent} |
| dead node's connections gone from listConnections after the SIGKILL | ${r.goneAfterMs} ms |
| connections closed by kicks after that (one per kick) | ${r.deadWindowKickClosed.join(', ')} |
| its records still on file then (not swept yet) | ${r.recordsAfterLapse} |
| reconnect storm: all ${r.connections.toLocaleString('en-US')} back on the node restarted with its id | ${r.stormSeconds} s (${r.stormPerSecond.toLocaleString('en-US')}/s) |
| the restarted node's event loop during the storm: worst / p99 delay (5 ms resolution) | ${r.stormWorstDelayMs} / ${r.stormP99DelayMs} ms |
| connections closed by kicks from the survivor after the storm (one per kick) | ${r.stormKickClosed.join(', ')} |
| sweep by the survivor, until both incarnations are gone (the restarted one lapses a ttl after its own kill) | ${r.sweepMs} ms |
| index buckets to sweep at its start / distinct counts seen while it went down to 0 | ${r.sweepBucketsAtStart} / ${r.sweepReadings} |
| slowest Redis command during the sweep (SLOWLOG, from 10 ms) | ${r.slowestRedisCommandDuringSweep} |
| records of the dead node left after the sweep / keys left in Redis | ${r.recordsAfterSweep} / ${r.keysAfterSweep} |
| **violations found** | **${r.violations}** |
| acknowledged kicks not holding (survivor, restarted node) | ${r.notInForce} |
`;
}
