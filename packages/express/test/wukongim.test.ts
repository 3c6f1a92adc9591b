import type { AdminApiOptions, IssuedSession, RevocationEvent } from '@evict/core';
import { evictRouter } from '@evict/express';
import express, { type Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  adminOptions,
  bigJson,
  closeHarnesses,
  type Harness,
  harness,
  MANAGER_TOKEN,
  sendChunked,
  unchanged,
} from './helpers.js';

function appFor(h: Harness, extra: AdminApiOptions = {}): Express {
  const app = express();
  app.use(evictRouter(h.engine, adminOptions(extra)));
  return app;
}

/** A POST with a raw JSON body (sent byte for byte) and the manager token unless told otherwise. */
function post(
  app: Express,
  path: string,
  body: string | Buffer | undefined,
  token: string | null = MANAGER_TOKEN,
) {
  let req = request(app).post(path).set('content-type', 'application/json');
  if (token !== null) req = req.set('token', token);
  if (body === undefined) return req;
  // Bytes as they are: superagent would otherwise serialize a Buffer as JSON.
  if (Buffer.isBuffer(body)) return req.serialize((b) => b as string).send(body);
  return req.send(body);
}

const json = (value: unknown) => JSON.stringify(value);
const OK = '{"status":"ok"}';
const DEVICE_FLAG_MSG = 'device_flag must be -1 (all devices) or an integer from 0 to 255';

let h: Harness;
let app: Express;
let sessions: Record<number, IssuedSession>;
let events: RevocationEvent[];

beforeEach(async () => {
  h = harness();
  app = appFor(h);
  sessions = {
    0: await h.engine.issueSession({ uid: 'alice', deviceFlag: 0 }),
    1: await h.engine.issueSession({ uid: 'alice', deviceFlag: 1 }),
  };
  events = [];
  h.engine.on('revocation', (e) => events.push(e));
  // Sessions issued at the same instant as a later revocation would be caught by it: move on.
  h.clock.advance(1000);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await closeHarnesses();
});

const check = (token: string) => h.engine.check({ type: 'session', token });

describe('WuKongIM authentication: 401 with an empty body', () => {
  for (const path of ['/user/device_quit', '/conn/remove']) {
    const body = path === '/conn/remove' ? json({ uid: 'alice', conn_id: 1 }) : json({ uid: 'alice' });
    const cases: [string, string | null][] = [
      ['no token header', null],
      ['an empty token', ''],
      ['a wrong token of the same length', MANAGER_TOKEN.replace(/.$/, 'X')],
      ['a shorter token', MANAGER_TOKEN.slice(0, 5)],
      ['a longer token', `${MANAGER_TOKEN}0`],
      ['the token in another case', MANAGER_TOKEN.toUpperCase()],
    ];
    for (const [name, token] of cases) {
      it(`${path} with ${name}`, async () => {
        const res = await unchanged(h.store, () => post(app, path, body, token));
        expect(res.status).toBe(401);
        expect(res.text).toBe('');
        expect(res.headers['content-length']).toBe('0');
        expect(events).toEqual([]);
      });
    }
  }

  it('checks the token before the body: a bad body without a token is 401, not 400', async () => {
    const res = await unchanged(h.store, () => post(app, '/user/device_quit', 'not json', null));
    expect(res.status).toBe(401);
    expect(res.text).toBe('');
  });

  it('accepts the token as the `Token` header too (header names are case-insensitive)', async () => {
    const res = await request(app)
      .post('/user/device_quit')
      .set('Token', MANAGER_TOKEN)
      .set('content-type', 'application/json')
      .send(json({ uid: 'alice', device_flag: 1 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });
});

describe('POST /user/device_quit', () => {
  it('quits one device: 200 {"status":"ok"}, that device is out, the others stay', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 1,
      connId: 11,
      close: (i) => closed.push(i),
    });
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 0,
      connId: 10,
      close: (i) => closed.push(i),
    });

    const res = await post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 1 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');

    expect(await check(sessions[1]!.token)).toEqual({ ok: false, reason: 'device_quit', uid: 'alice' });
    expect(await check(sessions[0]!.token)).toMatchObject({ ok: true, uid: 'alice', deviceFlag: 0 });
    expect(closed).toEqual([{ code: 4002, reason: 'device_quit' }]);
    expect(h.engine.localConnections().map((c) => c.connId)).toEqual([10]);
    expect(events).toEqual([
      expect.objectContaining({
        action: 'quit_device',
        uid: 'alice',
        deviceFlag: 1,
        actor: { type: 'manager' },
        endpoint: 'POST /user/device_quit',
        connectionsClosed: 1,
      }),
    ]);
  });

  for (const [name, body] of [
    ['device_flag absent', { uid: 'alice' }],
    ['device_flag -1', { uid: 'alice', device_flag: -1 }],
  ] as const) {
    it(`${name}: quits every device of the user`, async () => {
      const closed: unknown[] = [];
      await h.engine.registerConnection({ uid: 'alice', deviceFlag: 2, close: (i) => closed.push(i) });
      const res = await post(app, '/user/device_quit', json(body));
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
      for (const flag of [0, 1]) {
        expect(await check(sessions[flag]!.token)).toEqual({
          ok: false,
          reason: 'device_quit',
          uid: 'alice',
        });
      }
      expect(closed).toEqual([{ code: 4002, reason: 'device_quit' }]);
      expect(events).toEqual([expect.objectContaining({ action: 'quit_device', deviceFlag: 'all' })]);
    });
  }

  it('a device with a connection but no session can be quit', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({ uid: 'bob', deviceFlag: 2, close: (i) => closed.push(i) });
    const res = await post(app, '/user/device_quit', json({ uid: 'bob', device_flag: 2 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
    expect(closed).toEqual([{ code: 4002, reason: 'device_quit' }]);
  });

  it('a session issued after the quit works', async () => {
    await post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 0 })).expect(200);
    h.clock.advance(1);
    const fresh = await h.engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    expect(await check(fresh.token)).toMatchObject({ ok: true, uid: 'alice' });
  });

  it('reads the seed body with extra whitespace and a charset', async () => {
    const res = await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .set('content-type', 'application/json; charset=utf-8')
      .send('{\n  "uid": "alice",\n  "device_flag": 1\n}\n');
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });
});

