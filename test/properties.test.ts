/**
 * Property-based tests (fast-check, fixed seed and run count) of every endpoint of every family, on
 * every adapter of the contract suite, over real HTTP with raw bodies: whatever arrives, the answer is
 * the family's documented shape with a documented status or code, nothing crashes or leaks a
 * rejection, and a rejected request leaves the store as it was.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { createEvict, type Evict, MemoryStore, signUserSig, TENCENT_ERRORS } from '@evict/core';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from './contract/adapters.js';
import { adminOptionsFor, GUARD } from './contract/app.js';
import type { ContractAdapter, ContractApp } from './contract/apps/types.js';
import { ManualClock } from './support/clock.js';
import { ADMIN, MANAGER_TOKEN, OPS, OTHER_KEY, SDKAPPID, SECRET_KEY } from './support/fixtures.js';

/** Fixed, so that a failure reproduces; `pnpm test` runs exactly this many cases. */
const SEED = 20_260_101;
const NUM_RUNS = 100;

// ---- nothing may escape: unhandled rejections and uncaught exceptions are recorded and asserted ----

const escaped: unknown[] = [];
const onEscape = (error: unknown) => escaped.push(error);
process.on('unhandledRejection', onEscape);
process.on('uncaughtException', onEscape);
afterAll(() => {
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
});

// ---- the routes ----

type RouteFamily = 'wukongim' | 'tencent' | 'lancens';
interface Route {
  family: RouteFamily;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  fields: readonly string[];
}
const ROUTES: readonly Route[] = [
  { family: 'wukongim', method: 'POST', path: '/user/device_quit', fields: ['uid', 'device_flag'] },
  { family: 'wukongim', method: 'POST', path: '/conn/remove', fields: ['uid', 'conn_id', 'node_id'] },
  { family: 'wukongim', method: 'POST', path: '/conn/kick', fields: ['uid', 'conn_id', 'node_id'] },
  {
    family: 'wukongim',
    method: 'POST',
    path: '/user/token',
    fields: ['uid', 'token', 'device_flag', 'device_level'],
  },
  { family: 'wukongim', method: 'POST', path: '/user/onlinestatus', fields: [] },
  { family: 'wukongim', method: 'GET', path: '/connz', fields: [] },
  { family: 'tencent', method: 'POST', path: '/v4/im_open_login_svc/kick', fields: ['Identifier', 'UserID'] },
  {
    family: 'tencent',
    method: 'POST',
    path: '/v4/openim/query_online_status',
    fields: ['To_Account', 'IsNeedDetail'],
  },
  { family: 'lancens', method: 'POST', path: '/v1/api/user/logout', fields: ['username', 'token'] },
  { family: 'lancens', method: 'DELETE', path: '/v1/api/user/token', fields: [] },
  { family: 'lancens', method: 'DELETE', path: '/v1/api/user/message/token', fields: [] },
];

const TENCENT_CODES = new Set([0, ...Object.keys(TENCENT_ERRORS).map(Number)]);
const LANCENS_ERRORS: Record<string, number> = {
  'undefined username': 400,
  'undefined token': 400,
  'username length error': 400,
  'username format error': 400,
  'token format error': 400,
  'paramer error': 400,
  'no token': 401,
  'invalid token': 401,
  'no data error': 500,
};

// ---- the world: an engine with users, sessions and connections, one app per adapter ----

const USERS = ['alice01', 'bob-0002', 'carol_03', ADMIN, OPS];

interface World {
  engine: Evict;
  memory: MemoryStore;
  clock: ManualClock;
  app: ContractApp;
  tokens: string[];
  connIds: number[];
}

async function startWorld(adapter: ContractAdapter): Promise<World> {
  const clock = new ManualClock();
  const memory = new MemoryStore({ clock });
  // A day: the real-time heartbeat must not refresh records between two snapshots of a long run.
  const engine = createEvict({ store: memory, clock, connectionTtlMs: 24 * 60 * 60_000 });
  const app = await adapter.start({ engine, admin: adminOptionsFor(), guard: GUARD });
  return { engine, memory, clock, app, tokens: [], connIds: [] };
}

/** Before every run: a new minute (failed-auth windows start over) and live credentials to aim at. */
async function refresh(world: World): Promise<void> {
  world.clock.advance(61_000);
  const uid = USERS[world.tokens.length % USERS.length]!;
  const deviceFlag = world.tokens.length % 3;
  const { token } = await world.engine.issueSession({ uid, deviceFlag });
  for (const kind of ['ring', 'message'] as const)
    await world.engine.setPushToken(uid, { kind, token: `${kind}-${world.tokens.length}`, deviceFlag });
  world.tokens.push(token);
  if (world.tokens.length > 8) world.tokens.shift();
  const connection = await world.engine.registerConnection({ uid, deviceFlag: 0, close: () => undefined });
  world.connIds.push(connection.connId);
  if (world.connIds.length > 8) world.connIds.shift();
  // Records expire lazily: drop the dead ones now, so that a read during the request cannot.
  world.memory.sweep();
}

