import { createServer, request as httpRequest, type OutgoingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  type AdminApiOptions,
  createEvict,
  type Evict,
  MemoryStore,
  signUserSig,
  userSigSource,
} from '@evict/core';
import { checkUpgrade, evictGuard, evictRoutes } from '@evict/koa';
import Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  adminOptions,
  kickUrl,
  MANAGER_TOKEN,
  SDKAPPID,
  SECRET_KEY,
} from '../../../test/support/fixtures.js';

// Untyped on purpose: @koa/bodyparser's types add `body` and `rawBody` to node's IncomingMessage for
// the whole program, which breaks Express's `req.body` in this repository's single typecheck.
const { bodyParser } = createRequire(import.meta.url)('@koa/bodyparser') as { bodyParser: () => Middleware };
/** The body a body parser left on a Koa request. */
const parsedBody = (ctx: { request: object }) => (ctx.request as { body?: unknown }).body;

const OK = '{"status":"ok"}';
const TENCENT_OK = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';
const NOT_JSON = { msg: 'request body is not valid JSON', status: 400 };
const TOO_LARGE = { msg: 'request body is larger than 16 KiB', status: 400 };
const PROTO = { msg: 'unknown field "__proto__"', status: 400 };

const admin = adminOptions();

let store: MemoryStore;
let engine: Evict;
const servers: Server[] = [];
const sockets: WebSocketServer[] = [];

beforeEach(async () => {
  store = new MemoryStore();
  engine = createEvict({ store });
  await engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
  await engine.issueSession({ uid: 'alice01', deviceFlag: 1 });
});

afterEach(async () => {
  for (const wss of sockets.splice(0)) {
    for (const client of wss.clients) client.terminate();
    wss.close();
  }
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await engine.close();
  await store.close();
});

/** Listens on a random loopback port until afterEach. */
async function serve(app: Koa): Promise<Server> {
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Runs `action` and asserts that the store is exactly as it was. */
/** What is on file, less the failed-authentication counters, which count rejected calls by design. */
function stateOnFile(): unknown {
  const { counters, ...rest } = store.snapshot() as { counters: [string, unknown][] };
  return { ...rest, counters: counters.filter(([key]) => !key.includes(':authfail:')) };
}

async function unchanged<T>(action: () => PromiseLike<T>): Promise<T> {
  const before = stateOnFile();
  const result = await action();
  expect(stateOnFile()).toEqual(before);
  return result;
}

/** A body written in chunks, with no Content-Length (supertest always sends one for a string). */
async function sendChunked(
  server: Server,
  path: string,
  headers: OutgoingHttpHeaders,
  chunks: readonly string[],
): Promise<{ status: number; text: string }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path, headers: { ...headers, connection: 'close' } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      },
    );
    // The server may answer (and close) before the whole body is written.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

interface Mounting {
  name: string;
  /** Where the admin routes end up. */
  prefix: string;
  /** A JSON body parser runs first: it answers a malformed JSON-typed body itself, before evict sees it. */
  parsesJson: boolean;
  mount(app: Koa, options: AdminApiOptions): void;
}

const mountings: Mounting[] = [
  {
    name: 'app.use(evictRoutes()) with no body parser',
    prefix: '',
    parsesJson: false,
    mount: (app, options) => app.use(evictRoutes(engine, options)),
  },
  {
    name: 'app.use(evictRoutes()) after app.use(bodyParser())',
    prefix: '',
    parsesJson: true,
    mount: (app, options) => {
      app.use(bodyParser());
      app.use(evictRoutes(engine, options));
    },
  },
  {
    name: "app.use(evictRoutes({ prefix: '/admin' }))",
    prefix: '/admin',
    parsesJson: false,
    mount: (app, options) => app.use(evictRoutes(engine, { ...options, prefix: '/admin' })),
  },
  {
    name: "router.all('/admin/*rest', evictRoutes({ prefix: '/admin' }))",
    prefix: '/admin',
    parsesJson: false,
    mount: (app, options) => {
      const router = new Router();
      router.all('/admin/*rest', evictRoutes(engine, { ...options, prefix: '/admin' }));
      app.use(router.routes());
    },
  },
  {
    name: "a Router({ prefix: '/api' }) with bodyParser(), all('/evict/*rest', …)",
    prefix: '/api/evict',
    parsesJson: true,
    mount: (app, options) => {
      const router = new Router({ prefix: '/api' });
      router.use(bodyParser());
      router.all('/evict/*rest', evictRoutes(engine, { ...options, prefix: '/api/evict' }));
      app.use(router.routes());
    },
  },
];

