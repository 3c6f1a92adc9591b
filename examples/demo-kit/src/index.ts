import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AdminApiOptions,
  type ConnectionClosedEvent,
  createEvict,
  type Evict,
  isStoreFailure,
  LOGIN_POLICY_PRESETS,
  type LoginPolicy,
  type LoginPolicyPreset,
  loginPolicyPreset,
  loginRefusal,
  type RevocationEvent,
  type TencentOptions,
  userSigSource,
} from '@evict/core';
import { createUpgradeCheck, registerSocket, rejectUpgrade } from '@evict/core/node';
import {
  createWebhookSender,
  WEBHOOK_FORMATS,
  type WebhookFormat,
  type WebhookSender,
} from '@evict/core/webhooks';
import { evictMetrics } from '@evict/prometheus';
import { RedisStore } from '@evict/redis';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';

export interface DemoOptions {
  port: number;
  host: string;
  nodeId: number;
  /** When set, the WuKongIM routes require it in the `token` header; unset, they are open (loopback demo). */
  managerToken?: string;
  /** When set, `GET /metrics` requires it as `Authorization: Bearer`; unset, it is open (loopback demo). */
  metricsToken?: string;
  tencent: TencentOptions;
  /** Demo data: user123 with two devices and the connection 12345 of the seeds. */
  seed: boolean;
  /** When set, the engine keeps its state on this Redis (shared by every node given the same URL and prefix). */
  redisUrl?: string;
  /**
   * When set (`REDIS_SENTINELS`, `host:port,…`), the engine finds its Redis primary through these
   * Sentinels, under `redisSentinelName`, and follows it across a failover; instead of `redisUrl`.
   */
  redisSentinels?: { host: string; port: number }[];
  /** The primary's name at the Sentinels (`REDIS_SENTINEL_NAME`, default `mymaster`). */
  redisSentinelName: string;
  /**
   * The Redis store's `waitForReplicas` (`EVICT_REDIS_WAIT_REPLICAS`, and `EVICT_REDIS_WAIT_TIMEOUT_MS`,
   * default 500): a revocation answers ok only once that many replicas hold it.
   */
  redisWaitForReplicas?: { replicas: number; timeoutMs: number };
  /** Prefix of every Redis key and channel. */
  redisPrefix: string;
  /** The engine's `storeTimeoutMs` (default: the engine's). */
  storeTimeoutMs?: number;
  /** The engine's `connectionTtlMs`: how long a dead node's connections stay listed (default: the engine's). */
  connectionTtlMs?: number;
  /** The engine's `loginPolicy` (`EVICT_LOGIN_POLICY`, `EVICT_MAX_SESSIONS`); default none. */
  loginPolicy?: LoginPolicy;
  /** The HS256 secret the Express demo signs its `POST /login/jwt` JWTs with (`EVICT_DEMO_JWT_SECRET`). */
  jwtSecret: string;
  /** Whether `GET /demo/usersig` is served (`EVICT_DEMO_USERSIG_ROUTE`, default on; `0`: off). */
  userSigRoute: boolean;
  /** `EVICT_DEMO_UNSAFE_OFF_LOOPBACK=1`: listen off loopback even with open admin routes or the demo's secrets. */
  unsafeOffLoopback: boolean;
  /** When set (`EVICT_WEBHOOK_URL`, `EVICT_WEBHOOK_FORMAT`, `EVICT_WEBHOOK_SECRET`), presence and revocations are POSTed there. */
  webhook?: { url: string; format: WebhookFormat; secret: string };
  log: (line: string) => void;
}

/** The demo's published secrets: anyone who read the README knows them. */
export const DEMO_TENCENT_SECRET_KEY = 'evict-demo-secret-key-do-not-use-in-production';
export const DEMO_JWT_SECRET = 'evict-demo-jwt-secret-do-not-use-in-production';

/** The variable that lets a demo listen off loopback with what `unsafeExposures` lists. */
export const UNSAFE_OFF_LOOPBACK_OPT_IN = 'EVICT_DEMO_UNSAFE_OFF_LOOPBACK';

/** A running demo, whatever its framework. */
export interface Demo {
  url: string;
  engine: Evict;
  server: Server;
  /** The session tokens made for the demo data, by device flag. */
  seedTokens: Record<number, string>;
  /** The webhook sender, when `EVICT_WEBHOOK_URL` is set. */
  webhooks: WebhookSender | undefined;
  close(): Promise<void>;
}

