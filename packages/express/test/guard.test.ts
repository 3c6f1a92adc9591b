import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ConnectionHandle, type Credential, type IssuedSession, signUserSig } from '@evict/core';
import { checkUpgrade, evictGuard, evictRouter } from '@evict/express';
import express, { type Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  ADMIN,
  adminOptions,
  closeHarnesses,
  type Harness,
  harness,
  MANAGER_TOKEN,
  SDKAPPID,
  SECRET_KEY,
  unchanged,
} from './helpers.js';

const json = (value: unknown) => JSON.stringify(value);
const unauthorized = (reason: string, message: string) => ({ error: 'unauthorized', reason, message });

/** A JWT-like credential the host verified itself: `x-claims: {"sub","dev","iat","exp"}`. */
function claimsExtractor(req: {
  headers: Record<string, string | string[] | undefined>;
}): Credential | undefined {
  const raw = req.headers['x-claims'];
  if (typeof raw !== 'string') return undefined;
  const claims = JSON.parse(raw) as { sub: string; dev?: number; iat: number; exp: number };
  return {
    type: 'stateless',
    uid: claims.sub,
    ...(claims.dev === undefined ? {} : { deviceFlag: claims.dev }),
    issuedAtSec: claims.iat,
    expiresAtMs: claims.exp * 1000,
  };
}

let h: Harness;
let app: Express;
let alice: IssuedSession;

function kickUrl(): string {
  const usersig = signUserSig({
    sdkAppId: SDKAPPID,
    secretKey: SECRET_KEY,
    identifier: ADMIN,
    expireSec: 86_400,
    nowMs: h.clock.nowMs(),
  });
  const query = new URLSearchParams({ sdkappid: String(SDKAPPID), identifier: ADMIN, usersig, random: '1' });
  return `/v4/im_open_login_svc/kick?${query}`;
}

const kickAlice = (target: Express | Server) =>
  request(target)
    .post(kickUrl())
    .send(json({ Identifier: 'alice01' }))
    .expect(200, {
      ActionStatus: 'OK',
      ErrorCode: 0,
      ErrorInfo: '',
    });

const quitDevice = (target: Express | Server, body: object) =>
  request(target)
    .post('/user/device_quit')
    .set('token', MANAGER_TOKEN)
    .set('content-type', 'application/json')
    .send(json(body))
    .expect(200, { status: 'ok' });

function buildApp(harnessed: Harness): Express {
  const a = express();
  a.use(evictRouter(harnessed.engine, adminOptions()));
  a.get('/me', evictGuard(harnessed.engine), (req, res) => {
    res.json({ principal: req.evict });
  });
  a.get('/jwt', evictGuard(harnessed.engine, { credentials: [claimsExtractor] }), (req, res) => {
    res.json({ principal: req.evict });
  });
  a.get('/any', evictGuard(harnessed.engine, { credentials: [claimsExtractor, 'session'] }), (req, res) => {
    res.json({ principal: req.evict });
  });
  return a;
}

beforeEach(async () => {
  h = harness();
  app = buildApp(h);
  alice = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 1 });
  h.clock.advance(1000);
});

afterEach(closeHarnesses);

