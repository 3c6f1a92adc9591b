/**
 * What `evictGuard` does as Express middleware. Its answers (every accept and reject reason, the
 * UserSig shape, 503 when the store fails) and `checkUpgrade` on real sockets are in the HTTP
 * contract suite (test/contract), run on every adapter.
 */
import type { IssuedSession } from '@evict/core';
import { evictGuard } from '@evict/express';
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeHarnesses, type Harness, harness } from './helpers.js';

let h: Harness;
let alice: IssuedSession;

beforeEach(async () => {
  h = harness();
  alice = await h.engine.issueSession({ uid: 'alice01', deviceFlag: 1 });
  h.clock.advance(1000);
});

afterEach(closeHarnesses);

describe('evictGuard in Express', () => {
  it('sets req.evict on an accepted request and calls the next handler', async () => {
    const app = express();
    app.get('/me', evictGuard(h.engine), (req, res) => {
      res.json({ principal: req.evict });
    });
    await request(app)
      .get('/me')
      .set('token', alice.token)
      .expect(200, { principal: { uid: 'alice01', deviceFlag: 1, credential: 'session' } });
  });

  it('req.evict is per request, undefined on routes without the guard, and writable by the host', async () => {
    const app = express();
    app.get('/me', evictGuard(h.engine), (req, res) => {
      res.json({ uid: req.evict?.uid, own: Object.hasOwn(req, 'evict') });
    });
    app.get('/open', (req, res) => {
      res.json({ evict: req.evict ?? null });
    });
    app.get(
      '/mine',
      (req, _res, next) => {
        req.evict = { uid: 'set-by-host', credential: 'session' };
        next();
      },
      (req, res) => {
        res.json({ uid: req.evict?.uid });
      },
    );
    const bob = await h.engine.issueSession({ uid: 'bob', deviceFlag: 2 });
    await request(app).get('/me').set('token', alice.token).expect(200, { uid: 'alice01', own: false });
    await request(app).get('/me').set('token', bob.token).expect(200, { uid: 'bob', own: false });
    await request(app).get('/open').expect(200, { evict: null });
    await request(app).get('/mine').expect(200, { uid: 'set-by-host' });
    // A second app (its own request prototype) gets the accessor too.
    const other = express();
    other.get('/me', evictGuard(h.engine), (req, res) => res.json({ uid: req.evict?.uid }));
    await request(other).get('/me').set('token', bob.token).expect(200, { uid: 'bob' });
  });

  it('the route handler never runs for a rejected request', async () => {
    let ran = false;
    const app = express();
    app.post('/write', evictGuard(h.engine), (_req, res) => {
      ran = true;
      res.json({});
    });
    await request(app).post('/write').set('token', 'nope').expect(401);
    expect(ran).toBe(false);
  });

  it("a credential source that throws goes to Express's error handler, not to the route", async () => {
    let ran = false;
    const app = express();
    const broken = () => {
      throw new Error('the JWT library blew up');
    };
    app.get('/me', evictGuard(h.engine, { credentials: [broken] }), (_req, res) => {
      ran = true;
      res.json({});
    });
    const onError: ErrorRequestHandler = (error, _req, res, _next) => {
      res.status(500).json({ host: (error as Error).message });
    };
    app.use(onError);
    await request(app).get('/me').expect(500, { host: 'the JWT library blew up' });
    expect(ran).toBe(false);
  });
});