/**
 * The store without what is meant to move: its counters (the rate counter and failed-auth
 * counters), and sessions' last-seen times (written a second after an earlier accepted request,
 * in the background, whichever request runs then).
 */
function records(memory: MemoryStore): unknown {
  const { counters: _counters, sessions, ...rest } = memory.snapshot() as Record<string, unknown>;
  const unseen = (sessions as [string, Record<string, unknown>][]).map(([hash, record]) => {
    const { lastSeenAtMs: _seen, ...session } = record;
    return [hash, session];
  });
  return { ...rest, sessions: unseen };
}

// ---- hostile values ----

const controlChars = fc.string({
  unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
});
const hostileString = fc.oneof(
  fc.constantFrom('', ' ', '-0', 'NaN', 'Infinity', '1e309', '__proto__', 'constructor', 'null', '\u0000'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  controlChars.map((c) => `user${c}01`),
  fc.string({ unit: 'grapheme-ascii', minLength: 250, maxLength: 300 }),
  fc.constantFrom(...USERS),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(-0, 0, -1, 1, 2, 255, 256, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, 5e-324, 0.5, 1.0000001),
  fc.integer({ min: -5, max: 300 }),
  fc.double(),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber,
  fc.constantFrom(true, false, null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(hostileString, { maxLength: 3 }),
);

const nested = (depth: number, open: string, close: string, inner = '1') =>
  open.repeat(depth) + inner + close.repeat(depth);

/** A raw body: text the way a client could send it, including what JSON.stringify never writes. */
function rawBody(route: Route, world: () => World): fc.Arbitrary<string | Buffer | undefined> {
  const keys = [...route.fields, '__proto__', 'constructor', 'prototype', 'toString', 'extra'];
  const object = fc
    .dictionary(fc.constantFrom(...keys), hostileValue, { maxKeys: 4 })
    .map((o) => JSON.stringify(o));
  // Mostly valid-looking bodies so that the request reaches the deeper checks (and sometimes succeeds).
  const plausible = fc
    .record({
      uid: fc.oneof(fc.constantFrom(...USERS), hostileString),
      flag: fc.oneof(fc.constantFrom(-1, 0, 1, 2), hostileNumber),
      conn: fc.oneof(fc.constant(undefined), hostileNumber),
      token: fc.oneof(fc.constant(undefined), hostileString),
      pick: fc.nat(),
    })
    .map(({ uid, flag, conn, token, pick }) => {
      const w = world();
      switch (route.path) {
        case '/user/device_quit':
          return JSON.stringify({ uid, device_flag: flag });
        case '/conn/remove':
        case '/conn/kick':
          return JSON.stringify({ uid, conn_id: conn ?? w.connIds[pick % Math.max(1, w.connIds.length)] });
        case '/user/token':
          return JSON.stringify({
            uid,
            token: token ?? `wk-${pick}`,
            device_flag: flag,
            device_level: pick % 3,
          });
        case '/v4/im_open_login_svc/kick':
          return JSON.stringify(pick % 2 ? { Identifier: uid } : { UserID: uid });
        case '/user/onlinestatus':
          return JSON.stringify(pick % 3 ? [uid, ...USERS.slice(0, pick % USERS.length)] : [uid]);
        case '/v4/openim/query_online_status':
          return JSON.stringify({
            To_Account: [uid, ...USERS.slice(0, pick % USERS.length)],
            IsNeedDetail: flag,
          });
        default:
          return JSON.stringify({
            username: uid,
            token: token ?? w.tokens[pick % Math.max(1, w.tokens.length)],
          });
      }
    });
  const field = route.fields[0] ?? 'uid';
  const literal = fc.constantFrom(
    `{"${field}":"alice01","${field}":"bob-0002"}`,
    `{"${field}":"alice01","${field}":7}`,
    `{"${field}":-0}`,
    `{"${field}":1e309}`,
    `{"${field}":-1e309}`,
    `{"${field}":NaN}`,
    `{"${field}":Infinity}`,
    `{"${field}":123456789012345678901234567890}`,
    `{"${field}":"alice01","__proto__":{"admin":true}}`,
    `{"constructor":{"prototype":{"polluted":1}}}`,
    `{"${field}":"a\\u0000b"}`,
    `{"${field}":"\\ud800"}`,
    nested(1000, '[', ']'),
    nested(1000, '{"a":', '}'),
    `{"${field}":${nested(1000, '[', ']')}}`,
    nested(100_000, '[', ']'),
    '[]',
    '"alice01"',
    '42',
    'null',
    'true',
    '{',
    '{"a":1}garbage',
    '\ufeff{}',
    ' \n\t ',
    'uid=alice01&device_flag=1',
  );
  const sized = fc.constantFrom(-1, 0, 1).map((delta) => {
    const skeleton = `{"${field}":""}`;
    return `{"${field}":"${'x'.repeat(16 * 1024 + delta - skeleton.length)}"}`;
  });
  const huge = fc.constantFrom(64 * 1024, 1024 * 1024).map((n) => `{"${field}":"${'y'.repeat(n)}"}`);
  const invalidUtf8 = fc
    .uint8Array({ maxLength: 40 })
    .map((bytes) => Buffer.concat([Buffer.from('{"'), Buffer.from([0xff, 0xfe]), Buffer.from(bytes)]));
  return fc.oneof(
    { arbitrary: plausible, weight: 4 },
    { arbitrary: object, weight: 3 },
    { arbitrary: literal, weight: 3 },
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: fc.constant(''), weight: 1 },
    { arbitrary: sized, weight: 1 },
    { arbitrary: huge, weight: 1 },
    { arbitrary: invalidUtf8, weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 60 }), weight: 1 },
  );
}

