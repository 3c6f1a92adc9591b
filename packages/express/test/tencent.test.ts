import { type AdminApiOptions, type RevocationEvent, signUserSig } from '@evict/core';
import { evictGuard, evictRouter } from '@evict/express';
import express, { type Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../../test/support/clock.js';
import {
  ADMIN,
  adminOptions,
  bigJson,
  closeHarnesses,
  type Harness,
  harness,
  OTHER_KEY,
  realTimeClock,
  SDKAPPID,
  SECRET_KEY,
  sendChunked,
  tencentSig,
  unchanged,
  unchangedButRateCounter,
} from './helpers.js';

const KICK = '/v4/im_open_login_svc/kick';
const OK_BODY = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';

type Query = Record<string, string | undefined>;

/** The seed's URL: sdkappid, identifier, usersig, random, contenttype; `undefined` leaves one out. */
function kickUrl(overrides: Query = {}): string {
  const query: Query = {
    sdkappid: String(SDKAPPID),
    identifier: ADMIN,
    usersig: tencentSig(ADMIN),
    random: String(Math.floor(Math.random() * 4294967296)),
    contenttype: 'json',
    ...overrides,
  };
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
  return `${KICK}?${params}`;
}

function kick(app: Express, body: string | undefined, overrides: Query = {}) {
  const req = request(app).post(kickUrl(overrides)).set('content-type', 'application/json');
  return body === undefined ? req : req.send(body);
}

const json = (value: unknown) => JSON.stringify(value);
const fail = (code: number, info: string) => ({ ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: info });

function appFor(h: Harness, extra: AdminApiOptions = {}): Express {
  const app = express();
  app.use(evictRouter(h.engine, adminOptions(extra)));
  // The host's own routes, guarded: a session token, or a UserSig as Tencent's REST calls carry one.
  app.get('/me', evictGuard(h.engine), (req, res) => {
    res.json(req.evict);
  });
  app.get(
    '/im',
    evictGuard(h.engine, {
      credentials: ['usersig'],
      userSig: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY },
    }),
    (req, res) => {
      res.json(req.evict);
    },
  );
  return app;
}

let h: Harness;
let clock: ManualClock;
let app: Express;
let events: RevocationEvent[];

beforeEach(async () => {
  clock = realTimeClock();
  h = harness({ clock });
  app = appFor(h);
  await h.engine.issueSession({ uid: 'alice', deviceFlag: 0 });
  await h.engine.addUser('bob');
  events = [];
  h.engine.on('revocation', (e) => events.push(e));
  clock.advance(1000);
});

afterEach(closeHarnesses);

describe('POST /v4/im_open_login_svc/kick: success', () => {
  for (const body of [{ Identifier: 'alice' }, { UserID: 'alice' }]) {
    it(`kicks with a sig from tls-sig-api-v2 and ${json(body)}: 200, byte-exact OK`, async () => {
      const res = await kick(app, json(body));
      expect(res.status).toBe(200);
      expect(res.text).toBe(OK_BODY);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(events).toEqual([
        expect.objectContaining({
          action: 'kick_user',
          uid: 'alice',
          actor: { type: 'admin', id: ADMIN },
          endpoint: 'POST /v4/im_open_login_svc/kick',
        }),
      ]);
    });
  }

  it('kicks a user known only through engine.addUser (account import)', async () => {
    const res = await kick(app, json({ Identifier: 'bob' }));
    expect(res.text).toBe(OK_BODY);
  });

  it('works without contenttype, and with random at both ends of its range', async () => {
    expect((await kick(app, json({ Identifier: 'alice' }), { contenttype: undefined })).text).toBe(OK_BODY);
    expect((await kick(app, json({ Identifier: 'alice' }), { random: '0' })).text).toBe(OK_BODY);
    expect((await kick(app, json({ Identifier: 'alice' }), { random: '4294967295' })).text).toBe(OK_BODY);
  });

  it('accepts a sig signed with evict`s own signUserSig', async () => {
    const usersig = signUserSig({
      sdkAppId: SDKAPPID,
      secretKey: SECRET_KEY,
      identifier: ADMIN,
      expireSec: 60,
      nowMs: clock.nowMs(),
    });
    expect((await kick(app, json({ Identifier: 'alice' }), { usersig })).text).toBe(OK_BODY);
  });

  it('accepts any of several admins', async () => {
    const two = appFor(h, {
      tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN, 'ops'] },
    });
    const res = await kick(two, json({ Identifier: 'alice' }), {
      identifier: 'ops',
      usersig: tencentSig('ops'),
    });
    expect(res.text).toBe(OK_BODY);
  });
});

