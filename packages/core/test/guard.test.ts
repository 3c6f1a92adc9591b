import { deflateSync, inflateSync } from 'node:zlib';
import {
  type CredentialSource,
  createEvict,
  createGuard,
  type GuardOptions,
  type GuardRequest,
  type GuardResult,
  type HeaderValue,
  MemoryStore,
  signUserSig,
  type UserSigSourceOptions,
  userSigSource,
} from '@evict/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';
import { FaultyStore } from '../../../test/support/faulty-store.js';
import { SECRET_KEY as KEY } from '../../../test/support/fixtures.js';

const SDKAPPID = 1400000000;
const DAY_SEC = 86_400;

const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

function setup() {
  const clock = new ManualClock();
  const inner = new MemoryStore({ clock });
  opened.push(inner);
  const store = new FaultyStore(inner);
  const engine = createEvict({ store, clock });
  opened.push(engine);
  return { clock, store, engine };
}

function request(
  headers: Record<string, HeaderValue> = {},
  query: Record<string, string> = {},
): GuardRequest {
  return { headers, query: new URLSearchParams(query) };
}

/** The rejection's status and parsed body. */
function rejection(result: GuardResult) {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return { reason: result.reason, status: result.response.status, body: JSON.parse(result.response.body) };
}

function sign(identifier: string, nowMs: number, expireSec = DAY_SEC): string {
  return signUserSig({ sdkAppId: SDKAPPID, secretKey: KEY, identifier, expireSec, nowMs });
}

/** Rewrites a field of a sig's JSON document, keeping its (now wrong) signature. */
function tamper(sig: string, field: string, value: unknown): string {
  const bytes = Buffer.from(sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '='), 'base64');
  const doc = JSON.parse(inflateSync(bytes).toString('utf8')) as Record<string, unknown>;
  doc[field] = value;
  return deflateSync(Buffer.from(JSON.stringify(doc)))
    .toString('base64')
    .replace(/\+/g, '*')
    .replace(/\//g, '-')
    .replace(/=/g, '_');
}

describe('guard options', () => {
  it('rejects invalid options with a TypeError', () => {
    const { engine } = setup();
    expect(() => createGuard(engine, { credentials: [] })).toThrow(TypeError);
    expect(() => createGuard(engine, { credentials: ['jwt' as unknown as CredentialSource] })).toThrow(/jwt/);
    expect(() => createGuard(engine, { credentials: 'session' as unknown as CredentialSource[] })).toThrow(
      TypeError,
    );
    expect(() => createGuard(engine, { credentials: ['usersig' as unknown as CredentialSource] })).toThrow(
      /userSigSource/,
    );
    expect(() => userSigSource({ sdkAppId: SDKAPPID } as UserSigSourceOptions)).toThrow(TypeError);
    expect(() => createGuard(engine)).not.toThrow();
  });
});

describe('session guard', () => {
  async function withSession() {
    const ctx = setup();
    const session = await ctx.engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    return { ...ctx, token: session.token };
  }

  it('accepts a live session from the token header', async () => {
    const { engine, token } = await withSession();
    const guard = createGuard(engine);
    expect(await guard(request({ token }))).toEqual({
      ok: true,
      principal: { uid: 'alice', deviceFlag: 1, credential: 'session' },
    });
    expect((await guard(request({ token: [token, 'other'] }))).ok).toBe(true);
  });

  it('accepts Authorization: Bearer, in any case of the scheme', async () => {
    const { engine, token } = await withSession();
    const guard = createGuard(engine);
    for (const authorization of [`Bearer ${token}`, `bearer ${token}`, `BEARER  ${token} `]) {
      expect(await guard(request({ authorization }))).toMatchObject({
        ok: true,
        principal: { uid: 'alice' },
      });
    }
    expect(rejection(await guard(request({ authorization: `Basic ${token}` })))).toMatchObject({
      status: 401,
      reason: 'unknown',
    });
  });

  it('reads the token query parameter only with queryToken', async () => {
    const { engine, token } = await withSession();
    const plain = rejection(await createGuard(engine)(request({}, { token })));
    expect(plain).toMatchObject({ status: 401, reason: 'unknown' });
    expect(plain.body.message).toMatch(/no credential/);
    expect(await createGuard(engine, { queryToken: true })(request({}, { token }))).toMatchObject({
      ok: true,
      principal: { uid: 'alice', credential: 'session' },
    });
  });

  it('rejects with 401, the reason and a JSON body for each kind of dead session', async () => {
    const { engine, clock } = setup();
    const guard = createGuard(engine);
    const kicked = await engine.issueSession({ uid: 'kim', deviceFlag: 0 });
    const quit = await engine.issueSession({ uid: 'quinn', deviceFlag: 2 });
    const loggedOut = await engine.issueSession({ uid: 'lou', deviceFlag: 0 });
    clock.advance(1);
    await engine.kickUser('kim');
    await engine.quitDevice('quinn', 2);
    await engine.logout(loggedOut.token);

    const cases = [
      [kicked.token, 'kicked'],
      [quit.token, 'device_quit'],
      [loggedOut.token, 'logged_out'],
      ['never-issued-token', 'unknown'],
    ] as const;
    for (const [token, reason] of cases) {
      const result = await guard(request({ token }));
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.reason).toBe(reason);
      expect(result.response.status).toBe(401);
      expect(result.response.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(result.response.body)).toEqual({
        error: 'unauthorized',
        reason,
        message: expect.any(String),
      });
      expect(result.response.body).not.toContain(token);
    }
  });

  it('answers 503 unavailable when the store cannot be read (fails closed)', async () => {
    const { engine, store, token } = await withSession();
    const errors: Error[] = [];
    engine.on('error', (e) => errors.push(e));
    store.inject('fail', 'getSession');
    const result = rejection(await createGuard(engine)(request({ token })));
    expect(result).toEqual({
      reason: 'unavailable',
      status: 503,
      body: { error: 'unauthorized', reason: 'unavailable', message: expect.any(String) },
    });
    expect(errors).toHaveLength(1);
  });

  it('answers 401 unknown when the request carries no credential at all', async () => {
    const { engine } = setup();
    const result = rejection(await createGuard(engine)(request({ token: '' })));
    expect(result).toEqual({
      reason: 'unknown',
      status: 401,
      body: { error: 'unauthorized', reason: 'unknown', message: expect.stringMatching(/no credential/) },
    });
  });
});