describe('evictGuard on a host route', () => {
  it('200 with req.evict set, from the token header', async () => {
    await request(app)
      .get('/me')
      .set('token', alice.token)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
  });

  it('Authorization: Bearer works (any case of "Bearer")', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      await request(app)
        .get('/me')
        .set('authorization', `${scheme} ${alice.token}`)
        .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
    }
  });

  it('does not read ?token= on HTTP routes (only upgrade checks do)', async () => {
    const res = await request(app).get('/me').query({ token: alice.token });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ reason: 'unknown' });
  });

  it('401 kicked', async () => {
    await kickAlice(app);
    const res = await request(app).get('/me').set('token', alice.token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized('kicked', 'the user was kicked; log in again'));
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('401 device_quit (only the quit device)', async () => {
    const web = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    h.clock.advance(1000);
    await quitDevice(app, { uid: 'alice01', device_flag: 1 });
    const res = await request(app).get('/me').set('authorization', `Bearer ${alice.token}`);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized('device_quit', 'the device was signed out; log in again'));
    await request(app).get('/me').set('token', web.token).expect(200);
  });

  it('401 logged_out', async () => {
    await request(app)
      .post('/v1/api/user/logout')
      .send({ username: 'alice01', token: alice.token })
      .expect(200, { status: 'ok' });
    const res = await request(app).get('/me').set('token', alice.token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized('logged_out', 'the session was logged out'));
  });

  it('401 expired (a session past its lifetime)', async () => {
    const short = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 2, ttlMs: 5000 });
    await request(app).get('/me').set('token', short.token).expect(200);
    h.clock.advance(5000);
    const res = await request(app).get('/me').set('token', short.token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized('expired', 'the credential has expired'));
  });

  it('401 expired (a stateless credential past its expiry)', async () => {
    const nowSec = Math.floor(h.clock.nowMs() / 1000);
    const live = json({ sub: 'alice01', dev: 1, iat: nowSec - 60, exp: nowSec + 60 });
    await request(app)
      .get('/jwt')
      .set('x-claims', live)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'stateless' } });
    h.clock.advance(61_000);
    const res = await request(app).get('/jwt').set('x-claims', live);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized('expired', 'the credential has expired'));
  });

  it('401 expired (a UserSig past its lifetime, in Tencent`s shape)', async () => {
    const userSig = { sdkAppId: SDKAPPID, secretKey: SECRET_KEY };
    const im = express();
    im.get('/im', evictGuard(h.engine, { credentials: ['usersig'], userSig }), (req, res) => {
      res.json({ principal: req.evict });
    });
    const usersig = signUserSig({ ...userSig, identifier: 'alice01', expireSec: 10, nowMs: h.clock.nowMs() });
    await request(im)
      .get('/im')
      .query({ identifier: 'alice01', usersig })
      .expect(200, { principal: { uid: 'alice01', credential: 'usersig' } });
    h.clock.advance(10_000);
    const res = await request(im).get('/im').query({ identifier: 'alice01', usersig });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      ActionStatus: 'FAIL',
      ErrorCode: 70001,
      ErrorInfo: 'usersig is expired',
      reason: 'expired',
    });
  });

  it('401 kicked for a stateless credential issued at or before the kick', async () => {
    const nowSec = Math.floor(h.clock.nowMs() / 1000);
    const old = json({ sub: 'alice01', iat: nowSec, exp: nowSec + 3600 });
    await kickAlice(app);
    const res = await request(app).get('/jwt').set('x-claims', old);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized('kicked', 'the user was kicked; log in again'));
    h.clock.advance(1000);
    const fresh = json({ sub: 'alice01', iat: nowSec + 1, exp: nowSec + 3600 });
    await request(app).get('/jwt').set('x-claims', fresh).expect(200);
  });

  for (const [name, set] of [
    ['an unknown token', (r: request.Test) => r.set('token', 'no-such-token')],
    ['an unknown bearer token', (r: request.Test) => r.set('authorization', 'Bearer no-such-token')],
    ['a token over 4096 characters', (r: request.Test) => r.set('token', 'x'.repeat(4097))],
  ] as const) {
    it(`401 unknown: ${name}`, async () => {
      const res = await unchanged(h.store, () => set(request(app).get('/me')));
      expect(res.status).toBe(401);
      expect(res.body).toEqual(unauthorized('unknown', 'the credential is not known'));
    });
  }

  for (const [name, set] of [
    ['no credential', (r: request.Test) => r],
    ['an empty token header', (r: request.Test) => r.set('token', '')],
    ['a Basic authorization', (r: request.Test) => r.set('authorization', 'Basic YTpi')],
    ['a Bearer with no token', (r: request.Test) => r.set('authorization', 'Bearer ')],
  ] as const) {
    it(`401 unknown: ${name}`, async () => {
      const res = await set(request(app).get('/me'));
      expect(res.status).toBe(401);
      expect(res.body).toEqual(
        unauthorized(
          'unknown',
          'no credential: send a session token in the `token` header or `Authorization: Bearer`',
        ),
      );
    });
  }

  it('the route handler never runs for a rejected request', async () => {
    let ran = false;
    const a = express();
    a.post('/write', evictGuard(h.engine), (_req, res) => {
      ran = true;
      res.json({});
    });
    await request(a).post('/write').set('token', 'nope').expect(401);
    expect(ran).toBe(false);
  });

  it('503 unavailable when the store fails (fails closed), for sessions and stateless credentials', async () => {
    h.faulty.inject('fail');
    const res = await request(app).get('/me').set('token', alice.token);
    expect(res.status).toBe(503);
    expect(res.body).toEqual(
      unauthorized('unavailable', 'the session store is unavailable; try again later'),
    );
    const nowSec = Math.floor(h.clock.nowMs() / 1000);
    const jwt = await request(app)
      .get('/jwt')
      .set('x-claims', json({ sub: 'alice01', iat: nowSec, exp: nowSec + 60 }));
    expect(jwt.status).toBe(503);
    expect(jwt.body).toEqual(
      unauthorized('unavailable', 'the session store is unavailable; try again later'),
    );
    h.faulty.heal();
    await request(app).get('/me').set('token', alice.token).expect(200);
  });

  it('503 unavailable when the store hangs past storeTimeoutMs', async () => {
    const slow = harness({ engine: { storeTimeoutMs: 50 } });
    const session = await slow.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    slow.faulty.inject('hang');
    const res = await request(buildApp(slow)).get('/me').set('token', session.token);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ reason: 'unavailable' });
  });

  it('tries the credential sources in order: the first one present decides', async () => {
    await request(app)
      .get('/any')
      .set('token', alice.token)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
    const nowSec = Math.floor(h.clock.nowMs() / 1000);
    await request(app)
      .get('/any')
      .set('token', alice.token)
      .set('x-claims', json({ sub: 'bob', iat: nowSec, exp: nowSec + 60 }))
      .expect(200, { principal: { uid: 'bob', credential: 'stateless' } });
  });
});

