import { type IssuedSession, type RevocationEvent, StoreCorruptError } from '@evict/core';
import { evictGuard, evictRouter } from '@evict/express';
import express, { type Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminOptions, bigJson, closeHarnesses, type Harness, harness, unchanged } from './helpers.js';

const LOGOUT = '/v1/api/user/logout';
const RING = '/v1/api/user/token';
const MESSAGE = '/v1/api/user/message/token';
const OK = '{"status":"ok"}';
const USER = 'alice01';
const OTHER = 'bobby02';

const json = (value: unknown) => JSON.stringify(value);

function appFor(h: Harness): Express {
  const app = express();
  app.use(evictRouter(h.engine, adminOptions()));
  app.get('/me', evictGuard(h.engine), (req, res) => {
    res.json(req.evict);
  });
  return app;
}

/** The seed's curl: `-H "content-type: application/json" -d '{"username": …, "token": …}'`. */
const logout = (app: Express, body: string | undefined) => {
  const req = request(app)
    .post(LOGOUT)
    .set('accept', 'application/json')
    .set('content-type', 'application/json');
  return body === undefined ? req : req.send(body);
};

let h: Harness;
let app: Express;
let session: IssuedSession;
let second: IssuedSession;
let other: IssuedSession;
let events: RevocationEvent[];

async function setPushTokens(uid: string) {
  await h.engine.setPushToken(uid, { kind: 'ring', token: `ring-${uid}`, deviceFlag: 0 });
  await h.engine.setPushToken(uid, { kind: 'message', token: `message-${uid}`, deviceFlag: 0 });
}
const kinds = async (uid: string) => (await h.engine.pushTokens(uid)).map((t) => t.kind).sort();

beforeEach(async () => {
  h = harness();
  app = appFor(h);
  session = await h.engine.issueSession({ uid: USER, deviceFlag: 0 });
  second = await h.engine.issueSession({ uid: USER, deviceFlag: 1 });
  other = await h.engine.issueSession({ uid: OTHER, deviceFlag: 0 });
  await setPushTokens(USER);
  await setPushTokens(OTHER);
  events = [];
  h.engine.on('revocation', (e) => events.push(e));
  h.clock.advance(1000);
});

afterEach(closeHarnesses);

