import { createEvict, type Evict, MemoryStore } from '@evict/core';
import { evictGuard, fastifyEvict } from '@evict/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminOptions, MANAGER_TOKEN } from '../../../test/support/fixtures.js';

const OK = '{"status":"ok"}';
const NOT_JSON = { msg: 'request body is not valid JSON', status: 400 };
const UNAUTHORIZED = {
  error: 'unauthorized',
  reason: 'unknown',
  message: 'no credential: send a session token in the `token` header or `Authorization: Bearer`',
};

let store: MemoryStore;
let engine: Evict;
let token: string;
const apps: FastifyInstance[] = [];

beforeEach(async () => {
  store = new MemoryStore();
  engine = createEvict({ store });
  ({ token } = await engine.issueSession({ uid: 'alice01', deviceFlag: 1 }));
});

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await engine.close();
  await store.close();
});

/** A Fastify app with the plugin registered as `options` say, then `routes`, ready to serve. */
async function appWith(
  options: Omit<Parameters<typeof fastifyEvict>[1], 'engine'>,
  routes: (app: FastifyInstance) => void = () => undefined,
): Promise<FastifyInstance> {
  const app = Fastify();
  apps.push(app);
  await app.register(fastifyEvict, { engine, ...options });
  routes(app);
  await app.ready();
  return app;
}

const principal = (app: FastifyInstance, path: string) =>
  app.get(path, async (req) => ({ evict: req.evict }));

describe('the guard', () => {
  it('on every route with `guard: true`, but those whose config says evict: false and the admin routes', async () => {
    const app = await appWith({ guard: true, admin: adminOptions() }, (app) => {
      principal(app, '/me');
      app.get('/health', { config: { evict: false } }, async (req) => ({ evict: req.evict }));
    });
    await request(app.server).get('/me').expect(401, UNAUTHORIZED);
    await request(app.server)
      .get('/me')
      .set('token', token)
      .expect(200, { evict: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
    await request(app.server).get('/health').expect(200, { evict: null });
    // The admin route answers with its own authentication, not the user's guard.
    await request(app.server)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'alice01', device_flag: 1 })
      .expect(200, OK);
    await request(app.server).get('/me').set('token', token).expect(401);
  });

  it('only where a route asks for it without `guard`; its own options when the config gives them', async () => {
    const app = await appWith({}, (app) => {
      principal(app, '/open');
      app.get('/me', { config: { evict: true } }, async (req) => ({ evict: req.evict }));
      app.get('/me-q', { config: { evict: { queryToken: true } } }, async (req) => ({ evict: req.evict }));
    });
    await request(app.server).get('/open').expect(200, { evict: null });
    await request(app.server).get('/me').expect(401, UNAUTHORIZED);
    await request(app.server).get(`/me?token=${token}`).expect(401);
    await request(app.server).get(`/me-q?token=${token}`).expect(200);
  });

  it('as a hook of one route (evictGuard), in onRequest or preHandler', async () => {
    const app = await appWith({}, (app) => {
      app.get('/a', { onRequest: evictGuard(engine) }, async (req) => ({ evict: req.evict }));
      app.get('/b', { preHandler: evictGuard(engine) }, async (req) => ({ evict: req.evict }));
    });
    for (const path of ['/a', '/b']) {
      await request(app.server).get(path).expect(401, UNAUTHORIZED);
      await request(app.server).get(path).set('token', token).expect(200);
    }
    await engine.kickUser('alice01');
    await request(app.server)
      .get('/a')
      .set('token', token)
      .expect(401)
      .expect((res) => expect(res.body.reason).toBe('kicked'));
  });
});

describe('the admin routes', () => {
  it("answer a malformed body in the family's shape, and leave the app's own JSON parsing alone", async () => {
    const app = await appWith({ admin: adminOptions() }, (app) => {
      app.post('/echo', async (req) => ({ got: req.body }));
    });
    await request(app.server)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send('{"uid":')
      .expect(400, NOT_JSON);
    // The scope's catch-all parser is its own: the app still parses JSON, and answers in Fastify's shape.
    await request(app.server)
      .post('/echo')
      .send({ a: 1 })
      .expect(200, { got: { a: 1 } });
    await request(app.server)
      .post('/echo')
      .set('content-type', 'application/json')
      .send('{"a":')
      .expect(400)
      .expect((res) => expect(res.body.code).toBe('FST_ERR_CTP_INVALID_JSON_BODY'));
  });

  it('live below a prefix, carry their family as a tag for @fastify/swagger, and other paths are Fastify’s 404', async () => {
    const routes: { url: string; tags?: string[] }[] = [];
    const app = Fastify();
    apps.push(app);
    app.addHook('onRoute', (route) => {
      routes.push({ url: route.url, tags: (route.schema as { tags?: string[] } | undefined)?.tags });
    });
    await app.register(fastifyEvict, { engine, admin: { ...adminOptions(), prefix: '/admin/' } });
    await app.ready();
    expect(routes).toContainEqual({ url: '/admin/user/device_quit', tags: ['wukongim'] });
    expect(routes).toContainEqual({ url: '/admin/v4/im_open_login_svc/kick', tags: ['tencent'] });
    await request(app.server)
      .post('/admin/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'alice01', device_flag: 1 })
      .expect(200, OK);
    await request(app.server).post('/user/device_quit').set('token', MANAGER_TOKEN).send({}).expect(404);
    await request(app.server).head('/admin/connz').expect(404);
  });

  it('refuse to register without authentication, as on every framework', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(app.register(fastifyEvict, { engine, admin: { families: ['wukongim'] } })).rejects.toThrow(
      /managerToken/,
    );
  });
});