describe('POST /conn/remove', () => {
  it('closes that connection (4003); the credentials stay valid', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 0,
      connId: 12345,
      close: (i) => closed.push(i),
    });
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 0,
      connId: 7,
      close: (i) => closed.push(i),
    });
    const res = await post(app, '/conn/remove', json({ uid: 'alice', conn_id: 12345, node_id: 1 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
    expect(closed).toEqual([{ code: 4003, reason: 'connection_removed' }]);
    expect(h.engine.localConnections().map((c) => c.connId)).toEqual([7]);
    expect(await check(sessions[0]!.token)).toMatchObject({ ok: true, uid: 'alice' });
    expect(events).toEqual([
      expect.objectContaining({
        action: 'remove_connection',
        uid: 'alice',
        connId: 12345,
        nodeId: 1,
        endpoint: 'POST /conn/remove',
        connectionsClosed: 1,
      }),
    ]);
  });

  it('without node_id finds the connection', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 1,
      connId: 3,
      close: (i) => closed.push(i),
    });
    const res = await post(app, '/conn/remove', json({ uid: 'alice', conn_id: 3 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
    expect(closed).toEqual([{ code: 4003, reason: 'connection_removed' }]);
  });
});

describe('WuKongIM parameter errors: 400 {msg, status: 400}, nothing changes', () => {
  const deviceQuit: [string, string | Buffer | undefined, string][] = [
    ['a body that is not JSON', '{"uid": "alice"', 'request body is not valid JSON'],
    ['a body of form fields', 'uid=alice&device_flag=1', 'request body is not valid JSON'],
    [
      'a body that is not UTF-8',
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      'request body is not valid JSON',
    ],
    ['a JSON array', json([{ uid: 'alice' }]), 'request body must be a JSON object'],
    ['a JSON string', json('alice'), 'request body must be a JSON object'],
    ['a JSON number', '42', 'request body must be a JSON object'],
    ['JSON null', 'null', 'request body must be a JSON object'],
    ['an empty body', undefined, 'request body is empty'],
    ['a body of whitespace', '  \n', 'request body is empty'],
    [
      'a body over 16 KiB (with Content-Length)',
      bigJson({ uid: 'alice' }),
      'request body is larger than 16 KiB',
    ],
    ['uid missing', json({ device_flag: 1 }), 'uid must be a string'],
    ['uid a number', json({ uid: 42 }), 'uid must be a string'],
    ['uid null', json({ uid: null }), 'uid must be a string'],
    ['uid an array', json({ uid: ['alice'] }), 'uid must be a string'],
    ['uid empty', json({ uid: '' }), 'uid must not be empty'],
    ['uid over 255 bytes', json({ uid: 'é'.repeat(128) }), 'uid must be at most 255 bytes of UTF-8'],
    ['uid with a NUL', json({ uid: 'ali\u0000ce' }), 'uid must not contain control characters'],
    ['uid with a newline', json({ uid: 'alice\n' }), 'uid must not contain control characters'],
    ['uid with DEL', json({ uid: 'alice\u007f' }), 'uid must not contain control characters'],
    ['uid with a lone surrogate', '{"uid":"ali\\ud800ce"}', 'uid must be well-formed unicode'],
    ['device_flag "1"', json({ uid: 'alice', device_flag: '1' }), DEVICE_FLAG_MSG],
    ['device_flag 1.5', json({ uid: 'alice', device_flag: 1.5 }), DEVICE_FLAG_MSG],
    ['device_flag 256', json({ uid: 'alice', device_flag: 256 }), DEVICE_FLAG_MSG],
    ['device_flag -2', json({ uid: 'alice', device_flag: -2 }), DEVICE_FLAG_MSG],
    ['device_flag true', json({ uid: 'alice', device_flag: true }), DEVICE_FLAG_MSG],
    ['device_flag null', json({ uid: 'alice', device_flag: null }), DEVICE_FLAG_MSG],
    ['an unknown field', json({ uid: 'alice', device_flag: 1, force: true }), 'unknown field "force"'],
    ['a __proto__ key', '{"uid":"alice","__proto__":{"device_flag":1}}', 'unknown field "__proto__"'],
    ['a constructor key', '{"uid":"alice","constructor":{}}', 'unknown field "constructor"'],
  ];
  for (const [name, body, msg] of deviceQuit) {
    it(`/user/device_quit: ${name}`, async () => {
      const res = await unchanged(h.store, () => post(app, '/user/device_quit', body));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ msg, status: 400 });
      expect(await check(sessions[1]!.token)).toMatchObject({ ok: true });
      expect(events).toEqual([]);
    });
  }

  const connRemove: [string, string, string][] = [
    ['a body that is not JSON', 'conn_id=1', 'request body is not valid JSON'],
    ['a JSON array', '[]', 'request body must be a JSON object'],
    ['uid missing', json({ conn_id: 1 }), 'uid must be a string'],
    [
      'uid over 255 bytes',
      json({ uid: 'a'.repeat(256), conn_id: 1 }),
      'uid must be at most 255 bytes of UTF-8',
    ],
    ['conn_id missing', json({ uid: 'alice' }), 'conn_id is required'],
    ['conn_id 0', json({ uid: 'alice', conn_id: 0 }), 'conn_id must be a positive integer'],
    ['conn_id negative', json({ uid: 'alice', conn_id: -5 }), 'conn_id must be a positive integer'],
    ['conn_id 1.5', json({ uid: 'alice', conn_id: 1.5 }), 'conn_id must be a positive integer'],
    ['conn_id "12345"', json({ uid: 'alice', conn_id: '12345' }), 'conn_id must be a positive integer'],
    ['conn_id null', json({ uid: 'alice', conn_id: null }), 'conn_id must be a positive integer'],
    [
      'conn_id beyond MAX_SAFE_INTEGER',
      '{"uid":"alice","conn_id":9007199254740993}',
      'conn_id must be a positive integer',
    ],
    ['conn_id 1e400 (Infinity)', '{"uid":"alice","conn_id":1e400}', 'conn_id must be a positive integer'],
    ['node_id 0', json({ uid: 'alice', conn_id: 1, node_id: 0 }), 'node_id must be a positive integer'],
    [
      'node_id negative',
      json({ uid: 'alice', conn_id: 1, node_id: -1 }),
      'node_id must be a positive integer',
    ],
    ['node_id 1.5', json({ uid: 'alice', conn_id: 1, node_id: 1.5 }), 'node_id must be a positive integer'],
    ['node_id "1"', json({ uid: 'alice', conn_id: 1, node_id: '1' }), 'node_id must be a positive integer'],
    ['node_id null', json({ uid: 'alice', conn_id: 1, node_id: null }), 'node_id must be a positive integer'],
    ['an unknown field', json({ uid: 'alice', conn_id: 1, device_flag: 0 }), 'unknown field "device_flag"'],
    ['a __proto__ key', '{"uid":"alice","conn_id":1,"__proto__":{}}', 'unknown field "__proto__"'],
    ['a constructor key', '{"uid":"alice","conn_id":1,"constructor":1}', 'unknown field "constructor"'],
  ];
  for (const [name, body, msg] of connRemove) {
    it(`/conn/remove: ${name}`, async () => {
      const closed: unknown[] = [];
      await h.engine.registerConnection({
        uid: 'alice',
        deviceFlag: 0,
        connId: 1,
        close: (i) => closed.push(i),
      });
      const res = await unchanged(h.store, () => post(app, '/conn/remove', body));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ msg, status: 400 });
      expect(closed).toEqual([]);
      expect(events).toEqual([]);
    });
  }

  for (const path of ['/user/device_quit', '/conn/remove']) {
    it(`${path}: a chunked body over 16 KiB (no Content-Length)`, async () => {
      const body = path === '/conn/remove' ? { uid: 'alice', conn_id: 1 } : { uid: 'alice' };
      const chunk = ' '.repeat(1024);
      const res = await unchanged(h.store, () =>
        sendChunked(app, 'POST', path, { token: MANAGER_TOKEN, 'content-type': 'application/json' }, [
          json(body).slice(0, -1),
          ...Array.from({ length: 17 }, () => chunk),
          '}',
        ]),
      );
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toEqual({ msg: 'request body is larger than 16 KiB', status: 400 });
      expect(events).toEqual([]);
    });

    it(`${path}: a chunked body under 16 KiB is read`, async () => {
      const closed: unknown[] = [];
      await h.engine.registerConnection({
        uid: 'alice',
        deviceFlag: 0,
        connId: 1,
        close: (i) => closed.push(i),
      });
      const body = path === '/conn/remove' ? { uid: 'alice', conn_id: 1 } : { uid: 'alice' };
      const res = await sendChunked(
        app,
        'POST',
        path,
        { token: MANAGER_TOKEN, 'content-type': 'application/json' },
        [json(body).slice(0, 5), json(body).slice(5)],
      );
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
      expect(closed).toHaveLength(1);
    });
  }

  it('a body of exactly 16 KiB is accepted', async () => {
    const body = bigJson({ uid: 'alice', device_flag: 1 }, 16 * 1024);
    expect(Buffer.byteLength(body)).toBe(16 * 1024);
    const res = await post(app, '/user/device_quit', body);
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });
});