describe('POST /v1/api/user/logout', () => {
  it('200 {"status":"ok"}: revokes the token and clears both push tokens', async () => {
    const res = await logout(app, json({ username: USER, token: session.token }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
    expect(await h.engine.pushTokens(USER)).toEqual([]);

    const me = await request(app).get('/me').set('token', session.token);
    expect(me.status).toBe(401);
    expect(me.body).toEqual({
      error: 'unauthorized',
      reason: 'logged_out',
      message: 'the session was logged out',
    });
    // The user's other session and the other user are untouched.
    await request(app)
      .get('/me')
      .set('token', second.token)
      .expect(200, { uid: USER, deviceFlag: 1, credential: 'session' });
    expect(await kinds(OTHER)).toEqual(['message', 'ring']);
    expect(events).toEqual([
      expect.objectContaining({
        action: 'logout',
        uid: USER,
        deviceFlag: 0,
        pushTokenKinds: ['ring', 'message'],
        actor: { type: 'user', id: USER },
        endpoint: 'POST /v1/api/user/logout',
      }),
    ]);
    // The audit event never carries the raw token.
    expect(JSON.stringify(events)).not.toContain(session.token);
  });

  it('works when the user has no push tokens', async () => {
    await h.engine.setPushToken(USER, { kind: 'ring', token: 'x', deviceFlag: 0 });
    await request(app).delete(RING).set('token', session.token).expect(200);
    await request(app).delete(MESSAGE).set('token', session.token).expect(200);
    const res = await logout(app, json({ username: USER, token: session.token }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(OK);
  });

  it('accepts usernames of exactly 6 and 32 characters (counted as characters, not bytes)', async () => {
    for (const username of ['abcdef', 'a'.repeat(32), 'ééééé1', '用户名六个字']) {
      const s = await h.engine.issueSession({ uid: username, deviceFlag: 0 });
      const res = await logout(app, json({ username, token: s.token }));
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
    }
  });

  const badRequests: [string, string | undefined, string][] = [
    ['username missing', json({ token: 'x' }), 'undefined username'],
    ['token missing', json({ username: USER }), 'undefined token'],
    ['both missing', json({}), 'undefined username'],
    ['username of 5 characters', json({ username: 'abcde', token: 'x' }), 'username length error'],
    ['username of 33 characters', json({ username: 'a'.repeat(33), token: 'x' }), 'username length error'],
    ['username empty', json({ username: '', token: 'x' }), 'username length error'],
    ['username a number', json({ username: 1234567, token: 'x' }), 'username format error'],
    ['username null', json({ username: null, token: 'x' }), 'username format error'],
    ['username an array', json({ username: [USER], token: 'x' }), 'username format error'],
    [
      'username with a control character',
      json({ username: 'alice\u000101', token: 'x' }),
      'username format error',
    ],
    ['token a number', json({ username: USER, token: 123456 }), 'token format error'],
    ['token null', json({ username: USER, token: null }), 'token format error'],
    ['token empty', json({ username: USER, token: '' }), 'token format error'],
    ['token over 4096 characters', json({ username: USER, token: 'x'.repeat(4097) }), 'token format error'],
    ['a body that is not JSON', 'username=alice01&token=x', 'paramer error'],
    ['a JSON array', '[]', 'paramer error'],
    ['an empty body', undefined, 'paramer error'],
    ['an unknown field', json({ username: USER, token: 'x', device: 1 }), 'paramer error'],
    ['a __proto__ key', '{"username":"alice01","token":"x","__proto__":{}}', 'paramer error'],
    ['a body over 16 KiB', bigJson({ username: USER, token: 'x' }), 'paramer error'],
  ];
  for (const [name, body, error] of badRequests) {
    it(`400 {"error":"${error}"}: ${name}`, async () => {
      const res = await unchanged(h.store, () => logout(app, body));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error });
      await request(app).get('/me').set('token', session.token).expect(200);
      expect(events).toEqual([]);
    });
  }

  it('400 even with the real token, when the username is malformed', async () => {
    const res = await unchanged(h.store, () => logout(app, json({ username: 'abc', token: session.token })));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'username length error' });
    expect(await kinds(USER)).toEqual(['message', 'ring']);
  });

  describe('401 {"error":"invalid token"}', () => {
    it('an unknown token', async () => {
      const res = await unchanged(h.store, () =>
        logout(app, json({ username: USER, token: 'no-such-token' })),
      );
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid token' });
    });

    it('a token of another user', async () => {
      const res = await unchanged(h.store, () => logout(app, json({ username: USER, token: other.token })));
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid token' });
      expect(await kinds(OTHER)).toEqual(['message', 'ring']);
      expect(await kinds(USER)).toEqual(['message', 'ring']);
      await request(app).get('/me').set('token', other.token).expect(200);
    });

    it('a token already logged out', async () => {
      await logout(app, json({ username: USER, token: session.token })).expect(200);
      await setPushTokens(USER);
      const res = await unchanged(h.store, () => logout(app, json({ username: USER, token: session.token })));
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid token' });
      // A dead token cannot clear the push tokens the user set since.
      expect(await kinds(USER)).toEqual(['message', 'ring']);
    });

    it('a token of a kicked user', async () => {
      await h.engine.kickUser(USER);
      const res = await unchanged(h.store, () => logout(app, json({ username: USER, token: session.token })));
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid token' });
    });

    it('an expired token', async () => {
      const short = await h.engine.issueSession({ uid: USER, deviceFlag: 2, ttlMs: 1000 });
      h.clock.advance(1000);
      // Not compared with a snapshot: reading an expired session lets the memory store drop it.
      const res = await logout(app, json({ username: USER, token: short.token }));
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid token' });
    });
  });

  it('500 {"error":10001} when the store fails; a retry after it heals finishes the job', async () => {
    h.faulty.inject('fail');
    const res = await unchanged(h.store, () => logout(app, json({ username: USER, token: session.token })));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 10001 });
    h.faulty.heal();
    await request(app).get('/me').set('token', session.token).expect(200);
    expect((await logout(app, json({ username: USER, token: session.token }))).text).toBe(OK);
  });

  it('500 {"error":"no data error"} when the store answers with a record it cannot read', async () => {
    h.faulty.getSession = () => Promise.reject(new StoreCorruptError('unreadable session record'));
    const res = await unchanged(h.store, () => logout(app, json({ username: USER, token: session.token })));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'no data error' });
    const ring = await unchanged(h.store, () => request(app).delete(RING).set('token', session.token));
    expect(ring.status).toBe(500);
    expect(ring.body).toEqual({ error: 'no data error' });
  });

  it('500 {"error":10001} when the store fails half-way (push tokens cleared, revoke fails); the retry revokes', async () => {
    h.faulty.inject('fail', 'revokeSession');
    const res = await logout(app, json({ username: USER, token: session.token }));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 10001 });
    h.faulty.heal();
    // The session is still live, so the client can retry and finish.
    await request(app).get('/me').set('token', session.token).expect(200);
    expect((await logout(app, json({ username: USER, token: session.token }))).text).toBe(OK);
    await request(app).get('/me').set('token', session.token).expect(401);
  });
});

