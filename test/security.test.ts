/**
 * Security tests over real HTTP: forged and stale UserSigs, the manager token, brute force, revoked
 * credentials at every guard, and secrets that must never be written down.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { deflateSync, inflateSync } from 'node:zlib';
import {
  createAdminApi,
  createEvict,
  type Evict,
  MemoryStore,
  type RevocationEvent,
  signUserSig,
} from '@evict/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { secretsEqual } from '../packages/core/src/secrets.js';
import { adapters } from './contract/adapters.js';
import { adminOptionsFor, GUARD } from './contract/app.js';
import type { ContractAdapter, ContractApp } from './contract/apps/types.js';
import { ManualClock } from './support/clock.js';
import { FaultyStore } from './support/faulty-store.js';
import { ADMIN, MANAGER_TOKEN, OPS, OTHER_KEY, SDKAPPID, SECRET_KEY } from './support/fixtures.js';

const express = adapters.find((a) => a.name === 'express')!;

// ---- a world ----

interface World {
  engine: Evict;
  memory: MemoryStore;
  /** What the engine talks to: `memory`, with faults on demand. */
  faults: FaultyStore;
  clock: ManualClock;
  app: ContractApp;
  events: RevocationEvent[];
}
const open: World[] = [];
afterEach(async () => {
  for (const w of open.splice(0)) {
    await w.app.close();
    await w.engine.close();
  }
});

async function start(
  adapter: ContractAdapter = express,
  shared?: { memory: MemoryStore; clock: ManualClock },
  admin = adminOptionsFor(),
  storeTimeoutMs?: number,
): Promise<World> {
  const clock = shared?.clock ?? new ManualClock();
  const memory = shared?.memory ?? new MemoryStore({ clock });
  const faults = new FaultyStore(memory);
  const engine = createEvict({
    store: faults,
    clock,
    nodeId: open.length + 1,
    ...(storeTimeoutMs === undefined ? {} : { storeTimeoutMs }),
  });
  const events: RevocationEvent[] = [];
  engine.on('revocation', (event) => events.push(event));
  const app = await adapter.start({ engine, admin, guard: GUARD });
  const world = { engine, memory, faults, clock, app, events };
  open.push(world);
  return world;
}

/** The store's records, without the counters a failed authentication is meant to move. */
function records(memory: MemoryStore): unknown {
  const { counters, ...rest } = memory.snapshot() as Record<string, unknown> & {
    counters: [string, unknown][];
  };
  return { ...rest, counters: counters.filter(([key]) => !key.includes(':authfail:')) };
}

// ---- HTTP ----

interface Answer {
  status: number;
  text: string;
  json: () => Record<string, unknown>;
}

function send(
  base: string,
  method: string,
  path: string,
  options: { headers?: OutgoingHttpHeaders; body?: unknown; from?: string } = {},
): Promise<Answer> {
  const headers: OutgoingHttpHeaders = { connection: 'close', ...options.headers };
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = payload.byteLength;
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      { method, headers, agent: false, ...(options.from ? { localAddress: options.from } : {}) },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString();
          resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

const deviceQuit = (w: World, token: string | undefined, uid = 'alice01', from?: string) =>
  send(w.app.url, 'POST', '/user/device_quit', {
    headers: token === undefined ? {} : { token },
    body: { uid },
    ...(from ? { from } : {}),
  });

function kick(
  w: World,
  usersig: string,
  options: { identifier?: string; sdkappid?: number; from?: string } = {},
) {
  const query = new URLSearchParams({
    sdkappid: String(options.sdkappid ?? SDKAPPID),
    identifier: options.identifier ?? ADMIN,
    usersig,
    random: '42',
    contenttype: 'json',
  });
  return send(w.app.url, 'POST', `/v4/im_open_login_svc/kick?${query}`, {
    body: { UserID: 'alice01' },
    ...(options.from ? { from: options.from } : {}),
  });
}

// ---- UserSigs taken apart (as packages/core/test/usersig.test.ts does) ----

const sigBytes = (sig: string) =>
  Buffer.from(sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '='), 'base64');
const escapeBytes = (bytes: Buffer) =>
  bytes.toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
const decode = (sig: string) => JSON.parse(inflateSync(sigBytes(sig)).toString()) as Record<string, unknown>;
const encode = (doc: Record<string, unknown>) => escapeBytes(deflateSync(Buffer.from(JSON.stringify(doc))));

const sigAt = (
  w: World,
  options: { identifier?: string; key?: string; app?: number; expireSec?: number; atMs?: number } = {},
) =>
  signUserSig({
    sdkAppId: options.app ?? SDKAPPID,
    secretKey: options.key ?? SECRET_KEY,
    identifier: options.identifier ?? ADMIN,
    expireSec: options.expireSec ?? 3600,
    nowMs: options.atMs ?? w.clock.nowMs(),
  });

