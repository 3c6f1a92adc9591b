import { createEvict, type Evict, MemoryStore } from '@evict/core';
import { evictGuard, evictRoutes } from '@evict/hono';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminOptions, MANAGER_TOKEN } from '../../../test/support/fixtures.js';

// Through `app.request`: a Request handed to the app's fetch, as Bun, Deno and Workers hand it, with
// no Node server in between (the contract suite covers @hono/node-server over real HTTP).

let store: MemoryStore;
let engine: Evict;
let token: string;

beforeEach(async () => {
  store = new MemoryStore();
  engine = createEvict({ store });
  ({ token } = await engine.issueSession({ uid: 'alice01', deviceFlag: 1 }));
});

afterEach(async () => {
  await engine.close();
  await store.close();
});

function app(prefix?: string) {
  const hono = new Hono();
  hono.use(evictRoutes(engine, { ...adminOptions(), ...(prefix === undefined ? {} : { prefix }) }));
  hono.get('/me', evictGuard(engine), (c) => c.json(c.get('evict')));
  hono.post('/echo', async (c) => c.json({ got: await c.req.json() }));
  return hono;
}

const quit = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { token: MANAGER_TOKEN, 'content-type': 'application/json', ...headers },
  body,
});

describe('evictGuard on a Web-standard Request', () => {
  it('sets c.get("evict") on a live session, and answers a revoked one in the guard’s shape', async () => {
    const hono = app();
    const ok = await hono.request('/me', { headers: { token } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ uid: 'alice01', deviceFlag: 1, credential: 'session' });
    await engine.kickUser('alice01');
    const kicked = await hono.request('/me', { headers: { token } });
    expect(kicked.status).toBe(401);
    expect(kicked.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await kicked.json()).toMatchObject({ error: 'unauthorized', reason: 'kicked' });
  });
});

describe('evictRoutes on a Web-standard Request', () => {
  it('answers its routes, in the family’s shape for a malformed or oversized body, and passes others on', async () => {
    const hono = app();
    const done = await hono.request('/user/device_quit', quit('{"uid":"alice01","device_flag":1}'));
    expect([done.status, await done.text()]).toEqual([200, '{"status":"ok"}']);
    const malformed = await hono.request('/user/device_quit', quit('{"uid":'));
    expect([malformed.status, await malformed.json()]).toEqual([
      400,
      { msg: 'request body is not valid JSON', status: 400 },
    ]);
    // Streamed, with no Content-Length to check first.
    const big = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i += 1) controller.enqueue(new TextEncoder().encode(' '.repeat(1024)));
        controller.close();
      },
    });
    const oversized = await hono.request('/user/device_quit', {
      ...quit(''),
      body: big,
      duplex: 'half',
    } as RequestInit);
    expect([oversized.status, await oversized.json()]).toEqual([
      400,
      { msg: 'request body is larger than 16 KiB', status: 400 },
    ]);
    // Not evict's: the app's own route reads its own body.
    const echo = await hono.request('/echo', quit('{"a":1}'));
    expect(await echo.json()).toEqual({ got: { a: 1 } });
    expect((await hono.request('/elsewhere')).status).toBe(404);
  });

  it('serves below a prefix only', async () => {
    const hono = app('/admin');
    const body = '{"uid":"alice01","device_flag":1}';
    expect((await hono.request('/admin/user/device_quit', quit(body))).status).toBe(200);
    expect((await hono.request('/user/device_quit', quit(body))).status).toBe(404);
  });

  it('refuses to mount without authentication, as on every framework', () => {
    expect(() => evictRoutes(engine, { families: ['wukongim'] })).toThrow(/managerToken/);
  });
});