/** The host app: evict mounted as `mounting` says, a host route after it, and the host's own 404. */
function hostApp(mounting: Mounting, options: AdminApiOptions = admin): Koa {
  const app = new Koa();
  app.silent = true; // the body parser's own 400s are expected here
  mounting.mount(app, options);
  const host = new Router();
  host.post('/echo', bodyParser(), (ctx) => {
    ctx.body = { got: parsedBody(ctx) };
  });
  host.put(`${mounting.prefix}/user/device_quit`, bodyParser(), (ctx) => {
    ctx.body = { host: parsedBody(ctx) };
  });
  app.use(host.routes());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { host: 'not found' };
  });
  return app;
}

describe.each(mountings)('evictRoutes: $name', (mounting) => {
  const at = (path: string) => `${mounting.prefix}${path}`;

  it('WuKongIM: device_quit and conn/remove answer 200 {"status":"ok"}', async () => {
    const server = await serve(hostApp(mounting));
    const quit = await request(server)
      .post(at('/user/device_quit'))
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send('{"uid": "alice01", "device_flag": 1}');
    expect(quit.status).toBe(200);
    expect(quit.text).toBe(OK);
    expect(quit.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(quit.headers['cache-control']).toBe('no-store');

    await engine.registerConnection({ uid: 'alice01', deviceFlag: 0, connId: 12345, close: () => {} });
    const remove = await request(server)
      .post(at('/conn/remove'))
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send('{"uid": "alice01", "conn_id": 12345, "node_id": 1}');
    expect(remove.status).toBe(200);
    expect(remove.text).toBe(OK);
  });

  it('WuKongIM: a missing or wrong manager token is 401 with an empty body, not 204', async () => {
    const server = await serve(hostApp(mounting));
    for (const token of [undefined, 'wrong']) {
      let call = request(server).post(at('/user/device_quit')).set('content-type', 'application/json');
      if (token !== undefined) call = call.set('token', token);
      const res = await unchanged(() => call.send('{"uid": "alice01"}'));
      expect(res.status).toBe(401);
      expect(res.text).toBe('');
      expect(res.headers['content-length']).toBe('0');
      expect(res.headers['content-type']).toBeUndefined();
    }
  });

  it('Tencent: kick answers OK, with a JSON content type or none (as `curl -d` sends it)', async () => {
    const server = await serve(hostApp(mounting));
    const json = await request(server)
      .post(kickUrl(mounting.prefix))
      .set('content-type', 'application/json')
      .send('{"Identifier": "alice01"}');
    expect(json.status).toBe(200);
    expect(json.text).toBe(TENCENT_OK);
    // supertest, like curl -d, sends a string as application/x-www-form-urlencoded.
    const form = await request(server).post(kickUrl(mounting.prefix)).send('{"UserID": "alice01"}');
    expect(form.status).toBe(200);
    expect(form.text).toBe(TENCENT_OK);
    const notJson = await request(server)
      .post(kickUrl(mounting.prefix))
      .type('text')
      .send('Identifier=alice01');
    expect(notJson.status).toBe(200);
    expect(notJson.body).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 60003 });
  });

  it('Lancens: DELETE token and logout answer 200 {"status":"ok"}', async () => {
    const server = await serve(hostApp(mounting));
    const session = await engine.issueSession({ uid: 'alice01', deviceFlag: 2 });
    const ring = await request(server).delete(at('/v1/api/user/token')).set('token', session.token);
    expect(ring.status).toBe(200);
    expect(ring.text).toBe(OK);
    const logout = await request(server)
      .post(at('/v1/api/user/logout'))
      .set('content-type', 'application/json')
      .send(JSON.stringify({ username: 'alice01', token: session.token }));
    expect(logout.status).toBe(200);
    expect(logout.text).toBe(OK);
    expect((await engine.check({ type: 'session', token: session.token })).ok).toBe(false);
    const noToken = await request(server).delete(at('/v1/api/user/message/token'));
    expect(noToken.status).toBe(401);
    expect(noToken.body).toEqual({ error: 'no token' });
  });

  it("a body that is not JSON is the family's 400 (a JSON-typed one, the parser's own 400 when one runs first)", async () => {
    const server = await serve(hostApp(mounting));
    const send = (type: string) =>
      unchanged(() =>
        request(server)
          .post(at('/user/device_quit'))
          .set('token', MANAGER_TOKEN)
          .set('content-type', type)
          .send('{"uid": "alice01",'),
      );
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await send(type);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(NOT_JSON);
    }
    const typed = await send('application/json');
    expect(typed.status).toBe(400);
    if (mounting.parsesJson) expect(typed.text).toBe('Bad Request');
    else expect(typed.body).toEqual(NOT_JSON);
  });

  it("a body over 16 KiB is the family's 400, with a Content-Length or chunked", async () => {
    const server = await serve(hostApp(mounting));
    const withLength = await unchanged(() =>
      request(server)
        .post(at('/user/device_quit'))
        .set('token', MANAGER_TOKEN)
        .set('content-type', 'application/json')
        .send(JSON.stringify({ uid: 'alice01', device_flag: 1, pad: 'x'.repeat(17 * 1024) })),
    );
    expect(withLength.status).toBe(400);
    expect(withLength.body).toEqual(TOO_LARGE);
    const chunked = await unchanged(() =>
      sendChunked(
        server,
        at('/user/device_quit'),
        { token: MANAGER_TOKEN, 'content-type': 'application/json' },
        [
          '{"uid":"alice01","device_flag":1,"pad":"',
          ...Array.from({ length: 17 }, () => 'x'.repeat(1024)),
          '"}',
        ],
      ),
    );
    expect(chunked.status).toBe(400);
    expect(JSON.parse(chunked.text)).toEqual(TOO_LARGE);
  });

  it("a __proto__ key is the family's 400 (a JSON-typed one, the parser's own 400 when one runs first)", async () => {
    const server = await serve(hostApp(mounting));
    const body = '{"uid":"alice01","__proto__":{"device_flag":1}}';
    const send = (type: string) =>
      unchanged(() =>
        request(server)
          .post(at('/user/device_quit'))
          .set('token', MANAGER_TOKEN)
          .set('content-type', type)
          .send(body),
      );
    const form = await send('application/x-www-form-urlencoded');
    expect(form.status).toBe(400);
    expect(form.body).toEqual(PROTO);
    const typed = await send('application/json');
    expect(typed.status).toBe(400);
    // @koa/bodyparser refuses prototype poisoning itself.
    if (mounting.parsesJson) expect(typed.text).toBe('Bad Request');
    else expect(typed.body).toEqual(PROTO);
  });

  it('other paths and methods reach the host, which still gets its bodies', async () => {
    const server = await serve(hostApp(mounting));
    await request(server)
      .post('/echo')
      .send({ a: 1, b: 'two' })
      .expect(200, { got: { a: 1, b: 'two' } });
    const big = `{"a":1${' '.repeat(20 * 1024)}}`;
    await request(server)
      .post('/echo')
      .set('content-type', 'application/json')
      .send(big)
      .expect(200, { got: { a: 1 } });
    await request(server)
      .put(at('/user/device_quit'))
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'x' })
      .expect(200, { host: { uid: 'x' } });
    for (const path of ['/conn/remove', '/v4/im_open_login_svc/kick', '/nowhere']) {
      await request(server).get(at(path)).expect(404, { host: 'not found' });
    }
    await request(server).post(at('/v1/api/user/token')).set('token', 'x').expect(404, { host: 'not found' });
    if (mounting.prefix !== '') {
      await unchanged(() =>
        request(server)
          .post('/user/device_quit')
          .set('token', MANAGER_TOKEN)
          .send({ uid: 'alice01' })
          .expect(404, { host: 'not found' }),
      );
      await request(server).post(`${mounting.prefix}x/user/device_quit`).expect(404, { host: 'not found' });
    }
  });
});