async function expectKickRefused(
  w: World,
  usersig: string,
  code: number,
  options: Parameters<typeof kick>[2] = {},
) {
  const before = records(w.memory);
  const answer = await kick(w, usersig, options);
  expect(answer.status).toBe(200);
  expect(answer.json()).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: code });
  expect(records(w.memory)).toEqual(before);
  expect(w.events).toEqual([]);
}

describe('UserSigs on the Tencent kick', () => {
  async function world() {
    // A high failed-auth limit here: these tests are about the codes, the limit has its own below.
    const admin = adminOptionsFor();
    const w = await start(express, undefined, {
      ...admin,
      tencent: { ...admin.tencent!, maxFailedAuthPerMinute: 1000 },
    });
    await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    w.events.length = 0;
    return w;
  }

  it('a valid sig kicks (the baseline the forgeries are measured against)', async () => {
    const w = await world();
    expect((await kick(w, sigAt(w))).json()).toMatchObject({ ErrorCode: 0 });
  });

  it('tampered in every field: 70003, nothing changes', async () => {
    const w = await world();
    const doc = decode(sigAt(w));
    const changes: Record<string, unknown[]> = {
      'TLS.ver': ['2.1', '1.0', 2, null],
      'TLS.identifier': [OPS, 'alice01', `${ADMIN} `, ''],
      'TLS.sdkappid': [SDKAPPID + 1, String(SDKAPPID), -SDKAPPID, 0],
      'TLS.time': [(doc['TLS.time'] as number) + 1, (doc['TLS.time'] as number) - 1, String(doc['TLS.time'])],
      'TLS.expire': [(doc['TLS.expire'] as number) + 1, 86_400 * 365, String(doc['TLS.expire'])],
      'TLS.sig': [`${(doc['TLS.sig'] as string).slice(0, -4)}AAA=`, '', 'x'],
      'TLS.userbuf': ['AAAA'],
    };
    for (const [field, values] of Object.entries(changes)) {
      for (const value of values) {
        await expectKickRefused(w, encode({ ...doc, [field]: value }), 70003);
      }
      const { [field]: _dropped, ...without } = doc;
      if (field !== 'TLS.userbuf') await expectKickRefused(w, encode(without), 70003);
    }
  });

  it('signed with another key: 70003', async () => {
    const w = await world();
    await expectKickRefused(w, sigAt(w, { key: OTHER_KEY }), 70003);
  });

  it('expired by exactly one second: 70001; one second before expiry it still verifies', async () => {
    const w = await world();
    const sig = sigAt(w, { expireSec: 60 });
    w.clock.advance(59_000);
    const alive = await send(
      w.app.url,
      'GET',
      `/protected?${new URLSearchParams({ identifier: ADMIN, usersig: sig })}`,
    );
    expect(alive.status).toBe(200);
    w.clock.advance(2_000); // expiry + 1 s
    await expectKickRefused(w, sig, 70001);
  });

  it('for another sdkappid (70014) or another identifier (70013)', async () => {
    const w = await world();
    await expectKickRefused(w, sigAt(w, { app: SDKAPPID + 1 }), 70014);
    await expectKickRefused(w, sigAt(w, { identifier: OPS }), 70013, { identifier: ADMIN });
  });

  it('a bad zlib stream, not base64, not JSON inside, oversized: 70003', async () => {
    const w = await world();
    const good = sigAt(w);
    const bytes = sigBytes(good);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 3) ^ 0xff, bytes.length - 3); // breaks the adler32
    await expectKickRefused(w, escapeBytes(bytes), 70003);
    await expectKickRefused(w, escapeBytes(Buffer.from('not zlib at all')), 70003);
    await expectKickRefused(w, escapeBytes(deflateSync(Buffer.from('[1,2]'))), 70003);
    await expectKickRefused(w, '!!!!', 70003);
    await expectKickRefused(w, good + 'A'.repeat(9000), 70003);
    await expectKickRefused(w, escapeBytes(deflateSync(Buffer.alloc(1 << 20, 0x20))), 70003); // a zip bomb of spaces
  });
});

