import { Readable } from 'node:stream';
import {
  type AdminApiOptions,
  type AdminRoute,
  createAdminApi,
  createGuard,
  type Evict,
  type EvictResponse,
  type Guard,
  type GuardOptions,
  type GuardResult,
  isThenable,
  type Principal,
} from '@evict/core';
import {
  createUpgradeCheck,
  fromNodeRequest,
  guardRequestOf,
  mountPathOf,
  pathBelowMount,
} from '@evict/core/node';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  HookHandlerDoneFunction,
  onRequestHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the caller is, once evict's guard accepted the request; `null` on a route it does not guard. */
    evict: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * evict's guard on this route: `true` with the plugin's guard options, an object with these,
     * `false` to leave it out of a guard the plugin puts on every route.
     */
    evict?: boolean | GuardOptions;
  }
}

export interface FastifyEvictOptions {
  engine: Evict;
  /**
   * The admin endpoints of the chosen families (and the self-service routes with `sessions: true`),
   * registered as Fastify routes in a scope of their own, below `prefix` if given. Absent: none.
   */
  admin?: AdminApiOptions & {
    /** Register the routes below this path (e.g. `/admin`). Surrounding slashes do not matter. */
    prefix?: string;
  };
  /**
   * The guard: `true` (or guard options) puts it on every route of the app but the admin routes and
   * those whose config says `evict: false`; absent or `false`, only routes whose config says
   * `evict: true` (or gives guard options) have it. Either way it runs in `onRequest`, before the
   * body is read.
   */
  guard?: boolean | GuardOptions;
}

/**
 * evict in a Fastify app: `await app.register(fastifyEvict, { engine, admin, guard })`. Decorates
 * every request with `evict` (`null` until the guard accepts it), adds the guard as an `onRequest`
 * hook (on every route, or on those whose route config asks for it), and registers the admin routes.
 * Register it before the routes it should guard: it learns of them as they are added.
 */
export const fastifyEvict = fp(plugin as FastifyPluginAsync<FastifyEvictOptions>, {
  fastify: '5.x',
  name: '@evict/fastify',
});
export default fastifyEvict;

async function plugin(fastify: FastifyInstance, options: FastifyEvictOptions): Promise<void> {
  const { engine, admin, guard: everywhere = false } = options;
  fastify.decorateRequest('evict', null);
  const baseOptions = typeof everywhere === 'object' ? everywhere : {};
  const base = createGuard(engine, baseOptions);
  fastify.addHook('onRoute', (route) => {
    const asked = route.config?.evict;
    if (asked === false || (asked === undefined && everywhere === false)) return;
    const check = typeof asked === 'object' ? guardHook(createGuard(engine, asked)) : guardHook(base);
    route.onRequest = [check, ...hooksOf(route.onRequest)];
  });
  if (admin !== undefined) await fastify.register(adminRoutes(engine, admin));
}

/** A route's hooks as a list (Fastify takes one or many). */
function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}

/**
 * The admin routes, in a scope of their own (not wrapped: its content-type parsers stay in it).
 * Each family answers a malformed body in its own shape, so nothing parses bodies here: a
 * catch-all parser leaves the stream to core, which reads and checks it as it does everywhere.
 */
function adminRoutes(engine: Evict, options: NonNullable<FastifyEvictOptions['admin']>) {
  const { prefix, ...adminOptions } = options;
  const mount = mountPathOf(prefix);
  const { openapi } = adminOptions;
  // The plugin knows the prefix: the document's paths get it unless the host said otherwise.
  if (openapi !== undefined && openapi !== false && mount !== '')
    adminOptions.openapi = { prefix: mount, ...(openapi === true ? {} : openapi) };
  const api = createAdminApi(engine, adminOptions);
  return async (scope: FastifyInstance) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    // The schemas describe; core validates, in each family's shape. Answers go out as core wrote them.
    scope.setValidatorCompiler(() => () => true);
    scope.setSerializerCompiler(() => (data) => JSON.stringify(data));
    for (const route of api.routes) {
      scope.route({
        method: route.method as 'GET',
        url: `${mount}${route.path}`,
        // The admin routes have their own authentication: never the user's guard.
        config: { evict: false },
        schema: schemaOf(route),
        handler: async (request, reply) => {
          const path = pathBelowMount(mount, pathOf(request.url));
          const answer =
            path === undefined ? undefined : await api.handle(fromNodeRequest(request.raw, path));
          // A HEAD Fastify added for a GET route: not evict's.
          if (answer === undefined) return reply.callNotFound();
          return writeAnswer(reply, answer);
        },
      });
    }
  };
}

