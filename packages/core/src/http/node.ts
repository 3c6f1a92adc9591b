import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Evict } from '../engine/evict.js';
import {
  createGuard,
  type GuardOptions,
  type GuardRequest,
  type GuardResult,
  type Principal,
} from '../guard.js';
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
  if (answer.stream !== undefined) {
    writeNodeStream(response, answer.body, answer.stream);
    return;
  }
  response.setHeader('content-length', Buffer.byteLength(answer.body));
  response.end(answer.body);
}

/** A streamed answer: its head and first text now, each chunk as it comes, until it or the client ends. */
function writeNodeStream(response: ServerResponse, first: string, stream: AsyncIterable<string>): void {
  const chunks = stream[Symbol.asyncIterator]();
  response.once('close', () => void chunks.return?.());
  response.flushHeaders();
  if (first !== '') response.write(first);
  void (async () => {
    try {
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
        if (response.destroyed) break;
        response.write(next.value);
      }
    } finally {
      response.end();
    }
  })();
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

/** Principals set by `attachPrincipal`, read back through the `evict` accessor it defines. */
const principals = new WeakMap<object, Principal>();
/** Prototypes on whose chain `evict` is that accessor, and those where something else holds the name. */
const withAccessor = new WeakSet<object>();
const foreign = new WeakSet<object>();

const principalAccessor: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object) {
    return principals.get(this);
  },
  set(this: object, value: Principal) {
    principals.set(this, value);
  },
};

/**
 * Makes `request.evict` the principal a guard accepted, without adding a property to the request.
 * Express (and NestJS on it) give every request its app's prototype with `Object.setPrototypeOf`,
 * after which V8 builds a new hidden class for each property added to it, a cost larger than the
 * rest of the guard (bench/FINDINGS.md). So `evict` is an accessor, defined once on the request's
 * prototype, over a WeakMap (a request's entry goes with it). Where the name is already taken, on
 * the request or up its prototype chain by something else, the principal is a plain property.
 */
export function attachPrincipal(request: object, principal: Principal): void {
  const proto = Object.getPrototypeOf(request) as object | null;
  if (proto === null || Object.hasOwn(request, 'evict') || !accessorOn(proto)) {
    (request as { evict?: Principal }).evict = principal;
    return;
  }
  principals.set(request, principal);
}

function accessorOn(proto: object): boolean {
  if (withAccessor.has(proto)) return true;
  if (foreign.has(proto)) return false;
  let owner: object | null = proto;
  while (owner !== null && !Object.hasOwn(owner, 'evict'))
    owner = Object.getPrototypeOf(owner) as object | null;
  const ours =
    owner === null
      ? Reflect.defineProperty(proto, 'evict', principalAccessor) // false on a frozen prototype
      : Object.getOwnPropertyDescriptor(owner, 'evict')?.get === principalAccessor.get;
  if (!ours) {
    foreign.add(proto);
    return false;
  }
  withAccessor.add(proto);
  return true;
}
