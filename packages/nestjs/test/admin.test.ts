import 'reflect-metadata';
import { createAdminApi, type Evict, parseRawBody } from '@evict/core';
import { type EvictAdminOptions, EvictModule } from '@evict/nestjs';
import { Body, Controller, type DynamicModule, Module, Post } from '@nestjs/common';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminOptions, kickUrl, MANAGER_TOKEN } from '../../../test/support/fixtures.js';
import { type AppOptions, closeAll, engine, start } from './helpers.js';

const OK = '{"status":"ok"}';
const TENCENT_OK = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';
const json = (value: unknown) => JSON.stringify(value);

@Controller()
class EchoController {
  /** A host route with a body: Nest's own parser must still serve it. */
  @Post('echo')
  echo(@Body() body: unknown) {
    return { body: body ?? null };
  }
}

let e: Evict;
let aliceToken: string;

beforeEach(async () => {
  e = engine();
  await e.issueSession({ uid: 'alice01', deviceFlag: 0 });
  aliceToken = (await e.issueSession({ uid: 'alice01', deviceFlag: 1 })).token;
  await e.registerConnection({ uid: 'alice01', deviceFlag: 0, connId: 12345, close: () => undefined });
});

afterEach(closeAll);

function appModule(admin: EvictAdminOptions | false = adminOptions()): DynamicModule {
  @Module({ imports: [EvictModule.forRoot({ engine: e, admin })], controllers: [EchoController] })
  class AppModule {}
  return { module: AppModule };
}

const server = async (admin?: EvictAdminOptions | false, options?: AppOptions) =>
  (await start(appModule(admin), options)).getHttpServer();

/** What core answers to the same request, without any framework. */
async function coreAnswer(method: string, path: string, headers: Record<string, string>, body: string) {
  const answer = await createAdminApi(e, adminOptions()).handle({
    method,
    path,
    headers,
    query: new URLSearchParams(),
    readBody: async () => parseRawBody(body),
  });
  return { status: answer?.status, text: answer?.body };
}

describe.each([
  { bodyParser: true, testing: false },
  { bodyParser: false, testing: false },
  { bodyParser: true, testing: true },
])('the families on NestFactory.create / Test (%o)', (options) => {
  it('WuKongIM: 200 {"status":"ok"} with the manager token, 401 with an empty body without it', async () => {
    const app = await server(undefined, options);
    await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01', device_flag: 1 }))
      .expect(200, OK);
    await request(app)
      .post('/conn/remove')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01', conn_id: 12345, node_id: 1 }))
      .expect(200, OK);
    const refused = await request(app)
      .post('/user/device_quit')
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01' }));
    expect(refused.status).toBe(401);
    expect(refused.text).toBe('');
  });

  it('Tencent: kicks with a UserSig made by core, whatever content type the body is sent with', async () => {
    const app = await server(undefined, options);
    // supertest sends a string as a form: Nest's urlencoded parser must not get it first.
    await request(app)
      .post(kickUrl())
      .send(json({ Identifier: 'alice01' }))
      .expect(200, TENCENT_OK);
    await request(app)
      .post(kickUrl())
      .set('content-type', 'application/json')
      .send(json({ UserID: 'alice01' }))
      .expect(200, TENCENT_OK);
    expect(await e.check({ type: 'session', token: aliceToken })).toMatchObject({
      ok: false,
      reason: 'kicked',
    });
  });

  it('Lancens: logs out with 200 {"status":"ok"}', async () => {
    const app = await server(undefined, options);
    await request(app)
      .post('/v1/api/user/logout')
      .set('content-type', 'application/json')
      .send(json({ username: 'alice01', token: aliceToken }))
      .expect(200, OK);
    expect(await e.check({ type: 'session', token: aliceToken })).toMatchObject({
      ok: false,
      reason: 'logged_out',
    });
  });

  it('a body that is not JSON is the family’s parameter error, exactly as core answers it', async () => {
    const app = await server(undefined, options);
    const headers = { token: MANAGER_TOKEN, 'content-type': 'application/json' };
    for (const body of ['{"uid": "alice01",', '"alice01"']) {
      const answer = await request(app).post('/user/device_quit').set(headers).send(body);
      expect({ status: answer.status, text: answer.text }).toEqual(
        await coreAnswer('POST', '/user/device_quit', headers, body),
      );
      expect(answer.status).toBe(400);
    }
    const tencent = await request(app)
      .post(kickUrl())
      .set('content-type', 'application/json')
      .send('{"Identifier":');
    expect(tencent.status).toBe(200);
    expect(tencent.body).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 60003 });
  });

  it('leaves the host’s own routes and their bodies to Nest', async () => {
    const app = await server(undefined, options);
    const echoed = await request(app).post('/echo').send({ hello: 'world' });
    expect(echoed.status).toBe(201);
    expect(echoed.body).toEqual({ body: options.bodyParser ? { hello: 'world' } : null });
    await request(app).get('/user/device_quit').expect(404);
  });
});

describe('which routes, where', () => {
  it('serves a subset with admin.families', async () => {
    const app = await server({ families: ['lancens'] });
    await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01' }))
      .expect(404);
    await request(app)
      .post(kickUrl())
      .send(json({ Identifier: 'alice01' }))
      .expect(404);
    await request(app)
      .post('/v1/api/user/logout')
      .set('content-type', 'application/json')
      .send(json({ username: 'alice01', token: aliceToken }))
      .expect(200, OK);
  });

  it('serves none with admin: false, and refuses to start without a manager token', async () => {
    const app = await server(false);
    await request(app)
      .post(kickUrl())
      .send(json({ Identifier: 'alice01' }))
      .expect(404);
    await expect(server({ families: ['wukongim'] })).rejects.toThrow(/managerToken/);
  });

  const deviceQuit = (app: unknown, path: string) =>
    request(app as never)
      .post(path)
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01', device_flag: 1 }));

  it.each([{ testing: false }, { testing: true }])('honours the global prefix by default (%o)', async (o) => {
    const app = await server(undefined, { ...o, globalPrefix: 'api' });
    await deviceQuit(app, '/user/device_quit').expect(404);
    await deviceQuit(app, '/api/user/device_quit').expect(200, OK);
    await request(app)
      .post(kickUrl('/api'))
      .send(json({ Identifier: 'alice01' }))
      .expect(200, TENCENT_OK);
  });

  it('leaves the global prefix out with admin.ignoreGlobalPrefix', async () => {
    const app = await server({ ...adminOptions(), ignoreGlobalPrefix: true }, { globalPrefix: '/api/' });
    await deviceQuit(app, '/api/user/device_quit').expect(404);
    await deviceQuit(app, '/user/device_quit').expect(200, OK);
  });

  it('mounts below admin.path, itself below the global prefix unless told otherwise', async () => {
    const below = await server({ ...adminOptions(), path: 'admin' }, { globalPrefix: 'api' });
    await deviceQuit(below, '/api/user/device_quit').expect(404);
    await deviceQuit(below, '/admin/user/device_quit').expect(404);
    await deviceQuit(below, '/api/admin/user/device_quit').expect(200, OK);
    await e.issueSession({ uid: 'alice01', deviceFlag: 1 });

    const outside = await server(
      { ...adminOptions(), path: '/admin/', ignoreGlobalPrefix: true },
      {
        globalPrefix: 'api',
      },
    );
    await deviceQuit(outside, '/admin/user/device_quit').expect(200, OK);
    await deviceQuit(outside, '/api/admin/user/device_quit').expect(404);
  });
});
