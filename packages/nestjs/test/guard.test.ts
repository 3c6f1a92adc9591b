import 'reflect-metadata';
import type { IncomingMessage, Server } from 'node:http';
import {
  createGuard,
  type Evict,
  type GuardOptions,
  type Principal,
  signUserSig,
  userSigSource,
} from '@evict/core';
import { checkUpgrade, EvictGuard, EvictModule, EvictUser, Public } from '@evict/nestjs';
import { Controller, type DynamicModule, Get, Module, UseGuards } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { adminOptions, kickUrl, SDKAPPID, SECRET_KEY } from '../../../test/support/fixtures.js';
import { closeAll, engine, listen, start } from './helpers.js';

@Controller()
class RouteGuarded {
  @Get('me')
  @UseGuards(EvictGuard)
  me(@EvictUser() principal: Principal) {
    return { principal };
  }

  @Get('uid')
  @UseGuards(EvictGuard)
  uid(@EvictUser('uid') uid: string) {
    return { uid };
  }

  @Get('open')
  open() {
    return { open: true };
  }
}

@Controller('guarded')
@UseGuards(EvictGuard)
class ControllerGuarded {
  @Get()
  index(@EvictUser() principal: Principal) {
    return { principal };
  }
}

@Controller('app')
class AppGuarded {
  @Get('me')
  me(@EvictUser() principal: Principal) {
    return { principal };
  }

  @Get('public')
  @Public()
  open() {
    return { open: true };
  }
}

@Controller('public')
@Public()
class PublicController {
  @Get()
  index() {
    return { open: true };
  }
}

let e: Evict;
let alice: string;

beforeEach(async () => {
  e = engine();
  alice = (await e.issueSession({ uid: 'alice01', deviceFlag: 1 })).token;
});

afterEach(closeAll);

function appModule(options: { guard?: GuardOptions; global?: boolean } = {}): DynamicModule {
  @Module({
    imports: [EvictModule.forRoot({ engine: e, admin: adminOptions(), guard: options.guard ?? {} })],
    controllers: options.global
      ? [AppGuarded, PublicController]
      : [RouteGuarded, ControllerGuarded, PublicController],
    providers: options.global ? [{ provide: APP_GUARD, useClass: EvictGuard }] : [],
  })
  class AppModule {}
  return { module: AppModule };
}

/** What core's guard answers to the same request: the Nest answer must be this, byte for byte. */
async function coreRejection(headers: Record<string, string>, query = '', guard: GuardOptions = {}) {
  const result = await createGuard(e, guard)({ headers, query: new URLSearchParams(query) });
  if (result.ok) throw new Error('expected a rejection');
  return result.response;
}

async function expectCoreRejection(
  answer: request.Response,
  headers: Record<string, string>,
  query = '',
  guard: GuardOptions = {},
) {
  const core = await coreRejection(headers, query, guard);
  expect(answer.status).toBe(core.status);
  expect(answer.text).toBe(core.body);
  for (const [name, value] of Object.entries(core.headers)) expect(answer.headers[name]).toBe(value);
}

const kickAlice = (server: unknown) =>
  request(server as never)
    .post(kickUrl())
    .send('{"Identifier": "alice01"}')
    .expect(200, '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');

describe('EvictGuard per route and per controller', () => {
  it('accepts a live session and gives the principal to @EvictUser()', async () => {
    const server = (await start(appModule())).getHttpServer();
    await request(server)
      .get('/me')
      .set('token', alice)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
    await request(server).get('/uid').set('authorization', `Bearer ${alice}`).expect(200, { uid: 'alice01' });
    await request(server)
      .get('/guarded')
      .set('token', alice)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
    await request(server).get('/open').expect(200, { open: true });
  });

  it('answers core’s 401 without a credential and with an unknown one', async () => {
    const server = (await start(appModule())).getHttpServer();
    await expectCoreRejection(await request(server).get('/me'), {});
    await expectCoreRejection(await request(server).get('/guarded').set('token', 'nope'), { token: 'nope' });
  });

  it.each([{ bodyParser: true }, { bodyParser: false }])(
    'answers 401 kicked after a kick through the Nest-served endpoint, as core does (%o)',
    async (options) => {
      const server = (await start(appModule(), options)).getHttpServer();
      await request(server).get('/me').set('token', alice).expect(200);
      await kickAlice(server);
      for (const path of ['/me', '/guarded']) {
        const answer = await request(server).get(path).set('token', alice);
        expect(answer.body).toMatchObject({ error: 'unauthorized', reason: 'kicked' });
        await expectCoreRejection(answer, { token: alice });
      }
    },
  );

  it('checks UserSigs when told to, with Tencent’s code after a kick', async () => {
    const guard: GuardOptions = {
      credentials: ['session', userSigSource({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY })],
    };
    const server = (await start(appModule({ guard }))).getHttpServer();
    const sig = signUserSig({
      sdkAppId: SDKAPPID,
      secretKey: SECRET_KEY,
      identifier: 'alice01',
      expireSec: 600,
    });
    const query = `identifier=alice01&usersig=${encodeURIComponent(sig)}`;
    await request(server)
      .get(`/me?${query}`)
      .expect(200, { principal: { uid: 'alice01', credential: 'usersig' } });
    await kickAlice(server);
    const answer = await request(server).get(`/me?${query}`);
    expect(answer.body).toMatchObject({ ErrorCode: 70052, reason: 'kicked' });
    await expectCoreRejection(answer, {}, query, guard);
  });
});

describe('EvictGuard as APP_GUARD', () => {
  it('guards every route but the @Public() ones; the admin routes stay the families’', async () => {
    const server = (await start(appModule({ global: true }))).getHttpServer();
    await expectCoreRejection(await request(server).get('/app/me'), {});
    await request(server)
      .get('/app/me')
      .set('token', alice)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
    await request(server).get('/app/public').expect(200, { open: true });
    await request(server).get('/public').expect(200, { open: true });
    await kickAlice(server);
    await expectCoreRejection(await request(server).get('/app/me').set('token', alice), { token: alice });
  });
});

describe('checkUpgrade on app.getHttpServer()', () => {
  it('a WebSocket is closed with 4001 kicked after a kick through the Nest-served endpoint', async () => {
    const app = await start(appModule());
    const base = await listen(app);
    const server = app.getHttpServer() as Server;
    const sockets = new WebSocketServer({ noServer: true });
    const check = checkUpgrade(e);
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      check(req).then((result) => {
        if (!result.ok) return void socket.end(`HTTP/1.1 ${result.response.status} Unauthorized\r\n\r\n`);
        sockets.handleUpgrade(req, socket, head, (ws) => {
          const { uid, deviceFlag = 0 } = result.principal;
          e.registerConnection({ uid, deviceFlag, close: ({ code, reason }) => ws.close(code, reason) }).then(
            (handle) => ws.send(JSON.stringify({ type: 'hello', conn_id: handle.connId })),
          );
        });
      });
    });

    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${alice}`);
    const closed = new Promise<[number, string]>((resolve) =>
      ws.once('close', (code, reason) => resolve([code, String(reason)])),
    );
    const hello = await new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    expect(JSON.parse(hello)).toMatchObject({ type: 'hello' });

    await kickAlice(server);
    expect(await closed).toEqual([4001, 'kicked']);

    const refused = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${alice}`);
    const status = await new Promise<number>((resolve) =>
      refused.once('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      }),
    );
    expect(status).toBe(401);
    sockets.close();
  });
});