/** Reads the demo's settings from the environment, with the defaults the README documents. */
/** The demo's `POST /login` body: `uid` (or `username`), `device_flag` (default 0), `device_id`. */
export interface LoginBody {
  uid?: string;
  username?: string;
  device_flag?: number;
  device_id?: string;
}

/**
 * The demo's login, the same in every framework: a session for the body's user and device, with
 * what the user will recognise it by (the install's `device_id`, the user agent, the client's IP).
 */
export async function demoLogin(
  engine: Evict,
  body: LoginBody | undefined,
  client: { userAgent: string | undefined; ip: string | undefined },
) {
  const uid = body?.uid ?? body?.username;
  const deviceFlag = body?.device_flag ?? 0;
  const session = await engine.issueSession({
    uid: uid as string,
    deviceFlag,
    ...(body?.device_id === undefined ? {} : { deviceId: body.device_id }),
    ...(client.userAgent === undefined || client.userAgent === '' ? {} : { userAgent: client.userAgent }),
    ...(client.ip === undefined ? {} : { ip: client.ip }),
  });
  return {
    token: session.token,
    session_id: session.sessionId,
    uid,
    device_flag: deviceFlag,
    expires_at: new Date(session.expiresAtMs),
  };
}

/**
 * The demo's answer to a failed login: 409 when the login policy refused it (`loginRefusal`), 503
 * when the store could not be reached (the login may be retried), else 400 with what was wrong.
 */
export function demoLoginFailure(error: unknown): { status: number; body: unknown } {
  const refusal = loginRefusal(error);
  if (refusal !== undefined) return { status: refusal.status, body: JSON.parse(refusal.body) };
  if (isStoreFailure(error)) return { status: 503, body: { error: 'store_unavailable' } };
  return { status: 400, body: { error: error instanceof Error ? error.message : String(error) } };
}

export function demoOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoOptions {
  return {
    port: Number(env.PORT ?? 5001),
    host: env.HOST ?? '127.0.0.1',
    jwtSecret: env.EVICT_DEMO_JWT_SECRET || DEMO_JWT_SECRET,
    userSigRoute: env.EVICT_DEMO_USERSIG_ROUTE !== '0',
    unsafeOffLoopback: env[UNSAFE_OFF_LOOPBACK_OPT_IN] === '1',
    ...webhookFromEnv(env),
    nodeId: Number(env.NODE_ID ?? 1),
    ...(env.EVICT_MANAGER_TOKEN ? { managerToken: env.EVICT_MANAGER_TOKEN } : {}),
    ...(env.EVICT_METRICS_TOKEN ? { metricsToken: env.EVICT_METRICS_TOKEN } : {}),
    tencent: {
      sdkAppId: Number(env.TENCENT_SDKAPPID ?? 1400000001),
      secretKey: env.TENCENT_SECRET_KEY || DEMO_TENCENT_SECRET_KEY,
      admins: (env.TENCENT_ADMINS ?? 'admin').split(',').map((s) => s.trim()),
      ...(env.TENCENT_RATE_LIMIT ? { rateLimitPerSecond: Number(env.TENCENT_RATE_LIMIT) } : {}),
    },
    seed: env.DEMO_SEED !== '0',
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    ...(env.REDIS_SENTINELS ? { redisSentinels: parseSentinels(env.REDIS_SENTINELS) } : {}),
    redisSentinelName: env.REDIS_SENTINEL_NAME || 'mymaster',
    ...(env.EVICT_REDIS_WAIT_REPLICAS
      ? {
          redisWaitForReplicas: {
            replicas: Number(env.EVICT_REDIS_WAIT_REPLICAS),
            timeoutMs: Number(env.EVICT_REDIS_WAIT_TIMEOUT_MS || 500),
          },
        }
      : {}),
    redisPrefix: env.EVICT_REDIS_PREFIX ?? 'evict:',
    ...(env.EVICT_STORE_TIMEOUT_MS ? { storeTimeoutMs: Number(env.EVICT_STORE_TIMEOUT_MS) } : {}),
    ...(env.EVICT_CONNECTION_TTL_MS ? { connectionTtlMs: Number(env.EVICT_CONNECTION_TTL_MS) } : {}),
    ...loginPolicyFromEnv(env),
    log: (line) => console.log(line),
  };
}