describe('after a kick', () => {
  it("the user's sessions fail the guard; sigs of the kick's second fail with 70052, one a second later works", async () => {
    // Half-way through a second, so "the same second" has room on both sides of the kick.
    clock.advance(500);
    const session = await h.engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    const sig = (nowMs: number) =>
      signUserSig({
        sdkAppId: SDKAPPID,
        secretKey: SECRET_KEY,
        identifier: 'alice',
        expireSec: 86_400,
        nowMs,
      });
    const before = sig(clock.nowMs() - 60_000);
    const sameSecondEarlier = sig(clock.nowMs() - 500);

    await request(app)
      .get('/me')
      .set('token', session.token)
      .expect(200, { uid: 'alice', deviceFlag: 1, credential: 'session' });
    await request(app)
      .get('/im')
      .query({ identifier: 'alice', usersig: before })
      .expect(200, { uid: 'alice', credential: 'usersig' });

    clock.advance(1);
    const res = await kick(app, json({ UserID: 'alice' }));
    expect(res.text).toBe(OK_BODY);
    const kickedAtMs = clock.nowMs();
    const sameSecondLater = sig(kickedAtMs + 498);

    const me = await request(app).get('/me').set('token', session.token);
    expect(me.status).toBe(401);
    expect(me.body).toEqual({
      error: 'unauthorized',
      reason: 'kicked',
      message: 'the user was kicked; log in again',
    });

    for (const usersig of [before, sameSecondEarlier, sameSecondLater]) {
      const im = await request(app).get('/im').query({ identifier: 'alice', usersig });
      expect(im.status).toBe(401);
      expect(im.body).toEqual({ ...fail(70052, 'usersig has been invalidated'), reason: 'kicked' });
    }

    clock.advance(1000);
    const nextSecond = sig(Math.floor(kickedAtMs / 1000) * 1000 + 1000);
    await request(app)
      .get('/im')
      .query({ identifier: 'alice', usersig: nextSecond })
      .expect(200, { uid: 'alice', credential: 'usersig' });
    // A new login works too.
    const fresh = await h.engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    await request(app).get('/me').set('token', fresh.token).expect(200);
  });

  it('a kick closes every live connection of the user with 4001', async () => {
    const closed: unknown[] = [];
    await h.engine.registerConnection({ uid: 'alice', deviceFlag: 0, close: (i) => closed.push(i) });
    await h.engine.registerConnection({ uid: 'alice', deviceFlag: 2, close: (i) => closed.push(i) });
    await h.engine.registerConnection({ uid: 'bob', deviceFlag: 0, close: (i) => closed.push(['bob', i]) });
    expect((await kick(app, json({ Identifier: 'alice' }))).text).toBe(OK_BODY);
    expect(closed).toEqual([
      { code: 4001, reason: 'kicked' },
      { code: 4001, reason: 'kicked' },
    ]);
  });
});