/** Header values Node's client can send (visible latin-1 and tabs). */
const headerText = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
    .map((c) => String.fromCharCode(c)),
  maxLength: 80,
});

function tokenHeader(world: () => World): fc.Arbitrary<string | string[] | undefined> {
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(MANAGER_TOKEN),
    fc.constant(MANAGER_TOKEN),
    fc.constantFrom(
      '',
      MANAGER_TOKEN.toUpperCase(),
      `${MANAGER_TOKEN}x`,
      MANAGER_TOKEN.slice(1),
      'a'.repeat(5000),
    ),
    fc.nat().map((i) => world().tokens[i % Math.max(1, world().tokens.length)] ?? 'none'),
    headerText,
    fc.tuple(headerText, fc.constant(MANAGER_TOKEN)).map(([a, b]) => [a, b]),
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  'application/x-ndjson',
  '*/*',
  '',
];

/** The Tencent query: mostly the right app, an admin and a valid UserSig, each part sometimes wrong. */
function tencentQuery(world: () => World): fc.Arbitrary<Array<[string, string]>> {
  const sigKind = fc.constantFrom(
    'valid',
    'valid',
    'valid',
    'other-key',
    'other-app',
    'garbage',
    'tampered',
    'absent',
    'long',
  );
  return fc
    .record({
      sdkappid: fc.oneof(
        fc.constant(String(SDKAPPID)),
        fc.constant(String(SDKAPPID)),
        headerText,
        fc.constantFrom('-0', `${SDKAPPID}.0`, ` ${SDKAPPID}`),
      ),
      identifier: fc.oneof(fc.constantFrom(ADMIN, ADMIN, OPS, 'alice01', ''), hostileString),
      sig: sigKind,
      signedFor: fc.constantFrom(ADMIN, OPS, 'alice01'),
      random: fc.oneof(
        fc.constantFrom('1', '4294967295', '4294967296', '-1', '1.5', '', '00000000001', 'NaN'),
        fc.nat().map(String),
      ),
      contenttype: fc.constantFrom('json', 'json', 'xml', '', undefined),
      extra: fc.array(
        fc.tuple(fc.constantFrom('sdkappid', 'identifier', 'usersig', 'x', '__proto__'), headerText),
        { maxLength: 2 },
      ),
      garbage: headerText,
    })
    .map(({ sdkappid, identifier, sig, signedFor, random, contenttype, extra, garbage }) => {
      const nowMs = world().clock.nowMs();
      const signed = (key: string, app: number) =>
        signUserSig({ sdkAppId: app, secretKey: key, identifier: signedFor, expireSec: 3600, nowMs });
      const usersig = {
        valid: () => signed(SECRET_KEY, SDKAPPID),
        'other-key': () => signed(OTHER_KEY, SDKAPPID),
        'other-app': () => signed(SECRET_KEY, SDKAPPID + 1),
        garbage: () => garbage,
        tampered: () => {
          const s = signed(SECRET_KEY, SDKAPPID);
          return `${s.slice(0, 20)}${s[20] === 'A' ? 'B' : 'A'}${s.slice(21)}`;
        },
        absent: () => undefined,
        long: () => 'A'.repeat(9000),
      }[sig]();
      const query: Array<[string, string]> = [
        ['sdkappid', sdkappid],
        ['identifier', identifier],
        ['random', random],
      ];
      if (usersig !== undefined) query.push(['usersig', usersig]);
      if (contenttype !== undefined) query.push(['contenttype', contenttype]);
      return [...query, ...extra];
    });
}