/**
 * The route's schemas, from core's route table: what `@fastify/swagger` (and anything else reading
 * Fastify's schemas) describes. They document; the scope compiles them into no-op validators, since
 * each family judges its own requests and answers bad input in its own shape, not Fastify's.
 */
function schemaOf(route: AdminRoute): FastifySchema {
  const { doc } = route;
  const parameters = (where: 'query' | 'path' | 'header') => {
    const list = (doc.parameters ?? []).filter((p) => p.in === where);
    if (list.length === 0) return undefined;
    return {
      type: 'object',
      properties: Object.fromEntries(list.map((p) => [p.name, { ...p.schema, description: p.description }])),
      required: list.filter((p) => p.required).map((p) => p.name),
    };
  };
  const schema: Record<string, unknown> = {
    tags: [route.family],
    summary: doc.summary,
    description: doc.description,
    security: (doc.security ?? []).map((name) => ({ [name]: [] })),
    response: Object.fromEntries(
      Object.entries(doc.responses).map(([status, answer]) => [
        status,
        // An answer without a body is `null` to @fastify/swagger.
        { description: answer.description, ...(answer.schema ?? { type: 'null' }) },
      ]),
    ),
  };
  const querystring = parameters('query');
  const params = parameters('path');
  const headers = parameters('header');
  if (querystring !== undefined) schema.querystring = querystring;
  if (params !== undefined) schema.params = params;
  if (headers !== undefined) schema.headers = headers;
  if (doc.body !== undefined) schema.body = doc.body.schema;
  return schema as FastifySchema;
}

const pathOf = (url: string) => {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
};

/**
 * evict's guard as a Fastify hook for one route, with its own options:
 * `app.get('/me', { onRequest: evictGuard(engine) }, handler)` (or `preHandler`). Rejects revoked,
 * expired and unknown credentials in the guard's shape, and sets `request.evict` on the others.
 */
export function evictGuard(engine: Evict, options: GuardOptions = {}): onRequestHookHandler {
  return guardHook(createGuard(engine, options));
}

function guardHook(guard: Guard): onRequestHookHandler {
  // Callback style: a warm check answers synchronously and the request goes on in this same tick.
  return function evictGuardHook(request, reply, done) {
    let settled: ReturnType<Guard['checkNow']>;
    try {
      settled = guard.checkNow(guardRequestOf(request.raw));
    } catch (error) {
      done(error as Error);
      return;
    }
    if (isThenable(settled)) settled.then((result) => admit(request, reply, result, done), done);
    else admit(request, reply, settled, done);
  };
}

function admit(
  request: FastifyRequest,
  reply: FastifyReply,
  result: GuardResult,
  done: HookHandlerDoneFunction,
): void {
  if (!result.ok) {
    // Answered here: the request goes no further (a hook that replies does not call `done`).
    writeAnswer(reply, result.response);
    return;
  }
  request.evict = result.principal;
  done();
}

/** The same check as a plain function for WebSocket upgrades (reads `?token=` too). */
export const checkUpgrade = createUpgradeCheck;

export type { AdminApiOptions, GuardOptions, Principal } from '@evict/core';

/** Writes core's answer as it is: its status, its headers (its content type among them) and its text. */
function writeAnswer(reply: FastifyReply, answer: EvictResponse): FastifyReply {
  if (answer.stream !== undefined) {
    // Fastify ends a reply with one payload; a stream it pipes, and destroys when the client leaves.
    const { body, stream } = answer;
    return reply
      .code(answer.status)
      .headers(answer.headers)
      .send(
        Readable.from(
          (async function* () {
            if (body !== '') yield body;
            yield* stream;
          })(),
        ),
      );
  }
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}
