/**
 * The one HTTP contract suite: every case of `cases/`, over real HTTP and real WebSockets, against
 * every adapter builder in `apps/` (a new `apps/<name>.ts` exporting `adapter` joins by itself).
 * Each case gets a fresh engine, store, clock and app.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { createEvict, MemoryStore, type RevocationEvent, signUserSig, TENCENT_ERRORS } from '@evict/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ManualClock } from '../support/clock.js';
import { FaultyStore } from '../support/faulty-store.js';
import { SDKAPPID, SECRET_KEY, tencentUserSig } from '../support/fixtures.js';
import { adapters } from './adapters.js';
import { adminOptionsFor, GUARD } from './app.js';
import type { ContractAdapter, ContractApp } from './apps/types.js';
import { cases } from './cases/index.js';
import type { Answer, ContractCase, ContractRequest, Expectation, SigOptions, Step, World } from './table.js';

// ---- UserSigs: Tencent's own library, at the manual clock's time ----

function sign(identifier: string, nowMs: number, options: SigOptions): string {
  const sdkAppId = options.sdkAppId ?? SDKAPPID;
  const secretKey = options.key ?? SECRET_KEY;
  const expireSec = options.expireSec ?? 86_400;
  const atMs = nowMs - (options.secondsAgo ?? 0) * 1000;
  if (options.signer === 'evict')
    return signUserSig({ sdkAppId, secretKey, identifier, expireSec, nowMs: atMs });
  return tencentUserSig({ sdkAppId, secretKey }, identifier, expireSec, atMs);
}

// ---- HTTP and WebSocket clients ----

const isChunked = (body: unknown): body is { chunked: Buffer } =>
  typeof body === 'object' && body !== null && Buffer.isBuffer((body as { chunked?: unknown }).chunked);

function urlOf(base: string, request: ContractRequest): URL {
  const url = new URL(request.path, base);
  for (const [name, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.append(name, value);
  }
  return url;
}

/** Sends the request byte for byte: JSON, raw, or chunked without Content-Length. */
function send(base: string, request: ContractRequest): Promise<Answer> {
  const headers: OutgoingHttpHeaders = { connection: 'close' };
  let hasContentType = false;
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (name.toLowerCase() === 'content-type') {
      hasContentType = true;
      if (value === '') continue; // no Content-Type at all
    }
    headers[name] = value;
  }
  const { body } = request;
  let payload: Buffer | undefined;
  const chunked = isChunked(body);
  if (body !== undefined) {
    if (chunked) payload = body.chunked;
    else if (typeof body === 'string') payload = Buffer.from(body);
    else if (Buffer.isBuffer(body)) payload = body;
    else payload = Buffer.from(JSON.stringify(body));
    if (!hasContentType) headers['content-type'] = 'application/json';
    if (!chunked) headers['content-length'] = payload.byteLength;
  }
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      urlOf(base, request),
      { method: request.method, headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(parts).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    // The app may answer (and close) before the whole body is written: the answer still counts.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    if (payload !== undefined && chunked) {
      expect(req.getHeader('content-length')).toBeUndefined();
      for (let at = 0; at < payload.byteLength; at += 1024) req.write(payload.subarray(at, at + 1024));
    } else if (payload !== undefined) {
      req.write(payload);
    }
    req.end();
  });
}

const wsUrl = (base: string, request: ContractRequest) =>
  urlOf(base.replace(/^http/, 'ws'), request).toString();

/**
 * An upgrade as a request: 101 and the first message (or, for a socket closed before it said
 * anything, `{"close":<code>,"reason":…}`), or the refusal's status, headers and body.
 */
function upgrade(base: string, request: ContractRequest): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base, request), { headers: request.headers ?? {} });
    ws.on('error', reject);
    ws.once('close', (code, reason) =>
      resolve({ status: 101, headers: {}, text: JSON.stringify({ close: code, reason: String(reason) }) }),
    );
    ws.once('message', (data) => {
      resolve({ status: 101, headers: {}, text: String(data) });
      ws.terminate();
    });
    ws.once('unexpected-response', (req, res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString() });
        req.destroy();
      });
    });
  });
}

