/**
 * The neutral HTTP shape between adapters and core: an adapter turns its framework's request into an
 * `EvictRequest`, calls core, and writes the `EvictResponse` back unchanged.
 */

export type HeaderValue = string | string[] | undefined;

export interface EvictRequest {
  method: string;
  /** Path below the mount point, without the query string, e.g. `/user/device_quit`. */
  path: string;
  /** Header names in lower case, as Node gives them. */
  headers: Record<string, HeaderValue>;
  query: URLSearchParams;
  /** Reads the body; core calls it only for a route it serves, so other routes' bodies are untouched. */
  readBody(): Promise<BodyResult>;
  /** The client's address, for logs and per-client limits. */
  remoteAddress?: string;
}

export type BodyResult =
  | { kind: 'json'; value: unknown }
  | { kind: 'empty' }
  | { kind: 'invalid'; problem: 'not_json' | 'too_large' };

export interface EvictResponse {
  status: number;
  headers: Record<string, string>;
  /** The serialized body; empty string for none. */
  body: string;
  /**
   * Text written after `body` as it comes, the response ending when it does (server-sent events).
   * Adapters write each chunk at once, and stop it (`return()`) when the client goes away.
   */
  stream?: AsyncIterable<string>;
}

/** Answers a request evict serves, or undefined for one it does not (the adapter passes it on). */
export type EvictHandler = (request: EvictRequest) => Promise<EvictResponse | undefined>;

/** Request bodies larger than this are a parameter error of the family (docs/families.md). */
export const MAX_BODY_BYTES = 16 * 1024;

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): EvictResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

export function emptyResponse(status: number): EvictResponse {
  return { status, headers: { 'cache-control': 'no-store' }, body: '' };
}

/** The first value of a header, or undefined. */
export function headerValue(headers: Record<string, HeaderValue>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