describe('Tencent errors: HTTP 200, the code in the body, nothing changes', () => {
  it('60003: the body is not JSON', async () => {
    const res = await unchangedButRateCounter(h.store, () => kick(app, '{"Identifier": "alice"'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fail(60003, 'request body is not valid JSON'));
  });

  it('60003: the body is not UTF-8', async () => {
    const res = await unchangedButRateCounter(h.store, () =>
      kick(app, undefined)
        .serialize((b) => b as string)
        .send(Buffer.from([0x7b, 0xff, 0x7d])),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fail(60003, 'request body is not valid JSON'));
  });

  for (const [name, sdkappid] of [
    ['missing', undefined],
    ['another app', '1400000002'],
    ['empty', ''],
    ['with a leading zero', `0${SDKAPPID}`],
    ['not a number', 'abc'],
  ] as const) {
    it(`60006: sdkappid ${name}`, async () => {
      const res = await unchanged(h.store, () => kick(app, json({ Identifier: 'alice' }), { sdkappid }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(fail(60006, 'SDKAppID is invalid'));
    });
  }

  it('60007: over the rate limit; the 4th call of a second fails, the next second works again', async () => {
    const limited = harness({ clock });
    await limited.engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const app3 = appFor(limited, {
      tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN], rateLimitPerSecond: 3 },
    });
    clock.advance(1000); // the start of a fresh second: the window is [now, now + 1000)
    for (let i = 0; i < 3; i += 1) {
      clock.advance(100);
      expect((await kick(app3, json({ Identifier: 'alice' }))).text).toBe(OK_BODY);
    }
    clock.advance(699); // still the same second
    // The rejected call is counted (it is authenticated): only the counter moves.
    const res = await unchangedButRateCounter(limited.store, () => kick(app3, json({ Identifier: 'alice' })));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fail(60007, 'REST API call frequency exceeds the limit'));
    // A rejected call does not kick: a session made before it is still live.
    const session = await limited.engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    const again = await unchangedButRateCounter(limited.store, () =>
      kick(app3, json({ Identifier: 'alice' })),
    );
    expect(again.body).toEqual(fail(60007, 'REST API call frequency exceeds the limit'));
    await request(app3).get('/me').set('token', session.token).expect(200);

    clock.advance(1); // the next second
    expect((await kick(app3, json({ Identifier: 'alice' }))).text).toBe(OK_BODY);
  });

  it('60007 does not count calls that fail authentication', async () => {
    const limited = harness({ clock });
    await limited.engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const app1 = appFor(limited, {
      tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN], rateLimitPerSecond: 1 },
    });
    for (let i = 0; i < 5; i += 1) {
      const res = await unchanged(limited.store, () =>
        kick(app1, json({ Identifier: 'alice' }), { usersig: tencentSig(ADMIN, 86_400, OTHER_KEY) }),
      );
      expect(res.body).toEqual(fail(70003, 'usersig is invalid'));
    }
    expect((await kick(app1, json({ Identifier: 'alice' }))).text).toBe(OK_BODY);
  });

  it('70001: an expired sig from tls-sig-api-v2 (advance the clock past it)', async () => {
    const usersig = tencentSig(ADMIN, 1);
    clock.advance(5000);
    const res = await unchanged(h.store, () => kick(app, json({ Identifier: 'alice' }), { usersig }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fail(70001, 'usersig is expired'));
  });

  it('70001: a sig signed in the past whose lifetime is over', async () => {
    const usersig = signUserSig({
      sdkAppId: SDKAPPID,
      secretKey: SECRET_KEY,
      identifier: ADMIN,
      expireSec: 3600,
      nowMs: clock.nowMs() - 3600_000,
    });
    const res = await unchanged(h.store, () => kick(app, json({ Identifier: 'alice' }), { usersig }));
    expect(res.body).toEqual(fail(70001, 'usersig is expired'));
  });

  const genuine = () => tencentSig(ADMIN);
  const tamper = (sig: string) => {
    const at = Math.floor(sig.length / 2);
    return `${sig.slice(0, at)}${sig[at] === 'A' ? 'B' : 'A'}${sig.slice(at + 1)}`;
  };
  for (const [name, usersig] of [
    ['missing', () => undefined],
    ['empty', () => ''],
    ['tampered', () => tamper(genuine())],
    ['truncated', () => genuine().slice(0, -10)],
    ['garbage', () => 'not-a-usersig!!'],
    ['base64 of garbage', () => Buffer.from('hello world').toString('base64').replace(/=/g, '_')],
    ['signed with another key', () => tencentSig(ADMIN, 86_400, OTHER_KEY)],
    ['of another key and another app', () => tencentSig(ADMIN, 86_400, OTHER_KEY, 1400000002)],
  ] as const) {
    it(`70003: usersig ${name}`, async () => {
      const res = await unchanged(h.store, () =>
        kick(app, json({ Identifier: 'alice' }), { usersig: usersig() }),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        fail(
          70003,
          name === 'missing' || name === 'empty'
            ? 'usersig is invalid: usersig is required'
            : 'usersig is invalid',
        ),
      );
      expect(events).toEqual([]);
    });
  }

  it("70013: the identifier parameter is not the sig's", async () => {
    const withOps = appFor(h, {
      tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN, 'ops'] },
    });
    const res = await unchanged(h.store, () =>
      kick(withOps, json({ Identifier: 'alice' }), { identifier: 'ops', usersig: tencentSig(ADMIN) }),
    );
    expect(res.body).toEqual(fail(70013, 'identifier does not match the usersig'));
  });

  it('70014: a sig for another sdkappid made with the same key', async () => {
    const res = await unchanged(h.store, () =>
      kick(app, json({ Identifier: 'alice' }), {
        usersig: tencentSig(ADMIN, 86_400, SECRET_KEY, 1400000002),
      }),
    );
    expect(res.body).toEqual(fail(70014, 'sdkappid does not match the usersig'));
  });

  it('70107: the user does not exist', async () => {
    // Counted against the rate limit (authenticated), nothing else.
    const res = await unchangedButRateCounter(h.store, () => kick(app, json({ Identifier: 'nobody' })));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fail(70107, 'the requested account does not exist'));
    expect(events).toEqual([]);
  });

  const invalid = (detail: string) => fail(70402, `invalid parameter: ${detail}`);
  const RANDOM = 'random must be a 32-bit unsigned integer';
  const params: [string, Query, string][] = [
    ['identifier missing', { identifier: undefined }, 'identifier is required'],
    ['identifier empty', { identifier: '' }, 'identifier is required'],
    ['random missing', { random: undefined }, RANDOM],
    ['random empty', { random: '' }, RANDOM],
    ['random over 4294967295', { random: '4294967296' }, RANDOM],
    ['random with 11 digits', { random: '00000000001' }, RANDOM],
    ['random negative', { random: '-1' }, RANDOM],
    ['random not a number', { random: 'abc' }, RANDOM],
    ['random a fraction', { random: '1.5' }, RANDOM],
    ['contenttype not json', { contenttype: 'xml' }, 'contenttype must be json'],
  ];
  for (const [name, query, detail] of params) {
    it(`70402: ${name}`, async () => {
      // Rejected after authentication (except for a missing identifier): only the counter may move.
      const res = await unchangedButRateCounter(h.store, () =>
        kick(app, json({ Identifier: 'alice' }), query),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual(invalid(detail));
      expect(events).toEqual([]);
    });
  }

  const bodies: [string, string | undefined, string][] = [
    [
      'both Identifier and UserID',
      json({ Identifier: 'alice', UserID: 'alice' }),
      'give Identifier or UserID, not both',
    ],
    ['Identifier missing', json({}), 'Identifier is required'],
    // null reads as absent (`??`): still a parameter error.
    ['Identifier null', json({ Identifier: null }), 'Identifier is required'],
    ['Identifier a number', json({ Identifier: 42 }), 'Identifier must be a string'],
    ['UserID an array', json({ UserID: ['alice'] }), 'Identifier must be a string'],
    ['Identifier empty', json({ Identifier: '' }), 'Identifier must not be empty'],
    [
      'Identifier over 255 bytes',
      json({ Identifier: 'a'.repeat(256) }),
      'Identifier must be at most 255 bytes of UTF-8',
    ],
    [
      'Identifier with a control character',
      json({ Identifier: 'ali\tce' }),
      'Identifier must not contain control characters',
    ],
    ['an unknown field', json({ Identifier: 'alice', Reason: 'spam' }), 'unknown field "Reason"'],
    ['a lowercase field', json({ identifier: 'alice' }), 'unknown field "identifier"'],
    ['a __proto__ key', '{"Identifier":"alice","__proto__":{"UserID":"bob"}}', 'unknown field "__proto__"'],
    ['a constructor key', '{"Identifier":"alice","constructor":{}}', 'unknown field "constructor"'],
    ['a JSON array', json([{ Identifier: 'alice' }]), 'request body must be a JSON object'],
    ['a JSON string', json('alice'), 'request body must be a JSON object'],
    ['JSON null', 'null', 'request body must be a JSON object'],
    ['an empty body', undefined, 'request body is empty'],
    ['a body over 16 KiB', bigJson({ Identifier: 'alice' }), 'request body is larger than 16 KiB'],
  ];
  for (const [name, body, detail] of bodies) {
    it(`70402: ${name}`, async () => {
      // Authenticated, so counted against the rate limit; nothing else moves.
      const res = await unchangedButRateCounter(h.store, () => kick(app, body));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(invalid(detail));
      expect(events).toEqual([]);
    });
  }

  it('70402: a chunked body over 16 KiB (no Content-Length)', async () => {
    const res = await unchangedButRateCounter(h.store, () =>
      sendChunked(app, 'POST', kickUrl(), { 'content-type': 'application/json' }, [
        '{"Identifier":"alice"',
        ...Array.from({ length: 17 }, () => ' '.repeat(1024)),
        '}',
      ]),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual(invalid('request body is larger than 16 KiB'));
  });

  for (const [name, admins, identifier] of [
    ['a valid sig of a non-admin identifier', [ADMIN], 'bob'],
    ['a valid sig of a user who is an admin elsewhere', ['ops'], ADMIN],
  ] as const) {
    it(`70403: ${name}`, async () => {
      const strict = appFor(h, {
        tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [...admins] },
      });
      const res = await unchanged(h.store, () =>
        kick(strict, json({ Identifier: 'alice' }), { identifier, usersig: tencentSig(identifier) }),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual(fail(70403, 'the request requires App admin rights'));
    });
  }

  for (const method of ['hit', 'getUser', 'raiseCutoff'] as const) {
    it(`70500: the store fails (${method})`, async () => {
      h.faulty.inject('fail', method);
      const res = await unchangedButRateCounter(h.store, () => kick(app, json({ Identifier: 'alice' })));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(fail(70500, 'internal server error, please try again later'));
      expect(events).toEqual([]);
    });
  }

  it('70500: every store call fails', async () => {
    h.faulty.inject('fail');
    const res = await unchanged(h.store, () => kick(app, json({ Identifier: 'alice' })));
    expect(res.body).toEqual(fail(70500, 'internal server error, please try again later'));
  });

  for (const method of [undefined, 'raiseCutoff'] as const) {
    it(`70169: the store hangs (${method ?? 'every call'}) past storeTimeoutMs`, async () => {
      const slow = harness({ clock, engine: { storeTimeoutMs: 50 } });
      await slow.engine.issueSession({ uid: 'alice', deviceFlag: 0 });
      if (method === undefined) slow.faulty.inject('hang');
      else slow.faulty.inject('hang', method);
      const res = await unchangedButRateCounter(slow.store, () =>
        kick(appFor(slow), json({ Identifier: 'alice' })),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual(fail(70169, 'internal server timeout, please try again later'));
    });
  }
});

describe('a kicked admin', () => {
  const adminSig = (nowMs: number) =>
    signUserSig({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY, identifier: ADMIN, expireSec: 86_400, nowMs });

  it('cannot call the API with a UserSig made at or before the kick (70052); a newer one works', async () => {
    await h.engine.addUser(ADMIN);
    const old = adminSig(clock.nowMs());
    expect((await kick(app, json({ Identifier: ADMIN }), { usersig: old })).text).toBe(OK_BODY);
    // Counted against the rate limit (the signature is genuine), nothing else.
    const res = await unchangedButRateCounter(h.store, () =>
      kick(app, json({ Identifier: 'alice' }), { usersig: old }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fail(70052, 'usersig has been invalidated'));
    expect(events.map((e) => e.uid)).toEqual([ADMIN]);

    clock.advance(1000);
    const fresh = adminSig(clock.nowMs());
    expect((await kick(app, json({ Identifier: 'alice' }), { usersig: fresh })).text).toBe(OK_BODY);
  });

  it("70500 when the admin's sig cannot be checked against the store", async () => {
    h.faulty.inject('fail', 'getUser');
    const res = await unchangedButRateCounter(h.store, () => kick(app, json({ Identifier: 'alice' })));
    expect(res.body).toEqual(fail(70500, 'internal server error, please try again later'));
  });
});

describe('the tencent options', () => {
  it('are required when the family is mounted', () => {
    expect(() => evictRouter(h.engine, { families: ['tencent'] })).toThrow(TypeError);
    expect(() =>
      evictRouter(h.engine, {
        families: ['tencent'],
        tencent: { sdkAppId: 0, secretKey: SECRET_KEY, admins: [ADMIN] },
      }),
    ).toThrow(/sdkAppId/);
    expect(() =>
      evictRouter(h.engine, {
        families: ['tencent'],
        tencent: { sdkAppId: SDKAPPID, secretKey: '', admins: [ADMIN] },
      }),
    ).toThrow(/secretKey/);
    expect(() =>
      evictRouter(h.engine, {
        families: ['tencent'],
        tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [] },
      }),
    ).toThrow(/admins/);
    expect(() =>
      evictRouter(h.engine, {
        families: ['tencent'],
        tencent: { sdkAppId: SDKAPPID, secretKey: SECRET_KEY, admins: [ADMIN], rateLimitPerSecond: 0 },
      }),
    ).toThrow(/rateLimitPerSecond/);
  });
});