// ---- the world of one case ----

interface Socket {
  ws: WebSocket;
  hello: { conn_id: number; node_id: number };
  closed: Promise<{ code: number; reason: string }>;
  /** What it received after its hello. */
  messages: string[];
}

interface Running {
  world: World;
  memory: MemoryStore;
  events: RevocationEvent[];
  sockets: Map<string, Socket>;
  /** Simulated connections: undefined while open, then how evict closed them. */
  simulated: Map<string, { code: number; reason: string } | undefined>;
  close(): Promise<void>;
}

async function startWorld(adapter: ContractAdapter, c: ContractCase): Promise<Running> {
  const clock = new ManualClock();
  const memory = new MemoryStore({ clock });
  const store = new FaultyStore(memory);
  const engine = createEvict({
    store,
    clock,
    // Short, so that a /conn/kick's socket closes within the case.
    connectionKickGraceMs: 50,
    ...(c.options?.storeTimeoutMs === undefined ? {} : { storeTimeoutMs: c.options.storeTimeoutMs }),
  });
  const events: RevocationEvent[] = [];
  engine.on('revocation', (event) => events.push(event));
  const sockets = new Map<string, Socket>();
  const simulated = new Map<string, { code: number; reason: string } | undefined>();
  let app: ContractApp | undefined;
  try {
    app = await adapter.start({
      engine,
      admin: adminOptionsFor(c.options),
      guard: GUARD,
      ...(c.options?.prefix === undefined ? {} : { prefix: c.options.prefix }),
    });
  } catch (error) {
    await engine.close();
    await memory.close();
    throw error;
  }
  const { url } = app;

  const world: World = {
    engine,
    store,
    clock,
    url,
    tokens: {},
    async login(name, uid, deviceFlag, ttlMs) {
      const session = await engine.issueSession({
        uid,
        deviceFlag,
        ...(ttlMs === undefined ? {} : { ttlMs }),
      });
      world.tokens[name] = session.token;
      return session.token;
    },
    sig: (identifier, options = {}) => sign(identifier, clock.nowMs(), options),
    send: (request) => send(url, request),
    async connect(name, token, deviceId) {
      const query = { token, ...(deviceId === undefined ? {} : { device_id: deviceId }) };
      const ws = new WebSocket(wsUrl(url, { method: 'GET', path: '/ws', query }));
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      const hello = await new Promise<Socket['hello']>((resolve, reject) => {
        ws.once('message', (data) => resolve(JSON.parse(String(data))));
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) =>
          reject(new Error(`upgrade refused: ${res.statusCode}`)),
        );
      });
      // What becomes of the socket from here on is for `closed` expectations to judge.
      ws.on('error', () => undefined);
      const messages: string[] = [];
      ws.on('message', (data) => messages.push(String(data)));
      sockets.set(name, { ws, hello, closed, messages });
    },
    hello(name) {
      const socket = sockets.get(name);
      if (socket === undefined) throw new Error(`no socket ${name}`);
      return socket.hello;
    },
    async simulate(name, connection) {
      simulated.set(name, undefined);
      await engine.registerConnection({ ...connection, close: (info) => simulated.set(name, info) });
    },
  };

  // The data every case starts from, then a second later.
  await world.login('alice0', 'alice01', 0);
  await world.login('alice1', 'alice01', 1);
  await world.login('bob0', 'bobby02', 0);
  for (const uid of ['alice01', 'bobby02']) {
    await engine.setPushToken(uid, { kind: 'ring', token: `ring-${uid}`, deviceFlag: 0 });
    await engine.setPushToken(uid, { kind: 'message', token: `message-${uid}`, deviceFlag: 0 });
  }
  clock.advance(1000);

  return {
    world,
    memory,
    events,
    sockets,
    simulated,
    async close() {
      for (const socket of sockets.values()) socket.ws.terminate();
      await app.close();
      await engine.close();
      await memory.close();
    },
  };
}

// ---- checking one step ----

