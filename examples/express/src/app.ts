import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CheckResult,
  createEvict,
  type Evict,
  type RevocationEvent,
  signUserSig,
  type TencentOptions,
} from '@evict/core';
import { checkUpgrade, evictGuard, evictRouter } from '@evict/express';
import express, { type NextFunction, type Request, type Response } from 'express';
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

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { log } = options;
  const engine = createEvict({ nodeId: options.nodeId });
  await engine.ready();
  engine.on('revocation', (event) => log(describeRevocation(event)));
  engine.on('connectionClosed', (e) =>
    log(`[evict] connection ${e.connId} of ${e.uid} (device ${e.deviceFlag}) closed: ${e.code} ${e.reason}`),
  );

  const app = express();
  const guard = evictGuard(engine, { credentials: ['session', 'usersig'], userSig: options.tencent });

  // The three admin API families, at the paths their documentation gives.
  app.use(
    evictRouter(engine, {
      wukongim:
        options.managerToken === undefined
          ? { allowUnauthenticated: true }
          : { managerToken: options.managerToken },
      tencent: options.tencent,
    }),
  );

  // The host's own routes.
  app.post('/login', express.json(), async (req, res) => {
    const uid = req.body?.uid ?? req.body?.username;
    const deviceFlag = req.body?.device_flag ?? 0;
    try {
      const session = await engine.issueSession({ uid, deviceFlag });
      res.json({
        token: session.token,
        uid,
        device_flag: deviceFlag,
        expires_at: new Date(session.expiresAtMs),
      });
    } catch (error) {
      res.status(400).json({ error: error instanceof Error ? error.message : String(error) });
    }
  });

  app.get('/me', guard, (req, res) => {
    res.json({
      uid: req.evict?.uid,
      device_flag: req.evict?.deviceFlag ?? null,
      credential: req.evict?.credential,
    });
  });

  app.put('/push-tokens', guard, express.json(), async (req, res) => {
    const { kind, push_token: token } = req.body ?? {};
    try {
      await engine.setPushToken(req.evict!.uid, { kind, token, deviceFlag: req.evict!.deviceFlag ?? 0 });
      res.json({ status: 'ok' });
    } catch (error) {
      res.status(400).json({ error: error instanceof Error ? error.message : String(error) });
    }
  });

  app.get('/push-tokens', guard, async (req, res) => {
    const tokens = await engine.pushTokens(req.evict!.uid);
    res.json(Object.fromEntries(tokens.map((t) => [t.kind, t.token])));
  });

  // Demo convenience: a UserSig signed with the demo app's key (what tls-sig-api-v2's genUserSig makes).
  app.get('/demo/usersig', (req, res) => {
    const identifier = String(req.query.identifier ?? 'admin');
    const usersig = signUserSig({ ...options.tencent, identifier, expireSec: 86_400 });
    res.json({ sdkappid: options.tencent.sdkAppId, identifier, usersig });
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    log(`[demo] error: ${error instanceof Error ? error.stack : String(error)}`);
    if (!res.headersSent) res.status(500).json({ error: 'internal error' });
  });

  const server = createServer(app);
  const sockets = new WebSocketServer({ noServer: true });
  const check = checkUpgrade(engine, { credentials: ['session', 'usersig'], userSig: options.tencent });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    check(req).then(
      (result) => {
        if (!result.ok) {
          const { status, body } = result.response;
          socket.end(
            `HTTP/1.1 ${status} Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
          return;
        }
        sockets.handleUpgrade(req, socket, head, (ws) => {
          const { uid } = result.principal;
          const deviceFlag = result.principal.deviceFlag ?? Number(url.searchParams.get('device_flag') ?? 0);
          const token = url.searchParams.get('token');
          engine
            .registerConnection({
              uid,
              deviceFlag,
              close: ({ code, reason }) => ws.close(code, reason),
              ...(token === null ? {} : { credential: { type: 'session' as const, token } }),
            })
            .then(
              (handle) => {
                ws.on('close', () => void handle.unregister().catch(() => undefined));
                ws.send(
                  JSON.stringify({
                    type: 'hello',
                    uid,
                    device_flag: deviceFlag,
                    conn_id: handle.connId,
                    node_id: handle.nodeId,
                  }),
                );
                log(`[demo] ${uid} connected: conn_id ${handle.connId} on node ${handle.nodeId}`);
              },
              () => ws.close(4401, 'unauthorized'),
            );
        });
      },
      () => socket.destroy(),
    );
  });

  const seedTokens: Record<number, string> = {};
  if (options.seed) {
    await engine.addUser('user123');
    for (const deviceFlag of [0, 1]) {
      seedTokens[deviceFlag] = (await engine.issueSession({ uid: 'user123', deviceFlag })).token;
    }
    // The seeds' conn_id 12345 on node 1: a simulated app (device 0) connection, so that the
    // device_quit of device 1 (seed 000) leaves it for conn/remove (seed 001).
    await engine.registerConnection({
      uid: 'user123',
      deviceFlag: 0,
      connId: 12345,
      close: ({ code, reason }) =>
        log(`[demo] simulated connection 12345 of user123 closed (${code} ${reason})`),
    });
  }

  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host}:${port}`;

  return {
    url,
    engine,
    server,
    seedTokens,
    async close() {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.close();
    },
  };
}

export type { CheckResult };