describe('WuKongIM not found: 404 {msg, status: 404}, nothing changes', () => {
  it('device_quit of an unknown user', async () => {
    const res = await unchanged(h.store, () => post(app, '/user/device_quit', json({ uid: 'nobody' })));
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'user does not exist', status: 404 });
  });

  it('device_quit of one device of an unknown user', async () => {
    const res = await unchanged(h.store, () =>
      post(app, '/user/device_quit', json({ uid: 'nobody', device_flag: 0 })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'user does not exist', status: 404 });
  });

  it('device_quit of a device with no session and no connection', async () => {
    const res = await unchanged(h.store, () =>
      post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 2 })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'device is not connected', status: 404 });
    expect(events).toEqual([]);
  });

  it('device_quit of a device whose sessions were all quit already', async () => {
    await post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 1 })).expect(200);
    h.clock.advance(1000);
    const res = await unchanged(h.store, () =>
      post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 1 })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'device is not connected', status: 404 });
  });

  it('conn/remove of an unknown connection', async () => {
    await h.engine.registerConnection({ uid: 'alice', deviceFlag: 0, connId: 1, close: () => {} });
    const res = await unchanged(h.store, () =>
      post(app, '/conn/remove', json({ uid: 'alice', conn_id: 999 })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'connection does not exist', status: 404 });
  });

  it('conn/remove of a connection of another user', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({ uid: 'bob', deviceFlag: 0, connId: 5, close: (i) => closed.push(i) });
    const res = await unchanged(h.store, () => post(app, '/conn/remove', json({ uid: 'alice', conn_id: 5 })));
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'connection does not exist', status: 404 });
    expect(closed).toEqual([]);
  });

  it('conn/remove naming another node_id than the one holding the connection', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 0,
      connId: 12345,
      close: (i) => closed.push(i),
    });
    const res = await unchanged(h.store, () =>
      post(app, '/conn/remove', json({ uid: 'alice', conn_id: 12345, node_id: 2 })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'connection does not exist', status: 404 });
    expect(closed).toEqual([]);
  });

  it('conn/remove of an unknown user', async () => {
    const res = await unchanged(h.store, () =>
      post(app, '/conn/remove', json({ uid: 'nobody', conn_id: 1 })),
    );
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ msg: 'connection does not exist', status: 404 });
  });
});

