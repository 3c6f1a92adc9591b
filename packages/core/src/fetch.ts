/**
 * `@evict/core/fetch`: evict on Web-standard handlers, a `Request` in and a `Response` out (Hono,
 * Bun, Deno, Next route handlers, Workers): the admin endpoints as a fetch handler, the guard on a
 * `Request`, and the pieces to build another adapter from.
 */
export {
  createFetchGuard,
  createFetchHandler,
  type FetchHandlerOptions,
  type FetchRequestInfo,
  fromFetchRequest,
  guardRequestOfFetch,
  readFetchBody,
  toFetchResponse,
} from './http/fetch.js';