interface RawRequest {
  method: string;
  path: string;
  query: Array<[string, string]>;
  headers: Record<string, string | string[]>;
  body: string | Buffer | undefined;
  /** The route the request is for, when method and path are exactly one of a family's. */
  route: Route | undefined;
}

function requestFor(route: Route, world: () => World): fc.Arbitrary<RawRequest> {
  return fc
    .record({
      query:
        route.family === 'tencent'
          ? tencentQuery(world)
          : fc.array(
              fc.tuple(
                fc.constantFrom(
                  'uid',
                  'token',
                  'device_flag',
                  '__proto__',
                  'x',
                  ...(route.path === '/connz' ? ['offset', 'limit', 'node_id', 'sort', 'uid'] : []),
                ),
                fc.oneof(headerText, fc.constantFrom(...USERS, '0', '1', '20', '-1', 'idDesc', 'uptime')),
              ),
              { maxLength: 4 },
            ),
      token: tokenHeader(world),
      contentType: fc.constantFrom(...CONTENT_TYPES),
      body: rawBody(route, world),
      extraHeaders: fc.dictionary(
        fc.constantFrom('x-forwarded-for', 'authorization', 'x-http-method-override', 'accept'),
        headerText,
        { maxKeys: 2 },
      ),
    })
    .map(({ query, token, contentType, body, extraHeaders }) => {
      const headers: Record<string, string | string[]> = { ...extraHeaders };
      if (token !== undefined) headers.token = token;
      if (contentType !== '') headers['content-type'] = contentType;
      return { method: route.method, path: route.path, query, headers, body, route };
    });
}

/** Other methods on the family paths, and other paths near them: these are not evict's to answer. */
function fallThrough(world: () => World): fc.Arbitrary<RawRequest> {
  return fc
    .record({
      route: fc.constantFrom(...ROUTES),
      method: fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'POST', 'OPTIONS'),
      suffix: fc.constantFrom('', '/', 'x', '/x', '/..', '%2F', ';a', '.json'),
      upper: fc.boolean(),
      token: tokenHeader(world),
      body: fc.oneof(
        fc.constant(undefined),
        fc.constant('{"uid":"alice01"}'),
        fc.constant(`{"username":"alice01","token":"x"}`),
      ),
    })
    .filter(({ route, method, suffix, upper }) => !(method === route.method && suffix === '' && !upper))
    .map(({ route, method, suffix, upper, token, body }) => {
      const path = (upper ? route.path.toUpperCase() : route.path) + suffix;
      const headers: Record<string, string | string[]> = { 'content-type': 'application/json' };
      if (token !== undefined) headers.token = token;
      return { method, path, query: [], headers, body, route: undefined };
    });
}

// ---- the client ----

interface Answer {
  status: number;
  text: string;
}

function send(base: string, r: RawRequest): Promise<Answer> {
  const search = new URLSearchParams(r.query).toString();
  const headers: OutgoingHttpHeaders = { ...r.headers, connection: 'close' };
  const payload = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
  if (payload !== undefined) headers['content-length'] = payload.byteLength;
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      `${base}${r.path}${search === '' ? '' : `?${search}`}`,
      { method: r.method, headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      },
    );
    // The server may answer an oversized body and close before it is all written.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// ---- the invariants ----

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
const keysOf = (value: unknown) =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? Object.keys(value).sort()
    : undefined;