describe('the WuKongIM manager token', () => {
  it('missing, empty, wrong, shorter, longer, other case: 401 with an empty body, nothing changes', async () => {
    const w = await start(express, undefined, {
      ...adminOptionsFor(),
      wukongim: { managerToken: MANAGER_TOKEN, maxFailedAuthPerMinute: 100 },
    });
    await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    w.events.length = 0;
    const before = records(w.memory);
    for (const token of [
      undefined,
      '',
      `${MANAGER_TOKEN.slice(0, -1)}X`,
      MANAGER_TOKEN.slice(0, -1),
      `${MANAGER_TOKEN}0`,
      MANAGER_TOKEN.toUpperCase(),
      'x'.repeat(4096),
    ]) {
      const answer = await deviceQuit(w, token);
      expect(answer.status).toBe(401);
      expect(answer.text).toBe('');
    }
    expect(records(w.memory)).toEqual(before);
    expect(w.events).toEqual([]);
    expect((await deviceQuit(w, MANAGER_TOKEN)).status).toBe(200);
  });

  it('is compared in constant time: hashed first, so any length compares without throwing', () => {
    for (const given of ['', 'a', MANAGER_TOKEN.slice(1), `${MANAGER_TOKEN}x`, 'é'.repeat(1000)]) {
      expect(secretsEqual(given, MANAGER_TOKEN)).toBe(false);
    }
    expect(secretsEqual(MANAGER_TOKEN, MANAGER_TOKEN)).toBe(true);
  });
});

// ---- brute force, on every adapter ----

const TOO_MANY = { msg: 'too many failed attempts', status: 429 };
const WUKONGIM_INTERNAL = { msg: 'internal server error', status: 500 };
const tencentFail = (code: number, info: string) => ({
  ActionStatus: 'FAIL',
  ErrorCode: code,
  ErrorInfo: info,
});
const TENCENT_TOO_MANY = tencentFail(
  60007,
  'REST API call frequency exceeds the limit: too many failed authentications',
);
const TENCENT_INTERNAL = tencentFail(70500, 'internal server error, please try again later');
const TENCENT_TIMEOUT = tencentFail(70169, 'internal server timeout, please try again later');
const KICKED = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };

const connRemove = (w: World, token: string | undefined, from?: string) =>
  send(w.app.url, 'POST', '/conn/remove', {
    headers: token === undefined ? {} : { token },
    body: { uid: 'alice01', conn_id: 424242 },
    ...(from ? { from } : {}),
  });

/** The failed-auth count of a client in the store, or undefined when it has none (this minute or ever). */
function failures(w: World, family: 'wukongim' | 'tencent', client = '127.0.0.1'): number | undefined {
  const { counters } = w.memory.snapshot() as {
    counters: [string, { count: number; windowStartMs: number }][];
  };
  const entry = counters.find(([key]) => key === `${family}:authfail:${client}`)?.[1];
  if (entry === undefined || entry.windowStartMs + 60_000 <= w.clock.nowMs()) return undefined;
  return entry.count;
}

/** How many of alice01's sessions are live, read from the store. */
const liveSessions = async (w: World) => (await w.engine.sessionsOf('alice01')).filter((s) => s.live).length;

/** Moves the clock to the first millisecond of the next minute (the limiter's windows are whole minutes). */
const toNextMinute = (w: World) => w.clock.advance(60_000 - (w.clock.nowMs() % 60_000));

/** JSON answer with its status, for exact comparisons. */
async function answered(call: Promise<Answer>): Promise<{ status: number; body: unknown }> {
  const answer = await call;
  return { status: answer.status, body: answer.text === '' ? '' : answer.json() };
}