/** `REDIS_SENTINELS`: `host:port` pairs separated by commas. */
function parseSentinels(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const match = /^\s*(.+):(\d+)\s*$/.exec(entry);
    if (match === null) throw new Error(`REDIS_SENTINELS: ${JSON.stringify(entry)} is not host:port`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
  });
}

/** `EVICT_WEBHOOK_URL`, `EVICT_WEBHOOK_FORMAT` (`evict`, the default, `tencent` or `wukongim`) and its `EVICT_WEBHOOK_SECRET`. */
function webhookFromEnv(env: NodeJS.ProcessEnv): { webhook?: DemoOptions['webhook'] } {
  const url = env.EVICT_WEBHOOK_URL;
  if (url === undefined || url === '') return {};
  const format = (env.EVICT_WEBHOOK_FORMAT || 'evict') as WebhookFormat;
  if (!WEBHOOK_FORMATS.includes(format))
    throw new Error(`EVICT_WEBHOOK_FORMAT must be one of ${WEBHOOK_FORMATS.join(', ')}`);
  const secret = env.EVICT_WEBHOOK_SECRET;
  // Unsigned deliveries would teach receivers to trust anyone who can reach them.
  if (secret === undefined || secret === '')
    throw new Error(
      'EVICT_WEBHOOK_SECRET must be set with EVICT_WEBHOOK_URL: the deliveries are signed with it',
    );
  return { webhook: { url, format, secret } };
}

/** Whether the demo would listen on loopback only: `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
  const address = host.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  return address === 'localhost' || address === '::1' || /^127(\.\d{1,3}){3}$/.test(address);
}

/**
 * What would be open to anyone who reaches the demo, each with the setting that closes it. The
 * Express demo also signs JWTs (`jwtLogin`) with its secret.
 */
export function unsafeExposures(options: DemoOptions, routes: { jwtLogin?: boolean } = {}): string[] {
  const exposures: string[] = [];
  if (options.managerToken === undefined)
    exposures.push(
      'the WuKongIM admin routes and the console are open (anyone could kick any user): set EVICT_MANAGER_TOKEN',
    );
  if (options.metricsToken === undefined)
    exposures.push(
      'GET /metrics is open (how busy and how attacked the service is): set EVICT_METRICS_TOKEN',
    );
  if (options.tencent.secretKey === DEMO_TENCENT_SECRET_KEY)
    exposures.push(
      "the Tencent secret key is the demo's published one (anyone can sign an admin UserSig): set TENCENT_SECRET_KEY",
    );
  if (options.userSigRoute)
    exposures.push(
      'GET /demo/usersig signs a UserSig for anyone who asks, admins included: set EVICT_DEMO_USERSIG_ROUTE=0',
    );
  if (routes.jwtLogin === true && options.jwtSecret === DEMO_JWT_SECRET)
    exposures.push(
      "the JWT secret is the demo's published one (anyone can sign a JWT as any user): set EVICT_DEMO_JWT_SECRET",
    );
  return exposures;
}

/**
 * Why the demo must not listen where it was asked to, or undefined: off loopback, it refuses to
 * serve open admin routes, the demo's published secrets or the UserSig route, unless the operator
 * accepted the risk with `EVICT_DEMO_UNSAFE_OFF_LOOPBACK=1`.
 */
export function offLoopbackRefusal(
  options: DemoOptions,
  routes: { jwtLogin?: boolean } = {},
): string | undefined {
  if (isLoopbackHost(options.host) || options.unsafeOffLoopback) return undefined;
  const exposures = unsafeExposures(options, routes);
  if (exposures.length === 0) return undefined;
  return [
    `refusing to listen on ${options.host}, an address other than loopback, because:`,
    ...exposures.map((line) => `  - ${line}`),
    `Set those, listen on 127.0.0.1 (HOST), or accept the risk on a network you trust with ${UNSAFE_OFF_LOOPBACK_OPT_IN}=1.`,
  ].join('\n');
}

/** A demo asked to listen off loopback with something open (`offLoopbackRefusal`). */
export class DemoRefusedError extends Error {
  readonly code = 'DEMO_UNSAFE_OFF_LOOPBACK';
}

