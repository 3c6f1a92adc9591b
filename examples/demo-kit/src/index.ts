import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createUpgradeCheck,
  type Evict,
  type RevocationEvent,
  registerSocket,
  rejectUpgrade,
  type TencentOptions,
} from '@evict/core';
import { WebSocketServer } from 'ws';

export interface DemoOptions {
  port: number;
  host: string;
  nodeId: number;
  /** When set, the WuKongIM routes require it in the `token` header; unset, they are open (loopback demo). */
  managerToken?: string;
  tencent: TencentOptions;
  /** Demo data: user123 with two devices and the connection 12345 of the seeds. */
  seed: boolean;
  log: (line: string) => void;
}

/** A running demo, whatever its framework. */
export interface Demo {
  url: string;
  engine: Evict;
  server: Server;
  /** The session tokens made for the demo data, by device flag. */
  seedTokens: Record<number, string>;
  close(): Promise<void>;
}

/** Reads the demo's settings from the environment, with the defaults the README documents. */
export function demoOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoOptions {
  return {
    port: Number(env.PORT ?? 5001),
    host: env.HOST ?? '127.0.0.1',
    nodeId: Number(env.NODE_ID ?? 1),
    ...(env.EVICT_MANAGER_TOKEN ? { managerToken: env.EVICT_MANAGER_TOKEN } : {}),
    tencent: {
      sdkAppId: Number(env.TENCENT_SDKAPPID ?? 1400000001),
      secretKey: env.TENCENT_SECRET_KEY ?? 'evict-demo-secret-key-do-not-use-in-production',
      admins: (env.TENCENT_ADMINS ?? 'admin').split(',').map((s) => s.trim()),
    },
    seed: env.DEMO_SEED !== '0',
    log: (line) => console.log(line),
  };
}

/** The WuKongIM family's options for the demo: the manager token, or an explicit, loud opt-out. */
export function wukongimOptions(options: DemoOptions) {
  return options.managerToken === undefined
    ? { allowUnauthenticated: true }
    : { managerToken: options.managerToken };
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** One readable line per revocation: the audit event. */
export function describeRevocation(e: RevocationEvent): string {
  const actor = e.actor.id === undefined ? e.actor.type : `${e.actor.type} ${e.actor.id}`;
  const target = [
    `uid=${e.uid}`,
    e.deviceFlag === undefined ? '' : `device=${e.deviceFlag}`,
    e.connId === undefined ? '' : `conn=${e.connId}`,
    e.pushTokenKinds === undefined ? '' : `push tokens cleared=[${e.pushTokenKinds.join(',')}]`,
  ]
    .filter(Boolean)
    .join(' ');
  return `[evict] ${time(e.atMs)} ${e.action} ${target} by ${actor} via ${e.endpoint ?? 'host code'} on node ${e.servedByNodeId}: ${e.connectionsClosed} connection(s) closed`;
}

/** Prints the audit trail and the connections evict closes. */
export function logEngineEvents(engine: Evict, log: (line: string) => void): void {
  engine.on('revocation', (event) => log(describeRevocation(event)));
  engine.on('connectionClosed', (e) =>
    log(`[evict] connection ${e.connId} of ${e.uid} (device ${e.deviceFlag}) closed: ${e.code} ${e.reason}`),
  );
}

/**
 * The WebSocket endpoint `/ws?token=…` (or `?identifier=&usersig=`): the upgrade is checked like any
 * request, the socket is registered with the engine, told its `conn_id` and `node_id`, and closed by
 * evict on a kick, a device quit or a connection removal.
 */
export function attachWebSocket(server: Server, engine: Evict, options: DemoOptions): { close(): void } {
  const sockets = new WebSocketServer({ noServer: true });
  const check = createUpgradeCheck(engine, { credentials: ['session', 'usersig'], userSig: options.tencent });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    check(req).then(
      (result) => {
        if (!result.ok) return rejectUpgrade(socket, result.response);
        sockets.handleUpgrade(req, socket, head, (ws) => {
          const { uid } = result.principal;
          const deviceFlag = result.principal.deviceFlag ?? Number(url.searchParams.get('device_flag') ?? 0);
          const token = url.searchParams.get('token');
          const credential = token === null ? undefined : { type: 'session' as const, token };
          registerSocket(engine, ws, {
            uid,
            deviceFlag,
            ...(credential === undefined ? {} : { credential }),
          }).then(
            (handle) => {
              ws.send(
                JSON.stringify({
                  type: 'hello',
                  uid,
                  device_flag: deviceFlag,
                  conn_id: handle.connId,
                  node_id: handle.nodeId,
                }),
              );
              options.log(`[demo] ${uid} connected: conn_id ${handle.connId} on node ${handle.nodeId}`);
            },
            () => undefined,
          );
        });
      },
      () => socket.destroy(),
    );
  });

  return {
    close() {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
    },
  };
}

