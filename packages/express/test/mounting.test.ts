import type { AdminApiOptions } from '@evict/core';
import { evictRouter } from '@evict/express';
import express, { type Express, type RequestHandler } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ADMIN,
  adminOptions,
  bigJson,
  kickUrl,
  MANAGER_TOKEN,
  SDKAPPID,
  SECRET_KEY,
} from '../../../test/support/fixtures.js';
import { closeHarnesses, type Harness, harness, sendChunked, unchanged } from './helpers.js';

const json = (value: unknown) => JSON.stringify(value);
const OK = '{"status":"ok"}';
const TENCENT_OK = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';

let h: Harness;

beforeEach(async () => {
  h = harness();
  await h.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
  await h.engine.issueSession({ uid: 'alice01', deviceFlag: 1 });
  h.clock.advance(1000);
});

afterEach(closeHarnesses);

/** One call of each family, as the seeds make them, against `app` mounted at `prefix`. */
async function expectEveryFamilyWorks(app: Express, prefix = '') {
  const deviceQuit = await request(app)
    .post(`${prefix}/user/device_quit`)
    .set('token', MANAGER_TOKEN)
    .set('content-type', 'application/json')
    .send(json({ uid: 'alice01', device_flag: 1 }));
  expect(deviceQuit.status).toBe(200);
  expect(deviceQuit.text).toBe(OK);

  await h.engine.registerConnection({ uid: 'alice01', deviceFlag: 0, connId: 12345, close: () => {} });
  const connRemove = await request(app)
    .post(`${prefix}/conn/remove`)
    .set('token', MANAGER_TOKEN)
    .set('content-type', 'application/json')
    .send(json({ uid: 'alice01', conn_id: 12345, node_id: 1 }));
  expect(connRemove.status).toBe(200);
  expect(connRemove.text).toBe(OK);

  const session = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 2 });
  const ring = await request(app).delete(`${prefix}/v1/api/user/token`).set('token', session.token);
  expect(ring.status).toBe(200);
  expect(ring.text).toBe(OK);
  const logout = await request(app)
    .post(`${prefix}/v1/api/user/logout`)
    .set('content-type', 'application/json')
    .send(json({ username: 'alice01', token: session.token }));
  expect(logout.status).toBe(200);
  expect(logout.text).toBe(OK);

  const kick = await request(app)
    .post(kickUrl(prefix, h.clock.nowMs()))
    .set('content-type', 'application/json')
    .send(json({ Identifier: 'alice01' }));
  expect(kick.status).toBe(200);
  expect(kick.text).toBe(TENCENT_OK);

  // And a parameter error keeps its family's shape.
  const bad = await unchanged(h.store, () =>
    request(app)
      .post(`${prefix}/user/device_quit`)
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01', device_flag: '1' })),
  );
  expect(bad.status).toBe(400);
  expect(bad.body).toEqual({
    msg: 'device_flag must be -1 (all devices) or an integer from 0 to 255',
    status: 400,
  });
}

function build(setup: (app: Express) => void): Express {
  const app = express();
  setup(app);
  app.use((_req, res) => {
    res.status(404).json({ host: 'not found' });
  });
  return app;
}