/**
 * `EVICT_LOGIN_POLICY` (a preset name: `openim:1`, `tencent:multi`, …; unset: none),
 * `EVICT_MAX_SESSIONS` (its cap per class of device) and `EVICT_LOGIN_ON_EXCEED` (`revoke-oldest`, the
 * presets' own, or `refuse-new`).
 */
function loginPolicyFromEnv(env: NodeJS.ProcessEnv): { loginPolicy?: LoginPolicy } {
  const preset = env.EVICT_LOGIN_POLICY;
  if (preset === undefined || preset === '') return {};
  if (!LOGIN_POLICY_PRESETS.includes(preset as LoginPolicyPreset))
    throw new Error(`EVICT_LOGIN_POLICY must be one of ${LOGIN_POLICY_PRESETS.join(', ')}`);
  const max = env.EVICT_MAX_SESSIONS;
  const policy = loginPolicyPreset(preset as LoginPolicyPreset, max ? { maxPerClass: Number(max) } : {});
  const onExceed = env.EVICT_LOGIN_ON_EXCEED;
  if (onExceed !== undefined && onExceed !== 'revoke-oldest' && onExceed !== 'refuse-new')
    throw new Error('EVICT_LOGIN_ON_EXCEED must be revoke-oldest or refuse-new');
  return { loginPolicy: onExceed === undefined ? policy : { ...policy, onExceed } };
}

/** What each demo engine must release after `engine.close()`: the Redis store and the client it borrowed. */
const demoStores = new WeakMap<Evict, () => Promise<void>>();

/**
 * The demo's engine: on the in-memory store, or, with `REDIS_URL`, on a Redis store shared by every
 * node started with the same URL and prefix. The demo owns the Redis client and quits it on close.
 */
export async function createDemoEngine(options: DemoOptions): Promise<Evict> {
  const common = {
    nodeId: options.nodeId,
    ...(options.storeTimeoutMs === undefined ? {} : { storeTimeoutMs: options.storeTimeoutMs }),
    ...(options.connectionTtlMs === undefined ? {} : { connectionTtlMs: options.connectionTtlMs }),
    ...(options.loginPolicy === undefined ? {} : { loginPolicy: options.loginPolicy }),
  };
  if (options.redisUrl === undefined && options.redisSentinels === undefined) return createEvict(common);
  const clientOptions = {
    lazyConnect: true,
    // While Redis is unreachable a command fails at once, and one in flight when the link drops is
    // failed, not resent: none lands later, after its request was answered with an error.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  };
  const client =
    options.redisSentinels === undefined
      ? new Redis(options.redisUrl!, clientOptions)
      : new Redis({
          ...clientOptions,
          sentinels: options.redisSentinels,
          name: options.redisSentinelName,
          // Told of a failover by the Sentinels (+switch-master), not only when the old primary's link drops.
          failoverDetector: true,
        });
  // Connection errors reach the engine as failed commands (fail closed, internal errors); logged here they would only repeat.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new Error(`cannot reach Redis at ${describeRedisAt(options)}: ${String(error)}`);
  }
  const store = new RedisStore({
    client,
    prefix: options.redisPrefix,
    ...(options.redisWaitForReplicas === undefined ? {} : { waitForReplicas: options.redisWaitForReplicas }),
  });
  const engine = createEvict({ ...common, store });
  demoStores.set(engine, async () => {
    await store.close();
    // QUIT, or give up after a second; the fallback timer is cleared, not left to keep the process up.
    let fallback: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit(),
      new Promise((resolve) => {
        fallback = setTimeout(resolve, 1_000);
      }),
    ]).catch(() => undefined);
    clearTimeout(fallback);
    client.disconnect();
  });
  return engine;
}

/** A Redis URL with its password masked. */
function describeRedisUrl(redisUrl: string): string {
  const url = new URL(redisUrl);
  if (url.password !== '') url.password = '***';
  return url.toString();
}

/** The Redis the demo uses: its URL, password masked, or its Sentinels and the primary's name there. */
function describeRedisAt(options: DemoOptions): string {
  if (options.redisSentinels === undefined) return describeRedisUrl(options.redisUrl!);
  const sentinels = options.redisSentinels.map(({ host, port }) => `${host}:${port}`).join(',');
  return `primary ${JSON.stringify(options.redisSentinelName)} of Sentinels ${sentinels}`;
}