/** Is this the body of a family or of the guard (rather than the framework's own answer)? */
function isEvictBody(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof value !== 'object' || value === null) return false;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  return (
    'ActionStatus' in o ||
    keys === 'msg,status' ||
    keys === 'error' ||
    o.status === 'ok' ||
    o.status === 200 ||
    o.error === 'unauthorized'
  );
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms),
    ),
  ]);

function snapshotOf(memory: MemoryStore, mode: ContractCase['unchanged']): unknown {
  const { counters, ...rest } = memory.snapshot() as Record<string, unknown> & {
    counters: [string, unknown][];
  };
  if (mode === 'but the rate counter') return rest;
  // A failed authentication is counted on purpose (the brute-force limit, SECURITY.md): that counter
  // is the one write a rejected request makes.
  return { ...rest, counters: counters.filter(([key]) => !key.includes(':authfail:')) };
}

async function runStep(running: Running, step: Step, unchanged: ContractCase['unchanged']): Promise<void> {
  const { world, memory, events } = running;
  await step.before?.(world);
  const request = typeof step.request === 'function' ? step.request(world) : step.request;
  const label = `${request.method} ${request.path}`;
  const before = unchanged === undefined ? undefined : snapshotOf(memory, unchanged);
  events.length = 0;
  const answer = request.websocket ? await upgrade(world.url, request) : await send(world.url, request);
  const expected: Expectation = step.expect;

  if (expected.status !== undefined) expect(answer.status, `${label}: ${answer.text}`).toBe(expected.status);
  if (expected.body !== undefined) {
    if (typeof expected.body === 'string') {
      expect(answer.text, label).toBe(expected.body);
    } else {
      expect(() => JSON.parse(answer.text), `${label} answered ${answer.text}`).not.toThrow();
      expect(JSON.parse(answer.text), label).toStrictEqual(expected.body);
    }
    if (expected.body !== '' && answer.status !== 101) {
      expect(String(answer.headers['content-type']), label).toMatch(/^application\/json/);
    }
  }
  if (expected.bodyContains !== undefined) expect(answer.text, label).toContain(expected.bodyContains);
  if (expected.fallsThrough) {
    expect(answer.status >= 200 && answer.status < 300, `${label} answered ${answer.status}`).toBe(false);
    expect(isEvictBody(answer.text), `${label} answered a family's body: ${answer.text}`).toBe(false);
  }

  for (const [name, closed] of Object.entries(expected.closed ?? {})) {
    const socket = running.sockets.get(name);
    if (socket !== undefined) {
      if (closed === 'open') {
        // A close frame sent before the pong would arrive before it.
        await within(
          new Promise<void>((resolve) => {
            socket.ws.once('pong', () => resolve());
            socket.ws.once('close', () => resolve());
            socket.ws.ping();
          }),
          2_000,
          `a pong from ${name}`,
        );
        expect(socket.ws.readyState, `socket ${name}`).toBe(WebSocket.OPEN);
      } else {
        const { told, ...close } = closed;
        expect(await within(socket.closed, 2_000, `socket ${name} to close`), `socket ${name}`).toEqual(
          close,
        );
        if (told !== undefined) expect(socket.messages, `what socket ${name} was told`).toEqual(told);
      }
    } else if (running.simulated.has(name)) {
      expect(running.simulated.get(name), `connection ${name}`).toEqual(
        closed === 'open' ? undefined : closed,
      );
    } else {
      throw new Error(`the case names no socket or connection ${name}`);
    }
  }

  for (const [uid, kinds] of Object.entries(expected.pushTokens ?? {})) {
    const left = (await world.engine.pushTokens(uid)).map((t) => t.kind).sort();
    expect(left, `push tokens of ${uid}`).toEqual([...kinds].sort());
  }

  if (expected.events !== undefined) {
    expect(events, 'revocation events').toHaveLength(expected.events.length);
    expected.events.forEach((event, i) => {
      expect(events[i], 'revocation event').toMatchObject(event);
    });
  } else if (unchanged !== undefined) {
    expect(events, 'revocation events').toEqual([]);
  }
  // The audit trail never carries a raw token.
  const trail = JSON.stringify(events);
  for (const token of Object.values(world.tokens)) expect(trail.includes(token)).toBe(false);

  if (before !== undefined)
    expect(snapshotOf(memory, unchanged), `${label}: the store changed`).toEqual(before);
}