describe('WebSocket upgrades with checkUpgrade', () => {
  let server: Server | undefined;
  let wss: WebSocketServer | undefined;
  let clients: WebSocket[] = [];
  /** Server-side: each accepted socket's registration, in order. */
  let registered: Promise<ConnectionHandle>[] = [];

  async function start(): Promise<string> {
    server = createServer(app);
    wss = new WebSocketServer({ noServer: true });
    const check = checkUpgrade(h.engine);
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      check(req).then(
        (result) => {
          if (!result.ok) {
            const { status, body } = result.response;
            socket.end(
              `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
            );
            return;
          }
          wss!.handleUpgrade(req, socket, head, (ws) => {
            const { uid, deviceFlag = 0 } = result.principal;
            const handle = h.engine.registerConnection({
              uid,
              deviceFlag,
              close: ({ code, reason }) => ws.close(code, reason),
            });
            registered.push(handle);
            ws.on('close', () => {
              handle.then((c) => c.unregister()).catch(() => undefined);
            });
            handle.then(
              (c) => ws.send(json({ connId: c.connId })),
              () => ws.close(1011, 'registration failed'),
            );
          });
        },
        () => socket.destroy(),
      );
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  }

  /** Connects with `?token=` and resolves once the server has registered the connection. */
  async function connect(url: string, token: string) {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
    clients.push(ws);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    const hello = await new Promise<{ connId: number }>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(String(data))));
      ws.once('error', reject);
    });
    return { ws, closed, connId: hello.connId };
  }

  /** Connects and expects the upgrade to be refused: the HTTP status and body of the refusal. */
  function refused(url: string, token: string) {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
    clients.push(ws);
    return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      ws.on('open', () => reject(new Error('the upgrade was accepted')));
      ws.on('error', () => undefined);
      ws.on('unexpected-response', (req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        });
      });
    });
  }

  afterEach(async () => {
    for (const ws of clients) ws.terminate();
    clients = [];
    registered = [];
    if (wss !== undefined) await new Promise<void>((resolve) => wss!.close(() => resolve()));
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    wss = undefined;
    server = undefined;
  });

  it('a kick through the Tencent endpoint closes the socket with 4001 kicked', async () => {
    const url = await start();
    const { closed } = await connect(url, alice.token);
    await kickAlice(server!);
    expect(await closed).toEqual({ code: 4001, reason: 'kicked' });
    expect(h.engine.localConnections()).toEqual([]);
  });

  it('a device_quit through the WuKongIM endpoint closes it with 4002 device_quit', async () => {
    const url = await start();
    const { closed } = await connect(url, alice.token);
    await quitDevice(server!, { uid: 'alice01', device_flag: 1 });
    expect(await closed).toEqual({ code: 4002, reason: 'device_quit' });
  });

  it('a device_quit of another device leaves the socket open', async () => {
    const url = await start();
    const other = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    const mine = await connect(url, alice.token);
    const theirs = await connect(url, other.token);
    h.clock.advance(1000);
    await quitDevice(server!, { uid: 'alice01', device_flag: 0 });
    expect(await theirs.closed).toEqual({ code: 4002, reason: 'device_quit' });
    expect(mine.ws.readyState).toBe(WebSocket.OPEN);
    expect(h.engine.localConnections().map((c) => c.connId)).toEqual([mine.connId]);
  });

  it('conn/remove closes that one connection with 4003; the token still connects again', async () => {
    const url = await start();
    const first = await connect(url, alice.token);
    const second = await connect(url, alice.token);
    await request(server!)
      .post('/conn/remove')
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'alice01', conn_id: first.connId, node_id: 1 })
      .expect(200, { status: 'ok' });
    expect(await first.closed).toEqual({ code: 4003, reason: 'connection_removed' });
    expect(second.ws.readyState).toBe(WebSocket.OPEN);
    const again = await connect(url, alice.token);
    expect(again.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('a revoked token cannot upgrade: 401 with the reason', async () => {
    const url = await start();
    await request(server!)
      .post('/v1/api/user/logout')
      .send({ username: 'alice01', token: alice.token })
      .expect(200, { status: 'ok' });
    expect(await refused(url, alice.token)).toEqual({
      status: 401,
      body: unauthorized('logged_out', 'the session was logged out'),
    });
  });

  it('a kicked token cannot reconnect; a new session can', async () => {
    const url = await start();
    const { closed } = await connect(url, alice.token);
    await kickAlice(server!);
    await closed;
    expect(await refused(url, alice.token)).toEqual({
      status: 401,
      body: unauthorized('kicked', 'the user was kicked; log in again'),
    });
    h.clock.advance(1);
    const fresh = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 1 });
    const again = await connect(url, fresh.token);
    expect(again.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('an unknown token cannot upgrade', async () => {
    const url = await start();
    expect(await refused(url, 'no-such-token')).toEqual({
      status: 401,
      body: unauthorized('unknown', 'the credential is not known'),
    });
  });

  it('a failing store refuses the upgrade with 503', async () => {
    const url = await start();
    h.faulty.inject('fail');
    expect(await refused(url, alice.token)).toEqual({
      status: 503,
      body: unauthorized('unavailable', 'the session store is unavailable; try again later'),
    });
  });
});