/** Where the demo keeps its state, for the banner (a password in the URL is not printed). */
export function describeStore(options: DemoOptions): string {
  if (options.redisUrl === undefined && options.redisSentinels === undefined) return 'in-memory store';
  const waits = options.redisWaitForReplicas;
  const acknowledged =
    waits === undefined
      ? ''
      : `, revocations confirmed by ${waits.replicas} replica(s) within ${waits.timeoutMs} ms`;
  return `Redis store at ${describeRedisAt(options)} prefix ${JSON.stringify(options.redisPrefix)}${acknowledged}`;
}

/**
 * The admin routes every demo mounts: the three families, the self-service routes, the OpenAPI
 * document of them all at `GET /openapi.json`, the engine's metrics at `GET /metrics` (behind
 * `EVICT_METRICS_TOKEN` as a Bearer token when set; open, like the WuKongIM routes, when not), and
 * the admin console at `GET /console` (behind the manager token when set).
 */
export function demoAdminOptions(engine: Evict, options: DemoOptions): AdminApiOptions {
  const registry = new Registry();
  evictMetrics(engine, { registry });
  return {
    wukongim: wukongimOptions(options),
    tencent: options.tencent,
    sessions: true,
    openapi: { title: 'evict demo', version: '1.0.0' },
    metrics:
      options.metricsToken === undefined
        ? { registry, allowUnauthenticated: true }
        : { registry, bearerToken: options.metricsToken },
    // Behind the manager token when there is one, open (like the WuKongIM routes) when not.
    console: options.managerToken === undefined ? { allowUnauthenticated: true } : {},
  };
}

/** The WuKongIM family's options for the demo: the manager token, or an explicit, loud opt-out. */
export function wukongimOptions(options: DemoOptions) {
  return options.managerToken === undefined
    ? { allowUnauthenticated: true }
    : { managerToken: options.managerToken };
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** One readable line per revocation: the audit event. */
export function describeRevocation(e: RevocationEvent): string {
  const actor = e.actor.id === undefined ? e.actor.type : `${e.actor.type} ${e.actor.id}`;
  const target = [
    `uid=${e.uid}`,
    e.deviceFlag === undefined ? '' : `device=${e.deviceFlag}`,
    e.connId === undefined ? '' : `conn=${e.connId}`,
    e.pushTokenKinds === undefined ? '' : `push tokens cleared=[${e.pushTokenKinds.join(',')}]`,
  ]
    .filter(Boolean)
    .join(' ');
  return `[evict] ${time(e.atMs)} ${e.action} ${target} by ${actor} via ${e.endpoint ?? 'host code'} on node ${e.servedByNodeId}: ${e.connectionsClosed} connection(s) closed`;
}

/**
 * One line for the connections of one user's device that evict closed with one code in one turn of
 * the event loop: a kick of a user holding a thousand sockets is one line, not a thousand
 * synchronous writes on the node that must close them.
 */
export function describeClosedConnections(closed: readonly ConnectionClosedEvent[]): string {
  const { uid, deviceFlag, code, reason } = closed[0]!;
  const last = closed.at(-1)!;
  const which =
    closed.length === 1
      ? `connection ${last.connId}`
      : `${closed.length} connections (${closed[0]!.connId} … ${last.connId})`;
  return `[evict] ${time(last.atMs)} ${which} of ${uid} (device ${deviceFlag}) closed: ${code} ${reason}`;
}

/** Prints the audit trail and the connections evict closes (`describeClosedConnections`). */
export function logEngineEvents(engine: Evict, log: (line: string) => void): void {
  engine.on('revocation', (event) => log(describeRevocation(event)));
  let pending: Map<string, ConnectionClosedEvent[]> | undefined;
  const flush = () => {
    const groups = pending!;
    pending = undefined;
    for (const closed of groups.values()) log(describeClosedConnections(closed));
  };
  engine.on('connectionClosed', (e) => {
    if (pending === undefined) {
      pending = new Map();
      setImmediate(flush);
    }
    const key = `${e.code}\u0000${e.deviceFlag}\u0000${e.uid}`;
    const group = pending.get(key);
    if (group === undefined) pending.set(key, [e]);
    else group.push(e);
  });
}

/**
 * The WebSocket endpoint `/ws?token=…` (or `?identifier=&usersig=`), with an optional `device_id`:
 * the upgrade is checked like any request, the socket is registered with the engine (with its
 * address, port and device id, which `/connz` shows), told its `conn_id` and `node_id`, and closed
 * by evict on a kick, a device quit or a connection removal.
 */
export function attachWebSocket(
  server: Server,
  engine: Evict,
  options: DemoOptions,
  /** Upgrade paths another listener serves (socket.io's `/socket.io/`): left alone here. */
  elsewhere: readonly string[] = [],
): { close(): void } {
  const sockets = new WebSocketServer({ noServer: true });
  const check = createUpgradeCheck(engine, { credentials: ['session', userSigSource(options.tencent)] });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (elsewhere.some((path) => url.pathname.startsWith(path))) return;
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    check(req).then(
      (result) => {
        if (!result.ok) return rejectUpgrade(socket, result.response);
        sockets.handleUpgrade(req, socket, head, (ws) => {
          const { uid } = result.principal;
          const deviceFlag = result.principal.deviceFlag ?? Number(url.searchParams.get('device_flag') ?? 0);
          const token = url.searchParams.get('token');
          const credential = token === null ? undefined : { type: 'session' as const, token };
          const deviceId = url.searchParams.get('device_id');
          const { remoteAddress, remotePort } = req.socket;
          registerSocket(engine, ws, {
            uid,
            deviceFlag,
            ...(credential === undefined ? {} : { credential }),
            // What /connz and listConnections show an operator: the client's address and install id.
            ...(remoteAddress === undefined ? {} : { ip: remoteAddress.replace(/^::ffff:/, '') }),
            ...(remotePort === undefined ? {} : { port: remotePort }),
            ...(deviceId === null || deviceId === '' ? {} : { deviceId }),
          }).then(
            (handle) => {
              ws.send(
                JSON.stringify({
                  type: 'hello',
                  uid,
                  device_flag: deviceFlag,
                  conn_id: handle.connId,
                  node_id: handle.nodeId,
                }),
              );
              options.log(`[demo] ${uid} connected: conn_id ${handle.connId} on node ${handle.nodeId}`);
            },
            () => undefined,
          );
        });
      },
      () => socket.destroy(),
    );
  });

  return {
    close() {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
    },
  };
}

