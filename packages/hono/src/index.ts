import type { IncomingMessage } from 'node:http';
import {
  createGuard,
  type Evict,
  type GuardOptions,
  type GuardRequest,
  type GuardResult,
  isThenable,
  type Principal,
} from '@evict/core';
import {
  createFetchHandler,
  type FetchHandlerOptions,
  type FetchRequestInfo,
  guardRequestOfFetch,
  toFetchResponse,
} from '@evict/core/fetch';
import type { Context, MiddlewareHandler, Next } from 'hono';

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by `evictGuard` on an accepted request: who the caller is (`c.get('evict')`). */
    evict: Principal;
  }
}

export interface EvictRoutesOptions extends FetchHandlerOptions {
  /**
   * The client's address, for the families' per-client limits of failed authentications. Default:
   * the socket's on `@hono/node-server` (`c.env.incoming`), else none; on Bun, Deno or Workers pass
   * the runtime's (`getConnInfo(c).remote.address` from `hono/bun`, `hono/deno`, …).
   */
  remoteAddress?: (c: Context) => string | undefined;
}

/**
 * The admin endpoints of the chosen families as one Hono middleware: `app.use(evictRoutes(...))`,
 * or below a path with `prefix: '/admin'`. A request for any other route goes on to `next()`; the
 * body is read only for evict's own routes, so mount it before anything that reads bodies.
 */
export function evictRoutes(engine: Evict, options: EvictRoutesOptions = {}): MiddlewareHandler {
  const { remoteAddress = nodeServerAddress, ...handlerOptions } = options;
  const handle = createFetchHandler(engine, handlerOptions);
  return async (c, next) => {
    const address = remoteAddress(c);
    const info: FetchRequestInfo = address === undefined ? {} : { remoteAddress: address };
    const answer = await handle(c.req.raw, info);
    if (answer === undefined) return next();
    return answer;
  };
}

/**
 * Rejects requests whose credential is revoked, expired or unknown, in the guard's shape; sets
 * `c.get('evict')` on the others: `app.get('/me', evictGuard(engine), (c) => c.json(c.get('evict')))`.
 */
export function evictGuard(engine: Evict, options: GuardOptions = {}): MiddlewareHandler {
  const guard = createGuard(engine, options);
  return (c, next) => {
    // On @hono/node-server the Node request is at hand: reading its headers spares building the
    // `Request`'s `Headers` on every request.
    const incoming = nodeRequestOf(c);
    const request = incoming === undefined ? guardRequestOfFetch(c.req.raw) : guardRequestOfNode(incoming);
    const settled = guard.checkNow(request);
    return isThenable(settled)
      ? Promise.resolve(settled).then((result) => admit(c, next, result))
      : admit(c, next, settled);
  };
}

// Not an async function: an accepted request goes on to `next()` with no promise of its own.
function admit(c: Context, next: Next, result: GuardResult): ReturnType<MiddlewareHandler> {
  if (!result.ok) return Promise.resolve(toFetchResponse(result.response));
  c.set('evict', result.principal);
  return next();
}

/** The Node request of a request that came through `@hono/node-server` (its `incoming`). */
function nodeRequestOf(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  // `rawHeaders`, not `headers`: reading `headers` would build them.
  return incoming !== undefined && Array.isArray(incoming.rawHeaders) ? incoming : undefined;
}

/**
 * What the guard reads of a Node request: one header at a time from `rawHeaders`, and `headers` and
 * the query only if a source asks. Node builds `incoming.headers` on first read, and
 * `@hono/node-server` never reads it: building it for the one or two headers the guard reads made
 * objects and strings on every request, and the young generation's collections with them. Here
 * rather than in `@evict/core/node`, whose Node imports a Worker would not have.
 */
function guardRequestOfNode(incoming: IncomingMessage): GuardRequest {
  return new NodeGuardRequest(incoming);
}

/** A class, not an object literal of getters: no closures made per request. */
class NodeGuardRequest implements GuardRequest {
  readonly #incoming: IncomingMessage;
  #query: URLSearchParams | undefined;

  constructor(incoming: IncomingMessage) {
    this.#incoming = incoming;
  }

  get headers() {
    return this.#incoming.headers;
  }

  get query(): URLSearchParams {
    this.#query ??= new URL(this.#incoming.url ?? '/', 'http://localhost').searchParams;
    return this.#query;
  }

  header(name: string): string | undefined {
    return rawHeader(this.#incoming.rawHeaders, name);
  }
}

/**
 * Headers whose repeats Node drops, keeping the first (`IncomingMessage#headers`' rule); the others
 * it joins with `, ` (`cookie` with `; `), as this does.
 */
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** A header's value from a Node request's `rawHeaders` (name, value, name, value…), as `headers` would give it. */
function rawHeader(raw: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const candidate = raw[i]!;
    if (candidate.length !== name.length || candidate.toLowerCase() !== name) continue;
    if (value === undefined) {
      value = raw[i + 1]!;
      if (FIRST_WINS.has(name)) return value;
    } else value += `${name === 'cookie' ? '; ' : ', '}${raw[i + 1]!}`;
  }
  return value;
}

/** The socket's address of a request that came through `@hono/node-server`. */
function nodeServerAddress(c: Context): string | undefined {
  return nodeRequestOf(c)?.socket?.remoteAddress;
}

export type { AdminApiOptions, GuardOptions, Principal } from '@evict/core';
