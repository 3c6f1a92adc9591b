import { createServer } from 'node:http';
import { signUserSig, userSigSource } from '@evict/core';
import {
  createDemoEngine,
  type Demo,
  type DemoOptions,
  demoLogin,
  demoLoginFailure,
  logEngineEvents,
  serveDemo,
  wukongimOptions,
} from '@evict/demo-kit';
import { evictGuard, evictRouter } from '@evict/express';
import express, { type NextFunction, type Request, type Response } from 'express';

export { type Demo, type DemoOptions, demoOptionsFromEnv } from '@evict/demo-kit';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The Express demo: the three admin families, the host's own routes behind the guard, a WebSocket. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const engine = await createDemoEngine(options);
  await engine.ready();
  logEngineEvents(engine, options.log);

  const app = express();
  // The three admin API families, at the paths their documentation gives.
  app.use(
    evictRouter(engine, { wukongim: wukongimOptions(options), tencent: options.tencent, sessions: true }),
  );

  // The host's own routes.
  const guard = evictGuard(engine, { credentials: ['session', userSigSource(options.tencent)] });

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
  app.get('/demo/usersig', (req, res) => {
    const identifier = String(req.query.identifier ?? 'admin');
    res.json({
      sdkappid: options.tencent.sdkAppId,
      identifier,
      usersig: signUserSig({ ...options.tencent, identifier, expireSec: 86_400 }),
    });
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    options.log(`[demo] error: ${error instanceof Error ? error.stack : String(error)}`);
    if (!res.headersSent) res.status(500).json({ error: 'internal error' });
  });

  return serveDemo(createServer(app), engine, options);
}