/** Checks the answer's shape; returns whether the request was rejected. */
function checkAnswer(r: RawRequest, answer: Answer): boolean {
  const label = `${r.method} ${r.path} → ${answer.status} ${answer.text.slice(0, 200)}`;
  const body = parse(answer.text) as Record<string, unknown> | undefined;
  const route = r.route;
  if (route === undefined) {
    // Not evict's: whatever the framework answers, it is no family's answer and changes nothing.
    const keys = keysOf(body)?.join(',');
    expect(keys === 'status' && body?.status === 'ok', label).toBe(false);
    expect(keys, label).not.toBe('msg,status');
    expect(keys, label).not.toBe('ActionStatus,ErrorCode,ErrorInfo');
    if (keys === 'error') expect(Object.hasOwn(LANCENS_ERRORS, String(body?.error)), label).toBe(false);
    return true;
  }
  if (route.family === 'wukongim') {
    expect([200, 400, 401, 404, 429, 500], label).toContain(answer.status);
    if (answer.status === 200 && route.path === '/connz') {
      // A read: a page of one user's connections, and never a change to the store.
      expect(keysOf(body), label).toEqual(['connections', 'limit', 'now', 'offset', 'total']);
      expect(Array.isArray(body!.connections), label).toBe(true);
      return true;
    }
    if (answer.status === 200 && route.path === '/user/onlinestatus') {
      // A read: a row per live connection, and never a change to the store.
      expect(Array.isArray(body), label).toBe(true);
      for (const row of body as unknown as Record<string, unknown>[]) {
        expect(keysOf(row), label).toEqual(['device_flag', 'online', 'uid']);
        expect(USERS, label).toContain(row.uid);
        expect(Number.isInteger(row.device_flag) && row.online === 1, label).toBe(true);
      }
      return true;
    }
    if (answer.status === 200) expect(body, label).toStrictEqual({ status: 'ok' });
    else if (answer.status === 401) expect(answer.text, label).toBe('');
    else {
      expect(keysOf(body), label).toEqual(['msg', 'status']);
      expect(typeof body!.msg, label).toBe('string');
      expect(body!.status, label).toBe(answer.status);
    }
    return answer.status !== 200;
  }
  if (route.family === 'tencent') {
    expect(answer.status, label).toBe(200);
    if (route.path === '/v4/openim/query_online_status' && body?.ErrorCode === 0) {
      // A read: each account in QueryResult or ErrorList, and never a change to the store.
      expect(keysOf(body), label).toEqual([
        'ActionStatus',
        'ErrorCode',
        'ErrorInfo',
        'ErrorList',
        'QueryResult',
      ]);
      for (const row of body.QueryResult as Record<string, unknown>[]) {
        expect(['Online', 'PushOnline', 'Offline'], label).toContain(row.Status);
        expect(typeof row.To_Account, label).toBe('string');
      }
      for (const row of body.ErrorList as Record<string, unknown>[]) expect(row.ErrorCode, label).toBe(70107);
      return true;
    }
    expect(keysOf(body), label).toEqual(['ActionStatus', 'ErrorCode', 'ErrorInfo']);
    expect(TENCENT_CODES.has(body!.ErrorCode as number), label).toBe(true);
    expect(body!.ActionStatus, label).toBe(body!.ErrorCode === 0 ? 'OK' : 'FAIL');
    expect(typeof body!.ErrorInfo, label).toBe('string');
    return body!.ErrorCode !== 0;
  }
  expect([200, 400, 401, 500], label).toContain(answer.status);
  if (answer.status === 200) {
    expect(body, label).toStrictEqual({ status: 'ok' });
    return false;
  }
  expect(keysOf(body), label).toEqual(['error']);
  if (body!.error === 10001) expect(answer.status, label).toBe(500);
  else expect(LANCENS_ERRORS[String(body!.error)], label).toBe(answer.status);
  return true;
}

async function runOne(world: World, r: RawRequest): Promise<void> {
  await refresh(world);
  const before = records(world.memory);
  const answer = await send(world.app.url, r);
  const rejected = checkAnswer(r, answer);
  if (rejected)
    expect(records(world.memory), `${r.method} ${r.path}: a rejected request changed the store`).toEqual(
      before,
    );
}

// ---- the suite ----

describe.each(adapters.map((adapter) => [adapter.name, adapter] as const))(
  'properties on %s',
  (_name, adapter) => {
    let world: World;
    const current = () => world;
    beforeAll(async () => {
      world = await startWorld(adapter);
    });
    afterAll(async () => {
      await world.app.close();
      await world.engine.close();
    });
    afterEach(() => {
      expect(escaped, 'an unhandled rejection or uncaught exception').toEqual([]);
    });

    for (const route of ROUTES) {
      it(`${route.method} ${route.path}: documented shape and status; a rejection changes nothing`, async () => {
        await fc.assert(
          fc.asyncProperty(requestFor(route, current), (r) => runOne(world, r)),
          { seed: SEED, numRuns: NUM_RUNS },
        );
      }, 60_000);
    }

    it('other methods and paths fall through to the host and change nothing', async () => {
      await fc.assert(
        fc.asyncProperty(fallThrough(current), (r) => runOne(world, r)),
        { seed: SEED, numRuns: NUM_RUNS },
      );
    }, 60_000);
  },
);