async function runCase(adapter: ContractAdapter, c: ContractCase): Promise<void> {
  const running = await startWorld(adapter, c);
  try {
    await c.setup?.(running.world);
    await runStep(running, c, c.unchanged);
    for (const step of c.next ?? []) await runStep(running, step, undefined);
  } finally {
    await running.close();
  }
}

// ---- the suite ----

it('the table is well formed, and covers every status and code of docs/families.md', () => {
  const names = cases.map((c) => c.name);
  expect(
    names.filter((name, i) => names.indexOf(name) !== i),
    'duplicate case names',
  ).toEqual([]);
  const families = new Set(cases.map((c) => c.family));
  expect([...families].sort()).toEqual(['guard', 'lancens', 'socket', 'tencent', 'wukongim']);

  const steps = cases.flatMap((c): [ContractCase, Step][] => [
    [c, c],
    ...(c.next ?? []).map((s): [ContractCase, Step] => [c, s]),
  ]);
  const bodies = steps.map(([, s]) => s.expect.body).filter((b): b is object => typeof b === 'object');
  const parsed = steps
    .map(([, s]) => s.expect.body)
    .filter((b): b is string => typeof b === 'string' && b.startsWith('{'))
    .map((b) => JSON.parse(b) as object);
  const all = [...bodies, ...parsed] as Record<string, unknown>[];

  const tencentCodes = new Set(all.filter((b) => 'ActionStatus' in b).map((b) => b.ErrorCode));
  for (const code of [0, ...Object.keys(TENCENT_ERRORS).map(Number)]) {
    expect(tencentCodes.has(code), `Tencent ${code}`).toBe(true);
  }
  const wukongimStatuses = new Set(
    steps
      .filter(([c, s]) => c.family === 'wukongim' && s.expect.status !== undefined && !s.expect.fallsThrough)
      .map(([, s]) => s.expect.status),
  );
  for (const status of [200, 400, 401, 404, 500])
    expect(wukongimStatuses.has(status), `WuKongIM ${status}`).toBe(true);
  const lancensErrors = new Set(all.filter((b) => Object.keys(b).join() === 'error').map((b) => b.error));
  for (const error of [
    'undefined username',
    'undefined token',
    'username length error',
    'username format error',
    'token format error',
    'paramer error',
    'no token',
    'invalid token',
    'no data error',
    10001,
  ]) {
    expect(lancensErrors.has(error), `Lancens ${error}`).toBe(true);
  }
  const reasons = new Set(all.filter((b) => 'reason' in b).map((b) => b.reason));
  for (const reason of ['kicked', 'device_quit', 'logged_out', 'expired', 'unknown', 'unavailable']) {
    expect(reasons.has(reason), `guard ${reason}`).toBe(true);
  }
  const closeCodes = new Set<number | string>(
    steps
      .flatMap(([, s]) => Object.values(s.expect.closed ?? {}))
      .map((c) => (c === 'open' ? 'open' : c.code)),
  );
  for (const code of [4001, 4002, 4003, 4004, 4006, 'open'])
    expect(closeCodes.has(code), `close ${code}`).toBe(true);
});

it('finds the adapters in apps/', () => {
  expect(adapters.map((a) => a.name)).toContain('express');
});

describe.each(adapters.map((adapter) => [adapter.name, adapter] as const))(
  `contract: %s adapter, ${cases.length} cases`,
  (_name, adapter) => {
    beforeAll(() => {
      console.log(`contract: ${adapter.name} runs ${cases.length} cases`);
    });

    it.each(cases.map((c) => [`${c.family}: ${c.name}`, c] as const))('%s', (_title, c) =>
      runCase(adapter, c),
    );
  },
);