describe('WuKongIM store failures: 500 {msg, status: 500}', () => {
  for (const [path, body] of [
    ['/user/device_quit', { uid: 'alice' }],
    ['/user/device_quit', { uid: 'alice', device_flag: 1 }],
    ['/conn/remove', { uid: 'alice', conn_id: 1 }],
  ] as const) {
    it(`${path} ${json(body)} with a failing store, and a retry once it heals`, async () => {
      await h.engine.registerConnection({ uid: 'alice', deviceFlag: 1, connId: 1, close: () => {} });
      h.faulty.inject('fail');
      const res = await unchanged(h.store, () => post(app, path, json(body)));
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ msg: 'internal server error', status: 500 });
      expect(events).toEqual([]);
      h.faulty.heal();
      const retry = await post(app, path, json(body));
      expect(retry.status).toBe(200);
      expect(retry.text).toBe(OK);
    });
  }

  it('a store that fails half-way (the cutoff is written, listing connections fails): 500, and a retry repairs it', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({
      uid: 'alice',
      deviceFlag: 1,
      connId: 1,
      close: (i) => closed.push(i),
    });
    h.faulty.inject('fail', 'listConnections');
    const res = await post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 1 }));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ msg: 'internal server error', status: 500 });
    h.faulty.heal();
    const retry = await post(app, '/user/device_quit', json({ uid: 'alice', device_flag: 1 }));
    expect(retry.status).toBe(200);
    expect(closed).toEqual([{ code: 4002, reason: 'device_quit' }]);
  });

  it('a hanging store answers 500 after storeTimeoutMs', async () => {
    const slow = harness({ engine: { storeTimeoutMs: 50 } });
    await slow.engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    slow.faulty.inject('hang');
    const res = await unchanged(slow.store, () =>
      post(appFor(slow), '/user/device_quit', json({ uid: 'alice' })),
    );
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ msg: 'internal server error', status: 500 });
  });
});

