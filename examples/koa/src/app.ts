import { createServer } from 'node:http';
import { createRequire } from 'node:module';
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
import { evictGuard, evictRoutes } from '@evict/koa';
import Router from '@koa/router';
import Koa, { type Middleware } from 'koa';

export { type Demo, type DemoOptions, demoOptionsFromEnv } from '@evict/demo-kit';

// In your app: `import { bodyParser } from '@koa/bodyparser'`. Here it is loaded untyped because its
// types add `body` to node's IncomingMessage for the whole program, which breaks Express's `req.body`
// in this repository's single typecheck.
const { bodyParser } = createRequire(import.meta.url)('@koa/bodyparser') as { bodyParser: () => Middleware };
/** The JSON body @koa/bodyparser parsed, with the fields the client sent (the engine validates them). */
const bodyOf = <T>(ctx: { request: object }) => ((ctx.request as { body?: unknown }).body ?? {}) as T;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The Koa demo: the three admin families, the host's own routes behind the guard, a WebSocket. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const engine = await createDemoEngine(options);
  await engine.ready();
  logEngineEvents(engine, options.log);

  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      options.log(`[demo] error: ${error instanceof Error ? error.stack : String(error)}`);
      ctx.status = 500;
      ctx.body = { error: 'internal error' };
    }
  });
  // The three admin API families, at the paths their documentation gives.
  app.use(evictRoutes(engine, demoAdminOptions(engine, options)));

  // The host's own routes.
  const guard = evictGuard(engine, { credentials: ['session', userSigSource(options.tencent)] });
  const json = bodyParser();
  const router = new Router();

  router.post('/login', json, async (ctx) => {
    try {
      ctx.body = await demoLogin(engine, bodyOf<LoginBody>(ctx), {
        userAgent: ctx.get('user-agent'),
        ip: ctx.socket.remoteAddress,
      });
    } catch (error) {
      const failure = demoLoginFailure(error);
      ctx.status = failure.status;
      ctx.body = failure.body;
    }
  });

  router.get('/me', guard, (ctx) => {
    ctx.body = {
      uid: ctx.state.evict?.uid,
      device_flag: ctx.state.evict?.deviceFlag ?? null,
      credential: ctx.state.evict?.credential,
    };
  });

  router.put('/push-tokens', guard, json, async (ctx) => {
    const { kind, push_token: token } = bodyOf<{ kind: PushTokenKind; push_token: string }>(ctx);
    const principal = ctx.state.evict!;
    try {
      await engine.setPushToken(principal.uid, { kind, token, deviceFlag: principal.deviceFlag ?? 0 });
      ctx.body = { status: 'ok' };
    } catch (error) {
      ctx.status = 400;
      ctx.body = { error: message(error) };
    }
  });

  router.get('/push-tokens', guard, async (ctx) => {
    const tokens = await engine.pushTokens(ctx.state.evict!.uid);
    ctx.body = Object.fromEntries(tokens.map((t) => [t.kind, t.token]));
  });

  // Demo convenience: a UserSig signed with the demo app's key (what tls-sig-api-v2's genUserSig makes).
  if (options.userSigRoute) {
    router.get('/demo/usersig', (ctx) => {
      const identifier = String(ctx.query.identifier ?? 'admin');
      ctx.body = {
        sdkappid: options.tencent.sdkAppId,
        identifier,
        usersig: signUserSig({ ...options.tencent, identifier, expireSec: 86_400 }),
      };
    });
  }

  app.use(router.routes());

  return serveDemo(createServer(app.callback()), engine, options);
}
