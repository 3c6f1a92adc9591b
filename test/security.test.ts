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
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { secretsEqual } from '../packages/core/src/secrets.js';
import type { ContractAdapter, ContractApp } from './contract/apps/types.js';
import {
  ADMIN,
  adminOptionsFor,
  GUARD,
  MANAGER_TOKEN,
  OPS,
  OTHER_KEY,
  SDKAPPID,
  SECRET_KEY,
} from './contract/cases.js';
import { ManualClock } from './support/clock.js';

const modules = import.meta.glob<{ adapter?: ContractAdapter }>('./contract/apps/*.ts', { eager: true });
const adapters: ContractAdapter[] = Object.entries(modules)
  .filter(([path]) => !path.endsWith('/types.ts'))
  .sort(([a], [b]) => (a < b ? -1 : 1))
  .map(([, module]) => module.adapter!)
  .filter((adapter) => adapter !== undefined);
const express = adapters.find((a) => a.name === 'express')!;

// ---- a world ----

interface World {
  engine: Evict;
  memory: MemoryStore;
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
): Promise<World> {
  const clock = shared?.clock ?? new ManualClock();
  const memory = shared?.memory ?? new MemoryStore({ clock });
  const engine = createEvict({ store: memory, clock, nodeId: open.length + 1 });
  const events: RevocationEvent[] = [];
  engine.on('revocation', (event) => events.push(event));
  const app = await adapter.start({ engine, admin, guard: GUARD });
  const world = { engine, memory, clock, app, events };
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

describe('brute force: failed authentications are limited per client', () => {
  const TOO_MANY = { msg: 'too many failed attempts', status: 429 };

  it('WuKongIM: 10 failures answer 401, then 429 for everything from that client until the minute is over', async () => {
    const w = await start();
    await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    // Start at the beginning of a minute so the window does not roll over mid-test.
    w.clock.advance(60_000 - (w.clock.nowMs() % 60_000));
    for (let i = 0; i < 10; i++) expect((await deviceQuit(w, `guess-${i}`)).status).toBe(401);
    const eleventh = await deviceQuit(w, 'guess-10');
    expect(eleventh.status).toBe(429);
    expect(eleventh.json()).toEqual(TOO_MANY);
    // The right token from the locked-out client answers the same: a lucky guess is not told apart.
    const right = await deviceQuit(w, MANAGER_TOKEN);
    expect(right.status).toBe(429);
    expect(w.events).toEqual([]);
    // The count is in the store, where the whole cluster sees it.
    const counters = (w.memory.snapshot() as { counters: [string, { count: number }][] }).counters;
    expect(counters.find(([key]) => key === 'wukongim:authfail:127.0.0.1')?.[1].count).toBe(11);

    // Another client is not affected, and its success resets nobody's counter.
    const other = await deviceQuit(w, MANAGER_TOKEN, 'alice01', '127.0.0.2');
    expect(other.status).toBe(200);
    expect((await deviceQuit(w, 'nope', 'alice01', '127.0.0.2')).status).toBe(401);
    expect((await deviceQuit(w, MANAGER_TOKEN)).status).toBe(429);

    // Once the minute is over the client may try again.
    w.clock.advance(60_000);
    expect((await deviceQuit(w, MANAGER_TOKEN)).status).toBe(200);
  });

  it('WuKongIM: the count is shared by the nodes of a cluster', async () => {
    const a = await start();
    const b = await start(express, { memory: a.memory, clock: a.clock });
    a.clock.advance(60_000 - (a.clock.nowMs() % 60_000));
    for (let i = 0; i < 10; i++) expect((await deviceQuit(i % 2 ? a : b, `guess-${i}`)).status).toBe(401);
    expect((await deviceQuit(b, 'guess')).status).toBe(429);
    expect((await deviceQuit(a, 'guess')).status).toBe(429);
    expect((await deviceQuit(a, MANAGER_TOKEN)).status).toBe(429);
  });

  it('WuKongIM: the limit is an option', async () => {
    const w = await start(express, undefined, {
      ...adminOptionsFor(),
      wukongim: { managerToken: MANAGER_TOKEN, maxFailedAuthPerMinute: 2 },
    });
    w.clock.advance(60_000 - (w.clock.nowMs() % 60_000));
    expect((await deviceQuit(w, 'a')).status).toBe(401);
    expect((await deviceQuit(w, 'b')).status).toBe(401);
    expect((await deviceQuit(w, 'c')).status).toBe(429);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() =>
        createAdminApi(w.engine, { wukongim: { managerToken: 'x', maxFailedAuthPerMinute: bad } }),
      ).toThrow(/maxFailedAuthPerMinute/);
    }
  });

  it('Tencent: 10 failed UserSigs answer their code, then 60007 for the client until the minute is over', async () => {
    const w = await start();
    await w.engine.issueSession({ uid: 'alice01', deviceFlag: 0 });
    w.clock.advance(60_000 - (w.clock.nowMs() % 60_000));
    const before = records(w.memory);
    for (let i = 0; i < 10; i++) {
      expect((await kick(w, sigAt(w, { key: OTHER_KEY }))).json()).toMatchObject({ ErrorCode: 70003 });
    }
    expect((await kick(w, sigAt(w, { key: OTHER_KEY }))).json()).toMatchObject({ ErrorCode: 60007 });
    expect((await kick(w, sigAt(w))).json()).toMatchObject({ ErrorCode: 60007 });
    expect(records(w.memory)).toEqual(before);
    expect((await kick(w, sigAt(w), { from: '127.0.0.2' })).json()).toMatchObject({ ErrorCode: 0 });
    w.clock.advance(60_000);
    expect((await kick(w, sigAt(w))).json()).toMatchObject({ ErrorCode: 0 });
  });
});

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
