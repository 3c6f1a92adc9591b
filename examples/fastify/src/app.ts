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
import { fastifyEvict } from '@evict/fastify';
import Fastify from 'fastify';

export { type Demo, type DemoOptions, demoOptionsFromEnv } from '@evict/demo-kit';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The Fastify demo: the three admin families, the host's own routes behind the guard, a WebSocket. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const engine = await createDemoEngine(options);
  await engine.ready();
  logEngineEvents(engine, options.log);

  const app = Fastify();
  app.setErrorHandler<Error & { statusCode?: number }>((error, _request, reply) => {
    // Fastify's own 4xx (a malformed JSON body on the host's routes) keep its answer.
    if (error.statusCode !== undefined && error.statusCode < 500) return reply.send(error);
    options.log(`[demo] error: ${error.stack ?? String(error)}`);
    return reply.code(500).send({ error: 'internal error' });
  });
  // The three admin API families at the paths their documentation gives, and the guard on the
  // host's routes that ask for it (`config: { evict: true }`).
  await app.register(fastifyEvict, {
    engine,
    admin: demoAdminOptions(engine, options),
    guard: false,
  });
  const guarded = {
    config: { evict: { credentials: ['session' as const, userSigSource(options.tencent)] } },
  };

  // The host's own routes.
  app.post<{ Body: LoginBody }>('/login', async (request, reply) => {
    try {
      return await demoLogin(engine, request.body ?? {}, {
        userAgent: request.headers['user-agent'],
        ip: request.socket.remoteAddress,
      });
    } catch (error) {
      const failure = demoLoginFailure(error);
      return reply.code(failure.status).send(failure.body);
    }
  });

  app.get('/me', guarded, async (request) => ({
    uid: request.evict?.uid,
    device_flag: request.evict?.deviceFlag ?? null,
    credential: request.evict?.credential,
  }));

  app.put<{ Body: { kind: PushTokenKind; push_token: string } }>(
    '/push-tokens',
    guarded,
    async (request, reply) => {
      const { kind, push_token: token } = request.body ?? ({} as { kind: PushTokenKind; push_token: string });
      const principal = request.evict!;
      try {
        await engine.setPushToken(principal.uid, { kind, token, deviceFlag: principal.deviceFlag ?? 0 });
        return { status: 'ok' };
      } catch (error) {
        return reply.code(400).send({ error: message(error) });
      }
    },
  );

  app.get('/push-tokens', guarded, async (request) => {
    const tokens = await engine.pushTokens(request.evict!.uid);
    return Object.fromEntries(tokens.map((t) => [t.kind, t.token]));
  });

  // Demo convenience: a UserSig signed with the demo app's key (what tls-sig-api-v2's genUserSig makes).
  if (options.userSigRoute) {
    app.get<{ Querystring: { identifier?: string } }>('/demo/usersig', async (request) => {
      const identifier = String(request.query.identifier ?? 'admin');
      return {
        sdkappid: options.tencent.sdkAppId,
        identifier,
        usersig: signUserSig({ ...options.tencent, identifier, expireSec: 86_400 }),
      };
    });
  }

  await app.ready();
  return serveDemo(app.server, engine, options, () => app.close());
}
