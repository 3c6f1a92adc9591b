// Ad-hoc measurements of the gateway-scale store layer (issue 18): run with `npx tsx bench/gateway-store-measure.mts`
// against the Redis at 127.0.0.1:6379; figures go in BENCHMARKS.md, not here.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { createEvict, MemoryStore } from '../packages/core/src/index.js';
import { RedisStore } from '../packages/redis/src/index.js';

const N = 100_000;
const mem = async (c: Redis) => Number(/used_memory:(\d+)/.exec(await c.info('memory'))![1]);
const io = new Redis();
for (const lib of ['ioredis', 'node-redis'] as const) {
  const client = lib === 'ioredis' ? io : await createClient().connect();
  const prefix = `m${Date.now()}:`;
  const store = new RedisStore({ client: client as never, prefix });
  await store.ready();
  await store.heartbeatNode({ nodeId: 1, incarnation: 'abcdefgh', expiresAtMs: Date.now() + 3_600_000 });
  const recs = Array.from({ length: N }, (_, i) => ({
    uid: `u${i}`,
    deviceFlag: 1,
    nodeId: 1,
    connId: 1_000_000_001 + i,
    connectedAtMs: Date.now(),
    incarnation: 'abcdefgh',
  }));
  // batches of 1000
  let t = performance.now();
  for (let i = 0; i < N; i += 1000) await store.putConnections(recs.slice(i, i + 1000));
  const putBatch = N / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < N; i += 1000) await store.deleteConnections(recs.slice(i, i + 1000));
  const delBatch = N / ((performance.now() - t) / 1000);
  // single calls, 1000 in flight (pipelined by the client)
  t = performance.now();
  for (let i = 0; i < N; i += 1000)
    await Promise.all(recs.slice(i, i + 1000).map((r) => store.putConnection(r)));
  const putSingle = N / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < N; i += 1000)
    await Promise.all(recs.slice(i, i + 1000).map((r) => store.deleteConnection(r.uid, 1, r.connId)));
  const delSingle = N / ((performance.now() - t) / 1000);
  console.log(lib, {
    putBatch: Math.round(putBatch),
    delBatch: Math.round(delBatch),
    putSingle: Math.round(putSingle),
    delSingle: Math.round(delSingle),
  });
  if (lib === 'ioredis') {
    // memory: users without a session
    let before = await mem(io);
    for (let i = 0; i < N; i += 1000) await store.putConnections(recs.slice(i, i + 1000));
    let after = await mem(io);
    console.log(
      'bytes/connection, user without session',
      Math.round((after - before) / N),
      'MEMORY USAGE user',
      await io.memory('USAGE', `${prefix}{u:u5}:user`),
    );
    for (let i = 0; i < N; i += 1000) await store.deleteConnections(recs.slice(i, i + 1000));
    // users with a session
    for (let i = 0; i < N; i += 1000)
      await Promise.all(
        recs.slice(i, i + 1000).map((r) =>
          store.putSession({
            tokenHash: `t${r.uid}`,
            uid: r.uid,
            deviceFlag: 1,
            issuedAtMs: Date.now(),
            expiresAtMs: Date.now() + 3_600_000,
            retainUntilMs: Date.now() + 7_200_000,
          }),
        ),
      );
    before = await mem(io);
    for (let i = 0; i < N; i += 1000) await store.putConnections(recs.slice(i, i + 1000));
    after = await mem(io);
    console.log('bytes/connection, user with a session', Math.round((after - before) / N));
    // sweep speed of a dead incarnation
    await store.heartbeatNode({ nodeId: 1, incarnation: 'newone', expiresAtMs: Date.now() + 3_600_000 });
    t = performance.now();
    let drained = 0,
      steps = 0;
    for (;;) {
      const d = await store.sweepConnections(500);
      drained += d;
      steps++;
      if (d < 500) break;
    }
    console.log('sweep', drained, 'records in', steps, 'steps', Math.round(performance.now() - t), 'ms');
  }
  await store.close();
  let cursor = '0';
  do {
    const [c, keys] = await io.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = c;
    if (keys.length) await io.del(...keys);
  } while (cursor !== '0');
  if (lib === 'node-redis') await (client as { quit(): Promise<unknown> }).quit();
}
// Redis servers of this script's own (when redis-server is installed): one for bytes per connection
// that no other client's keys move, and a Cluster of three masters
const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const cli = (port: number, ...args: string[]) =>
  spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout ?? '';
const until = async (ok: () => boolean) => {
  const deadline = Date.now() + 15_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('a redis-server of this script did not come up');
    await new Promise((r) => setTimeout(r, 50));
  }
};
const ownServers = async (ports: number[], args: (port: number) => string[]) => {
  const dir = mkdtempSync(join(tmpdir(), 'evict-measure-'));
  const servers = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        ...args(port),
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = () => {
    for (const server of servers) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await until(() => cli(port, 'PING').includes('PONG'));
  } catch (error) {
    stop();
    throw error;
  }
  return stop;
};
const recordsOf = () =>
  Array.from({ length: N }, (_, i) => ({
    uid: `u${i}`,
    deviceFlag: 1,
    nodeId: 1,
    connId: 1_000_000_001 + i,
    connectedAtMs: Date.now(),
    incarnation: 'abcdefgh',
  }));
const base = 20_000 + Math.floor(Math.random() * 9_000);