describe('usersig guard', () => {
  function usersigSetup() {
    const ctx = setup();
    const guard = createGuard(ctx.engine, {
      credentials: [userSigSource({ sdkAppId: SDKAPPID, secretKey: KEY })],
    });
    const ask = (identifier: string, usersig: string) => guard(request({}, { identifier, usersig }));
    return { ...ctx, guard, ask };
  }

  it('accepts a valid UserSig as a usersig principal without a device', async () => {
    const { ask, clock } = usersigSetup();
    expect(await ask('alice', sign('alice', clock.now))).toEqual({
      ok: true,
      principal: { uid: 'alice', credential: 'usersig' },
    });
  });

  it('rejects an expired UserSig with 401 and ErrorCode 70001', async () => {
    const { ask, clock } = usersigSetup();
    const result = rejection(await ask('alice', sign('alice', clock.now - 2 * DAY_SEC * 1000)));
    expect(result).toEqual({
      reason: 'expired',
      status: 401,
      body: { ActionStatus: 'FAIL', ErrorCode: 70001, ErrorInfo: expect.any(String), reason: 'expired' },
    });
  });

  it('rejects a tampered UserSig with 70003, and a sig of another identifier with 70013', async () => {
    const { ask, clock } = usersigSetup();
    const sig = sign('alice', clock.now);
    for (const tampered of [tamper(sig, 'TLS.expire', 10 * DAY_SEC), tamper(sig, 'TLS.identifier', 'bob')]) {
      const result = rejection(await ask('alice', tampered));
      expect(result.status).toBe(401);
      expect(result.reason).toBe('unknown');
      expect(result.body).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 70003 });
    }
    expect(rejection(await ask('alice', 'not-a-sig!'))).toMatchObject({ body: { ErrorCode: 70003 } });
    expect(rejection(await ask('bob', sig))).toMatchObject({ status: 401, body: { ErrorCode: 70013 } });
  });

  it('after a kick rejects sigs made at or before it (same second included) with 70052; a later second works', async () => {
    const { ask, engine, clock } = usersigSetup();
    await engine.addUser('alice');
    const before = sign('alice', clock.now);
    clock.advance(1_500); // the kick lands half-way through a second
    await engine.kickUser('alice');
    const sameSecond = sign('alice', clock.now + 100);

    for (const sig of [before, sameSecond]) {
      const result = rejection(await ask('alice', sig));
      expect(result).toEqual({
        reason: 'kicked',
        status: 401,
        body: {
          ActionStatus: 'FAIL',
          ErrorCode: 70052,
          ErrorInfo: 'usersig has been invalidated',
          reason: 'kicked',
        },
      });
    }

    clock.advance(500); // the next second
    expect(await ask('alice', sign('alice', clock.now))).toEqual({
      ok: true,
      principal: { uid: 'alice', credential: 'usersig' },
    });
    // Other users are untouched.
    expect((await ask('bob', sign('bob', clock.now - 5_000))).ok).toBe(true);
  });

  it('answers 503 with 70500 when the store cannot be read', async () => {
    const { ask, store, clock } = usersigSetup();
    store.inject('fail', 'getUser');
    expect(rejection(await ask('alice', sign('alice', clock.now)))).toMatchObject({
      reason: 'unavailable',
      status: 503,
      body: { ErrorCode: 70500, reason: 'unavailable' },
    });
  });

  it('falls through to the next source when identifier or usersig is absent', async () => {
    const { engine } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const guard = createGuard(engine, {
      credentials: [userSigSource({ sdkAppId: SDKAPPID, secretKey: KEY }), 'session'],
    });
    expect(await guard(request({ token }, { identifier: 'alice' }))).toMatchObject({
      ok: true,
      principal: { credential: 'session' },
    });
  });
});

