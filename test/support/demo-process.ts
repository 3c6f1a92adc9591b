/**
 * Real demo processes (`node examples/<name>/dist/server.js`) for the multi-node tests: started with
 * the environment a test gives, talked to over HTTP and WebSocket, stopped for good.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { signUserSig } from '@evict/core';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { REDIS_URL, randomPrefix } from './redis.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The demo's Tencent defaults (README): sdkappid 1400000001, admin 'admin', the demo key. */
export const DEMO_TENCENT = {
  sdkAppId: 1400000001,
  secretKey: 'evict-demo-secret-key-do-not-use-in-production',
  admin: 'admin',
} as const;

/** A UserSig of the demo's Tencent admin, from core's signUserSig. */
export function demoAdminUserSig(expireSec: number): string {
  return signUserSig({
    sdkAppId: DEMO_TENCENT.sdkAppId,
    secretKey: DEMO_TENCENT.secretKey,
    identifier: DEMO_TENCENT.admin,
    expireSec,
  });
}

/** The path of a Tencent kick on a demo, signed as its admin with `usersig`; `random` is the call's nonce. */
export function demoKickPath(usersig: string, random: number | string): string {
  const query = new URLSearchParams({
    sdkappid: String(DEMO_TENCENT.sdkAppId),
    identifier: DEMO_TENCENT.admin,
    usersig,
    random: String(random),
    contenttype: 'json',
  });
  return `/v4/im_open_login_svc/kick?${query}`;
}

/** Every variable the demo reads: a test sets what it means, whatever the machine's environment says. */
export const DEMO_ENV = [
  'PORT',
  'HOST',
  'NODE_ID',
  'TENCENT_SDKAPPID',
  'TENCENT_SECRET_KEY',
  'TENCENT_ADMINS',
  'TENCENT_RATE_LIMIT',
  'EVICT_MANAGER_TOKEN',
  'DEMO_SEED',
  'REDIS_URL',
  'EVICT_REDIS_PREFIX',
  'EVICT_STORE_TIMEOUT_MS',
  'EVICT_CONNECTION_TTL_MS',
  'EVICT_DEMO_JWT_SECRET',
  'EVICT_DEMO_SOCKETIO_ADAPTER',
  'EVICT_DEMO_USERSIG_ROUTE',
  'EVICT_DEMO_UNSAFE_OFF_LOOPBACK',
  'EVICT_WEBHOOK_URL',
  'EVICT_WEBHOOK_FORMAT',
  'EVICT_WEBHOOK_SECRET',
];

export type Framework = 'express' | 'koa' | 'nestjs' | 'fastify' | 'hono';
const BANNER_NAME: Record<Framework, string> = {
  express: 'Express',
  koa: 'Koa',
  nestjs: 'NestJS',
  fastify: 'Fastify',
  hono: 'Hono',
};

export function demoServerJs(framework: Framework): string {
  return `examples/${framework}/dist/server.js`;
}

export function isBuilt(framework: Framework): boolean {
  return existsSync(`${repoRoot}${demoServerJs(framework)}`);
}

/** Throws, before anything starts, when a demo the test needs has not been built. */
export function requireBuilt(...frameworks: Framework[]): void {
  for (const framework of frameworks)
    if (!isBuilt(framework))
      throw new Error(`examples/${framework} is not built: run \`npx --yes pnpm@10 build\``);
}

/**
 * The first port of the kernel's ephemeral range (Linux's default when it cannot be read): outgoing
 * connections take their local ports from that range.
 */
function ephemeralRangeStart(): number {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (Number.isInteger(first) && first > 0) return first;
  } catch {
    // Not Linux, or /proc is hidden: the default range.
  }
  return 32_768;
}

const FIRST_UNPRIVILEGED_FREE_PORT = 10_000;
/** Ports this process handed out, never handed out twice. */
const handedOut = new Set<number>();

