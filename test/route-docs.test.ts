/**
 * The route table's docs (`AdminRoute.doc`) against the routes themselves, through real HTTP: every
 * documented example is answered with a documented status in that status's documented shape; a body
 * the schema refuses (a field of the wrong type, an unknown field) is refused by the family in its
 * own shape and changes nothing; the OpenAPI document made of the table is valid OpenAPI 3.1; and
 * on Fastify the same docs are the routes' schemas, which `@fastify/swagger` describes.
 */

import {
  type AdminRoute,
  createAdminApi,
  createEvict,
  type Evict,
  MemoryStore,
  openApiDocument,
  SECURITY_SCHEMES,
  signUserSig,
} from '@evict/core';
import { fastifyEvict } from '@evict/fastify';
import swagger from '@fastify/swagger';
import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from './contract/adapters.js';
import { adminOptionsFor, GUARD } from './contract/app.js';
import type { ContractApp } from './contract/apps/types.js';
import { ADMIN, MANAGER_TOKEN, SDKAPPID, SECRET_KEY } from './support/fixtures.js';
import { replayDocumentedExamples, schemaValidator } from './support/openapi-replay.js';

const validatorOf = schemaValidator;

interface Answer {
  status: number;
  body: unknown;
}

/** The family's answer to bad input, as the families document it (docs/families.md). */
function isBadInputAnswer(route: AdminRoute, answer: Answer): boolean {
  const body = answer.body as Record<string, unknown> | undefined;
  switch (route.family) {
    case 'wukongim':
      return answer.status === 400 && body?.status === 400 && typeof body.msg === 'string';
    case 'tencent':
      return answer.status === 200 && body?.ActionStatus === 'FAIL' && body.ErrorCode === 70402;
    case 'lancens':
      return answer.status === 400 && typeof body?.error === 'string';
    case 'sessions':
      return answer.status === 400 && body?.error === 'bad_request';
    case 'evict':
      return false;
  }
}

function tencentQuery(): string {
  const usersig = signUserSig({
    sdkAppId: SDKAPPID,
    secretKey: SECRET_KEY,
    identifier: ADMIN,
    expireSec: 3600,
  });
  return new URLSearchParams({
    sdkappid: String(SDKAPPID),
    identifier: ADMIN,
    usersig,
    random: '99999999',
    contenttype: 'json',
  }).toString();
}

const runOn = adapters.filter((a) => a.name === 'fastify' || a.name === 'express');

