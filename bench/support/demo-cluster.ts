/**
 * Real demo processes for the admin-throughput, propagation and scale sections: started with the
 * environment the cluster tests give them (test/support/demo-process.ts), talked to over a keep-alive HTTP agent for
 * timing and over WebSockets, and their Redis keys deleted afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import {
  bannerPort,
  DEMO_ENV,
  DEMO_TENCENT,
  demoAdminUserSig,
  demoKickPath,
  isBuilt,
  repoRoot,
} from '../../test/support/demo-process.js';

export { DEMO_TENCENT, demoAdminUserSig, demoKickPath };

/** A Tencent rate limit so high that the limiter counts every call (its cost is measured) but never answers 60007. */
export const UNCAPPED_RATE_LIMIT = '10000000';

/** Tencent's documented cap on kicks per second per app. */
export const TENCENT_CAP_PER_SECOND = 200;

export function benchPrefix(section: string): string {
  return `evict-bench-${section}-${process.pid}-${randomBytes(4).toString('hex')}:`;
}

export function assertBuilt(): void {
  if (!isBuilt('express'))
    throw new Error('examples/express is not built: run `npx --yes pnpm@10 build` before the benchmarks');
}

/** A running demo process. */
export interface BenchNode {
  nodeId: number;
  port: number;
  base: string;
  child: ChildProcess;
  /** Where its stdout goes (one line per revocation). */
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts the Express demo (`examples/express/dist/server.js`); `redisUrl` puts it on the shared store
 * under `prefix`. Its stdout goes to a file, not to a pipe: the demo logs a line per revocation, and a
 * pipe that this (busy) process drains late would block the demo's writes and show in the figures.
 */
export async function startExpressNode(
  nodeId: number,
  options: {
    redisUrl?: string;
    prefix?: string;
    seed?: boolean;
    extraEnv?: Record<string, string>;
    /** Flags for node itself, e.g. `--cpu-prof`. */
    nodeArgs?: string[];
  },
): Promise<BenchNode> {
  assertBuilt();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of DEMO_ENV) delete env[name];
  Object.assign(env, {
    PORT: '0', // the kernel's choice, read back from the banner: no other process can take it first
    NODE_ID: String(nodeId),
    DEMO_SEED: options.seed ? '1' : '0',
    TENCENT_RATE_LIMIT: UNCAPPED_RATE_LIMIT,
    ...options.extraEnv,
  });
  if (options.redisUrl !== undefined) {
    env.REDIS_URL = options.redisUrl;
    env.EVICT_REDIS_PREFIX = options.prefix ?? benchPrefix('node');
  }
  const logDir = mkdtempSync(join(tmpdir(), 'evict-bench-'));
  const logFile = join(logDir, `node${nodeId}.log`);
  const out = openSync(logFile, 'w');
  // BENCH_SERVER_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=prof`) applies to the demo nodes too.
  const flags = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(/\s+/).filter((f) => f !== '');
  const child = spawn(
    process.execPath,
    [...flags, ...(options.nodeArgs ?? []), 'examples/express/dist/server.js'],
    {
      cwd: repoRoot,
      env,
      stdio: ['ignore', out, 'pipe'],
    },
  );
  closeSync(out);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  let port = bannerPort(readFileSync(logFile, 'utf8'));
  while (port === undefined) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the Express demo (node ${nodeId}) exited before listening:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Express demo (node ${nodeId}) did not print its banner in 20 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    port = bannerPort(readFileSync(logFile, 'utf8'));
  }
  return {
    nodeId,
    port,
    base: `http://127.0.0.1:${port}`,
    child,
    logFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** Deletes every key under `prefix` on Redis. */
export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  let deleted = 0;
  try {
    await redis.connect();
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) {
      const list = keys as string[];
      if (list.length > 0) deleted += await redis.del(...list);
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export interface TimedAnswer {
  status: number;
  body: string;
  /** performance.now() when the request was written. */
  sentAt: number;
  /** performance.now() when the whole response had arrived. */
  doneAt: number;
}

/** A small HTTP client on one keep-alive agent: no fetch machinery between the timer and the socket. */
export class KeepAliveClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 8 });
  constructor(readonly port: number) {}

  send(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ): Promise<TimedAnswer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const sentAt = performance.now();
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: this.#agent,
          headers: {
            ...headers,
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text, sentAt, doneAt: performance.now() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Logs users in on `node` (device `deviceFlag`), `concurrency` at a time; returns their tokens. */
export async function loginMany(
  client: KeepAliveClient,
  uids: string[],
  deviceFlag: number,
  concurrency = 32,
): Promise<string[]> {
  const tokens: string[] = new Array(uids.length);
  let next = 0;
  const worker = async () => {
    while (next < uids.length) {
      const i = next++;
      const answer = await client.send('POST', '/login', {}, { uid: uids[i], device_flag: deviceFlag });
      if (answer.status !== 200) throw new Error(`login of ${uids[i]}: ${answer.status} ${answer.body}`);
      tokens[i] = JSON.parse(answer.body).token as string;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tokens;
}

/** A WebSocket to a demo node, open (its hello received), and when and how it closed. */
export interface SocketHandle {
  ws: WebSocket;
  /** performance.now() when the client's `close` fired, and the close code. */
  closedAt: Promise<{ at: number; code: number }>;
}

/** Opens the demo's `/ws` with a session token; resolves once the node's hello arrived (it is registered). */
export function openSocket(port: number, token: string): Promise<SocketHandle> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`);
  const closedAt = new Promise<{ at: number; code: number }>((resolve) =>
    ws.once('close', (code) => resolve({ at: performance.now(), code })),
  );
  return new Promise((resolve, reject) => {
    ws.once('message', () => resolve({ ws, closedAt }));
    ws.once('error', reject);
    void closedAt.then(({ code }) => reject(new Error(`socket closed before hello: ${code}`)));
  });
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** When a node's guard first answered 401 for a token, and the last 200 before it. */
export interface GuardFlip {
  /** doneAt of the first 401; undefined if none came within the time given. */
  rejectedAt?: number;
  /** doneAt of the last 200 before it; undefined when the first poll was a 401. */
  lastAcceptedAt?: number;
  polls: number;
}

/**
 * Polls `GET /me` with `token` back to back until the guard answers 401, or until `giveUpMs` after
 * `sinceMs`; any answer but 200 or 401 throws.
 */
export async function untilRejected(
  client: KeepAliveClient,
  token: string,
  sinceMs: number,
  giveUpMs: number,
): Promise<GuardFlip> {
  const flip: GuardFlip = { polls: 0 };
  while (performance.now() - sinceMs < giveUpMs) {
    const answer = await client.send('GET', '/me', { token });
    flip.polls++;
    if (answer.status === 401) {
      flip.rejectedAt = answer.doneAt;
      return flip;
    }
    if (answer.status !== 200)
      throw new Error(`GET /me on port ${client.port}: ${answer.status} ${answer.body}`);
    flip.lastAcceptedAt = answer.doneAt;
  }
  return flip;
}