/** Whether a server could listen on 127.0.0.1:`port` now. */
function canBind(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * A port nothing listens on, for a server that must be started on a port named in advance (a
 * redis-server, a Sentinel); with `alsoFreeAt`, the port that far above it is free too (a cluster
 * node's bus). Drawn below the kernel's ephemeral range: a port from `listen(0)` lies in that range,
 * and between the probe's close and the server's bind any outgoing connection on the machine may take
 * it as its local port (a CI run failed so, `EADDRINUSE`). Below the range only another listener can.
 * A demo needs none of this: it listens on port 0 and says its port.
 */
export async function freePort(alsoFreeAt = 0): Promise<number> {
  const span = ephemeralRangeStart() - alsoFreeAt - FIRST_UNPRIVILEGED_FREE_PORT;
  if (span < 1_000) {
    if (alsoFreeAt !== 0)
      throw new Error('the ephemeral port range starts too low for a port and its cluster bus below it');
    // A machine whose ephemeral range starts low: the kernel's pick, with the race it has.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }
  for (;;) {
    const port = FIRST_UNPRIVILEGED_FREE_PORT + Math.floor(Math.random() * span);
    const ports = alsoFreeAt === 0 ? [port] : [port, port + alsoFreeAt];
    if (ports.some((p) => handedOut.has(p))) continue;
    if ((await canBind(port)) && (alsoFreeAt === 0 || (await canBind(port + alsoFreeAt)))) {
      for (const p of ports) handedOut.add(p);
      return port;
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export interface Answer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  json: any;
  /** How long the request took. */
  ms: number;
}

/** A socket held by a demo node, once the node said hello. */
export interface HeldSocket {
  ws: WebSocket;
  /** Every message the server sent, in order, its first included. */
  messages: string[];
  connId: number;
  nodeId: number;
  /** Resolves with the close code and reason when the socket closes. */
  closed: Promise<{ code: number; reason: string }>;
  isOpen(): boolean;
}

export interface DemoNode {
  framework: Framework;
  nodeId: number;
  port: number;
  base: string;
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  call(
    method: string,
    path: string,
    options?: { headers?: Record<string, string>; body?: unknown; timeoutMs?: number },
  ): Promise<Answer>;
  /** A session token of `uid` on `deviceFlag`, issued by this node. */
  login(uid: string, deviceFlag?: number): Promise<string>;
  /** GET /me with the token. */
  me(token: string): Promise<Answer>;
  /** The Tencent kick of `uid`, signed as the demo's admin. */
  tencentKick(uid: string): Promise<Answer>;
  /** A WebSocket at `/ws?token=` (and `&device_id=`), once it said hello. */
  openSocket(token: string, deviceId?: string): Promise<HeldSocket>;
  /** SIGKILL: the node dies without closing anything. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface SpawnedDemo {
  port: number;
  child: ChildProcess;
  /** Everything the demo printed to stdout, line by line. */
  lines: string[];
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/**
 * Loaded into every demo before its own code: the demo exits once the test process that spawned it
 * is gone, however it went (a test that timed out, a worker killed by signal), so that no demo
 * outlives its test. It watches its parent id (an orphan is adopted by another process) on an
 * unref'd timer, which never keeps a demo alive that would otherwise exit.
 */
const EXIT_WITH_PARENT =
  'data:text/javascript,const parent=process.ppid;setInterval(()=>{if(process.ppid!==parent)process.exit(70)},500).unref()';

/** The port a demo's banner names (`evict <Framework> demo on http://<host>:<port> (node …`) in `output`. */
export function bannerPort(output: string): number | undefined {
  const match = /demo on http:\/\/\S*:(\d+) \(node /.exec(output);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Spawns a demo with a clean demo environment plus `env` (`nodeArgs` go to node before the script,
 * for V8 flags that NODE_OPTIONS does not allow), collects its output and answers once its banner
 * has said where it listens, or once it has exited (then `port` is 0).
 * The demo listens on port 0, the kernel's choice, so no other process can take its port first.
 */
export async function spawnDemo(
  framework: Framework,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<SpawnedDemo> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of DEMO_ENV) delete childEnv[name];
  Object.assign(childEnv, env, { PORT: '0' });
  const child = spawn(
    process.execPath,
    ['--import', EXIT_WITH_PARENT, ...nodeArgs, demoServerJs(framework)],
    {
      cwd: repoRoot,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let port: number | undefined;
  try {
    await waitFor(
      `the ${framework} demo to say where it listens`,
      () => {
        port = bannerPort(lines.join('\n'));
        return port !== undefined || child.exitCode !== null || child.signalCode !== null;
      },
      20_000,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return { port: port ?? 0, child, lines, stderr: () => stderr, exited };
}

/**
 * Starts a demo process and waits for its banner. `env` is added to a clean demo environment;
 * `nodeArgs` go to node before the script (for V8 flags that NODE_OPTIONS does not allow).
 */
export async function startDemoNode(
  framework: Framework,
  nodeId: number,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<DemoNode> {
  const {
    port,
    child,
    lines,
    stderr: stderrOf,
    exited,
  } = await spawnDemo(framework, { ...env, NODE_ID: String(nodeId) }, nodeArgs);
  if (port === 0)
    throw new Error(`the ${framework} demo (node ${nodeId}) exited before listening:\n${stderrOf()}`);
  // Printed already: spawnDemo answers once the banner is out.
  const banner = `evict ${BANNER_NAME[framework]} demo on http://127.0.0.1:${port} (node ${nodeId}`;
  if (!lines.some((l) => l.includes(banner))) {
    child.kill('SIGKILL');
    throw new Error(`the ${framework} demo (node ${nodeId}) did not print "${banner}":\n${lines.join('\n')}`);
  }
  const base = `http://127.0.0.1:${port}`;
  const sockets = new Set<WebSocket>();

  const call: DemoNode['call'] = async (method, path, options = {}) => {
    const started = performance.now();
    const response = await fetch(base + path, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json, ms: performance.now() - started };
  };

  const node: DemoNode = {
    framework,
    nodeId,
    port,
    base,
    child,
    lines,
    stderr: stderrOf,
    call,
    async login(uid, deviceFlag = 0) {
      const answer = await call('POST', '/login', { body: { uid, device_flag: deviceFlag } });
      if (answer.status !== 200) throw new Error(`login of ${uid} on node ${nodeId}: ${answer.text}`);
      return answer.json.token as string;
    },
    me: (token) => call('GET', '/me', { headers: { token } }),
    tencentKick(uid) {
      const path = demoKickPath(demoAdminUserSig(3_600), Math.floor(Math.random() * 0xffffffff));
      return call('POST', path, { body: { Identifier: uid } });
    },
    async openSocket(token, deviceId) {
      const device = deviceId === undefined ? '' : `&device_id=${encodeURIComponent(deviceId)}`;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}${device}`);
      sockets.add(ws);
      const messages: string[] = [];
      ws.on('message', (data) => messages.push(String(data)));
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
      );
      const hello = await new Promise<{ conn_id: number; node_id: number }>((resolve, reject) => {
        ws.once('message', (data) => resolve(JSON.parse(String(data))));
        ws.once('error', reject);
        void closed.then(({ code, reason }) =>
          reject(new Error(`socket closed before hello: ${code} ${reason}`)),
        );
      });
      return {
        ws,
        messages,
        connId: hello.conn_id,
        nodeId: hello.node_id,
        closed,
        isOpen: () => ws.readyState === WebSocket.OPEN,
      };
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      for (const ws of sockets) ws.terminate();
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(killer);
    },
  };
  return node;
}

/**
 * Node 1 the Express demo and node 2 the Koa demo (adapters mix in one cluster; `frameworks` picks
 * others), on the Redis of
 * REDIS_URL under a prefix of their own; `stop` stops both and deletes the prefix's keys (the
 * sessions would otherwise stay there for their 30 days).
 */
export async function startRedisPair(
  env: Record<string, string> = {},
  frameworks: readonly [Framework, Framework] = ['express', 'koa'],
): Promise<{ a: DemoNode; b: DemoNode; prefix: string; stop(): Promise<void> }> {
  requireBuilt(...frameworks);
  const prefix = randomPrefix();
  const shared = { REDIS_URL, EVICT_REDIS_PREFIX: prefix, ...env };
  const [a, b] = await Promise.all([
    startDemoNode(frameworks[0], 1, shared),
    startDemoNode(frameworks[1], 2, { ...shared, DEMO_SEED: '0' }),
  ]);
  return {
    a,
    b,
    prefix,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
      const redis = new Redis(REDIS_URL);
      try {
        for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }))
          if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      } finally {
        redis.disconnect();
      }
    },
  };
}
