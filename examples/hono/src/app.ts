import type { Server } from 'node:http';
import { type PushTokenKind, signUserSig, userSigSource } from '@evict/core';
import {
  createDemoEngine,
  type Demo,
  type DemoOptions,
  demoAdminOptions,
  demoLogin,
  demoLoginFailure,
  type LoginBody,
  logEngineEvents,
  serveDemo,
} from '@evict/demo-kit';
import { evictGuard, evictRoutes } from '@evict/hono';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export { type Demo, type DemoOptions, demoOptionsFromEnv } from '@evict/demo-kit';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The JSON body the client sent, or `{}` when it is not JSON (the engine validates the fields). */
async function bodyOf<T>(c: Context): Promise<T> {
  try {
    return ((await c.req.json()) ?? {}) as T;
  } catch {
    return {} as T;
  }
}

/** The Hono demo (on Node, through @hono/node-server): the three admin families, the host's own routes behind the guard, a WebSocket. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const engine = await createDemoEngine(options);
  await engine.ready();
  logEngineEvents(engine, options.log);

  const app = new Hono<{ Bindings: HttpBindings }>();
  app.onError((error, c) => {
    options.log(`[demo] error: ${error.stack ?? String(error)}`);
    return c.json({ error: 'internal error' }, 500);
  });
  // The three admin API families, at the paths their documentation gives.
  app.use(evictRoutes(engine, demoAdminOptions(engine, options)));

  // The host's own routes.
  const guard = evictGuard(engine, { credentials: ['session', userSigSource(options.tencent)] });

  app.post('/login', async (c) => {
    try {
      return c.json(
        await demoLogin(engine, await bodyOf<LoginBody>(c), {
          userAgent: c.req.header('user-agent'),
          ip: c.env.incoming.socket.remoteAddress,
        }),
      );
    } catch (error) {
      const failure = demoLoginFailure(error);
      return c.json(failure.body as object, failure.status as ContentfulStatusCode);
    }
  });

  app.get('/me', guard, (c) => {
    const principal = c.get('evict');
    return c.json({
      uid: principal.uid,
      device_flag: principal.deviceFlag ?? null,
      credential: principal.credential,
    });
  });

  app.put('/push-tokens', guard, async (c) => {
    const { kind, push_token: token } = await bodyOf<{ kind: PushTokenKind; push_token: string }>(c);
    const principal = c.get('evict');
    try {
      await engine.setPushToken(principal.uid, { kind, token, deviceFlag: principal.deviceFlag ?? 0 });
      return c.json({ status: 'ok' });
    } catch (error) {
      return c.json({ error: message(error) }, 400);
    }
  });

  app.get('/push-tokens', guard, async (c) => {
    const tokens = await engine.pushTokens(c.get('evict').uid);
    return c.json(Object.fromEntries(tokens.map((t) => [t.kind, t.token])));
  });

  // Demo convenience: a UserSig signed with the demo app's key (what tls-sig-api-v2's genUserSig makes).
  if (options.userSigRoute) {
    app.get('/demo/usersig', (c) => {
      const identifier = c.req.query('identifier') ?? 'admin';
      return c.json({
        sdkappid: options.tencent.sdkAppId,
        identifier,
        usersig: signUserSig({ ...options.tencent, identifier, expireSec: 86_400 }),
      });
    });
  }

  return serveDemo(createAdaptorServer({ fetch: app.fetch }) as Server, engine, options);
}
