/**
 * The console's JSON API through real HTTP on every adapter: authentication, what a user
 * lookup shows, each action, bad input changing nothing, and the event stream of a user's changes.
 */
import { createEvict, type Evict, hashToken, MemoryStore, sessionIdOf } from '@evict/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from './contract/adapters.js';
import { GUARD } from './contract/app.js';
import type { ContractApp } from './contract/apps/types.js';
import { MANAGER_TOKEN } from './support/fixtures.js';

describe.each(adapters.map((a) => [a.name, a] as const))('the console API on %s', (_name, adapter) => {
  let engine: Evict;
  let app: ContractApp;
  beforeAll(async () => {
    engine = createEvict({ store: new MemoryStore(), connectionKickGraceMs: 20 });
    app = await adapter.start({
      engine,
      admin: {
        families: ['wukongim'],
        wukongim: { managerToken: MANAGER_TOKEN },
        console: { keepAliveMs: 200 },
      },
      guard: GUARD,
    });
  });
  afterAll(async () => {
    await app.close();
    await engine.close();
  });

  const call = async (method: string, path: string, body?: unknown, token: string | null = MANAGER_TOKEN) => {
    const response = await fetch(`${app.url}/console/api/${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { token }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const closes: number[] = [];
  const connect = async (uid: string, token: string) =>
    engine.registerConnection({
      uid,
      deviceFlag: 1,
      credential: { type: 'session', token },
      deviceId: 'install-1',
      close: ({ code }) => closes.push(code),
    });

  it('serves the page to anyone, with a policy that loads nothing from elsewhere', async () => {
    const page = await fetch(`${app.url}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('<title>evict console</title>');
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('refuses the API without the manager token, or with a wrong one', async () => {
    expect((await call('GET', 'user?uid=alice01', undefined, null)).status).toBe(401);
    expect((await call('POST', 'kick', { uid: 'alice01' }, 'wrong')).status).toBe(401);
  });

  it('shows a user’s sessions, connections and the end of each push token', async () => {
    const { token } = await engine.issueSession({
      uid: 'erin01',
      deviceFlag: 1,
      userAgent: 'Chat/2',
      ip: '198.51.100.9',
    });
    const handle = await connect('erin01', token);
    await engine.setPushToken('erin01', { kind: 'message', token: 'apns-token-abcdef123456', deviceFlag: 1 });
    const { status, body } = await call('GET', 'user?uid=erin01');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      uid: 'erin01',
      sessions: [
        { id: sessionIdOf(hashToken(token)), device_flag: 1, user_agent: 'Chat/2', ip: '198.51.100.9' },
      ],
      connections: [
        { conn_id: handle.connId, node_id: engine.nodeId, device_flag: 1, device_id: 'install-1' },
      ],
      push_tokens: [{ kind: 'message', device_flag: 1, token_end: '123456' }],
    });
    expect(JSON.stringify(body)).not.toContain('apns-token-abcdef');
    expect(JSON.stringify(body)).not.toContain(token);
  });

  it('revokes a session, removes and kicks connections, quits a device, kicks a user', async () => {
    const first = await engine.issueSession({ uid: 'fred01', deviceFlag: 1 });
    const second = await engine.issueSession({ uid: 'fred01', deviceFlag: 2 });
    const id = sessionIdOf(hashToken(first.token));
    expect((await call('POST', 'session-revoke', { uid: 'fred01', session_id: id })).body).toMatchObject({
      status: 'ok',
    });
    expect((await engine.check({ type: 'session', token: first.token })).ok).toBe(false);
    const a = await connect('fred01', second.token);
    expect(
      (await call('POST', 'connection-remove', { uid: 'fred01', conn_id: a.connId, node_id: engine.nodeId }))
        .body,
    ).toMatchObject({ status: 'ok', connections_closed: 1 });
    const b = await connect('fred01', second.token);
    expect((await call('POST', 'connection-kick', { uid: 'fred01', conn_id: b.connId })).status).toBe(200);
    await expect.poll(() => closes.slice(-2)).toEqual([4003, 4006]);
    expect((await call('POST', 'device-quit', { uid: 'fred01', device_flag: 2 })).status).toBe(200);
    expect((await engine.check({ type: 'session', token: second.token })).ok).toBe(false);
    await engine.issueSession({ uid: 'fred01', deviceFlag: 0 });
    expect((await call('POST', 'kick', { uid: 'fred01' })).body).toMatchObject({ status: 'ok' });
    expect((await call('GET', 'user?uid=fred01')).body).toMatchObject({ sessions: [], connections: [] });
  });

  it('answers bad input with 400 and an unknown user with 404, changing nothing', async () => {
    const { token } = await engine.issueSession({ uid: 'gina01', deviceFlag: 1 });
    for (const [path, body] of [
      ['kick', { uid: '' }],
      ['kick', { uid: 'gina01', extra: 1 }],
      ['device-quit', { uid: 'gina01', device_flag: 256 }],
      ['connection-remove', { uid: 'gina01', conn_id: 0 }],
      ['session-revoke', { uid: 'gina01', session_id: 'short' }],
    ] as const) {
      const answer = await call('POST', path, body);
      expect(answer, `${path} ${JSON.stringify(body)}`).toMatchObject({
        status: 400,
        body: { error: 'bad_request' },
      });
    }
    expect((await call('POST', 'kick', { uid: 'nobody-here' })).status).toBe(404);
    expect((await engine.check({ type: 'session', token })).ok).toBe(true);
  });

  it('streams server-sent events: a keep-alive, a change when the user connects, and at once when the user is kicked', async () => {
    await engine.issueSession({ uid: 'hugo01', deviceFlag: 1 });
    const aborter = new AbortController();
    const response = await fetch(`${app.url}/console/api/events?uid=hugo01`, {
      headers: { token: MANAGER_TOKEN },
      signal: aborter.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${pattern}: ${text}`);
        text += value;
      }
    };
    await until(/^retry: 3000\n\n/);
    await until(/: keep-alive\n\n/);
    const { token } = await engine.issueSession({ uid: 'hugo01', deviceFlag: 2 });
    await connect('hugo01', token);
    await until(/event: change\ndata: \{"what":"connection_opened"\}\n\n/);
    const startedMs = Date.now();
    await engine.kickUser('hugo01');
    await until(/event: change\ndata: \{"what":"kick_user"\}\n\n/);
    await until(/event: change\ndata: \{"what":"connection_ended"\}\n\n/);
    expect(Date.now() - startedMs).toBeLessThan(150);
    aborter.abort();
    expect((await call('GET', 'events?uid=hugo01', undefined, 'wrong')).status).toBe(401);
  });
});

describe('the console’s manager token', () => {
  it('locks a client out after 10 wrong tokens in a minute, as the WuKongIM routes do; others go on', async () => {
    const { createAdminApi } = await import('@evict/core');
    const engine = createEvict({ store: new MemoryStore() });
    try {
      const api = createAdminApi(engine, {
        families: ['wukongim'],
        wukongim: { managerToken: MANAGER_TOKEN },
        console: {},
      });
      const ask = (token: string, remoteAddress: string) =>
        api.handle({
          method: 'GET',
          path: '/console/api/user',
          headers: { token },
          query: new URLSearchParams({ uid: 'ivan01' }),
          readBody: () => Promise.reject(new Error('no body')),
          remoteAddress,
        });
      const statuses: number[] = [];
      for (let i = 0; i < 11; i += 1) statuses.push((await ask('wrong', '198.51.100.1'))!.status);
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses[10]).toBe(429);
      // Locked out: the right token answers the same as a wrong one.
      expect((await ask(MANAGER_TOKEN, '198.51.100.1'))!.status).toBe(429);
      expect((await ask(MANAGER_TOKEN, '198.51.100.2'))!.status).toBe(200);
    } finally {
      await engine.close();
    }
  });
});

describe('mounting the console', () => {
  it('refuses to mount without a manager token, an authorize check or the explicit opt-out', async () => {
    const { createAdminApi } = await import('@evict/core');
    const engine = createEvict({ store: new MemoryStore() });
    try {
      expect(() => createAdminApi(engine, { families: ['lancens'], console: {} })).toThrow(
        /console refuses to mount without authentication/,
      );
      const api = createAdminApi(engine, {
        families: ['lancens'],
        console: { authorize: (request) => request.headers['x-ops'] === 'yes' },
      });
      const ask = (ops: string | undefined) =>
        api.handle({
          method: 'GET',
          path: '/console/api/user',
          headers: ops === undefined ? {} : { 'x-ops': ops },
          query: new URLSearchParams({ uid: 'ivan01' }),
          readBody: () => Promise.reject(new Error('no body')),
        });
      expect((await ask(undefined))?.status).toBe(401);
      expect((await ask('yes'))?.status).toBe(200);
    } finally {
      await engine.close();
    }
  });
});