describe('DELETE the push tokens', () => {
  for (const [path, cleared, kept] of [
    [RING, 'ring', 'message'],
    [MESSAGE, 'message', 'ring'],
  ] as const) {
    it(`${path} clears only the ${cleared} token; the session stays live`, async () => {
      const res = await request(app)
        .delete(path)
        .set('accept', 'application/json')
        .set('token', session.token);
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
      expect(await kinds(USER)).toEqual([kept]);
      expect(await kinds(OTHER)).toEqual(['message', 'ring']);
      await request(app).get('/me').set('token', session.token).expect(200);
      expect(events).toEqual([
        expect.objectContaining({
          action: 'clear_push_token',
          uid: USER,
          pushTokenKinds: [cleared],
          endpoint: `DELETE ${path}`,
        }),
      ]);
      // Again: nothing left to clear, still fine.
      expect((await request(app).delete(path).set('token', session.token)).text).toBe(OK);
    });

    it(`${path}: 401 {"error":"no token"} without the header`, async () => {
      for (const token of [undefined, '']) {
        const req = request(app).delete(path);
        const res = await unchanged(h.store, () => (token === undefined ? req : req.set('token', token)));
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: 'no token' });
      }
    });

    it(`${path}: a bearer token is not the seed's header: 401 no token`, async () => {
      const res = await unchanged(h.store, () =>
        request(app).delete(path).set('authorization', `Bearer ${session.token}`),
      );
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'no token' });
    });

    for (const [name, revoke] of [
      ['unknown', async () => 'no-such-token'],
      [
        'logged out',
        async () => {
          await logout(app, json({ username: USER, token: session.token })).expect(200);
          await setPushTokens(USER);
          return session.token;
        },
      ],
      [
        'of a kicked user',
        async () => {
          await h.engine.kickUser(USER);
          return session.token;
        },
      ],
      ['over 4096 characters', async () => 'x'.repeat(4097)],
    ] as const) {
      it(`${path}: 401 {"error":"invalid token"} for a token ${name}`, async () => {
        const token = await revoke();
        const res = await unchanged(h.store, () => request(app).delete(path).set('token', token));
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: 'invalid token' });
        expect(await kinds(USER)).toEqual(['message', 'ring']);
      });
    }

    it(`${path}: 500 {"error":10001} with a failing store`, async () => {
      h.faulty.inject('fail');
      const res = await unchanged(h.store, () => request(app).delete(path).set('token', session.token));
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: 10001 });
    });

    it(`${path}: the body of a DELETE is ignored`, async () => {
      const res = await request(app).delete(path).set('token', session.token).send('not json');
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK);
    });
  }
});