describe.each(adapters.map((a) => [a.name, a] as const))(
  'brute force: failed authentications are limited per client (%s)',
  (_n, adapter) => {
    /** A world at the first millisecond of a minute, with alice01 signed in. */
    async function world(admin = adminOptionsFor()) {
      const w = await start(adapter, undefined, admin);
      await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
      toNextMinute(w);
      w.events.length = 0;
      return w;
    }

    it('WuKongIM: 10 failures answer 401, then 429 for everything from that client, the right token included, until the minute is over', async () => {
      const w = await world();
      const before = records(w.memory);
      // Ten failures of every kind, on both routes: missing, empty, wrong, shorter, longer.
      const guesses = [undefined, '', 'guess', MANAGER_TOKEN.slice(0, -1), `${MANAGER_TOKEN}0`];
      for (let i = 0; i < 10; i++) {
        const token = guesses[i % guesses.length];
        const answer = await (i % 2 ? connRemove(w, token) : deviceQuit(w, token));
        expect(answer.status, `failure ${i + 1}`).toBe(401);
        expect(answer.text).toBe('');
        expect(failures(w, 'wukongim')).toBe(i + 1);
      }
      expect(await answered(deviceQuit(w, 'guess-11'))).toEqual({ status: 429, body: TOO_MANY });
      expect(failures(w, 'wukongim')).toBe(11);

      // Locked: the right token is refused the same way, on both routes, to the last millisecond of the minute.
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual({ status: 429, body: TOO_MANY });
      expect(await answered(connRemove(w, MANAGER_TOKEN))).toEqual({ status: 429, body: TOO_MANY });
      w.clock.advance(59_999);
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual({ status: 429, body: TOO_MANY });
      expect(await answered(deviceQuit(w, undefined))).toEqual({ status: 429, body: TOO_MANY });
      // A locked-out call is refused before it is counted or read: only the counter moved, and only to 11.
      expect(failures(w, 'wukongim')).toBe(11);
      expect(records(w.memory)).toEqual(before);
      expect(w.events).toEqual([]);
      expect(await liveSessions(w)).toBe(1);

      // Another client is not locked out: the right token passes authentication (404: no such connection).
      expect(await answered(connRemove(w, MANAGER_TOKEN, '127.0.0.2'))).toEqual({
        status: 404,
        body: { msg: 'connection does not exist', status: 404 },
      });

      // A fresh minute: the right token goes through, and a wrong one is counted from 1 again.
      w.clock.advance(1);
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual({ status: 200, body: { status: 'ok' } });
      expect(w.events).toHaveLength(1);
      expect(w.events[0]).toMatchObject({ uid: 'alice01' });
      expect(await liveSessions(w)).toBe(0);
      expect((await deviceQuit(w, 'guess')).status).toBe(401);
      expect(failures(w, 'wukongim')).toBe(1);
    });

    it('WuKongIM: the count is shared by the nodes of a cluster', async () => {
      const a = await start(adapter);
      const b = await start(adapter, { memory: a.memory, clock: a.clock });
      toNextMinute(a);
      for (let i = 0; i < 10; i++) expect((await deviceQuit(i % 2 ? a : b, `guess-${i}`)).status).toBe(401);
      expect(failures(a, 'wukongim')).toBe(10);
      expect((await deviceQuit(b, 'guess')).status).toBe(429);
      expect((await deviceQuit(a, 'guess')).status).toBe(429);
      expect((await deviceQuit(a, MANAGER_TOKEN)).status).toBe(429);
      expect((await deviceQuit(b, MANAGER_TOKEN)).status).toBe(429);
    });

    it('WuKongIM and Tencent: the limit is an option', async () => {
      const w = await world({
        ...adminOptionsFor(),
        wukongim: { managerToken: MANAGER_TOKEN, maxFailedAuthPerMinute: 2 },
        tencent: { ...adminOptionsFor().tencent!, maxFailedAuthPerMinute: 3 },
      });
      expect((await deviceQuit(w, 'a')).status).toBe(401);
      expect((await deviceQuit(w, 'b')).status).toBe(401);
      expect(await answered(deviceQuit(w, 'c'))).toEqual({ status: 429, body: TOO_MANY });
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual({ status: 429, body: TOO_MANY });
      for (let i = 0; i < 3; i++) expect((await kick(w, '')).json()).toMatchObject({ ErrorCode: 70003 });
      expect(await answered(kick(w, ''))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        expect(() =>
          createAdminApi(w.engine, { wukongim: { managerToken: 'x', maxFailedAuthPerMinute: bad } }),
        ).toThrow(/maxFailedAuthPerMinute/);
        expect(() =>
          createAdminApi(w.engine, {
            families: ['tencent'],
            tencent: { ...adminOptionsFor().tencent!, maxFailedAuthPerMinute: bad },
          }),
        ).toThrow(/maxFailedAuthPerMinute/);
      }
    });

    it('Tencent: 10 failed authentications of every kind answer their code, then 60007 for the client, the right UserSig included, until the minute is over', async () => {
      const w = await world();
      const before = records(w.memory);
      const attempts: (() => [Promise<Answer>, number])[] = [
        () => [kick(w, ''), 70003],
        () => [kick(w, sigAt(w, { key: OTHER_KEY })), 70003],
        () => [kick(w, sigAt(w, { expireSec: 60, atMs: w.clock.nowMs() - 120_000 })), 70001],
        () => [kick(w, sigAt(w, { identifier: OPS }), { identifier: ADMIN }), 70013],
        () => [kick(w, sigAt(w, { app: SDKAPPID + 1 })), 70014],
        () => [kick(w, sigAt(w, { identifier: 'alice01' }), { identifier: 'alice01' }), 70403],
      ];
      for (let i = 0; i < 10; i++) {
        const [call, code] = attempts[i % attempts.length]!();
        const answer = await call;
        expect(answer.status).toBe(200);
        expect(answer.json(), `failure ${i + 1}`).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: code });
        expect(failures(w, 'tencent')).toBe(i + 1);
      }
      // A wrong sdkappid is not an authentication failure: answered, not counted.
      expect((await kick(w, sigAt(w), { sdkappid: SDKAPPID + 1 })).json()).toMatchObject({
        ErrorCode: 60006,
      });
      expect(failures(w, 'tencent')).toBe(10);

      expect(await answered(kick(w, sigAt(w, { key: OTHER_KEY })))).toEqual({
        status: 200,
        body: TENCENT_TOO_MANY,
      });
      expect(failures(w, 'tencent')).toBe(11);
      // Locked: the right UserSig of a real admin is refused the same way, to the last millisecond.
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      expect(await answered(kick(w, sigAt(w, { identifier: OPS }), { identifier: OPS }))).toEqual({
        status: 200,
        body: TENCENT_TOO_MANY,
      });
      w.clock.advance(59_999);
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      expect(failures(w, 'tencent')).toBe(11);
      // Nothing but the failed-auth counter moved: no kick, not even the app's rate counter.
      expect(records(w.memory)).toEqual(before);
      expect(w.events).toEqual([]);
      expect(await liveSessions(w)).toBe(1);

      // A fresh minute: the right UserSig kicks, and a failure is counted from 1 again.
      w.clock.advance(1);
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: KICKED });
      expect(w.events).toHaveLength(1);
      expect(w.events[0]).toMatchObject({ uid: 'alice01' });
      expect((await kick(w, sigAt(w, { key: OTHER_KEY }))).json()).toMatchObject({ ErrorCode: 70003 });
      expect(failures(w, 'tencent')).toBe(1);
    });

    it('Tencent: another client is not locked out, and its success resets nobody', async () => {
      const w = await world();
      for (let i = 0; i < 11; i++) await kick(w, sigAt(w, { key: OTHER_KEY }));
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      expect(await answered(kick(w, sigAt(w), { from: '127.0.0.2' }))).toEqual({ status: 200, body: KICKED });
      expect(failures(w, 'tencent', '127.0.0.2')).toBeUndefined();
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      expect(failures(w, 'tencent')).toBe(11);
    });
  },
);

