/**
 * The demos as an operator copies them, on an address other than loopback (`HOST=0.0.0.0`): each
 * of the five refuses to start with open admin routes, the published secrets or the UserSig route,
 * naming what to set; starts with those set (and serves none of it open); starts with the explicit
 * opt-in, warning. And with `EVICT_WEBHOOK_URL`, each sends its presence and revocations, signed.
 * Real demo processes (`node examples/<name>/dist/server.js`), real HTTP, a real WebSocket.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '@evict/core/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type Framework,
  requireBuilt,
  type SpawnedDemo,
  spawnDemo,
  waitFor,
} from './support/demo-process.js';

const FRAMEWORKS: Framework[] = ['express', 'koa', 'nestjs', 'fastify', 'hono'];
const BANNER: Record<Framework, string> = {
  express: 'Express',
  koa: 'Koa',
  nestjs: 'NestJS',
  fastify: 'Fastify',
  hono: 'Hono',
};

const SAFE_SETTINGS = {
  EVICT_MANAGER_TOKEN: 'a-manager-token-of-the-operator',
  TENCENT_SECRET_KEY: 'the-operators-own-tencent-key',
  EVICT_DEMO_USERSIG_ROUTE: '0',
  EVICT_METRICS_TOKEN: 'a-metrics-token-of-the-operator',
  EVICT_DEMO_JWT_SECRET: 'the-operators-own-jwt-secret-of-32-bytes',
};

const running: SpawnedDemo[] = [];
afterAll(async () => {
  await Promise.all(
    running.map(async (demo) => {
      if (demo.child.exitCode === null) demo.child.kill('SIGTERM');
      await demo.exited;
    }),
  );
});

beforeAll(() => requireBuilt(...FRAMEWORKS));

/** Spawns a demo that must listen (its exit fails the test with its stderr). */
async function startListening(framework: Framework, env: Record<string, string>): Promise<SpawnedDemo> {
  const demo = await spawnDemo(framework, env);
  running.push(demo);
  if (demo.port === 0) throw new Error(`exited: ${demo.stderr()}`);
  expect(demo.lines.some((line) => line.startsWith(`evict ${BANNER[framework]} demo on `))).toBe(true);
  return demo;
}

const get = (demo: SpawnedDemo, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${demo.port}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });

describe.concurrent.each(FRAMEWORKS)('the %s demo off loopback', (framework) => {
  it('refuses to start with open admin routes, the published secrets or the UserSig route, saying what to set', async () => {
    const demo = await spawnDemo(framework, { HOST: '0.0.0.0' });
    running.push(demo);
    expect(await demo.exited).toBe(1);
    const said = demo.stderr();
    expect(said).toContain(`evict ${BANNER[framework]} demo: refusing to listen on 0.0.0.0`);
    expect(said).toContain('set EVICT_MANAGER_TOKEN');
    expect(said).toContain('set TENCENT_SECRET_KEY');
    expect(said).toContain('set EVICT_DEMO_USERSIG_ROUTE=0');
    expect(said).toContain('set EVICT_METRICS_TOKEN');
    expect(said).toContain('EVICT_DEMO_UNSAFE_OFF_LOOPBACK=1');
    // Only the Express demo signs JWTs with a secret of its own.
    expect(said.includes('set EVICT_DEMO_JWT_SECRET')).toBe(framework === 'express');
    expect(demo.lines.some((line) => line.includes(' demo on '))).toBe(false);

    // One setting short is still a refusal, naming only what is left.
    const almost = await spawnDemo(framework, {
      ...SAFE_SETTINGS,
      HOST: '0.0.0.0',
      EVICT_DEMO_USERSIG_ROUTE: '1',
    });
    running.push(almost);
    expect(await almost.exited).toBe(1);
    expect(almost.stderr()).toContain('set EVICT_DEMO_USERSIG_ROUTE=0');
    expect(almost.stderr()).not.toContain('set EVICT_MANAGER_TOKEN');
  });

  it('starts with the settings, and serves nothing open', async () => {
    const demo = await startListening(framework, { ...SAFE_SETTINGS, HOST: '0.0.0.0' });
    expect((await get(demo, '/demo/usersig?identifier=admin')).status).toBe(404);
    const quit = (headers: Record<string, string>) =>
      get(demo, '/user/device_quit', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ uid: 'user123', device_flag: 1 }),
      });
    expect((await quit({})).status).toBe(401);
    expect((await quit({ token: SAFE_SETTINGS.EVICT_MANAGER_TOKEN })).status).toBe(200);
    expect((await get(demo, '/metrics')).status).toBe(401);
    expect(
      (
        await get(demo, '/metrics', {
          headers: { authorization: `Bearer ${SAFE_SETTINGS.EVICT_METRICS_TOKEN}` },
        })
      ).status,
    ).toBe(200);
    expect((await get(demo, '/console/api/user?uid=user123')).status).toBe(401);
  });

  it(`starts with the explicit opt-in, warning about what is open`, async () => {
    const demo = await startListening(framework, { HOST: '0.0.0.0', EVICT_DEMO_UNSAFE_OFF_LOOPBACK: '1' });
    const out = demo.lines.join('\n');
    expect(out).toContain('WARNING: listening on 0.0.0.0 with EVICT_DEMO_UNSAFE_OFF_LOOPBACK=1');
    expect(out).toContain('set EVICT_MANAGER_TOKEN');
    expect((await get(demo, '/demo/usersig?identifier=admin')).status).toBe(200);
  });
});

