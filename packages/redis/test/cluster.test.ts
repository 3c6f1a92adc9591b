/**
 * The conformance suite on a real Redis Cluster: three masters started here (`redis-server
 * --cluster-enabled yes`, joined by `redis-cli --cluster create`), with an ioredis `Cluster` and a
 * node-redis cluster client. Needs the `redis-server` and `redis-cli` binaries.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterMessage } from '@evict/core';
import { runStoreConformance } from '@evict/core/testing';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomPrefix } from '../../../test/support/redis.js';
import { formCluster, freeClusterPort, redisCli } from '../../../test/support/redis-server.js';
import { RedisStore } from '../src/index.js';
import { hashSlot, KeyLayout } from '../src/keys.js';
import type { RedisClient } from '../src/redis-commands.js';
import { countingClient } from './clients.js';

const hasBinaries = ['redis-server', 'redis-cli'].every(
  (bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0,
);
const IS_CI = process.env.CI === 'true' || process.env.CI === '1';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const describeCluster = hasBinaries ? describe : IS_CI ? describe : describe.skip;
if (!hasBinaries) {
  console.warn(
    `\n!!! REDIS CLUSTER TESTS ${IS_CI ? 'FAIL' : 'SKIPPED'}: redis-server and redis-cli are not on PATH.\n`,
  );
}

describeCluster('RedisStore on a Redis Cluster of three masters', () => {
  const dir = hasBinaries ? mkdtempSync(join(tmpdir(), 'evict-redis-cluster-')) : '';
  const servers: ChildProcess[] = [];
  const ports: number[] = [];
  let ioredis: Cluster | undefined;
  let nodeRedis: ReturnType<typeof createCluster> | undefined;

  beforeAll(async () => {
    if (!hasBinaries) throw new Error('redis-server and redis-cli are required under CI=true');
    for (let i = 0; i < 3; i++) ports.push(await freeClusterPort());
    for (const port of ports) {
      const server = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
        ],
        { stdio: 'ignore' },
      );
      servers.push(server);
    }
    for (const port of ports)
      await waitUntil(`redis-server on ${port}`, () => redisCli(port, 'PING').includes('PONG'));
    formCluster(ports, 0);
    for (const port of ports) {
      await waitUntil(`cluster_state:ok on ${port}`, () =>
        redisCli(port, 'CLUSTER', 'INFO').includes('cluster_state:ok'),
      );
    }

    ioredis = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
    ioredis.on('error', () => undefined);
    await ioredis.ping();
    nodeRedis = createCluster({ rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })) });
    nodeRedis.on('error', () => undefined);
    await nodeRedis.connect();
  }, 30_000);

  afterAll(async () => {
    await ioredis?.quit().catch(() => ioredis?.disconnect());
    await nodeRedis?.close().catch(() => nodeRedis?.destroy());
    for (const server of servers) server.kill('SIGKILL');
    await Promise.all(
      servers.map((server) =>
        server.exitCode === null && server.signalCode === null
          ? new Promise((resolve) => server.once('exit', resolve))
          : undefined,
      ),
    );
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('spreads the keys of one store over the three masters', async () => {
    const prefix = randomPrefix();
    const store = new RedisStore({ client: ioredis!, prefix });
    await store.ready();
    expect(store.clientKind).toBe('ioredis-cluster');
    for (let i = 0; i < 30; i++) await store.touchUser(`spread-${i}`, Date.now() + 60_000);
    const perNode = ports.map((port) => Number(redisCli(port, 'DBSIZE').trim()));
    for (const count of perNode) expect(count).toBeGreaterThan(0);
    await store.close();
  });

  for (const kind of ['ioredis-cluster', 'node-redis-cluster'] as const) {
    it(`(${kind}) reports the link down when its subscriber connection is killed, and up once resubscribed`, async () => {
      const store = new RedisStore({
        client: kind === 'ioredis-cluster' ? ioredis! : nodeRedis!,
        prefix: randomPrefix(),
      });
      const reports: boolean[] = [];
      store.onLinkChange((up) => reports.push(up));
      const heard: ClusterMessage[] = [];
      store.subscribe((message) => heard.push(message));
      await store.ready();
      expect(store.clientKind).toBe(kind);
      expect(reports).toEqual([true]);
      // These servers are this file's own: killing every pub/sub connection touches no other test.
      const killed = ports.reduce(
        (n, port) => n + Number(redisCli(port, 'CLIENT', 'KILL', 'TYPE', 'pubsub').trim()),
        0,
      );
      expect(killed).toBe(1);
      await waitUntil('the link down then up', () => reports.length >= 3, 10_000);
      expect(reports).toEqual([true, false, true]);
      const message: ClusterMessage = { type: 'revoked', uid: 'back', fromNodeId: 1 };
      await store.publish(message);
      await waitUntil('the message after the reconnect', () => heard.length === 1);
      expect(heard).toEqual([message]);
      await store.close();
    });
  }

  for (const kind of ['ioredis-cluster', 'node-redis-cluster'] as const) {
    it(`(${kind}) kicks in three round trips: the script on the user's slot, the node table, then the announcement through PUBLISH's`, async () => {
      const prefix = randomPrefix();
      const counted = countingClient(kind === 'ioredis-cluster' ? ioredis! : nodeRedis!);
      const store = new RedisStore({ client: counted.client, prefix });
      const heard: ClusterMessage[] = [];
      store.subscribe((message) => heard.push(message));
      await store.ready();
      const t = Date.now();
      const announce: ClusterMessage = { type: 'revoked', uid: 'kicked', fromNodeId: 1 };
      const request = {
        uid: 'kicked',
        deviceFlag: null,
        cutoff: { atMs: t, reason: 'kicked' as const },
        expiresAtMs: t + 60_000,
        require: { user: true, device: false },
        announce,
      };
      expect(await store.kick(request)).toEqual({ applied: false, missing: 'user' });
      await store.heartbeatNode({ nodeId: 2, incarnation: 'run-1', expiresAtMs: t + 60_000 });
      await store.putConnection({
        uid: 'kicked',
        deviceFlag: 1,
        nodeId: 2,
        connId: 5,
        connectedAtMs: t,
        incarnation: 'run-1',
      });
      await store.publish(announce); // loads PUBLISH on its master before counting
      await waitUntil('the first announcement', () => heard.length === 1);
      counted.sent.length = 0;
      const result = await store.kick(request);
      expect(result).toEqual({
        applied: true,
        connections: [
          { uid: 'kicked', deviceFlag: 1, nodeId: 2, connId: 5, connectedAtMs: t, incarnation: 'run-1' },
        ],
      });
      // The kick script may be new on its master (EVALSHA, then EVAL); the node table (another
      // slot) judges the connections it lists; the publish follows.
      const names = counted.sent.map(([name]) => name);
      expect(names.filter((name) => name === 'EVALSHA')).toHaveLength(2);
      expect(names.filter((name) => name === 'HGETALL')).toHaveLength(1);
      expect(names.length).toBeLessThanOrEqual(4);
      expect(counted.sent.at(-1)).toContain(`${prefix}{cluster}`);
      await waitUntil('the announcement of the kick', () => heard.length === 2);
      expect(heard).toEqual([announce, announce]);
      expect((await store.getUser('kicked'))?.cutoff).toEqual({ atMs: t, reason: 'kicked' });
      await store.close();
    });
  }

  for (const kind of ['ioredis-cluster', 'node-redis-cluster'] as const) {
    it(`(${kind}) waitForReplicas runs WAIT on the node that holds the kicked user's keys (no replicas here: not confirmed)`, async () => {
      const prefix = randomPrefix();
      const store = new RedisStore({
        client: kind === 'ioredis-cluster' ? ioredis! : nodeRedis!,
        prefix,
        waitForReplicas: { replicas: 1, timeoutMs: 50 },
      });
      await store.ready();
      const uid = `wait-${kind}`;
      // The last command of each connection shows in CLIENT LIST: those that ran WAIT, before and after.
      const waiting = () =>
        ports.map(
          (port) =>
            new Set(
              redisCli(port, 'CLIENT', 'LIST')
                .split('\n')
                .filter((line) => line.includes(' cmd=wait '))
                .map((line) => /id=(\d+)/.exec(line)?.[1]),
            ),
        );
      const before = waiting();
      const t = Date.now();
      const error = await store
        .kick({
          uid,
          deviceFlag: null,
          cutoff: { atMs: t, reason: 'kicked' },
          expiresAtMs: t + 60_000,
          require: { user: false, device: false },
          announce: { type: 'revoked', uid, fromNodeId: 1 },
        })
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).toMatchObject({ code: 'EVICT_STORE_NOT_REPLICATED', replicas: 1, confirmed: 0 });
      // WAIT ran where the user's keys are, and only there.
      const after = waiting();
      const key = new KeyLayout(prefix).user(uid).user;
      const holder = ports.find(
        (port) => redisCli(port, 'CLUSTER', 'COUNTKEYSINSLOT', String(hashSlot(key))).trim() !== '0',
      );
      expect(holder).toBeDefined();
      ports.forEach((port, i) => {
        const waited = [...after[i]!].some((id) => !before[i]!.has(id));
        expect({ port, waited }).toEqual({ port, waited: port === holder });
      });
      await store.close();
    });
  }

  it("computes each key's hash slot as the cluster does", async () => {
    const layout = new KeyLayout('evict:');
    const keys = [
      'plain',
      'a{b}c',
      '{}x',
      'x{}{y}',
      ...['alice', '}{', 'ユーザー', '\ud800lone'].map((uid) => layout.user(uid).user),
    ];
    for (const key of keys) {
      expect(hashSlot(key)).toBe(Number(await ioredis!.call('CLUSTER', 'KEYSLOT', key)));
    }
  });

  for (const kind of ['ioredis-cluster', 'node-redis-cluster'] as const) {
    it(`(${kind}) writes and removes a batch of users on many slots, one script per slot`, async () => {
      const prefix = randomPrefix();
      const counted = countingClient(kind === 'ioredis-cluster' ? ioredis! : nodeRedis!);
      const store = new RedisStore({ client: counted.client, prefix });
      const layout = new KeyLayout(prefix);
      await store.heartbeatNode({ nodeId: 2, incarnation: 'run-1', expiresAtMs: Date.now() + 60_000 });
      const batch = Array.from({ length: 300 }, (_, i) => ({
        uid: `slot-${i % 200}`,
        deviceFlag: 1,
        nodeId: 2,
        connId: i,
        connectedAtMs: Date.now(),
        incarnation: 'run-1',
      }));
      const slots = new Set(batch.map((c) => hashSlot(layout.user(c.uid).user)));
      counted.sent.length = 0;
      await store.putConnections(batch);
      const userScripts = counted.sent.filter(
        ([name, , , key]) => name === 'EVALSHA' && key?.includes('{u:'),
      );
      expect(userScripts).toHaveLength(slots.size);
      expect((await store.listConnections('slot-7')).map((c) => c.connId).sort((a, b) => a - b)).toEqual([
        7, 207,
      ]);
      expect(await store.deleteConnections(batch)).toEqual(batch.map(() => true));
      expect(await store.listConnections('slot-7')).toEqual([]);
      await store.close();
    });
  }

  const clients: [string, () => RedisClient][] = [
    ['ioredis Cluster', () => ioredis!],
    ['node-redis cluster', () => nodeRedis!],
  ];
  for (const [name, client] of clients) {
    const prefix = randomPrefix();
    runStoreConformance(
      `RedisStore (${name})`,
      (clock) => new RedisStore({ client: client(), prefix, clock }),
      { describe, it, expect, beforeEach, afterEach },
      { sharedBackend: true },
    );
  }
});