describe('wukongim.compat: the WuKongIM server wire behaviour', () => {
  let compat: Express;
  beforeEach(() => {
    compat = appFor(h, { wukongim: { managerToken: MANAGER_TOKEN, compat: true } });
  });

  it('answers {"status":200} on success', async () => {
    const res = await post(compat, '/user/device_quit', json({ uid: 'alice', device_flag: 1 }));
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"status":200}');
  });

  it('answers 200 {"status":200} for an unknown user, and changes nothing', async () => {
    const res = await unchanged(h.store, () => post(compat, '/user/device_quit', json({ uid: 'nobody' })));
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"status":200}');
  });

  it('answers 200 {"status":200} for an unknown connection', async () => {
    const res = await unchanged(h.store, () =>
      post(compat, '/conn/remove', json({ uid: 'alice', conn_id: 404 })),
    );
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"status":200}');
  });

  it('treats a missing device_flag as 0 (app)', async () => {
    const res = await post(compat, '/user/device_quit', json({ uid: 'alice' }));
    expect(res.status).toBe(200);
    expect(await check(sessions[0]!.token)).toEqual({ ok: false, reason: 'device_quit', uid: 'alice' });
    expect(await check(sessions[1]!.token)).toMatchObject({ ok: true, deviceFlag: 1 });
  });

  it('still answers 401 with an empty body and 400 for a bad body', async () => {
    const unauthorized = await unchanged(h.store, () =>
      post(compat, '/user/device_quit', json({ uid: 'a' }), null),
    );
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.text).toBe('');
    const bad = await unchanged(h.store, () => post(compat, '/user/device_quit', json({ uid: 1 })));
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ msg: 'uid must be a string', status: 400 });
  });
});

describe('mounting the WuKongIM routes', () => {
  it('refuses to mount without a manager token', () => {
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

  it('mounts open with allowUnauthenticated: true, with a warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const open = express();
    open.use(evictRouter(h.engine, { families: ['wukongim'], wukongim: { allowUnauthenticated: true } }));
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('WITHOUT authentication'),
      expect.objectContaining({ code: 'EVICT_UNAUTHENTICATED_ADMIN' }),
    );
    const res = await post(open, '/user/device_quit', json({ uid: 'alice', device_flag: 1 }), null);
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });
});
