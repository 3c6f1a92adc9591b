/**
 * A gateway node in a process of its own (`node --import tsx test/support/gateway-node.ts`, run from
 * the repository root), for the tests that kill one or load one with sockets: an engine on the Redis
 * store at REDIS_URL (prefix EVICT_REDIS_PREFIX, NODE_ID, EVICT_CONNECTION_TTL_MS), driven over the
 * IPC channel. It registers connections in-process (no sockets, so that 100,000 need no file
 * descriptors), serves WebSockets on `/ws?uid=` with `registerSocket` on request, and watches its own
 * event loop with `monitorEventLoopDelay`. Requests and answers: `GatewayRequest`, `GatewayAnswer`.
 */
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createEvict, type Evict } from '@evict/core';
import { registerSocket } from '@evict/core/node';
import { RedisStore } from '@evict/redis';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

export type GatewayRequest =
  /** Registers `count` connections, the i-th of user `${uidPrefix}${i % users}` on device `i % 2`. */
  | { op: 'register'; count: number; users: number; uidPrefix: string }
  /** Checks session tokens with the engine's check (from the store): which are live. */
  | { op: 'check'; tokens: string[] }
  | { op: 'kick'; uid: string }
  /** Starts serving WebSockets on a free port. */
  | { op: 'listen' }
  /** The event loop's worst delay since the last `loop` request, and the live connections. */
  | { op: 'loop' };

/** The answer to each request, by its `op`. */
export interface GatewayAnswers {
  register: { count: number; ms: number; sample: Array<{ uid: string; connId: number }> };
  check: { live: boolean[] };
  kick: { connectionsClosed: number };
  listen: { port: number };
  loop: { maxDelayMs: number; p99DelayMs: number; connections: number; closedByEngine: number };
}

/** What goes to the parent: `ready` once (id 0), then each request's answer or error under its id. */
export type GatewayMessage =
  | { id: 0; ready: number }
  | { id: number; answer: GatewayAnswers[keyof GatewayAnswers] }
  | { id: number; error: string };

/** How many registrations are in flight at once: the registry batches those of one loop turn. */
const IN_FLIGHT = 1_000;

async function main(): Promise<void> {
  const env = process.env;
  const nodeId = Number(env.NODE_ID ?? 1);
  const client = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const store = new RedisStore({ client, prefix: env.EVICT_REDIS_PREFIX ?? 'evict:' });
  const engine: Evict = createEvict({
    store,
    nodeId,
    connectionTtlMs: Number(env.EVICT_CONNECTION_TTL_MS ?? 60_000),
  });
  await engine.ready();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let closedByEngine = 0;
  let server: Server | undefined;
  const send = (message: GatewayMessage) => process.send?.(message);

  const handle = async (request: GatewayRequest): Promise<GatewayAnswers[keyof GatewayAnswers]> => {
    switch (request.op) {
      case 'register': {
        const started = performance.now();
        const sample: Array<{ uid: string; connId: number }> = [];
        for (let start = 0; start < request.count; start += IN_FLIGHT) {
          const end = Math.min(request.count, start + IN_FLIGHT);
          const batch: Promise<void>[] = [];
          for (let i = start; i < end; i += 1) {
            const uid = `${request.uidPrefix}${i % request.users}`;
            batch.push(
              engine
                .registerConnection({
                  uid,
                  deviceFlag: i % 2,
                  close: () => {
                    closedByEngine += 1;
                  },
                })
                .then((handle) => {
                  // The connections of the first users: what the tests look at.
                  if (i % request.users < 500) sample.push({ uid, connId: handle.connId });
                }),
            );
          }
          await Promise.all(batch);
        }
        return { count: request.count, ms: performance.now() - started, sample };
      }
      case 'check': {
        const live = await Promise.all(
          request.tokens.map(async (token) => {
            const verdict = await engine.checkNow({ type: 'session', token });
            return verdict.ok;
          }),
        );
        return { live };
      }
      case 'kick': {
        const result = await engine.kickUser(request.uid);
        return { connectionsClosed: result.connectionsClosed };
      }
      case 'listen': {
        server = createServer((_req, res) => res.writeHead(404).end());
        const sockets = new WebSocketServer({ server, path: '/ws', backlog: 4_096 });
        sockets.on('connection', (ws, req) => {
          const url = new URL(req.url ?? '/', 'http://localhost');
          const uid = url.searchParams.get('uid') ?? 'anonymous';
          registerSocket(engine, ws, { uid, deviceFlag: Number(url.searchParams.get('device') ?? 0) }).then(
            () => ws.send('registered'),
            () => undefined,
          );
        });
        await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', 4_096, resolve));
        return { port: (server.address() as AddressInfo).port };
      }
      case 'loop': {
        const answer = {
          maxDelayMs: loop.max / 1e6,
          p99DelayMs: loop.percentile(99) / 1e6,
          connections: engine.localConnections().length,
          closedByEngine,
        };
        loop.reset();
        return answer;
      }
    }
  };

  process.on('message', ({ id, request }: { id: number; request: GatewayRequest }) => {
    handle(request).then(
      (answer) => send({ id, answer }),
      (error: unknown) => send({ id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  // The parent going away ends this node as a kill would: nothing is closed.
  process.on('disconnect', () => process.exit(0));
  send({ id: 0, ready: nodeId });
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway-node: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
  process.exit(1);
});
