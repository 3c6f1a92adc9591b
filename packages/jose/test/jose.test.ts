import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvict, type Evict, MemoryStore } from '@evict/core';
import { evictGuard } from '@evict/express';
import { jwtSource } from '@evict/jose';
import express from 'express';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

// JWTs of three kinds of key through a real Express app: an HS256 secret given as bytes, and RS256,
// ES256 and EdDSA keys from a JWK Set served here over HTTP (jose fetches it as from an identity
// provider). Before and after a kick, a device quit, and a key rotation.

const SECRET = new TextEncoder().encode('a-secret-of-at-least-thirty-two-bytes!!');
const nowSec = () => Math.floor(Date.now() / 1000);

type Signer = { alg: string; kid?: string; key: Parameters<SignJWT['sign']>[0] };
let jwks: { keys: JWK[] } = { keys: [] };
let jwksServer: Server;
let jwksUrl: URL;
const asymmetric: Record<'RS256' | 'ES256' | 'EdDSA', Signer> = {} as never;

beforeAll(async () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    asymmetric[alg] = { alg, kid: `${alg}-1`, key: pair.privateKey };
    jwks.keys.push({ ...(await exportJWK(pair.publicKey)), kid: `${alg}-1`, alg });
  }
  jwksServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = new URL(`http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`);
});

afterAll(async () => {
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
});

let store: MemoryStore;
let engine: Evict;

beforeEach(() => {
  store = new MemoryStore();
  // The users of a JWT-only app live in the identity provider, not in evict's store: the host says who exists.
  engine = createEvict({ store, userExists: () => true });
});

afterEach(async () => {
  await engine.close();
  await store.close();
});

async function sign(
  signer: Signer,
  claims: { sub?: string; iat?: number; device_flag?: number; expSec?: number },
) {
  const jwt = new SignJWT({
    ...(claims.device_flag === undefined ? {} : { device_flag: claims.device_flag }),
  })
    .setProtectedHeader({ alg: signer.alg, ...(signer.kid === undefined ? {} : { kid: signer.kid }) })
    .setExpirationTime(claims.expSec ?? nowSec() + 3600);
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  return jwt.sign(signer.key);
}

/** An Express app whose `/me` takes JWTs verified with `key`, then session tokens. */
function appWith(key: Parameters<typeof jwtSource>[0]) {
  const app = express();
  app.get('/me', evictGuard(engine, { credentials: [jwtSource(key), 'session'] }), (req, res) => {
    res.json(req.evict);
  });
  return app;
}

const me = (app: express.Express, jwt: string) =>
  request(app).get('/me').set('authorization', `Bearer ${jwt}`);

const KINDS = [
  { name: 'HS256, a secret', signer: (): Signer => ({ alg: 'HS256', key: SECRET }), key: () => SECRET },
  { name: 'RS256 from a JWK Set', signer: () => asymmetric.RS256, key: () => jwksUrl },
  { name: 'ES256 from a JWK Set', signer: () => asymmetric.ES256, key: () => jwksUrl },
  { name: 'EdDSA from a JWK Set', signer: () => asymmetric.EdDSA, key: () => jwksUrl },
];

describe.each(KINDS)('a JWT signed with $name', ({ signer, key }) => {
  it('is accepted until its user is kicked, and one issued after the kick is accepted again', async () => {
    const app = appWith({ key: key(), deviceClaim: 'device_flag' });
    const before = await sign(signer(), { sub: 'alice01', iat: nowSec() - 10, device_flag: 1 });
    await me(app, before).expect(200, { uid: 'alice01', deviceFlag: 1, credential: 'jwt' });
    const { atMs } = await engine.kickUser('alice01');
    await me(app, before)
      .expect(401)
      .expect((res) => expect(res.body).toMatchObject({ error: 'unauthorized', reason: 'kicked' }));
    // Issued in the kick's own second: rejected too (iat has second resolution).
    await me(
      app,
      await sign(signer(), { sub: 'alice01', iat: Math.floor(atMs / 1000), device_flag: 1 }),
    ).expect(401);
    const after = await sign(signer(), { sub: 'alice01', iat: Math.floor(atMs / 1000) + 1, device_flag: 1 });
    await me(app, after).expect(200);
  });

  it("a device quit rejects that device's JWTs and leaves the others", async () => {
    const app = appWith({ key: key(), deviceClaim: 'device_flag' });
    const iat = nowSec() - 10;
    const web = await sign(signer(), { sub: 'alice01', iat, device_flag: 1 });
    const app0 = await sign(signer(), { sub: 'alice01', iat, device_flag: 0 });
    await engine.registerSession({
      token: 'alice-web-session',
      uid: 'alice01',
      deviceFlag: 1,
      expiresAtMs: Date.now() + 60_000,
    });
    await engine.quitDevice('alice01', 1);
    await me(app, web)
      .expect(401)
      .expect((res) => expect(res.body.reason).toBe('device_quit'));
    await me(app, app0).expect(200);
  });
});