// ---- the limiter when the store fails, on every adapter ----

describe.each(adapters.map((a) => [a.name, a] as const))(
  'the failed-auth limiter when the store fails (%s)',
  (_n, adapter) => {
    // A rejection nobody handles would only be a warning somewhere: catch it and fail the test.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    beforeEach(() => {
      unhandled.length = 0;
      process.on('unhandledRejection', onUnhandled);
    });
    afterEach(async () => {
      // Let a stray rejection of the test's last call surface before looking.
      await new Promise((resolve) => setImmediate(resolve));
      process.off('unhandledRejection', onUnhandled);
      expect(unhandled).toEqual([]);
    });

    /** A world at the first millisecond of a minute, with alice01 signed in; the store answers or times out in 50 ms. */
    async function world() {
      const w = await start(adapter, undefined, adminOptionsFor(), 50);
      await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
      toNextMinute(w);
      w.events.length = 0;
      return w;
    }

    /** Every answer must come, and quickly: a store that hangs times out, it does not hang the route. */
    const soon = async <T>(call: Promise<T>): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 2 s')), 2_000);
      });
      try {
        return await Promise.race([call, late]);
      } finally {
        clearTimeout(timer);
      }
    };

    const WRONG_TOKENS = [undefined, '', 'guess', MANAGER_TOKEN.slice(0, -1), `${MANAGER_TOKEN}0`];
    const OK = { status: 200, body: { status: 'ok' } };

    it('WuKongIM: a failure the store cannot count answers 500, never 401 or a success; past the limit 429, the right token included (the node counts them itself)', async () => {
      const w = await world();
      const before = w.memory.snapshot();
      w.faults.inject('fail', 'hit');
      for (let i = 0; i < 10; i++) {
        const token = WRONG_TOKENS[i % WRONG_TOKENS.length];
        const call = i % 2 ? connRemove(w, token) : deviceQuit(w, token);
        expect(await answered(soon(call)), `failure ${i + 1}`).toEqual({
          status: 500,
          body: WUKONGIM_INTERNAL,
        });
      }
      expect(await answered(soon(deviceQuit(w, 'guess')))).toEqual({ status: 429, body: TOO_MANY });
      w.clock.advance(59_999);
      for (const call of [
        () => deviceQuit(w, MANAGER_TOKEN),
        () => connRemove(w, MANAGER_TOKEN),
        () => deviceQuit(w, 'guess'),
      ]) {
        expect(await answered(soon(call()))).toEqual({ status: 429, body: TOO_MANY });
      }
      // Nothing was written: not a revocation, not even a counter.
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);

      // Another client's right token needs no count: it is authenticated, the quit is written, and says so.
      expect(await answered(soon(deviceQuit(w, MANAGER_TOKEN, 'alice01', '127.0.0.2')))).toEqual(OK);
      expect(w.events).toHaveLength(1);
      expect(await liveSessions(w)).toBe(0);

      // The next minute: the client's failures are answered 500 again, up to the limit.
      w.clock.advance(1);
      expect(await answered(soon(deviceQuit(w, 'guess')))).toEqual({ status: 500, body: WUKONGIM_INTERNAL });
    });

    it('WuKongIM: with the whole store down a wrong and a right token answer the same 500, and the right one cannot be told apart by a bad body past the limit', async () => {
      const w = await world();
      const before = w.memory.snapshot();
      w.faults.inject('fail');
      for (const token of ['guess', MANAGER_TOKEN]) {
        expect(await answered(soon(deviceQuit(w, token)))).toEqual({ status: 500, body: WUKONGIM_INTERNAL });
        expect(await answered(soon(connRemove(w, token)))).toEqual({ status: 500, body: WUKONGIM_INTERNAL });
      }
      // Under the limit, a right token with a bad body is told apart (400: it needs no store), a wrong one is not: the limit bounds how often that can be tried.
      const badBody = (token: string) =>
        send(w.app.url, 'POST', '/user/device_quit', {
          headers: { token },
          body: { uid: 'alice01', device_flag: 'x' },
        });
      expect((await soon(badBody(MANAGER_TOKEN))).status).toBe(400);
      for (let i = 2; i < 10; i++) {
        expect(await answered(soon(badBody(`guess-${i}`)))).toEqual({ status: 500, body: WUKONGIM_INTERNAL });
      }
      expect(await answered(soon(badBody('guess-10')))).toEqual({ status: 429, body: TOO_MANY });
      expect(await answered(soon(badBody(MANAGER_TOKEN)))).toEqual({ status: 429, body: TOO_MANY });
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);

      // It heals: the lock this node set holds to the end of the minute; then the right token works.
      w.faults.heal();
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual({ status: 429, body: TOO_MANY });
      toNextMinute(w);
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual(OK);
      expect(w.events).toHaveLength(1);
    });

    it('WuKongIM: failures the store missed still count once it heals, for the rest of the minute', async () => {
      const w = await world();
      w.faults.inject('fail', 'hit');
      for (let i = 0; i < 8; i++) expect((await soon(deviceQuit(w, `guess-${i}`))).status).toBe(500);
      w.faults.heal();
      expect((await deviceQuit(w, 'guess-8')).status).toBe(401);
      expect((await deviceQuit(w, 'guess-9')).status).toBe(401);
      expect(failures(w, 'wukongim')).toBe(2);
      expect(await answered(deviceQuit(w, 'guess-10'))).toEqual({ status: 429, body: TOO_MANY });
      expect(await answered(deviceQuit(w, MANAGER_TOKEN))).toEqual({ status: 429, body: TOO_MANY });
    });

    it('WuKongIM: a store that hangs answers 500 after its timeout, for a wrong and a right token', async () => {
      const w = await world();
      const before = w.memory.snapshot();
      w.faults.inject('hang');
      for (const token of ['guess', undefined, MANAGER_TOKEN]) {
        expect(await answered(soon(deviceQuit(w, token)))).toEqual({ status: 500, body: WUKONGIM_INTERNAL });
      }
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);
    });

    it('WuKongIM: a client locked out before the store failed stays locked (429, not 500) until the minute is over', async () => {
      const w = await world();
      for (let i = 0; i < 11; i++) await deviceQuit(w, `guess-${i}`);
      w.faults.inject('fail');
      for (const token of ['guess', MANAGER_TOKEN]) {
        expect(await answered(soon(deviceQuit(w, token)))).toEqual({ status: 429, body: TOO_MANY });
      }
      w.clock.advance(60_000);
      expect(await answered(soon(deviceQuit(w, 'guess')))).toEqual({ status: 500, body: WUKONGIM_INTERNAL });
    });

    const wrongKicks = (w: World) => [
      () => kick(w, ''),
      () => kick(w, sigAt(w, { key: OTHER_KEY })),
      () => kick(w, sigAt(w, { expireSec: 60, atMs: w.clock.nowMs() - 120_000 })),
      () => kick(w, sigAt(w, { identifier: OPS }), { identifier: ADMIN }),
      () => kick(w, sigAt(w, { app: SDKAPPID + 1 })),
      () => kick(w, sigAt(w, { identifier: 'alice01' }), { identifier: 'alice01' }),
    ];

    it('Tencent: a failure the store cannot count answers 70500, never its own code or a success; past the limit 60007, the right UserSig included', async () => {
      const w = await world();
      const before = w.memory.snapshot();
      w.faults.inject('fail', 'hit');
      // The right UserSig: its call must be counted against the app's rate limit, which fails: 70500, no kick.
      expect(await answered(soon(kick(w, sigAt(w))))).toEqual({ status: 200, body: TENCENT_INTERNAL });
      const wrong = wrongKicks(w);
      for (let i = 0; i < 10; i++) {
        expect(await answered(soon(wrong[i % wrong.length]!())), `failure ${i + 1}`).toEqual({
          status: 200,
          body: TENCENT_INTERNAL,
        });
      }
      for (const call of [
        wrong[1]!,
        () => kick(w, sigAt(w)),
        () => kick(w, sigAt(w, { identifier: OPS }), { identifier: OPS }),
      ]) {
        expect(await answered(soon(call()))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      }
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);

      // The next minute, the store still failing: 70500 again, and the right UserSig still kicks nobody.
      toNextMinute(w);
      expect(await answered(soon(kick(w, sigAt(w))))).toEqual({ status: 200, body: TENCENT_INTERNAL });
      expect(await answered(soon(wrong[0]!()))).toEqual({ status: 200, body: TENCENT_INTERNAL });
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);
    });

    it('Tencent: with the whole store down a wrong and a right UserSig answer the same 70500; once it heals, the right one kicks', async () => {
      const w = await world();
      const before = w.memory.snapshot();
      w.faults.inject('fail');
      for (const call of [...wrongKicks(w), () => kick(w, sigAt(w))]) {
        expect(await answered(soon(call()))).toEqual({ status: 200, body: TENCENT_INTERNAL });
      }
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);

      w.faults.heal();
      expect((await kick(w, sigAt(w, { key: OTHER_KEY }))).json()).toMatchObject({ ErrorCode: 70003 });
      expect(failures(w, 'tencent')).toBe(1);
      expect(await answered(kick(w, sigAt(w)))).toEqual({ status: 200, body: KICKED });
      expect(w.events).toHaveLength(1);
      expect(await liveSessions(w)).toBe(0);
    });

    it('Tencent: a store that hangs answers 70169 after its timeout, for a wrong and a right UserSig', async () => {
      const w = await world();
      const before = w.memory.snapshot();
      w.faults.inject('hang');
      for (const call of [
        () => kick(w, sigAt(w, { key: OTHER_KEY })),
        () => kick(w, ''),
        () => kick(w, sigAt(w)),
      ]) {
        expect(await answered(soon(call()))).toEqual({ status: 200, body: TENCENT_TIMEOUT });
      }
      expect(w.memory.snapshot()).toEqual(before);
      expect(w.events).toEqual([]);
    });

    it('Tencent: a client locked out before the store failed stays locked (60007, not 70500)', async () => {
      const w = await world();
      for (let i = 0; i < 11; i++) await kick(w, sigAt(w, { key: OTHER_KEY }));
      w.faults.inject('fail');
      for (const sig of [sigAt(w, { key: OTHER_KEY }), sigAt(w)]) {
        expect(await answered(soon(kick(w, sig)))).toEqual({ status: 200, body: TENCENT_TOO_MANY });
      }
    });
  },
);