/**
 * The demo data the seeds' commands expect: user123 with sessions on devices 0 (app) and 1 (web),
 * and the connection 12345 on this node, a simulated app (device 0) connection, so that the
 * device_quit of device 1 (seed 000) leaves it for conn/remove (seed 001). On a shared Redis only
 * one node seeds (the others run with `DEMO_SEED=0`): 12345 then belongs to the node that seeded.
 */
export async function seedDemoData(
  engine: Evict,
  log: (line: string) => void,
): Promise<Record<number, string>> {
  const tokens: Record<number, string> = {};
  await engine.addUser('user123');
  for (const deviceFlag of [0, 1])
    tokens[deviceFlag] = (await engine.issueSession({ uid: 'user123', deviceFlag })).token;
  await engine.registerConnection({
    uid: 'user123',
    deviceFlag: 0,
    connId: 12345,
    close: ({ code, reason }) =>
      log(`[demo] simulated connection 12345 of user123 closed (${code} ${reason})`),
  });
  return tokens;
}

/** Listens and answers the demo's URL. */
export async function listen(server: Server, options: DemoOptions): Promise<string> {
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return `http://${options.host}:${port}`;
}

/**
 * Serves a demo's app: the WebSocket endpoint, the demo data, then listening. Each framework's demo
 * builds its app and hands its server here.
 */
