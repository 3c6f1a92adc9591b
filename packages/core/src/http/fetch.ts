import { type AdminApiOptions, createAdminApi } from '../admin-api.js';
import type { Evict } from '../engine/evict.js';
import { createGuard, type GuardOptions, type GuardRequest, type GuardResult } from '../guard.js';
import type { MaybePromise } from '../maybe-promise.js';
import { parseRawBody } from './body.js';
import { mountPathOf, pathBelowMount } from './mount.js';
import {
  type BodyResult,
  type EvictRequest,
  type EvictResponse,
  type HeaderValue,
  MAX_BODY_BYTES,
} from './types.js';

/**
 * `@evict/core/fetch`: evict on Web-standard handlers (`Request` in, `Response` out): Hono, Bun,
 * Deno, Next route handlers, Cloudflare Workers (with `nodejs_compat`: core hashes with
 * `node:crypto`). No framework and no dependency: the globals of the runtime.
 */

/** What a host may tell of a request that a `Request` does not carry. */
export interface FetchRequestInfo {
  /** The client's address (for the families' per-client limits of failed authentications). */
  remoteAddress?: string;
}

export interface FetchHandlerOptions extends AdminApiOptions {
  /** Serve the routes below this path (e.g. `/admin`); requests elsewhere get undefined. */
  prefix?: string;
}

/**
 * The admin endpoints of the chosen families as a fetch handler: a `Response` for a request of one
 * of their routes, undefined for any other (the host answers it). The body is read only for a
 * route evict serves, at most 16 KiB of it.
 */
export function createFetchHandler(
  engine: Evict,
  options: FetchHandlerOptions = {},
): (request: Request, info?: FetchRequestInfo) => Promise<Response | undefined> {
  const { prefix, ...admin } = options;
  const mount = mountPathOf(prefix);
  const api = createAdminApi(engine, admin);
  return async (request, info = {}) => {
    const path = pathBelowMount(mount, new URL(request.url).pathname);
    if (path === undefined) return undefined;
    const answer = await api.handle(fromFetchRequest(request, path, info));
    return answer === undefined ? undefined : toFetchResponse(answer);
  };
}

/**
 * The guard on a `Request`: the verdict, synchronously when the engine's cache answers it. A
 * rejection's `response` is core's; `toFetchResponse` makes it a `Response`.
 */
export function createFetchGuard(
  engine: Evict,
  options: GuardOptions = {},
): (request: Request) => MaybePromise<GuardResult> {
  const guard = createGuard(engine, options);
  return (request) => guard.checkNow(guardRequestOfFetch(request));
}

/** A `Request` as core's neutral request, `path` being the path below the mount point. */
export function fromFetchRequest(request: Request, path: string, info: FetchRequestInfo = {}): EvictRequest {
  return {
    method: request.method,
    path,
    headers: headersOf(request.headers),
    query: new URL(request.url).searchParams,
    readBody: () => readFetchBody(request),
    ...(info.remoteAddress === undefined ? {} : { remoteAddress: info.remoteAddress }),
  };
}

/** What a guard reads of a `Request`: its headers, and its query string only if a source reads it. */
export function guardRequestOfFetch(request: Request): GuardRequest {
  return new FetchGuardRequest(request);
}

class FetchGuardRequest implements GuardRequest {
  readonly #request: Request;
  #headers: Record<string, HeaderValue> | undefined;
  #query: URLSearchParams | undefined;

  constructor(request: Request) {
    this.#request = request;
  }

  get headers(): Record<string, HeaderValue> {
    this.#headers ??= headersOf(this.#request.headers);
    return this.#headers;
  }

  get query(): URLSearchParams {
    this.#query ??= new URL(this.#request.url).searchParams;
    return this.#query;
  }

  /** One header straight from the `Request`'s `Headers`, without copying them all. */
  header(name: string): string | undefined {
    return this.#request.headers.get(name) ?? undefined;
  }
}

/** Core's answer as a `Response`, its status, headers and text as they are. */
export function toFetchResponse(answer: EvictResponse): Response {
  if (answer.stream !== undefined)
    return new Response(readableOf(answer.body, answer.stream), {
      status: answer.status,
      headers: answer.headers,
    });
  // A status without a body (204, 304) takes none, not even an empty one.
  const body = answer.body === '' && (answer.status === 204 || answer.status === 304) ? null : answer.body;
  return new Response(body, { status: answer.status, headers: answer.headers });
}

/** A streamed answer as a `ReadableStream` of UTF-8: `first`, then each chunk; cancelled, it stops the stream. */
function readableOf(first: string, stream: AsyncIterable<string>): ReadableStream<Uint8Array> {
  const chunks = stream[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  let sentFirst = first === '';
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentFirst) {
        sentFirst = true;
        controller.enqueue(encoder.encode(first));
        return;
      }
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await chunks.return?.();
    },
  });
}

/**
 * Reads a `Request`'s body for core: at most `MAX_BODY_BYTES`, declared or streamed (a chunked body
 * has no length to check first), then parsed as JSON.
 */
export async function readFetchBody(request: Request): Promise<BodyResult> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    await request.body?.cancel().catch(() => undefined);
    return { kind: 'invalid', problem: 'too_large' };
  }
  if (request.body === null) return { kind: 'empty' };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => undefined);
        return { kind: 'invalid', problem: 'too_large' };
      }
      chunks.push(value);
    }
  } catch {
    return { kind: 'invalid', problem: 'not_json' };
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return parseRawBody(bytes);
}

/** Headers as Node gives them: names in lower case (as `Headers` iterates them), repeated ones joined. */
function headersOf(headers: Headers): Record<string, HeaderValue> {
  const record: Record<string, HeaderValue> = {};
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return record;
}