describe.each(adapters.map((a) => [a.name, a] as const))(
  'a revoked credential never passes a guard (%s)',
  (_n, adapter) => {
    const guarded = (w: World, token: string) => send(w.app.url, 'GET', '/protected', { headers: { token } });
    const upgrade = (w: World, token: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${w.app.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
        });
        ws.on('open', () => {
          resolve(101);
          ws.terminate();
        });
        ws.on('error', () => undefined);
      });

    it.each(['kicked', 'device_quit', 'logged_out', 'expired'] as const)('%s', async (how) => {
      const w = await start(adapter);
      const { token } = await w.engine.issueSession({ uid: 'alice01', deviceFlag: 1, ttlMs: 60_000 });
      expect((await guarded(w, token)).status).toBe(200);
      expect(await upgrade(w, token)).toBe(101);
      if (how === 'kicked') await w.engine.kickUser('alice01');
      if (how === 'device_quit') expect((await deviceQuit(w, MANAGER_TOKEN)).status).toBe(200);
      if (how === 'logged_out')
        expect(
          (await send(w.app.url, 'POST', '/v1/api/user/logout', { body: { username: 'alice01', token } }))
            .status,
        ).toBe(200);
      if (how === 'expired') w.clock.advance(60_000);
      const answer = await guarded(w, token);
      expect(answer.status).toBe(401);
      expect(answer.json()).toMatchObject({ reason: how });
      expect(await upgrade(w, token)).toBe(401);
      // Bearer and the query parameter are the same token: no other way in.
      expect(
        (await send(w.app.url, 'GET', '/protected', { headers: { authorization: `Bearer ${token}` } }))
          .status,
      ).toBe(401);
      // Later, too: the verdict does not wear off.
      w.clock.advance(30_000);
      expect((await guarded(w, token)).status).toBe(401);
    });

    it('a UserSig issued at or before a kick fails the guard; one issued after works', async () => {
      const w = await start(adapter);
      await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
      const sig = sigAt(w, { identifier: 'alice01' });
      const check = (s: string) =>
        send(w.app.url, 'GET', `/protected?${new URLSearchParams({ identifier: 'alice01', usersig: s })}`);
      expect((await check(sig)).status).toBe(200);
      w.clock.advance(500);
      await w.engine.kickUser('alice01');
      expect((await check(sig)).status).toBe(401);
      expect((await check(sigAt(w, { identifier: 'alice01' }))).status).toBe(401); // the same second
      w.clock.advance(1_000);
      expect((await check(sigAt(w, { identifier: 'alice01' }))).status).toBe(200);
    });
  },
);

