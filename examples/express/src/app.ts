import { createServer } from 'node:http';
import { signUserSig, userSigSource } from '@evict/core';
import {
  createDemoEngine,
  type Demo,
  type DemoOptions,
  demoAdminOptions,
  demoLogin,
  demoLoginFailure,
  logEngineEvents,
  serveDemo,
} from '@evict/demo-kit';
import { evictGuard, evictRouter } from '@evict/express';
import { jwtSource } from '@evict/jose';
import { evictSocketIo, type SocketPrincipal } from '@evict/socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { Server as SocketIoServer } from 'socket.io';

export { type Demo, type DemoOptions, demoOptionsFromEnv } from '@evict/demo-kit';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The Express demo: the three admin families, the host's own routes behind the guard, a WebSocket. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const engine = await createDemoEngine(options);
  await engine.ready();
  logEngineEvents(engine, options.log);

  const app = express();
  // The three admin API families, at the paths their documentation gives.
  app.use(evictRouter(engine, demoAdminOptions(engine, options)));

  // The host's own routes.
  // JWTs the demo signs (`POST /login/jwt`), session tokens, and Tencent UserSigs, in that order.
  const jwtKey = new TextEncoder().encode(options.jwtSecret);
  const jwts = jwtSource({ key: jwtKey, algorithms: ['HS256'], deviceClaim: 'device_flag' });
  const guard = evictGuard(engine, { credentials: [jwts, 'session', userSigSource(options.tencent)] });

  // A stateless login: a JWT of the user and device (`iat` now, an hour long), which evict never
  // stores; a kick of the user still rejects it. The user is declared known so that a kick finds it.
  app.post('/login/jwt', express.json(), async (req, res) => {
    const { uid, device_flag: deviceFlag = 0 } = (req.body ?? {}) as { uid?: unknown; device_flag?: unknown };
    try {
      if (!Number.isInteger(deviceFlag) || (deviceFlag as number) < 0 || (deviceFlag as number) > 255)
        throw new TypeError('device_flag must be an integer from 0 to 255');
      await engine.addUser(uid as string);
      const jwt = await new SignJWT({ device_flag: deviceFlag })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(uid as string)
        .setIssuedAt(Math.floor(engine.clock.nowMs() / 1000))
        .setExpirationTime('1h')
        .sign(jwtKey);
      res.json({ jwt });
    } catch (error) {
      const failure = demoLoginFailure(error);
      res.status(failure.status).json(failure.body);
    }
  });

  app.post('/login', express.json(), async (req, res) => {
    try {
      res.json(
        await demoLogin(engine, req.body, { userAgent: req.get('user-agent'), ip: req.socket.remoteAddress }),
      );
    } catch (error) {
      const failure = demoLoginFailure(error);
      res.status(failure.status).json(failure.body);
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
      res.status(400).json({ error: message(error) });
    }
  });

  app.get('/push-tokens', guard, async (req, res) => {
    const tokens = await engine.pushTokens(req.evict!.uid);
    res.json(Object.fromEntries(tokens.map((t) => [t.kind, t.token])));
  });

  // Demo convenience: a UserSig signed with the demo app's key (what tls-sig-api-v2's genUserSig makes).
  if (options.userSigRoute) {
    app.get('/demo/usersig', (req, res) => {
      const identifier = String(req.query.identifier ?? 'admin');
      res.json({
        sdkappid: options.tencent.sdkAppId,
        identifier,
        usersig: signUserSig({ ...options.tencent, identifier, expireSec: 86_400 }),
      });
    });
  }

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    options.log(`[demo] error: ${error instanceof Error ? error.stack : String(error)}`);
    if (!res.headersSent) res.status(500).json({ error: 'internal error' });
  });

  // socket.io at its default path, beside the WebSocket at /ws: the same check, the same story. It
  // needs no socket.io adapter to be closed on any node (evict's own messages do it); with
  // EVICT_DEMO_SOCKETIO_ADAPTER=redis (and REDIS_URL) the demo installs @socket.io/redis-adapter
  // anyway, as apps that broadcast across nodes do.
  const server = createServer(app);
  const io = new SocketIoServer(server, { serveClient: false });
  const adapterClients: Redis[] = [];
  if (process.env.EVICT_DEMO_SOCKETIO_ADAPTER === 'redis' && options.redisUrl !== undefined) {
    const pub = new Redis(options.redisUrl);
    const sub = pub.duplicate();
    adapterClients.push(pub, sub);
    io.adapter(createAdapter(pub, sub, { key: `${options.redisPrefix}socket.io` }));
  }
  io.use(evictSocketIo(engine, { guard: { credentials: ['session', userSigSource(options.tencent)] } }));
  io.on('connection', (socket) => {
    const { uid, deviceFlag, connId, nodeId } = socket.data.evict as SocketPrincipal;
    socket.emit('hello', { uid, device_flag: deviceFlag ?? 0, conn_id: connId, node_id: nodeId });
    options.log(`[demo] ${uid} connected over socket.io: conn_id ${connId} on node ${nodeId}`);
  });
  const stop = async () => {
    await new Promise<void>((resolve) => io.close(() => resolve()));
    for (const client of adapterClients) client.disconnect();
  };
  return serveDemo(server, engine, options, stop, ['/socket.io/']);
}