describe('mounting evictRouter', () => {
  it('(b) works after app.use(express.json())', async () => {
    const app = build((a) => {
      a.use(express.json());
      a.use(evictRouter(h.engine, adminOptions()));
    });
    await expectEveryFamilyWorks(app);
  });

  it('(b) after express.json(): bodies the parser skips (another content type) are still read', async () => {
    const app = build((a) => {
      a.use(express.json());
      a.use(evictRouter(h.engine, adminOptions()));
    });
    const res = await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'text/plain')
      .send(json({ uid: 'alice01', device_flag: 1 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });

  it('(b) after express.json(): a __proto__ key is still an unknown field', async () => {
    const app = build((a) => {
      a.use(express.json());
      a.use(evictRouter(h.engine, adminOptions()));
    });
    const res = await unchanged(h.store, () =>
      request(app)
        .post('/user/device_quit')
        .set('token', MANAGER_TOKEN)
        .set('content-type', 'application/json')
        .send('{"uid":"alice01","__proto__":{"device_flag":1}}'),
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ msg: 'unknown field "__proto__"', status: 400 });
  });

  it('(b) after express.json(): a body over 16 KiB is still refused, with or without Content-Length', async () => {
    const app = build((a) => {
      a.use(express.json());
      a.use(evictRouter(h.engine, adminOptions()));
    });
    const tooLarge = { msg: 'request body is larger than 16 KiB', status: 400 };
    const withLength = await unchanged(h.store, () =>
      request(app)
        .post('/user/device_quit')
        .set('token', MANAGER_TOKEN)
        .set('content-type', 'application/json')
        .send(json({ uid: 'alice01', device_flag: 1, pad: 'x'.repeat(17 * 1024) })),
    );
    expect(withLength.status).toBe(400);
    expect(withLength.body).toEqual(tooLarge);
    const chunked = await unchanged(h.store, () =>
      sendChunked(
        app,
        'POST',
        '/user/device_quit',
        { token: MANAGER_TOKEN, 'content-type': 'application/json' },
        [
          '{"uid":"alice01","device_flag":1,"pad":"',
          ...Array.from({ length: 17 }, () => 'x'.repeat(1024)),
          '"}',
        ],
      ),
    );
    expect(chunked.status).toBe(400);
    expect(JSON.parse(chunked.text)).toEqual(tooLarge);
  });

  it('works after express.text() and express.raw() too', async () => {
    for (const parser of [express.text({ type: '*/*' }), express.raw({ type: '*/*' })]) {
      const app = build((a) => {
        a.use(parser);
        a.use(evictRouter(h.engine, adminOptions()));
      });
      const res = await request(app)
        .post('/user/device_quit')
        .set('token', MANAGER_TOKEN)
        .set('content-type', 'application/json')
        .send(json({ uid: 'alice01' }));
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
    }
  });

  it("(c) works under a path; the root paths are Express's own 404", async () => {
    const app = express();
    app.use('/admin', evictRouter(h.engine, adminOptions()));
    await expectEveryFamilyWorks(app, '/admin');
    const res = await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice01' }));
    expect(res.status).toBe(404);
    expect(res.text).toContain('Cannot POST /user/device_quit');
  });

  it('(c) under a path inside an express.Router()', async () => {
    const router = express.Router();
    router.use(evictRouter(h.engine, adminOptions()));
    const app = express();
    app.use('/api/evict', router);
    await expectEveryFamilyWorks(app, '/api/evict');
  });

  it('families must be a non-empty list of known families', () => {
    expect(() => evictRouter(h.engine, { families: [] })).toThrow(TypeError);
    expect(() => evictRouter(h.engine, { families: ['nope'] } as unknown as AdminApiOptions)).toThrow(
      TypeError,
    );
  });

  it('other methods on a family path fall through to the host', async () => {
    const app = build((a) => {
      a.use(evictRouter(h.engine, adminOptions()));
      a.get('/user/device_quit', (_req, res) => {
        res.json({ host: 'get' });
      });
    });
    await request(app).get('/user/device_quit').set('token', MANAGER_TOKEN).expect(200, { host: 'get' });
    for (const path of ['/conn/remove', '/v4/im_open_login_svc/kick', '/v1/api/user/logout']) {
      const res = await request(app).get(path).set('token', MANAGER_TOKEN);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ host: 'not found' });
    }
    const post = await request(app).post('/v1/api/user/token').set('token', 'x');
    expect(post.status).toBe(404);
    expect(post.body).toEqual({ host: 'not found' });
  });

  it("the host's routes after the router still get their bodies", async () => {
    const echo: RequestHandler = (req, res) => {
      res.json({ got: req.body });
    };
    const app = build((a) => {
      a.use(evictRouter(h.engine, adminOptions()));
      a.post('/echo', express.json(), echo);
      a.put('/user/device_quit', express.json(), echo);
      a.post('/raw', (req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => {
          text += chunk;
        });
        req.on('end', () => {
          res.json({ raw: text });
        });
      });
    });
    await request(app)
      .post('/echo')
      .send({ a: 1, b: 'two' })
      .expect(200, { got: { a: 1, b: 'two' } });
    await request(app)
      .put('/user/device_quit')
      .send({ uid: 'x' })
      .expect(200, { got: { uid: 'x' } });
    await request(app)
      .post('/raw')
      .set('content-type', 'application/json')
      .send(json({ hello: 'world' }))
      .expect(200, { raw: '{"hello":"world"}' });
    const big = bigJson({ a: 1 }, 20 * 1024);
    await request(app)
      .post('/echo')
      .set('content-type', 'application/json')
      .send(big)
      .expect(200, { got: { a: 1 } });
  });

  it("the host's routes before the router run first; what they pass on still reaches the router", async () => {
    const app = build((a) => {
      a.post('/user/device_quit', express.json(), (req, res, next) => {
        if (req.body?.uid === 'host') res.json({ host: 'handled' });
        else next();
      });
      a.use(evictRouter(h.engine, adminOptions()));
    });
    await request(app).post('/user/device_quit').send({ uid: 'host' }).expect(200, { host: 'handled' });
    const res = await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'alice01', device_flag: 1 });
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });
});

