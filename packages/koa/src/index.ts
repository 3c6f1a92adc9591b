import {
  type AdminApiOptions,
  createAdminApi,
  createGuard,
  type Evict,
  type EvictResponse,
  type GuardOptions,
  type GuardResult,
  mapMaybePromise,
  type Principal,
} from '@evict/core';
import {
  createUpgradeCheck,
  fromNodeRequest,
  guardRequestOf,
  mountPathOf,
  pathBelowMount,
  writeNodeResponse,
} from '@evict/core/node';
import type { Middleware, Next, ParameterizedContext } from 'koa';

declare module 'koa' {
  interface DefaultState {
    /** Set by `evictGuard` on an accepted request: who the caller is. */
    evict?: Principal;
  }
}

export interface EvictRoutesOptions extends AdminApiOptions {
  /** Serve the routes below this path (e.g. `/admin`) as the request has it (`ctx.path`); others pass on. Surrounding slashes do not matter. */
  prefix?: string;
}

/**
 * The admin endpoints of the chosen families as one Koa middleware: `app.use(evictRoutes(...))`, or
 * under a path with `prefix: '/admin'`. Requests for other paths go on to `next()`. Works with or
 * without a body parser before it (mount it first to answer every malformed body in the family's shape).
 *
 * Under an @koa/router router, mount it as a route with a wildcard: the router runs `router.use`
 * middleware only for requests that match one of its routes, so `router.use(evictRoutes(...))` alone
 * never runs. `prefix` is then the whole path, the router's own prefix included:
 *
 *     router.all('/admin/*rest', evictRoutes(engine, { ...options, prefix: '/admin' }));
 */
export function evictRoutes(engine: Evict, options: EvictRoutesOptions = {}): Middleware {
  const { prefix, ...admin } = options;
  const mount = mountPathOf(prefix);
  const api = createAdminApi(engine, admin);
  return async (ctx, next) => {
    const path = pathBelowMount(mount, ctx.path);
    const answer =
      path === undefined ? undefined : await api.handle(fromNodeRequest(ctx.req, path, bodyReadBefore(ctx)));
    if (answer === undefined) return next();
    writeAnswer(ctx, answer);
  };
}

/** Rejects requests whose credential is revoked, expired or unknown; sets `ctx.state.evict` on the others. */
export function evictGuard(engine: Evict, options: GuardOptions = {}): Middleware {
  const guard = createGuard(engine, options);
  // Not an async function: a warm check answers synchronously and the next middleware runs in this
  // same tick. Koa's compose turns a synchronous throw into a rejection.
  return (ctx, next) =>
    mapMaybePromise(guard.checkNow(guardRequestOf(ctx.req)), (settled) => admit(ctx, next, settled));
}

function admit(ctx: ParameterizedContext, next: Next, result: GuardResult): Promise<void> | undefined {
  if (!result.ok) {
    writeAnswer(ctx, result.response);
    return undefined;
  }
  ctx.state.evict = result.principal;
  return next();
}

/** The same check as a plain function for WebSocket upgrades (reads `?token=` too). */
export const checkUpgrade = createUpgradeCheck;

export type { AdminApiOptions, GuardOptions, Principal } from '@evict/core';

/**
 * The body a body parser already read, if one did. @koa/bodyparser and koa-bodyparser keep the raw
 * text, which core parses exactly as it would the stream; a parser that skipped the content type
 * leaves `{}` on an unread stream, which core then reads itself.
 */
function bodyReadBefore(ctx: ParameterizedContext): { value: unknown } | undefined {
  const request = ctx.request as { body?: unknown; rawBody?: unknown };
  if (typeof request.rawBody === 'string') return { value: request.rawBody };
  if (request.body !== undefined && ctx.req.readableEnded) return { value: request.body };
  return undefined;
}

/** Writes core's answer as it is. A string body keeps the status even when empty (a null one is 204). */
function writeAnswer(ctx: ParameterizedContext, answer: EvictResponse): void {
  if (answer.stream !== undefined) {
    // Written straight to Node's response: Koa would report every client that leaves a stream as an
    // app error ("Premature close").
    ctx.respond = false;
    writeNodeResponse(ctx.res, answer);
    return;
  }
  ctx.status = answer.status;
  ctx.body = answer.body;
  ctx.remove('Content-Type'); // Koa's guess from the string: core's headers say what it is
  ctx.set(answer.headers);
}
