import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Evict } from '../engine.js';
import { createGuard, type GuardOptions, type GuardRequest, type GuardResult } from '../guard.js';
import { readNodeBody } from './body.js';
import type { EvictRequest, EvictResponse } from './types.js';

/** The query string of a Node request URL as URLSearchParams. */
export function queryOf(url: string | undefined): URLSearchParams {
  const at = url?.indexOf('?') ?? -1;
  return new URLSearchParams(at === -1 ? '' : url!.slice(at + 1));
}

/**
 * A Node request as core's neutral request. `path` is the path below the adapter's mount point;
 * `parsed` is the body a framework's body parser already produced, if one ran.
 */
export function fromNodeRequest(
  request: IncomingMessage,
  path: string,
  parsed?: { value: unknown },
): EvictRequest {
  return {
    method: request.method ?? 'GET',
    path,
    headers: request.headers,
    query: queryOf(request.url),
    readBody: () => readNodeBody(request, parsed),
    ...(request.socket?.remoteAddress === undefined ? {} : { remoteAddress: request.socket.remoteAddress }),
  };
}

/** Writes core's response as it is: status, headers and body. */
export function writeNodeResponse(response: ServerResponse, answer: EvictResponse): void {
  response.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) response.setHeader(name, value);
  response.setHeader('content-length', Buffer.byteLength(answer.body));
  response.end(answer.body);
}

/**
 * The guard's check for a WebSocket upgrade (`ws`'s `verifyClient` / `server.on('upgrade')`,
 * Socket.IO middleware): reads the session token from the `token` query parameter too, since
 * browsers cannot set headers on a WebSocket.
 */
export function createUpgradeCheck(
  engine: Evict,
  options: GuardOptions = {},
): (request: IncomingMessage) => Promise<GuardResult> {
  const guard = createGuard(engine, { queryToken: true, ...options });
  return (request) => guard(guardRequestOf(request));
}

/**
 * What a guard reads of a Node request. The query string is parsed only if a credential source
 * reads it: the default source, a session token in a header, does not, and the guard runs on
 * every request.
 */
export function guardRequestOf(request: Pick<IncomingMessage, 'url' | 'headers'>): GuardRequest {
  return new NodeGuardRequest(request.headers, request.url);
}

class NodeGuardRequest implements GuardRequest {
  readonly headers: IncomingHttpHeaders;
  readonly #url: string | undefined;
  #query: URLSearchParams | undefined;

  constructor(headers: IncomingHttpHeaders, url: string | undefined) {
    this.headers = headers;
    this.#url = url;
  }

  get query(): URLSearchParams {
    this.#query ??= queryOf(this.#url);
    return this.#query;
  }
}