describe('evictRouter options', () => {
  it('refuses to mount the WuKongIM routes without a manager token', () => {
    expect(() => evictRouter(h.engine, { families: ['wukongim'] })).toThrow(TypeError);
    expect(() => evictRouter(h.engine, { families: ['wukongim'], wukongim: {} })).toThrow(
      /refuse to mount without wukongim\.managerToken/,
    );
    expect(() => evictRouter(h.engine, { families: ['wukongim'], wukongim: { managerToken: '' } })).toThrow(
      TypeError,
    );
    expect(() =>
      evictRouter(h.engine, { families: ['wukongim'], wukongim: { allowUnauthenticated: false } }),
    ).toThrow(TypeError);
  });

  it('refuses a manager token no header can carry: non-ASCII, control characters, outer spaces', async () => {
    for (const managerToken of [
      'pässwort',
      'tok\u00e9n',
      'emoji-🔑',
      'tab\there',
      ' padded',
      'padded ',
      'nl\n',
    ]) {
      expect(() => evictRouter(h.engine, { families: ['wukongim'], wukongim: { managerToken } })).toThrow(
        /printable ASCII/,
      );
    }
    // Inner spaces and every printable ASCII character are fine, and such a token works end to end.
    const managerToken = 'a b~!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}z';
    const app = express();
    app.use(evictRouter(h.engine, { families: ['wukongim'], wukongim: { managerToken } }));
    await h.engine.issueSession({ uid: 'carol', deviceFlag: 1 });
    await request(app)
      .post('/user/device_quit')
      .set('token', managerToken)
      .send({ uid: 'carol', device_flag: 1 })
      .expect(200, { status: 'ok' });
  });

  it('mounts the WuKongIM routes open with allowUnauthenticated: true, with a warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const open = express();
      open.use(evictRouter(h.engine, { families: ['wukongim'], wukongim: { allowUnauthenticated: true } }));
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('WITHOUT authentication'),
        expect.objectContaining({ code: 'EVICT_UNAUTHENTICATED_ADMIN' }),
      );
      const res = await request(open)
        .post('/user/device_quit')
        .set('content-type', 'application/json')
        .send(json({ uid: 'alice01', device_flag: 1 }));
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
    } finally {
      warn.mockRestore();
    }
  });

  it('needs the tencent options when the family is mounted', () => {
    const tencent = (options: object) =>
      evictRouter(h.engine, { families: ['tencent'], tencent: options } as AdminApiOptions);
    expect(() => evictRouter(h.engine, { families: ['tencent'] })).toThrow(TypeError);
    expect(() => tencent({ sdkAppId: 0, secretKey: SECRET_KEY, admins: [ADMIN] })).toThrow(/sdkAppId/);
    expect(() => tencent({ sdkAppId: SDKAPPID, secretKey: '', admins: [ADMIN] })).toThrow(/secretKey/);
    expect(() => tencent({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [] })).toThrow(/admins/);
    expect(() =>
      tencent({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN], rateLimitPerSecond: 0 }),
    ).toThrow(/rateLimitPerSecond/);
  });
});