export async function serveDemo(
  server: Server,
  engine: Evict,
  options: DemoOptions,
  /** Stops the app; default: closes the server (Nest passes `app.close()`). */
  stop: () => Promise<void> = () => new Promise<void>((resolve) => server.close(() => resolve())),
  /** Upgrade paths another listener of the server serves (the Express demo's socket.io). */
  upgradesElsewhere: readonly string[] = [],
): Promise<Demo> {
  // `runDemo` refused already; this catches a copied `startDemo` called with its own options.
  const refusal = offLoopbackRefusal(options);
  if (refusal !== undefined) {
    await engine.close();
    await demoStores.get(engine)?.();
    throw new DemoRefusedError(refusal);
  }
  const webhooks = startWebhooks(engine, options);
  const sockets = attachWebSocket(server, engine, options, upgradesElsewhere);
  const seedTokens = options.seed ? await seedDemoData(engine, options.log) : {};
  const url = await listen(server, options);
  return {
    url,
    engine,
    server,
    seedTokens,
    webhooks,
    async close() {
      sockets.close();
      await stop();
      if (webhooks !== undefined) {
        const { delivered, dropped } = await webhooks.close({ drainTimeoutMs: 2_000 });
        options.log(`[demo] webhooks: ${delivered} event(s) delivered, dropped ${JSON.stringify(dropped)}`);
      }
      await engine.close();
      await demoStores.get(engine)?.();
    },
  };
}

/** The webhook sender of `EVICT_WEBHOOK_URL`, if set; the Tencent format names the demo's app. */
function startWebhooks(engine: Evict, options: DemoOptions): WebhookSender | undefined {
  if (options.webhook === undefined) return undefined;
  return createWebhookSender(engine, {
    ...options.webhook,
    tencent: { sdkAppId: options.tencent.sdkAppId },
  });
}

/** A URL without its user, password and query (where a receiver's token might sit), for the banner. */
function describeWebhookUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** The banner's warning when the operator accepted the risk of listening off loopback with something open. */
function exposedWarning(options: DemoOptions, routes: { jwtLogin?: boolean }): string {
  if (isLoopbackHost(options.host)) return '';
  const exposures = unsafeExposures(options, routes);
  if (exposures.length === 0) return '';
  return `WARNING: listening on ${options.host} with ${UNSAFE_OFF_LOOPBACK_OPT_IN}=1, though:\n${exposures.map((line) => `  - ${line}`).join('\n')}\n`;
}

/** The entry point of each demo process: start, print the story's first steps, stop on a signal. */
export async function runDemo(
  framework: string,
  start: (options: DemoOptions) => Promise<Demo>,
  /** Routes only some demos serve: the Express demo's `POST /login/jwt`. */
  routes: { jwtLogin?: boolean } = {},
): Promise<void> {
  const options = demoOptionsFromEnv();
  const refusal = offLoopbackRefusal(options, routes);
  if (refusal !== undefined) {
    console.error(`evict ${framework} demo: ${refusal}`);
    process.exitCode = 1;
    return;
  }
  const demo = await start(options);
  const { url, seedTokens } = demo;
  const port = new URL(url).port;
  const t = options.tencent;
  const demoData = options.seed
    ? `Demo data: user123 with devices 0 (app) and 1 (web), and connection 12345 (device 0) on node ${options.nodeId}.
  user123 device 1 token: ${seedTokens[1] ?? '-'}`
    : 'Demo data: none (DEMO_SEED=0; on a shared Redis the node that seeded holds it).';
  console.log(`evict ${framework} demo on ${url} (node ${options.nodeId}, ${describeStore(options)})
${options.managerToken === undefined ? 'WuKongIM admin routes are OPEN (no EVICT_MANAGER_TOKEN): a loopback demo only.\n' : ''}${exposedWarning(options, routes)}
${demoData}
Tencent app: sdkappid ${t.sdkAppId}, admin ${t.admins.join(',')}${options.userSigRoute ? ` (a UserSig: curl '${url}/demo/usersig?identifier=${t.admins[0]}')` : ''}
${options.webhook === undefined ? '' : `Webhooks: ${options.webhook.format} format, signed, to ${describeWebhookUrl(options.webhook.url)}\n`}Console: ${url}/console   metrics: ${url}/metrics   OpenAPI: ${url}/openapi.json

Try the seeds:
  curl -X POST "http://localhost:${port}/user/device_quit" -H "Content-Type: application/json" -d '{"uid": "user123", "device_flag": 1}'
  curl -X POST "http://localhost:${port}/conn/remove" -H "Content-Type: application/json" -d '{"uid": "user123", "conn_id": 12345${options.seed ? `, "node_id": ${options.nodeId}` : ''}}'
`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      demo.close().then(() => process.exit(0));
    });
  }
}