describe('raw tokens and secrets are never written down', () => {
  it('not in the store, not in console output or warnings, not in audit events', async () => {
    const printed: string[] = [];
    const capture =
      (name: string) =>
      (...args: unknown[]) => {
        printed.push(
          `${name}: ${args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`,
        );
      };
    const spies = [
      vi.spyOn(console, 'log').mockImplementation(capture('log')),
      vi.spyOn(console, 'info').mockImplementation(capture('info')),
      vi.spyOn(console, 'warn').mockImplementation(capture('warn')),
      vi.spyOn(console, 'error').mockImplementation(capture('error')),
      vi.spyOn(console, 'debug').mockImplementation(capture('debug')),
      vi
        .spyOn(process, 'emitWarning')
        .mockImplementation(capture('emitWarning') as typeof process.emitWarning),
    ];
    try {
      const w = await start();
      const secrets = [MANAGER_TOKEN, SECRET_KEY];
      const tokens: string[] = [];
      for (const uid of ['alice01', 'bob-0002', ADMIN]) {
        const { token } = await w.engine.issueSession({ uid, deviceFlag: 0 });
        tokens.push(token);
        await w.engine.setPushToken(uid, { kind: 'ring', token: `ring-of-${uid}`, deviceFlag: 0 });
      }
      await w.engine.registerSession({
        uid: 'carol_03',
        deviceFlag: 1,
        token: 'host-made-session-token-123456',
        expiresAtMs: w.clock.nowMs() + 3_600_000,
      });
      tokens.push('host-made-session-token-123456');
      const sigs = [sigAt(w), sigAt(w, { identifier: OPS }), sigAt(w, { key: OTHER_KEY })];

      // The workload: good and bad calls of every family, the guard, sockets.
      await send(w.app.url, 'GET', '/protected', { headers: { token: tokens[0]! } });
      await deviceQuit(w, `${MANAGER_TOKEN}-wrong`);
      await deviceQuit(w, MANAGER_TOKEN, 'bob-0002');
      await kick(w, sigs[2]!);
      await kick(w, sigs[1]!, { identifier: OPS });
      await kick(w, sigs[0]!);
      await send(w.app.url, 'POST', '/v1/api/user/logout', { body: { username: ADMIN, token: tokens[2] } });
      await send(w.app.url, 'POST', '/v1/api/user/logout', { body: { username: ADMIN, token: tokens[2] } });
      await send(w.app.url, 'DELETE', '/v1/api/user/token', { headers: { token: tokens[3]! } });
      await send(w.app.url, 'DELETE', '/v1/api/user/message/token', { headers: { token: tokens[1]! } });
      await w.engine.logout(tokens[3]!).catch(() => undefined);
      await send(
        w.app.url,
        'GET',
        `/protected?${new URLSearchParams({ identifier: ADMIN, usersig: sigs[0]! })}`,
      );
      expect(w.events.length).toBeGreaterThan(0);

      const store = JSON.stringify(w.memory.snapshot());
      const events = JSON.stringify(w.events);
      const output = printed.join('\n');
      for (const secret of [...secrets, ...tokens, ...sigs]) {
        expect(store.includes(secret), 'in the store').toBe(false);
        expect(events.includes(secret), 'in an audit event').toBe(false);
        expect(output.includes(secret), 'in console output').toBe(false);
      }
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
