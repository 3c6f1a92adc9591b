/**
 * @evict/prometheus on real parts: an engine on the memory store, the guard through real HTTP
 * (Express), two nodes for the cluster lag, the admin routes for refused authentications, and
 * `GET /metrics` served by the admin API behind its bearer token.
 */
import { createEvict, type Evict, MemoryStore } from '@evict/core';
import { evictGuard, evictRouter } from '@evict/express';
import { evictMetrics } from '@evict/prometheus';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';

const METRICS_TOKEN = 'metrics-token-0123456789';
const MANAGER_TOKEN = 'manager-token-0123456789';

const engines: Evict[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

function node(store: MemoryStore, nodeId: number) {
  const engine = createEvict({ store, nodeId });
  engines.push(engine);
  return engine;
}

/** One sample's value from the text format, by name and labels as written; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function appOf(engine: Evict, registry: Registry) {
  const app = express();
  app.use(
    evictRouter(engine, {
      families: ['wukongim'],
      wukongim: { managerToken: MANAGER_TOKEN },
      metrics: { registry, bearerToken: METRICS_TOKEN },
    }),
  );
  app.get('/me', evictGuard(engine), (req, res) => res.json(req.evict));
  return app;
}

describe('evictMetrics', () => {
  it('counts what the engine does, served at GET /metrics behind its token, with no uid, token or connection id in a label', async () => {
    const store = new MemoryStore();
    const a = node(store, 1);
    const b = node(store, 2);
    const registry = new Registry();
    const metrics = evictMetrics(a, { registry });
    const app = appOf(a, registry);

    const { token } = await a.issueSession({ uid: 'alice01', deviceFlag: 1 });
    const closedCodes: number[] = [];
    await a.registerConnection({
      uid: 'alice01',
      deviceFlag: 1,
      credential: { type: 'session', token },
      close: ({ code }) => closedCodes.push(code),
    });
    await request(app).get('/me').set('token', token).expect(200);
    await request(app).get('/me').set('token', token).expect(200);
    await request(app).get('/me').set('token', 'no-such-token').expect(401);
    await request(app).get('/me').expect(401);
    // A refused admin call, then a kick through the family: its revocation is labelled wukongim.
    await request(app).post('/user/device_quit').set('token', 'wrong').send({ uid: 'alice01' }).expect(401);
    let text = (
      await request(app).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}`).expect(200)
    ).text;
    expect(sample(text, 'evict_connections')).toBe(1);
    await request(app)
      .post('/user/device_quit')
      .set('token', MANAGER_TOKEN)
      .send({ uid: 'alice01', device_flag: -1 })
      .expect(200);
    await request(app).get('/me').set('token', token).expect(401);
    // The host's own call, and a revocation on the other node whose message this node receives.
    await a.issueSession({ uid: 'bob', deviceFlag: 0 });
    await a.kickUser('bob');
    await b.kickUser('bob');
    await expect
      .poll(async () => sample(await registry.metrics(), 'evict_cluster_message_lag_seconds_count'))
      .toBeGreaterThan(0);

    const scraped = await request(app)
      .get('/metrics')
      .set('authorization', `Bearer ${METRICS_TOKEN}`)
      .expect(200);
    expect(scraped.headers['content-type']).toBe(registry.contentType);
    text = scraped.text;
    expect(sample(text, 'evict_guard_decisions_total{result="accepted",reason="none"}')).toBe(2);
    expect(sample(text, 'evict_guard_decisions_total{result="rejected",reason="unknown"}')).toBe(2);
    expect(sample(text, 'evict_guard_decisions_total{result="rejected",reason="device_quit"}')).toBe(1);
    expect(sample(text, 'evict_revocations_total{action="quit_device",family="wukongim"}')).toBe(1);
    expect(sample(text, 'evict_revocations_total{action="kick_user",family="host"}')).toBe(1);
    expect(sample(text, 'evict_connections_closed_total{reason="device_quit"}')).toBe(1);
    expect(closedCodes).toEqual([4002]);
    expect(sample(text, 'evict_connections')).toBe(0);
    expect(sample(text, 'evict_admin_auth_failures_total{family="wukongim"}')).toBe(1);
    expect(
      sample(text, 'evict_store_operation_duration_seconds_count{operation="kick"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'evict_store_operation_duration_seconds_count{operation="putSession"}')).toBe(2);
    expect(sample(text, 'evict_cache_entries')).toBeGreaterThanOrEqual(0);
    // No label value is a uid, a token or a connection id.
    for (const secret of ['alice01', 'bob', token, 'no-such-token']) expect(text).not.toContain(secret);

    metrics.close();
    expect(await registry.metrics()).not.toContain('evict_');
  });

  it('counts store calls that fail or time out', async () => {
    const store = new MemoryStore();
    const engine = createEvict({ store, storeTimeoutMs: 50 });
    engines.push(engine);
    const registry = new Registry();
    evictMetrics(engine, { registry });
    const original = store.kick.bind(store);
    store.kick = () => new Promise(() => undefined);
    await expect(engine.kickUser('nobody-yet')).rejects.toMatchObject({ code: 'EVICT_STORE_TIMEOUT' });
    store.kick = () => Promise.reject(new Error('down'));
    await expect(engine.kickUser('nobody-yet')).rejects.toMatchObject({ code: 'EVICT_STORE_UNAVAILABLE' });
    store.kick = original;
    const text = await registry.metrics();
    expect(sample(text, 'evict_store_operation_failures_total{operation="kick",outcome="timeout"}')).toBe(1);
    expect(sample(text, 'evict_store_operation_failures_total{operation="kick",outcome="error"}')).toBe(1);
    expect(sample(text, 'evict_store_operation_duration_seconds_count{operation="kick"}')).toBe(2);
  });

  it('GET /metrics refuses a missing or wrong token, and will not mount without one unless told', async () => {
    const engine = node(new MemoryStore(), 1);
    const registry = new Registry();
    evictMetrics(engine, { registry });
    const app = appOf(engine, registry);
    const missing = await request(app).get('/metrics').expect(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.text).toBe('');
    await request(app).get('/metrics').set('authorization', 'Bearer wrong-token-0123456789').expect(401);
    expect(() => evictRouter(engine, { families: ['lancens'], metrics: { registry } })).toThrow(
      /refuses to mount without metrics.bearerToken/,
    );
    const open = express().use(
      evictRouter(engine, { families: ['lancens'], metrics: { registry, allowUnauthenticated: true } }),
    );
    await request(open).get('/metrics').expect(200);
  });

  it('costs nothing when off: the engine has no observer, and detaching leaves none', () => {
    const engine = node(new MemoryStore(), 1);
    expect(engine.observer).toBeUndefined();
    const metrics = evictMetrics(engine, { registry: new Registry() });
    expect(engine.observer?.guardDecision).toBeTypeOf('function');
    metrics.close();
    expect(engine.observer).toBeUndefined();
  });
});