describe('evictRoutes options', () => {
  const root = mountings[0]!;

  it("families: ['lancens'] mounts only Lancens; the other families' paths reach the host", async () => {
    const server = await serve(hostApp(root, { families: ['lancens'] }));
    await unchanged(() =>
      request(server)
        .post('/user/device_quit')
        .set('token', MANAGER_TOKEN)
        .send({ uid: 'alice01' })
        .expect(404, { host: 'not found' }),
    );
    await request(server).post(kickUrl()).send({ Identifier: 'alice01' }).expect(404, { host: 'not found' });
    const session = await engine.issueSession({ uid: 'alice01', deviceFlag: 2 });
    const logout = await request(server)
      .post('/v1/api/user/logout')
      .send({ username: 'alice01', token: session.token });
    expect(logout.text).toBe(OK);
  });

  it('prefix is the adapter’s own option: core never sees it; a trailing slash is dropped', async () => {
    const warn = vi.spyOn(process, 'emitWarning');
    try {
      const app = new Koa();
      app.use(evictRoutes(engine, { ...admin, prefix: '/admin/' }));
      const res = await request(await serve(app))
        .post('/admin/user/device_quit')
        .set('token', MANAGER_TOKEN)
        .send({ uid: 'alice01' });
      expect(res.text).toBe(OK);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('a wrong prefix or family list throws a TypeError at mount', () => {
    expect(() => evictRoutes(engine, { ...admin, prefix: 'admin' })).toThrow(TypeError);
    expect(() => evictRoutes(engine, { families: [] })).toThrow(TypeError);
  });

  it('after a parser that keeps no raw text (koa-body style), core gets the parsed value', async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
      if (chunks.length > 0)
        (ctx.request as { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString());
      await next();
    });
    app.use(evictRoutes(engine, admin));
    const server = await serve(app);
    const res = await request(server)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send('{"uid": "alice01", "device_flag": 1}');
    expect(res.text).toBe(OK);
    const big = await unchanged(() =>
      sendChunked(server, '/user/device_quit', { token: MANAGER_TOKEN }, [
        '{"uid":"alice01","pad":"',
        'x'.repeat(17 * 1024),
        '"}',
      ]),
    );
    expect(JSON.parse(big.text)).toEqual(TOO_LARGE);
  });

  it('router.use() alone never runs it (@koa/router runs middleware only for a matched route)', async () => {
    const router = new Router();
    router.use('/admin', evictRoutes(engine, { ...admin, prefix: '/admin' }));
    const app = new Koa();
    app.use(router.routes());
    const res = await request(await serve(app))
      .post('/admin/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'alice01' });
    expect(res.status).toBe(404);
  });
});

describe('evictGuard', () => {
  async function guarded(): Promise<Server> {
    const app = new Koa();
    app.use(evictRoutes(engine, admin));
    const router = new Router();
    router.get(
      '/me',
      evictGuard(engine, {
        credentials: ['session', userSigSource({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY })],
      }),
      (ctx) => {
        ctx.body = { principal: ctx.state.evict };
      },
    );
    app.use(router.routes());
    return serve(app);
  }

  it('sets ctx.state.evict on an accepted request', async () => {
    const server = await guarded();
    const { token } = await engine.issueSession({ uid: 'bob0001', deviceFlag: 1 });
    await request(server)
      .get('/me')
      .set('token', token)
      .expect(200, { principal: { uid: 'bob0001', deviceFlag: 1, credential: 'session' } });
    await request(server)
      .get('/me')
      .set('authorization', `Bearer ${token}`)
      .expect(200, { principal: { uid: 'bob0001', deviceFlag: 1, credential: 'session' } });
  });

  it('rejects a kicked session with 401 and the reason, and does not run the route', async () => {
    const server = await guarded();
    const { token } = await engine.issueSession({ uid: 'bob0001', deviceFlag: 1 });
    const kick = await request(server)
      .post(kickUrl())
      .set('content-type', 'application/json')
      .send('{"Identifier": "bob0001"}');
    expect(kick.text).toBe(TENCENT_OK);
    const res = await request(server).get('/me').set('token', token);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.body).toEqual({
      error: 'unauthorized',
      reason: 'kicked',
      message: 'the user was kicked; log in again',
    });
  });

  it('rejects a request with no credential, and a logged-out session', async () => {
    const server = await guarded();
    const none = await request(server).get('/me');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: 'unauthorized', reason: 'unknown' });
    const { token } = await engine.issueSession({ uid: 'bob0001', deviceFlag: 1 });
    await engine.logout(token);
    const out = await request(server).get('/me').set('token', token);
    expect(out.status).toBe(401);
    expect(out.body).toMatchObject({ reason: 'logged_out' });
  });

  it("accepts a UserSig and answers a bad one in Tencent's shape", async () => {
    const server = await guarded();
    await engine.addUser('bob0001');
    const usersig = signUserSig({
      sdkAppId: SDKAPPID,
      secretKey: SECRET_KEY,
      identifier: 'bob0001',
      expireSec: 600,
    });
    await request(server)
      .get(`/me?${new URLSearchParams({ identifier: 'bob0001', usersig })}`)
      .expect(200, { principal: { uid: 'bob0001', credential: 'usersig' } });
    const bad = await request(server).get(
      `/me?${new URLSearchParams({ identifier: 'bob0001', usersig: 'nope' })}`,
    );
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 70003 });
  });
});