/**
 * The demo data the seeds' commands expect: user123 with sessions on devices 0 (app) and 1 (web),
 * and the connection 12345 on this node, a simulated app (device 0) connection, so that the
 * device_quit of device 1 (seed 000) leaves it for conn/remove (seed 001).
 */
export async function seedDemoData(
  engine: Evict,
  log: (line: string) => void,
): Promise<Record<number, string>> {
  const tokens: Record<number, string> = {};
  await engine.addUser('user123');
  for (const deviceFlag of [0, 1])
    tokens[deviceFlag] = (await engine.issueSession({ uid: 'user123', deviceFlag })).token;
  await engine.registerConnection({
    uid: 'user123',
    deviceFlag: 0,
    connId: 12345,
    close: ({ code, reason }) =>
      log(`[demo] simulated connection 12345 of user123 closed (${code} ${reason})`),
  });
  return tokens;
}

/** Listens and answers the demo's URL. */
export async function listen(server: Server, options: DemoOptions): Promise<string> {
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return `http://${options.host}:${port}`;
}

/**
 * Serves a demo's app: the WebSocket endpoint, the demo data, then listening. Each framework's demo
 * builds its app and hands its server here.
 */
export async function serveDemo(
  server: Server,
  engine: Evict,
  options: DemoOptions,
  /** Stops the app; default: closes the server (Nest passes `app.close()`). */
  stop: () => Promise<void> = () => new Promise<void>((resolve) => server.close(() => resolve())),
): Promise<Demo> {
  const sockets = attachWebSocket(server, engine, options);
  const seedTokens = options.seed ? await seedDemoData(engine, options.log) : {};
  const url = await listen(server, options);
  return {
    url,
    engine,
    server,
    seedTokens,
    async close() {
      sockets.close();
      await stop();
      await engine.close();
    },
  };
}

/** The entry point of each demo process: start, print the story's first steps, stop on a signal. */
export async function runDemo(
  framework: string,
  start: (options: DemoOptions) => Promise<Demo>,
): Promise<void> {
  const options = demoOptionsFromEnv();
  const demo = await start(options);
  const { url, seedTokens } = demo;
  const port = new URL(url).port;
  const t = options.tencent;
  console.log(`evict ${framework} demo on ${url} (node ${options.nodeId}, in-memory store)
${options.managerToken === undefined ? 'WuKongIM admin routes are OPEN (no EVICT_MANAGER_TOKEN): a loopback demo only.\n' : ''}
Demo data: user123 with devices 0 (app) and 1 (web), and connection 12345 (device 0) on node ${options.nodeId}.
  user123 device 1 token: ${seedTokens[1] ?? '-'}
Tencent app: sdkappid ${t.sdkAppId}, admin ${t.admins.join(',')} (a UserSig: curl '${url}/demo/usersig?identifier=${t.admins[0]}')

Try the seeds:
  curl -X POST "http://localhost:${port}/user/device_quit" -H "Content-Type: application/json" -d '{"uid": "user123", "device_flag": 1}'
  curl -X POST "http://localhost:${port}/conn/remove" -H "Content-Type: application/json" -d '{"uid": "user123", "conn_id": 12345, "node_id": 1}'
`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      demo.close().then(() => process.exit(0));
    });
  }
}