describe.concurrent.each(FRAMEWORKS)('the %s demo with EVICT_WEBHOOK_URL', (framework) => {
  it('POSTs presence and the kick, signed, in the format asked for', async () => {
    const received: { request: IncomingMessage; rawBody: string }[] = [];
    const receiver = createServer((request, response) => {
      let rawBody = '';
      request.setEncoding('utf8').on('data', (chunk: string) => {
        rawBody += chunk;
      });
      request.on('end', () => {
        received.push({ request, rawBody });
        response.end('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const port = (receiver.address() as AddressInfo).port;
      const secret = 'a-webhook-secret';
      const demo = await startListening(framework, {
        EVICT_WEBHOOK_URL: `http://127.0.0.1:${port}/im/callback`,
        EVICT_WEBHOOK_FORMAT: 'tencent',
        EVICT_WEBHOOK_SECRET: secret,
        DEMO_SEED: '0',
      });
      expect(demo.lines.join('\n')).toContain(
        `Webhooks: tencent format, signed, to http://127.0.0.1:${port}/im/callback`,
      );
      const login = await get(demo, '/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uid: 'hooked', device_flag: 1 }),
      });
      const { token } = (await login.json()) as { token: string };
      const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws?token=${token}`);
      await new Promise((resolve) => ws.once('message', resolve));
      const closed = new Promise((resolve) => ws.once('close', resolve));
      const kick = await get(demo, '/user/device_quit', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uid: 'hooked', device_flag: 1 }),
      });
      expect(kick.status).toBe(200);
      await closed;
      await waitFor('two callbacks', () => received.length === 2);
      const seen = received.map(({ request, rawBody }) => {
        expect(verifyWebhook({ secret, headers: request.headers, rawBody }).ok).toBe(true);
        const url = new URL(request.url ?? '/', 'http://receiver');
        return [
          url.searchParams.get('CallbackCommand'),
          url.searchParams.get('SdkAppid'),
          JSON.parse(rawBody).Info,
        ];
      });
      expect(seen).toEqual([
        ['State.StateChange', '1400000001', { Action: 'Login', To_Account: 'hooked', Reason: 'Register' }],
        ['State.StateChange', '1400000001', { Action: 'Logout', To_Account: 'hooked', Reason: 'Unregister' }],
      ]);
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it('answers a kick at once, and closes the socket, while the receiver stalls', async () => {
    let held = 0;
    // Reads each request and never answers it.
    const receiver = createServer((request) => {
      request.resume();
      held += 1;
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const port = (receiver.address() as AddressInfo).port;
      const demo = await startListening(framework, {
        EVICT_WEBHOOK_URL: `http://127.0.0.1:${port}/stalls`,
        EVICT_WEBHOOK_SECRET: 'a-webhook-secret',
        DEMO_SEED: '0',
      });
      const login = await get(demo, '/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uid: 'stalled', device_flag: 1 }),
      });
      const { token } = (await login.json()) as { token: string };
      const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws?token=${token}`);
      await new Promise((resolve) => ws.once('message', resolve));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      await waitFor('the receiver to hold the first delivery', () => held === 1);
      const startedMs = performance.now();
      const kick = await get(demo, '/user/device_quit', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uid: 'stalled', device_flag: 1 }),
      });
      expect(kick.status).toBe(200);
      expect(await closed).toBe(4002);
      // The sender's request timeout is 5 s: the kick did not wait for it.
      expect(performance.now() - startedMs).toBeLessThan(2_000);
      expect(held).toBe(1);
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