describe.each(runOn.map((adapter) => [adapter.name, adapter] as const))(
  'route docs on %s',
  (_name, adapter) => {
    let engine: Evict;
    let app: ContractApp;
    let routes: readonly AdminRoute[];
    /** A live session of the example user, `alice`, made before any call. */
    let aliceToken: string;

    beforeAll(async () => {
      engine = createEvict({ store: new MemoryStore() });
      app = await adapter.start({ engine, admin: adminOptionsFor(), guard: GUARD });
      routes = createAdminApi(engine, adminOptionsFor()).routes;
      aliceToken = (await engine.issueSession({ uid: 'alice', deviceFlag: 1 })).token;
    });
    afterAll(async () => {
      await app.close();
      await engine.close();
    });

    /** The call a route's docs describe, with the example's values, authenticated as it says. */
    async function call(route: AdminRoute, body: unknown, asUser = aliceToken): Promise<Answer> {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      let query = '';
      let path = route.path;
      if (route.family === 'wukongim') headers.token = MANAGER_TOKEN;
      if (route.family === 'lancens' || route.family === 'sessions') headers.token = asUser;
      if (route.family === 'tencent') query = `?${tencentQuery()}`;
      for (const p of route.doc.parameters ?? []) {
        if (p.in === 'query' && p.example !== undefined && route.family !== 'tencent')
          query += `${query === '' ? '?' : '&'}${p.name}=${encodeURIComponent(String(p.example))}`;
      }
      // A path parameter: an id that is well formed and names no session.
      path = path.replace(':id', 'AAAAAAAAAAAAAAAAAAAAAA');
      const response = await fetch(`${app.url}${path}${query}`, {
        method: route.method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
    }

    /** A documented status, and a body in that status's documented shape. */
    function expectDocumented(route: AdminRoute, answer: Answer): void {
      const documented = route.doc.responses[String(answer.status)];
      expect(
        documented,
        `${route.method} ${route.path} answered an undocumented ${answer.status}`,
      ).toBeDefined();
      if (documented!.schema === undefined) expect(answer.body).toBeUndefined();
      else {
        const validate = validatorOf(documented!.schema);
        expect(validate(answer.body), JSON.stringify(validate.errors)).toBe(true);
      }
    }

    it('documents every route it serves, each example valid under its own schema', () => {
      expect(routes.length).toBe(14);
      for (const route of routes) {
        expect(route.doc.summary.length, route.path).toBeGreaterThan(0);
        expect(Object.keys(route.doc.responses), route.path).toContain('200');
        if (route.doc.body !== undefined) {
          const validate = validatorOf(route.doc.body.schema);
          expect(validate(route.doc.body.example), `${route.path}: ${JSON.stringify(validate.errors)}`).toBe(
            true,
          );
        }
        for (const [status, answer] of Object.entries(route.doc.responses)) {
          if (answer.example === undefined || answer.schema === undefined) continue;
          const validate = validatorOf(answer.schema);
          expect(
            validate(answer.example),
            `${route.path} ${status}: ${JSON.stringify(validate.errors)}`,
          ).toBe(true);
        }
      }
    });

    it('answers every documented example with a documented status in its documented shape', async () => {
      const document = openApiDocument({ routes });
      const replayed = await replayDocumentedExamples(app.url, document, {
        managerToken: MANAGER_TOKEN,
        sessionToken: aliceToken,
        tencentQuery,
      });
      expect(replayed.problems).toEqual([]);
      expect(replayed.calls).toBe(routes.length);
    });

    it('refuses, in the family’s own shape and changing nothing, every body its schema refuses', async () => {
      const token = (await engine.issueSession({ uid: 'alice', deviceFlag: 0 })).token;
      let refusals = 0;
      for (const route of routes) {
        const { body } = route.doc;
        if (body === undefined) continue;
        const validate = validatorOf(body.schema);
        const example = body.example;
        const mutants: unknown[] = [];
        if (Array.isArray(example)) mutants.push([{ not: 'a uid' }], { not: 'a list' });
        else {
          const fields = example as Record<string, unknown>;
          for (const name of Object.keys(body.schema.properties as object))
            mutants.push({ ...fields, [name]: { not: 'this type' } });
          mutants.push({ ...fields, unexpected: 1 });
        }
        for (const mutant of mutants) {
          expect(validate(mutant), `${route.path} schema accepts ${JSON.stringify(mutant)}`).toBe(false);
          const answer = await call(route, mutant, token);
          expect(
            isBadInputAnswer(route, answer),
            `${route.path} ${JSON.stringify(mutant)} → ${JSON.stringify(answer)}`,
          ).toBe(true);
          expectDocumented(route, answer);
          refusals += 1;
        }
      }
      expect(refusals).toBeGreaterThan(20);
      // Nothing was kicked, quit or logged out.
      expect((await engine.check({ type: 'session', token })).ok).toBe(true);
    });
  },
);

describe('the OpenAPI document of the route table', () => {
  let engine: Evict;
  beforeAll(() => {
    engine = createEvict({ store: new MemoryStore() });
  });
  afterAll(() => engine.close());

  it('is valid OpenAPI 3.1, with every route, its body, its answers and how it authenticates', async () => {
    const api = createAdminApi(engine, adminOptionsFor());
    const document = openApiDocument(api, { prefix: '/admin', servers: [{ url: 'http://127.0.0.1:5001' }] });
    const result = await new Validator().validate(document);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.valid).toBe(true);
    const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>;
    expect(Object.values(paths).flatMap((p) => Object.keys(p)).length).toBe(api.routes.length);
    const quit = paths['/admin/user/device_quit']!.post!;
    expect(quit.security).toEqual([{ wukongimManagerToken: [] }]);
    expect(quit.requestBody).toMatchObject({
      content: { 'application/json': { schema: { required: ['uid'] }, example: { uid: 'alice' } } },
    });
    expect(paths['/admin/sessions/{id}']!.delete!.parameters).toMatchObject([{ name: 'id', in: 'path' }]);
    // Lancens' logout authenticates with the token in its body: no scheme.
    expect(paths['/admin/v1/api/user/logout']!.post!.security).toEqual([]);
    expect(Object.keys(document.components as object)).toEqual(['securitySchemes']);
    expect(Object.keys((document.components as { securitySchemes: object }).securitySchemes).sort()).toEqual([
      'lancensLoginToken',
      'sessionBearer',
      'sessionToken',
      'tencentUserSig',
      'wukongimManagerToken',
    ]);
    const operationIds = Object.values(paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    expect(new Set(operationIds).size).toBe(operationIds.length);
  });

  it('describes what the options change: compat answers, and no manager token without one', async () => {
    const open = createAdminApi(engine, {
      families: ['wukongim'],
      wukongim: { allowUnauthenticated: true, compat: true },
    });
    const document = openApiDocument(open) as {
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    const quit = document.paths['/user/device_quit']!.post!;
    expect(quit.security).toEqual([]);
    expect(Object.keys(quit.responses as object)).not.toContain('401');
    expect(quit.responses).toMatchObject({
      '200': { content: { 'application/json': { example: { status: 200 } } } },
    });
  });

  it('is served at GET /openapi.json with `openapi: true`, and below Fastify’s prefix with its paths', async () => {
    const api = createAdminApi(engine, { ...adminOptionsFor(), openapi: true });
    const answer = await api.handle({
      method: 'GET',
      path: '/openapi.json',
      headers: {},
      query: new URLSearchParams(),
      readBody: () => Promise.reject(new Error('a GET has no body')),
    });
    expect(answer?.status).toBe(200);
    const served = JSON.parse(answer!.body) as { paths: Record<string, unknown> };
    expect(served).toEqual(openApiDocument(api));
    expect(Object.keys(served.paths)).toContain('/openapi.json');

    const app = Fastify();
    try {
      await app.register(fastifyEvict, {
        engine,
        admin: { ...adminOptionsFor(), openapi: true, prefix: '/admin' },
      });
      const below = await app.inject({ method: 'GET', url: '/admin/openapi.json' });
      expect(below.statusCode).toBe(200);
      expect(Object.keys(below.json().paths)).toContain('/admin/user/device_quit');
      expect((await new Validator().validate(below.json())).valid).toBe(true);
    } finally {
      await app.close();
    }
  });
});

describe('@evict/fastify route schemas', () => {
  it('are the route table’s docs, as @fastify/swagger describes them, and leave bad input to the family', async () => {
    const engine = createEvict({ store: new MemoryStore() });
    const app = Fastify();
    try {
      // The schemes the routes name are the host's to declare, as @fastify/swagger expects.
      await app.register(swagger, {
        openapi: {
          openapi: '3.1.0',
          info: { title: 'host', version: '1.0.0' },
          components: { securitySchemes: { ...SECURITY_SCHEMES } as never },
        },
      });
      await app.register(fastifyEvict, { engine, admin: { ...adminOptionsFor(), prefix: '/admin' } });
      await app.ready();
      const described = app.swagger() as unknown as {
        paths: Record<string, Record<string, Record<string, unknown>>>;
      };
      const routes = createAdminApi(engine, adminOptionsFor()).routes;
      for (const route of routes) {
        const path = `/admin${route.path}`.replace(':id', '{id}');
        const operation = described.paths[path]?.[route.method.toLowerCase()];
        expect(operation, `${route.method} ${path}`).toBeDefined();
        expect(operation!.summary).toBe(route.doc.summary);
        expect(operation!.tags).toEqual([route.family]);
        expect(Object.keys(operation!.responses as object).sort()).toEqual(
          Object.keys(route.doc.responses).sort(),
        );
        if (route.doc.body !== undefined) {
          const schema = (
            operation!.requestBody as { content: Record<string, { schema: Record<string, unknown> }> }
          ).content['application/json']!.schema;
          if (Array.isArray(route.doc.body.example)) expect(schema.type).toBe('array');
          else
            expect(Object.keys(schema.properties as object)).toEqual(
              Object.keys(route.doc.body.schema.properties as object),
            );
        }
        // A parameter that is also the route's security scheme is described by the scheme alone.
        const schemeParameters = (route.doc.security ?? []).map((name) => SECURITY_SCHEMES[name].name);
        for (const p of route.doc.parameters ?? []) {
          if (schemeParameters.includes(p.name)) continue;
          expect(operation!.parameters, `${path} ${p.name}`).toEqual(
            expect.arrayContaining([
              expect.objectContaining({ name: p.name, in: p.in, required: p.required }),
            ]),
          );
        }
      }
      // Fastify's own validation would answer 400 in its shape; the family's shape answers instead.
      const bad = await app.inject({
        method: 'POST',
        url: '/admin/user/device_quit',
        headers: { token: MANAGER_TOKEN, 'content-type': 'application/json' },
        payload: JSON.stringify({ uid: 7 }),
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({ msg: 'uid must be a string', status: 400 });
      const tencent = await app.inject({
        method: 'POST',
        url: `/admin/v4/openim/query_online_status?${tencentQuery()}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ To_Account: [], IsNeedDetail: 3 }),
      });
      expect(tencent.json()).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 70402 });
    } finally {
      await app.close();
      await engine.close();
    }
  });
});