// bytes per connection on a fresh Redis of its own, with the prefix length the figures above use
if (hasRedisServer) {
  const stop = await ownServers([base + 3], () => []);
  const own = new Redis(base + 3);
  const prefix = `m${Date.now()}:`;
  const store = new RedisStore({ client: own, prefix });
  await store.heartbeatNode({ nodeId: 1, incarnation: 'abcdefgh', expiresAtMs: Date.now() + 3_600_000 });
  const recs = recordsOf();
  let before = await mem(own);
  for (let i = 0; i < N; i += 1000) await store.putConnections(recs.slice(i, i + 1000));
  const without = ((await mem(own)) - before) / N;
  const usage = await own.memory('USAGE', `${prefix}{u:u12345}:user`);
  for (let i = 0; i < N; i += 1000) await store.deleteConnections(recs.slice(i, i + 1000));
  for (let i = 0; i < N; i += 1000)
    await Promise.all(
      recs.slice(i, i + 1000).map((r) =>
        store.putSession({
          tokenHash: `t${r.uid}`,
          uid: r.uid,
          deviceFlag: 1,
          issuedAtMs: Date.now(),
          expiresAtMs: Date.now() + 3_600_000,
          retainUntilMs: Date.now() + 7_200_000,
        }),
      ),
    );
  before = await mem(own);
  for (let i = 0; i < N; i += 1000) await store.putConnections(recs.slice(i, i + 1000));
  const withSession = ((await mem(own)) - before) / N;
  console.log('own Redis: bytes/connection', {
    withoutSession: Math.round(without),
    withSession: Math.round(withSession),
    memoryUsageOfConnectionOnlyUser: usage,
  });
  await store.close();
  own.disconnect();
  stop();
}

// registration and removal on a Redis Cluster of three masters (batches of 1000, users on many
// slots: one script per slot)
if (hasRedisServer) {
  const ports = [base, base + 1, base + 2];
  const stop = await ownServers(ports, (port) => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    `nodes-${port}.conf`,
  ]);
  spawnSync('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  for (const port of ports) await until(() => cli(port, 'CLUSTER', 'INFO').includes('cluster_state:ok'));
  for (const lib of ['ioredis-cluster', 'node-redis-cluster'] as const) {
    const client =
      lib === 'ioredis-cluster'
        ? new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })))
        : await createCluster({
            rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })),
          }).connect();
    const store = new RedisStore({ client: client as never, prefix: `c${Date.now()}:` });
    await store.heartbeatNode({ nodeId: 1, incarnation: 'abcdefgh', expiresAtMs: Date.now() + 3_600_000 });
    const recs = recordsOf();
    let t = performance.now();
    for (let i = 0; i < N; i += 1000) await store.putConnections(recs.slice(i, i + 1000));
    const putBatch = N / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < N; i += 1000) await store.deleteConnections(recs.slice(i, i + 1000));
    const delBatch = N / ((performance.now() - t) / 1000);
    console.log(lib, { putBatch: Math.round(putBatch), delBatch: Math.round(delBatch) });
    await store.close();
    if (client instanceof Cluster) client.disconnect();
    else await (client as { close(): Promise<unknown> }).close();
  }
  stop();
}
// idle commands/s of an engine holding 100,000 connections (heartbeat every 1 s here)
{
  const prefix = `e${Date.now()}:`;
  const store = new RedisStore({ client: io, prefix });
  const engine = createEvict({ store, nodeId: 9, connectionTtlMs: 3_000 });
  await engine.ready();
  for (let i = 0; i < N; i += 1000)
    await Promise.all(
      Array.from({ length: 1000 }, (_, j) =>
        engine.registerConnection({ uid: `u${i + j}`, deviceFlag: 1, close: () => {} }),
      ),
    );
  const stats = async () => Number(/total_commands_processed:(\d+)/.exec(await io.info('stats'))![1]);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const c0 = await stats();
  await new Promise((r) => setTimeout(r, 6_000));
  const c1 = await stats();
  h.disable();
  console.log(
    'idle engine 100k conns (heartbeat every 1 s): Redis commands/s (whole server, incl. these 2 INFO)',
    ((c1 - c0) / 6).toFixed(1),
    'worst loop delay ms',
    (h.max / 1e6).toFixed(1),
  );
  await engine.close();
  await store.close();
  let cursor = '0';
  do {
    const [c, keys] = await io.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = c;
    if (keys.length) await io.del(...keys);
  } while (cursor !== '0');
}
io.disconnect();
// memory store: 1M sessions, worst stall across a sliced sweep
{
  let now = Date.now();
  const store = new MemoryStore({ clock: { nowMs: () => now }, sweepIntervalMs: 1_000 });
  for (let i = 0; i < 1_000_000; i++)
    await store.putSession({
      tokenHash: `h${i}`,
      uid: `u${i}`,
      deviceFlag: 1,
      issuedAtMs: now,
      expiresAtMs: now + (i % 2 ? 1_000 : 3_600_000),
      retainUntilMs: now + (i % 2 ? 1_000 : 3_600_000),
    });
  now += 2_000;
  let t = performance.now();
  store.sweep();
  console.log('memory store: whole sweep at once (for comparison)', Math.round(performance.now() - t), 'ms');
  for (let i = 0; i < 1_000_000; i += 2)
    await store.putSession({
      tokenHash: `x${i}`,
      uid: `u${i + 1}`,
      deviceFlag: 1,
      issuedAtMs: now,
      expiresAtMs: now + 1_000,
      retainUntilMs: now + 1_000,
    });
  now += 2_000;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  t = performance.now();
  const keep = setInterval(() => {}, 1);
  await new Promise((r) => setTimeout(r, 4_000));
  clearInterval(keep);
  h.disable();
  console.log(
    'memory store 1M sessions, sliced sweep on its timer: size after',
    store.size(),
    'worst event-loop delay ms',
    (h.max / 1e6).toFixed(1),
  );
  await store.close();
}