describe('jwtSource', () => {
  it('follows a key rotation of the JWK Set: a new key works at once, a key withdrawn stops once jose fetches the set again', async () => {
    const app = appWith({ key: jwksUrl, jwksCacheMaxAgeMs: 100, jwksCooldownMs: 0, verifiedCacheTtlMs: 100 });
    const old = await sign(asymmetric.ES256, { sub: 'bob', iat: nowSec() - 5 });
    await me(app, old).expect(200);
    const pair = await generateKeyPair('ES256', { extractable: true });
    const rotated: Signer = { alg: 'ES256', kid: 'ES256-2', key: pair.privateKey };
    const saved = jwks;
    jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'ES256-2', alg: 'ES256' }] };
    try {
      // An unknown kid makes jose fetch the set again.
      await me(app, await sign(rotated, { sub: 'bob', iat: nowSec() - 1 })).expect(200);
      await new Promise((resolve) => setTimeout(resolve, 150));
      await me(app, old)
        .expect(401)
        .expect((res) => expect(res.body.reason).toBe('unknown'));
    } finally {
      jwks = saved;
    }
  });

  it('refuses a bad signature, an expired JWT, one without sub or iat, and an algorithm not allowed', async () => {
    const app = appWith({ key: SECRET, algorithms: ['HS256'] });
    const hs = { alg: 'HS256', key: SECRET };
    const forged = await sign(
      { alg: 'HS256', key: new TextEncoder().encode('another-secret-of-thirty-two-bytes!!') },
      { sub: 'a', iat: nowSec() },
    );
    const reasons = async (jwt: string) => (await me(app, jwt).expect(401)).body;
    expect(await reasons(forged)).toMatchObject({ reason: 'unknown' });
    expect(
      await reasons(await sign(hs, { sub: 'a', iat: nowSec() - 100, expSec: nowSec() - 10 })),
    ).toMatchObject({ reason: 'expired' });
    expect(await reasons(await sign(hs, { sub: 'a' }))).toMatchObject({
      reason: 'unknown',
      message: expect.stringContaining('iat'),
    });
    expect(await reasons(await sign(hs, { iat: nowSec() }))).toMatchObject({
      reason: 'unknown',
      message: expect.stringContaining('sub'),
    });
    const hs384 = await sign({ alg: 'HS384', key: SECRET }, { sub: 'a', iat: nowSec() });
    expect(await reasons(hs384)).toMatchObject({ reason: 'unknown' });
  });

  it('leaves a Bearer value that is not a JWT to the next source: session tokens and JWTs mix', async () => {
    const app = appWith({ key: SECRET });
    const { token } = await engine.issueSession({ uid: 'carol', deviceFlag: 0 });
    await me(app, token).expect(200, { uid: 'carol', deviceFlag: 0, credential: 'session' });
    await me(app, await sign({ alg: 'HS256', key: SECRET }, { sub: 'carol', iat: nowSec() })).expect(200, {
      uid: 'carol',
      credential: 'jwt',
    });
  });

  it('remembers a verified JWT (no second signature check), and a kick still rejects it at once', async () => {
    let verifications = 0;
    // A key function of jose's: called once per signature check.
    const counting = async () => {
      verifications += 1;
      return SECRET;
    };
    const app = appWith({ key: counting as never, algorithms: ['HS256'] });
    const jwt = await sign({ alg: 'HS256', key: SECRET }, { sub: 'erin', iat: nowSec() - 5 });
    for (let i = 0; i < 5; i += 1) await me(app, jwt).expect(200);
    expect(verifications).toBe(1);
    await engine.kickUser('erin');
    await me(app, jwt)
      .expect(401)
      .expect((res) => expect(res.body.reason).toBe('kicked'));
  });

  it('takes no store trip per request once the user is cached', async () => {
    const app = appWith({ key: SECRET });
    const jwt = await sign({ alg: 'HS256', key: SECRET }, { sub: 'dave', iat: nowSec() });
    await me(app, jwt).expect(200);
    let reads = 0;
    const getUser = store.getUser.bind(store);
    store.getUser = (uid) => {
      reads += 1;
      return getUser(uid);
    };
    for (let i = 0; i < 20; i += 1) await me(app, jwt).expect(200);
    expect(reads).toBe(0);
  });
});
