import type { IncomingMessage } from 'node:http';
import { type BodyResult, MAX_BODY_BYTES } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a raw body as JSON: empty, a value, or why not. Invalid UTF-8 is not JSON. */
export function parseRawBody(raw: Uint8Array | string): BodyResult {
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.byteLength;
  if (bytes > MAX_BODY_BYTES) return { kind: 'invalid', problem: 'too_large' };
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : utf8.decode(raw);
  } catch {
    return { kind: 'invalid', problem: 'not_json' };
  }
  if (text.trim() === '') return { kind: 'empty' };
  try {
    return { kind: 'json', value: JSON.parse(text) };
  } catch {
    return { kind: 'invalid', problem: 'not_json' };
  }
}

/** Body-parser 1 (Express 4's `express.json()`) marks a request it parsed with `_body`. */
type MaybeParsed = IncomingMessage & { body?: unknown; _body?: unknown };

/**
 * Reads the body of a Node request for core: the one a body parser already put on `parsed` when
 * there is one, else the raw stream, at most `MAX_BODY_BYTES` of it.
 */
export function readNodeBody(request: IncomingMessage, parsed?: { value: unknown }): Promise<BodyResult> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return Promise.resolve(tooLarge(request));
  if (parsed !== undefined) {
    const { value } = parsed;
    if (typeof value === 'string' || value instanceof Uint8Array) return Promise.resolve(parseRawBody(value));
    if (value === undefined) return Promise.resolve({ kind: 'empty' });
    // A chunked body has no Content-Length to check: measure what the parser made of it (the raw
    // body without its whitespace, near enough).
    if (serializedBytes(value) > MAX_BODY_BYTES)
      return Promise.resolve({ kind: 'invalid', problem: 'too_large' });
    return Promise.resolve({ kind: 'json', value });
  }
  // Another middleware consumed the stream without leaving a body: there is nothing left to read.
  if (request.readableEnded) return Promise.resolve({ kind: 'empty' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        resolve(tooLarge(request));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(parseRawBody(Buffer.concat(chunks)));
    };
    const onError = () => {
      cleanup();
      resolve({ kind: 'invalid', problem: 'not_json' });
    };
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

/** The parsed body a body parser left on a Node request, if one ran. */
export function parsedBodyOf(request: IncomingMessage): { value: unknown } | undefined {
  const r = request as MaybeParsed;
  if (r._body === true) return { value: r.body };
  // body-parser 2 (Express 5) leaves no mark: a consumed stream with a body beside it was parsed.
  if (r.readableEnded && r.body !== undefined) return { value: r.body };
  return undefined;
}

/** The size of a parsed body as compact JSON; 0 for a value JSON cannot write (left to the family). */
function serializedBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  } catch {
    return 0;
  }
}

function tooLarge(request: IncomingMessage): BodyResult {
  // Discard the rest without buffering it; the adapter answers at once.
  request.resume();
  return { kind: 'invalid', problem: 'too_large' };
}
