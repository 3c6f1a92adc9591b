import { createServer, request as httpRequest, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvict, type Evict, type EvictOptions, MemoryStore } from '@evict/core';
import type { Express } from 'express';
import { expect } from 'vitest';
import { ManualClock } from '../../../test/support/clock.js';
import { FaultyStore } from '../../../test/support/faulty-store.js';

export interface Harness {
  clock: ManualClock;
  /** The real store, whose snapshots prove that a rejected request changed nothing. */
  store: MemoryStore;
  /** What the engine talks to: the real store, with faults on demand. */
  faulty: FaultyStore;
  engine: Evict;
}

const open: Harness[] = [];

/** An engine over a fault-injectable memory store; `closeHarnesses` (afterEach) closes it. */
export function harness(
  options: { clock?: ManualClock; engine?: Omit<EvictOptions, 'store' | 'clock'> } = {},
) {
  const clock = options.clock ?? new ManualClock();
  const store = new MemoryStore({ clock });
  const faulty = new FaultyStore(store);
  const engine = createEvict({ store: faulty, clock, ...options.engine });
  const h: Harness = { clock, store, faulty, engine };
  open.push(h);
  return h;
}

export async function closeHarnesses(): Promise<void> {
  for (const h of open.splice(0)) {
    await h.engine.close();
    await h.faulty.close();
  }
}

/** Runs `action` and asserts that the store is exactly as it was (every record, counters included). */
export async function unchanged<T>(store: MemoryStore, action: () => PromiseLike<T>): Promise<T> {
  const before = store.snapshot();
  const result = await action();
  expect(store.snapshot()).toEqual(before);
  return result;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * Sends a request with a body written in chunks and no Content-Length (Transfer-Encoding: chunked),
 * which supertest does not do for a string body.
 */
export async function sendChunked(
  app: Express,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
  chunks: readonly (string | Buffer)[],
): Promise<RawResponse> {
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<RawResponse>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method, path, headers: { ...headers, connection: 'close' } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (chunk: Buffer) => parts.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(parts).toString(),
            }),
          );
          res.on('error', reject);
        },
      );
      // The server may answer (and close) before the whole body is written: that is not a failure here.
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
      });
      expect(req.getHeader('content-length')).toBeUndefined();
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