describe('checkUpgrade with a Koa server', () => {
  /** A Koa app serving the admin routes, with `/ws` checked by `checkUpgrade` and registered with the engine. */
  async function appWithSocket(): Promise<string> {
    const app = new Koa();
    app.use(evictRoutes(engine, admin));
    const server = await serve(app);
    const wss = new WebSocketServer({ noServer: true });
    sockets.push(wss);
    const check = checkUpgrade(engine);
    server.on('upgrade', (req, socket, head) => {
      check(req).then(
        (result) => {
          if (!result.ok) {
            const { status, body } = result.response;
            socket.end(
              `HTTP/1.1 ${status} Unauthorized\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
            );
            return;
          }
          wss.handleUpgrade(req, socket, head, (ws) => {
            const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
            engine
              .registerConnection({
                uid: result.principal.uid,
                deviceFlag: result.principal.deviceFlag ?? 0,
                credential: { type: 'session', token },
                close: ({ code, reason }) => ws.close(code, reason),
              })
              .then((handle) => ws.send(JSON.stringify({ type: 'hello', conn_id: handle.connId })));
          });
        },
        () => socket.destroy(),
      );
    });
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function connect(host: string, token: string) {
    const ws = new WebSocket(`ws://${host}/ws?token=${encodeURIComponent(token)}`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const hello = await new Promise<{ type: string; conn_id: number }>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(String(data))));
      ws.once('error', reject);
    });
    return { ws, closed, hello };
  }

  it('a kick through the Koa-served Tencent endpoint closes the socket with 4001 kicked', async () => {
    const host = await appWithSocket();
    const { token } = await engine.issueSession({ uid: 'bob0001', deviceFlag: 1 });
    const { closed, hello } = await connect(host, token);
    expect(hello.type).toBe('hello');
    const kick = await request(`http://${host}`)
      .post(kickUrl())
      .set('content-type', 'application/json')
      .send('{"Identifier": "bob0001"}');
    expect(kick.text).toBe(TENCENT_OK);
    expect(await closed).toEqual({ code: 4001, reason: 'kicked' });
  });

  it('a device_quit through the WuKongIM endpoint closes it with 4002; a revoked token cannot reconnect', async () => {
    const host = await appWithSocket();
    const { token } = await engine.issueSession({ uid: 'bob0001', deviceFlag: 1 });
    const { closed } = await connect(host, token);
    const quit = await request(`http://${host}`)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send('{"uid": "bob0001", "device_flag": 1}');
    expect(quit.text).toBe(OK);
    expect(await closed).toEqual({ code: 4002, reason: 'device_quit' });
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://${host}/ws?token=${encodeURIComponent(token)}`);
      ws.on('open', () => reject(new Error('the upgrade was accepted')));
      ws.on('error', () => undefined);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(status).toBe(401);
  });
});