describe('custom credential extractor', () => {
  it('checks the stateless credential it returns', async () => {
    const { engine, clock } = setup();
    await engine.addUser('alice');
    const extractor = vi.fn((req: GuardRequest) => {
      const sub = req.headers['x-sub'];
      return typeof sub === 'string'
        ? { type: 'stateless' as const, uid: sub, deviceFlag: 2, issuedAtSec: Math.floor(clock.now / 1000) }
        : undefined;
    });
    const guard = createGuard(engine, { credentials: [extractor] });

    expect(await guard(request({ 'x-sub': 'alice' }))).toEqual({
      ok: true,
      principal: { uid: 'alice', deviceFlag: 2, credential: 'stateless' },
    });
    expect(extractor).toHaveBeenCalledTimes(1);

    clock.advance(1);
    await engine.quitDevice('alice', 'all');
    expect(rejection(await guard(request({ 'x-sub': 'alice' })))).toEqual({
      reason: 'device_quit',
      status: 401,
      body: { error: 'unauthorized', reason: 'device_quit', message: expect.any(String) },
    });

    // Undefined from the extractor means "no credential here".
    expect(rejection(await guard(request()))).toMatchObject({ status: 401, reason: 'unknown' });
  });

  it('waits for any thenable an extractor returns, and turns a throwing extractor into a rejection', async () => {
    const { engine, clock } = setup();
    await engine.addUser('alice');
    const credential = { type: 'stateless' as const, uid: 'alice', issuedAtMs: clock.now };
    // A thenable that is not a native promise (another promise library's, a lazy query builder's).
    // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test is about.
    const thenable = { then: (resolve: (value: typeof credential) => void) => resolve(credential) };
    const guard = createGuard(engine, {
      credentials: [() => thenable as unknown as Promise<typeof credential>],
    });
    expect(await guard(request())).toEqual({
      ok: true,
      principal: { uid: 'alice', credential: 'stateless' },
    });

    const failing = createGuard(engine, {
      credentials: [
        () => {
          throw new Error('extractor failed');
        },
      ],
    });
    await expect(failing(request())).rejects.toThrow('extractor failed');
    expect(() => failing.checkNow(request())).toThrow('extractor failed');
  });

  it('rejects an expired stateless credential as expired', async () => {
    const { engine, clock } = setup();
    const guard = createGuard(engine, {
      credentials: [
        async () => ({ type: 'stateless', uid: 'alice', issuedAtMs: clock.now - 10, expiresAtMs: clock.now }),
      ],
    });
    expect(rejection(await guard(request()))).toMatchObject({
      status: 401,
      reason: 'expired',
      body: { error: 'unauthorized', reason: 'expired' },
    });
  });

  it('tries sources in order: session first, then the extractor', async () => {
    const { engine, clock } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 0 });
    const extractor = vi.fn(() => ({ type: 'stateless' as const, uid: 'bob', issuedAtMs: clock.now }));
    const guard = createGuard(engine, { credentials: ['session', extractor] });
    expect(await guard(request({ token }))).toMatchObject({ ok: true, principal: { uid: 'alice' } });
    expect(extractor).not.toHaveBeenCalled();
    expect(await guard(request())).toMatchObject({
      ok: true,
      principal: { uid: 'bob', credential: 'stateless' },
    });
    expect(extractor).toHaveBeenCalledTimes(1);
  });
});

describe('guard.checkNow', () => {
  it('answers synchronously once the cache holds the records, with the same result as the promise', async () => {
    const { engine } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    const guard = createGuard(engine);
    const first = guard.checkNow(request({ token }));
    expect(first).toBeInstanceOf(Promise); // a cold cache reads the store
    const settled = await first;
    const warm = guard.checkNow(request({ token }));
    expect(warm).not.toBeInstanceOf(Promise);
    expect(warm).toEqual(settled);
    expect(warm).toEqual(await guard(request({ token })));
    expect(warm).toEqual({ ok: true, principal: { uid: 'alice', deviceFlag: 1, credential: 'session' } });
  });

  it('never answers from a cache entry a revocation dropped: after a kick the next decision reads the store', async () => {
    const { engine, clock } = setup();
    const { token } = await engine.issueSession({ uid: 'alice', deviceFlag: 1 });
    const guard = createGuard(engine);
    await guard(request({ token }));
    clock.advance(1);
    await engine.kickUser('alice');
    const after = guard.checkNow(request({ token }));
    expect(after).toBeInstanceOf(Promise);
    expect(rejection(await after)).toMatchObject({ status: 401, reason: 'kicked' });
    // Warm again: the rejection comes synchronously too.
    expect(rejection(guard.checkNow(request({ token })) as GuardResult)).toMatchObject({ reason: 'kicked' });
  });

  it('answers a request without any credential synchronously', () => {
    const { engine } = setup();
    const result = createGuard(engine).checkNow(request());
    expect(result).not.toBeInstanceOf(Promise);
    expect(rejection(result as GuardResult)).toMatchObject({ status: 401, reason: 'unknown' });
  });
});
