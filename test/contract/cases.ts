/**
 * The HTTP contract of evict (SPEC.md), as one table that `contract.test.ts` runs against every
 * adapter in `apps/`. Each case is data: a request, the answer it must get, and what must (not)
 * change. `setup` and `before` are the only code: they prepare the world (and check what they rely
 * on). Nothing here knows which adapter runs it.
 */
import type {
  AdminApiOptions,
  Credential,
  Evict,
  FamilyName,
  GuardOptions,
  GuardRequest,
  PushTokenKind,
} from '@evict/core';
import { StoreCorruptError, userSigSource } from '@evict/core';
import { expect } from 'vitest';
import type { ManualClock } from '../support/clock.js';
import type { FaultyStore } from '../support/faulty-store.js';

// ---- the app every case talks to ----

export const MANAGER_TOKEN = 'manager-token-0123456789abcdef';
export const SDKAPPID = 1400000001;
export const SECRET_KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
export const OTHER_KEY = '0000000000000000000000000000000000000000000000000000000000000000';
export const ADMIN = 'admin';
/** A second App admin. */
export const OPS = 'ops';

/** A JWT the host verified itself, as claims in `x-claims: {"sub","dev"?,"iat","exp"}`. */
function claimsFromHeader(request: GuardRequest): Credential | undefined {
  const raw = request.headers['x-claims'];
  if (typeof raw !== 'string') return undefined;
  const claims = JSON.parse(raw) as { sub: string; dev?: number; iat: number; exp: number };
  return {
    type: 'stateless',
    uid: claims.sub,
    ...(claims.dev === undefined ? {} : { deviceFlag: claims.dev }),
    issuedAtSec: claims.iat,
    expiresAtMs: claims.exp * 1000,
  };
}

/** The guard on `GET /protected`: a session token, else a UserSig, else the host's own JWT. */
export const GUARD: GuardOptions = {
  credentials: ['session', userSigSource({ sdkAppId: SDKAPPID, secretKey: SECRET_KEY }), claimsFromHeader],
};

/** How one case's app differs from the default one. */
export interface CaseOptions {
  families?: FamilyName[];
  /** Mount the admin routes here instead of the root. */
  prefix?: string;
  rateLimitPerSecond?: number;
  admins?: string[];
  compat?: true;
  /** The engine's store timeout (default 2 000 ms); small for a hanging store. */
  storeTimeoutMs?: number;
}

export function adminOptionsFor(options: CaseOptions = {}): AdminApiOptions {
  return {
    ...(options.families === undefined ? {} : { families: options.families }),
    wukongim: { managerToken: MANAGER_TOKEN, ...(options.compat ? { compat: true } : {}) },
    tencent: {
      sdkAppId: SDKAPPID,
      secretKey: SECRET_KEY,
      admins: options.admins ?? [ADMIN, OPS],
      ...(options.rateLimitPerSecond === undefined ? {} : { rateLimitPerSecond: options.rateLimitPerSecond }),
    },
    lancens: {},
  };
}

// ---- the world a case runs in ----

export interface SigOptions {
  /** Signed this many seconds before the clock's now (default 0). */
  secondsAgo?: number;
  /** Lifetime (default one day). */
  expireSec?: number;
  sdkAppId?: number;
  key?: string;
  /** `tencent` (default): Tencent's own tls-sig-api-v2; `evict`: core's signUserSig. */
  signer?: 'tencent' | 'evict';
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * A fresh engine, store and app per case. Before `setup` runs, the store holds `alice01` with
 * sessions on devices 0 and 1 (`tokens.alice0`, `tokens.alice1`), `bobby02` with one on device 0
 * (`tokens.bob0`), and ring and message push tokens for both; then the clock moved on one second.
 */
export interface World {
  engine: Evict;
  /** What the engine talks to: a memory store with faults on demand. */
  store: FaultyStore;
  clock: ManualClock;
  /** `http://127.0.0.1:<port>` of the app. */
  url: string;
  /** Session tokens by name. */
  tokens: Record<string, string>;
  /** Issues a session and files its token under `name`. */
  login(name: string, uid: string, deviceFlag: number, ttlMs?: number): Promise<string>;
  /** A UserSig of `identifier` at the clock's time. */
  sig(identifier: string, options?: SigOptions): string;
  /** Sends a request to the app over HTTP. */
  send(request: ContractRequest): Promise<Answer>;
  /** Opens a real WebSocket to `/ws?token=` and waits for its hello; `closed` expectations name it. */
  connect(name: string, token: string): Promise<void>;
  /** The hello of an open socket. */
  hello(name: string): { conn_id: number; node_id: number };
  /** Registers a connection whose close is only recorded; `closed` expectations name it. */
  simulate(name: string, connection: { uid: string; deviceFlag: number; connId?: number }): Promise<void>;
}

// ---- the table's types ----

export type ContractFamily = 'wukongim' | 'tencent' | 'lancens' | 'guard' | 'socket';

export type ContractBody =
  /** Sent as JSON. */
  | Record<string, unknown>
  | unknown[]
  /** Sent as they are. */
  | string
  | Buffer
  /** Sent in 1 KiB chunks, without Content-Length. */
  | { chunked: Buffer };

export interface ContractRequest {
  method: string;
  path: string;
  /** An undefined value leaves the parameter out. */
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  /** A body gets `content-type: application/json` unless `headers` name another ('' for none at all). */
  body?: ContractBody;
  /** A WebSocket upgrade instead: 101 and the first message, or the refusal's status and body. */
  websocket?: true;
}

export type Closed = { code: number; reason: string } | 'open';

export interface Expectation {
  status?: number;
  /** A string is the exact text ('' for none); anything else the exact JSON. */
  body?: unknown;
  bodyContains?: string;
  /** Not 2xx and not a body of any family or the guard: the framework answered. */
  fallsThrough?: true;
  /** What became of the sockets and connections the setup opened, by name. */
  closed?: Record<string, Closed>;
  /** The push-token kinds each user has left. */
  pushTokens?: Record<string, PushTokenKind[]>;
  /** The revocation events this request emitted (each matched as a subset). */
  events?: Record<string, unknown>[];
}

export interface Step {
  before?(world: World): void | Promise<void>;
  request: ContractRequest | ((world: World) => ContractRequest);
  expect: Expectation;
}

export interface ContractCase extends Step {
  name: string;
  family: ContractFamily;
  options?: CaseOptions;
  setup?(world: World): void | Promise<void>;
  /**
   * The store is exactly as it was (`true`), or all but the rate-limit counter (an authenticated
   * Tencent call counts against the app's limit, whatever its answer). Also: no event.
   */
  unchanged?: true | 'but the rate counter';
  /** Requests that follow, each with its own expectation. */
  next?: Step[];
}

// ---- requests ----

const DEVICE_QUIT = '/user/device_quit';
const CONN_REMOVE = '/conn/remove';
const KICK = '/v4/im_open_login_svc/kick';
const LOGOUT = '/v1/api/user/logout';
const RING = '/v1/api/user/token';
const MESSAGE = '/v1/api/user/message/token';

/** A WuKongIM call with the manager token (or `token`; null: no header). */
const wk = (path: string, body?: ContractBody, token: string | null = MANAGER_TOKEN): ContractRequest => ({
  method: 'POST',
  path,
  ...(token === null ? {} : { headers: { token } }),
  ...(body === undefined ? {} : { body }),
});

/** The seed's kick URL with a UserSig of the admin from tls-sig-api-v2; `query` overrides (undefined: leave out). */
const kick =
  (body?: ContractBody, query: Record<string, string | undefined> = {}, prefix = '') =>
  (w: World): ContractRequest => ({
    method: 'POST',
    path: `${prefix}${KICK}`,
    query: {
      sdkappid: String(SDKAPPID),
      identifier: ADMIN,
      usersig: w.sig(ADMIN),
      random: '99999999',
      contenttype: 'json',
      ...query,
    },
    ...(body === undefined ? {} : { body }),
  });

/** The same with a usersig chosen at request time. */
const kickWith =
  (body: ContractBody, query: (w: World) => Record<string, string | undefined>) =>
  (w: World): ContractRequest =>
    kick(body, query(w))(w);

/** The seed's curl: `-H "accept: application/json"` (and a JSON body). */
const logout = (body?: ContractBody): ContractRequest => ({
  method: 'POST',
  path: LOGOUT,
  headers: { accept: 'application/json' },
  ...(body === undefined ? {} : { body }),
});

const del = (path: string, token?: string, extra: Partial<ContractRequest> = {}): ContractRequest => ({
  method: 'DELETE',
  path,
  headers: { accept: 'application/json', ...(token === undefined ? {} : { token }) },
  ...extra,
});

const guarded = (
  headers: Record<string, string> = {},
  query?: Record<string, string | undefined>,
): ContractRequest => ({
  method: 'GET',
  path: '/protected',
  headers,
  ...(query === undefined ? {} : { query }),
});

/** `GET /protected` with the session token `name`. */
const asSession = (name: string) => (w: World) => guarded({ token: w.tokens[name]! });
const asUserSig = (uid: string, options?: SigOptions) => (w: World) =>
  guarded({}, { identifier: uid, usersig: w.sig(uid, options) });
const asClaims = (claims: (nowSec: number) => Record<string, unknown>) => (w: World) =>
  guarded({ 'x-claims': JSON.stringify(claims(Math.floor(w.clock.nowMs() / 1000))) });

const upgrade = (token?: string): ContractRequest => ({
  method: 'GET',
  path: '/ws',
  websocket: true,
  ...(token === undefined ? {} : { query: { token } }),
});

/** A valid JSON object padded with whitespace to `bytes` bytes. */
function bigJson(fields: Record<string, unknown>, bytes = 17 * 1024): string {
  const base = JSON.stringify(fields);
  return `${base.slice(0, -1)}${' '.repeat(Math.max(0, bytes - base.length))}}`;
}

/** The same, over 16 KiB, sent in chunks without Content-Length. */
const chunkedOver16KiB = (fields: Record<string, unknown>) => ({ chunked: Buffer.from(bigJson(fields)) });

// ---- answers ----

const OK = '{"status":"ok"}';
const TENCENT_OK = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';
const wkError = (status: number, msg: string) => ({ msg, status });
const fail = (code: number, info: string) => ({ ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: info });
const invalid = (detail: string) => fail(70402, `invalid parameter: ${detail}`);
const lancens = (error: string | number) => ({ error });
const unauthorized = (reason: string, message: string) => ({ error: 'unauthorized', reason, message });
const usersigRejected = (code: number, info: string, reason: string) => ({ ...fail(code, info), reason });

const KICKED = unauthorized('kicked', 'the user was kicked; log in again');
const DEVICE_QUIT_REJECTED = unauthorized('device_quit', 'the device was signed out; log in again');
const LOGGED_OUT = unauthorized('logged_out', 'the session was logged out');
const EXPIRED = unauthorized('expired', 'the credential has expired');
const UNKNOWN = unauthorized('unknown', 'the credential is not known');
const NO_CREDENTIAL = unauthorized(
  'unknown',
  // The contract apps' guard reads sessions, UserSigs and a custom credential: the message names all three.
  'no credential: send a session token in the `token` header or `Authorization: Bearer`, or a UserSig in the `identifier` and `usersig` query parameters, or a credential',
);
// An upgrade check reads the session token from `?token=` too, and says so.
const NO_CREDENTIAL_UPGRADE = unauthorized(
  'unknown',
  'no credential: send a session token in the `token` header or `Authorization: Bearer` (or `?token=`)',
);
const UNAVAILABLE = unauthorized('unavailable', 'the session store is unavailable; try again later');
const INTERNAL = wkError(500, 'internal server error');
const TENCENT_INTERNAL = fail(70500, 'internal server error, please try again later');
const TENCENT_TIMEOUT = fail(70169, 'internal server timeout, please try again later');
const DEVICE_FLAG_MSG = 'device_flag must be -1 (all devices) or an integer from 0 to 255';
const RANDOM_MSG = 'random must be a 32-bit unsigned integer';

const principal = (uid: string, deviceFlag: number | undefined, credential: string) =>
  deviceFlag === undefined ? { uid, credential } : { uid, deviceFlag, credential };
const ALICE_WEB = principal('alice01', 1, 'session');
const ALICE_APP = principal('alice01', 0, 'session');
const SOCKET_CLOSED = {
  kicked: { code: 4001, reason: 'kicked' },
  device_quit: { code: 4002, reason: 'device_quit' },
  connection_removed: { code: 4003, reason: 'connection_removed' },
} as const;

/** A follow-up: the session `name` on `/protected` answers `status` with `body`. */
const sessionNow = (name: string, status: number, body: unknown): Step => ({
  request: asSession(name),
  expect: { status, body },
});

const tamper = (sig: string) => {
  const at = Math.floor(sig.length / 2);
  return `${sig.slice(0, at)}${sig[at] === 'A' ? 'B' : 'A'}${sig.slice(at + 1)}`;
};

const json = (value: unknown) => JSON.stringify(value);

// ---- WuKongIM (seeds 000 and 001) ----

const wukongimAuth: ContractCase[] = [DEVICE_QUIT, CONN_REMOVE].flatMap((path) => {
  const body = path === CONN_REMOVE ? { uid: 'alice01', conn_id: 1 } : { uid: 'alice01' };
  return (
    [
      ['no token header', null],
      ['an empty token', ''],
      ['a wrong token of the same length', MANAGER_TOKEN.replace(/.$/, 'X')],
      ['a shorter token', MANAGER_TOKEN.slice(0, 5)],
      ['a longer token', `${MANAGER_TOKEN}0`],
      ['the token in upper case', MANAGER_TOKEN.toUpperCase()],
    ] as const
  ).map(
    ([what, token]): ContractCase => ({
      name: `${path}: 401 with an empty body for ${what}`,
      family: 'wukongim',
      request: wk(path, body, token),
      expect: { status: 401, body: '' },
      unchanged: true,
    }),
  );
});

const deviceQuitBadBodies: [string, ContractBody | undefined, string][] = [
  ['a body that is not JSON', '{"uid": "alice01"', 'request body is not valid JSON'],
  ['a body of form fields', 'uid=alice01&device_flag=1', 'request body is not valid JSON'],
  [
    'a body that is not UTF-8',
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    'request body is not valid JSON',
  ],
  ['a JSON array', [{ uid: 'alice01' }], 'request body must be a JSON object'],
  ['a JSON string', json('alice01'), 'request body must be a JSON object'],
  ['a JSON number', '42', 'request body must be a JSON object'],
  ['JSON null', 'null', 'request body must be a JSON object'],
  ['an empty body', undefined, 'request body is empty'],
  ['a body of whitespace', '  \n', 'request body is empty'],
  [
    'a body over 16 KiB with Content-Length',
    bigJson({ uid: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ uid: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
  ['uid missing', { device_flag: 1 }, 'uid must be a string'],
  ['uid a number', { uid: 42 }, 'uid must be a string'],
  ['uid null', { uid: null }, 'uid must be a string'],
  ['uid an array', { uid: ['alice01'] }, 'uid must be a string'],
  ['uid empty', { uid: '' }, 'uid must not be empty'],
  ['uid over 255 bytes', { uid: 'é'.repeat(128) }, 'uid must be at most 255 bytes of UTF-8'],
  ['uid with a NUL', { uid: 'ali\u0000ce' }, 'uid must not contain control characters'],
  ['uid with a newline', { uid: 'alice01\n' }, 'uid must not contain control characters'],
  ['uid with DEL', { uid: 'alice01\u007f' }, 'uid must not contain control characters'],
  ['uid with a lone surrogate', '{"uid":"ali\\ud800ce"}', 'uid must be well-formed unicode'],
  ['device_flag "1"', { uid: 'alice01', device_flag: '1' }, DEVICE_FLAG_MSG],
  ['device_flag 1.5', { uid: 'alice01', device_flag: 1.5 }, DEVICE_FLAG_MSG],
  ['device_flag 256', { uid: 'alice01', device_flag: 256 }, DEVICE_FLAG_MSG],
  ['device_flag -2', { uid: 'alice01', device_flag: -2 }, DEVICE_FLAG_MSG],
  ['device_flag true', { uid: 'alice01', device_flag: true }, DEVICE_FLAG_MSG],
  ['device_flag null', { uid: 'alice01', device_flag: null }, DEVICE_FLAG_MSG],
  ['an unknown field', { uid: 'alice01', device_flag: 1, force: true }, 'unknown field "force"'],
  ['a __proto__ key', '{"uid":"alice01","__proto__":{"device_flag":1}}', 'unknown field "__proto__"'],
  ['a constructor key', '{"uid":"alice01","constructor":{}}', 'unknown field "constructor"'],
];

const connRemoveBadBodies: [string, ContractBody | undefined, string][] = [
  ['a body that is not JSON', 'conn_id=1', 'request body is not valid JSON'],
  ['a JSON array', '[]', 'request body must be a JSON object'],
  ['a JSON number', '1', 'request body must be a JSON object'],
  ['an empty body', undefined, 'request body is empty'],
  [
    'a body over 16 KiB with Content-Length',
    bigJson({ uid: 'alice01', conn_id: 1 }),
    'request body is larger than 16 KiB',
  ],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ uid: 'alice01', conn_id: 1 }),
    'request body is larger than 16 KiB',
  ],
  ['uid missing', { conn_id: 1 }, 'uid must be a string'],
  ['uid over 255 bytes', { uid: 'a'.repeat(256), conn_id: 1 }, 'uid must be at most 255 bytes of UTF-8'],
  ['conn_id missing', { uid: 'alice01' }, 'conn_id is required'],
  ['conn_id 0', { uid: 'alice01', conn_id: 0 }, 'conn_id must be a positive integer'],
  ['conn_id negative', { uid: 'alice01', conn_id: -5 }, 'conn_id must be a positive integer'],
  ['conn_id 1.5', { uid: 'alice01', conn_id: 1.5 }, 'conn_id must be a positive integer'],
  ['conn_id "12345"', { uid: 'alice01', conn_id: '12345' }, 'conn_id must be a positive integer'],
  ['conn_id null', { uid: 'alice01', conn_id: null }, 'conn_id must be a positive integer'],
  [
    'conn_id beyond MAX_SAFE_INTEGER',
    '{"uid":"alice01","conn_id":9007199254740993}',
    'conn_id must be a positive integer',
  ],
  ['conn_id 1e400 (Infinity)', '{"uid":"alice01","conn_id":1e400}', 'conn_id must be a positive integer'],
  ['node_id 0', { uid: 'alice01', conn_id: 1, node_id: 0 }, 'node_id must be a positive integer'],
  ['node_id negative', { uid: 'alice01', conn_id: 1, node_id: -1 }, 'node_id must be a positive integer'],
  ['node_id 1.5', { uid: 'alice01', conn_id: 1, node_id: 1.5 }, 'node_id must be a positive integer'],
  ['node_id "1"', { uid: 'alice01', conn_id: 1, node_id: '1' }, 'node_id must be a positive integer'],
  ['node_id null', { uid: 'alice01', conn_id: 1, node_id: null }, 'node_id must be a positive integer'],
  ['an unknown field', { uid: 'alice01', conn_id: 1, device_flag: 0 }, 'unknown field "device_flag"'],
  ['a __proto__ key', '{"uid":"alice01","conn_id":1,"__proto__":{}}', 'unknown field "__proto__"'],
  ['a constructor key', '{"uid":"alice01","conn_id":1,"constructor":1}', 'unknown field "constructor"'],
];

const quitEvent = (deviceFlag: number | 'all', connectionsClosed: number) => ({
  action: 'quit_device',
  uid: 'alice01',
  deviceFlag,
  actor: { type: 'manager' },
  endpoint: 'POST /user/device_quit',
  connectionsClosed,
});

const wukongim: ContractCase[] = [
  ...wukongimAuth,
  {
    name: '/user/device_quit: the token is checked before the body (no token and a bad body: 401)',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, 'not json', null),
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  {
    name: '/user/device_quit: the header may be spelled `Token`',
    family: 'wukongim',
    request: {
      method: 'POST',
      path: DEVICE_QUIT,
      headers: { Token: MANAGER_TOKEN },
      body: { uid: 'alice01', device_flag: 1 },
    },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit of one device: 200, its sessions and sockets are out, the others stay',
    family: 'wukongim',
    setup: async (w) => {
      await w.simulate('web', { uid: 'alice01', deviceFlag: 1, connId: 11 });
      await w.simulate('app', { uid: 'alice01', deviceFlag: 0, connId: 10 });
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: {
      status: 200,
      body: OK,
      closed: { web: SOCKET_CLOSED.device_quit, app: 'open' },
      events: [quitEvent(1, 1)],
    },
    next: [sessionNow('alice1', 401, DEVICE_QUIT_REJECTED), sessionNow('alice0', 200, ALICE_APP)],
  },
  ...(
    [
      ['absent', { uid: 'alice01' }],
      ['-1', { uid: 'alice01', device_flag: -1 }],
    ] as const
  ).map(
    ([what, body]): ContractCase => ({
      name: `/user/device_quit with device_flag ${what}: every device of the user`,
      family: 'wukongim',
      setup: (w) => w.simulate('pc', { uid: 'alice01', deviceFlag: 2 }),
      request: wk(DEVICE_QUIT, body),
      expect: {
        status: 200,
        body: OK,
        closed: { pc: SOCKET_CLOSED.device_quit },
        events: [quitEvent('all', 1)],
      },
      next: [
        sessionNow('alice0', 401, DEVICE_QUIT_REJECTED),
        sessionNow('alice1', 401, DEVICE_QUIT_REJECTED),
      ],
    }),
  ),
  {
    name: '/user/device_quit of a device with a connection but no session',
    family: 'wukongim',
    setup: (w) => w.simulate('carol', { uid: 'carol03', deviceFlag: 2 }),
    request: wk(DEVICE_QUIT, { uid: 'carol03', device_flag: 2 }),
    expect: { status: 200, body: OK, closed: { carol: SOCKET_CLOSED.device_quit } },
  },
  {
    name: '/user/device_quit: a session issued after the quit works',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 0 }),
    expect: { status: 200, body: OK },
    next: [
      {
        before: async (w) => {
          await w.login('fresh', 'alice01', 0);
        },
        request: asSession('fresh'),
        expect: { status: 200, body: ALICE_APP },
      },
    ],
  },
  {
    name: "/user/device_quit: the seed's body, whitespace and a charset",
    family: 'wukongim',
    request: {
      ...wk(DEVICE_QUIT, '{\n  "uid": "alice01",\n  "device_flag": 1\n}\n'),
      headers: { token: MANAGER_TOKEN, 'content-type': 'application/json; charset=utf-8' },
    },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a body of exactly 16 KiB',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, bigJson({ uid: 'alice01', device_flag: 1 }, 16 * 1024)),
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a chunked body under 16 KiB',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { chunked: Buffer.from(bigJson({ uid: 'alice01', device_flag: 1 }, 4096)) }),
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a JSON body without a Content-Type header',
    family: 'wukongim',
    request: {
      ...wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
      headers: { token: MANAGER_TOKEN, 'content-type': '' },
    },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a query string does not change the route',
    family: 'wukongim',
    request: { ...wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }), query: { trace: '1' } },
    expect: { status: 200, body: OK },
  },
  {
    name: '/user/device_quit: a body one byte over 16 KiB',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, bigJson({ uid: 'alice01', device_flag: 1 }, 16 * 1024 + 1)),
    expect: { status: 400, body: wkError(400, 'request body is larger than 16 KiB') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: a uid of exactly 255 bytes is valid (404: no such user)',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: `${'é'.repeat(127)}a` }),
    expect: { status: 404, body: wkError(404, 'user does not exist') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: the manager token as Authorization: Bearer is not the token header (401)',
    family: 'wukongim',
    request: {
      method: 'POST',
      path: DEVICE_QUIT,
      headers: { authorization: `Bearer ${MANAGER_TOKEN}` },
      body: { uid: 'alice01', device_flag: 1 },
    },
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  ...deviceQuitBadBodies.map(
    ([what, body, msg]): ContractCase => ({
      name: `/user/device_quit: 400 for ${what}`,
      family: 'wukongim',
      request: wk(DEVICE_QUIT, body),
      expect: { status: 400, body: wkError(400, msg) },
      unchanged: true,
      next: [sessionNow('alice1', 200, ALICE_WEB)],
    }),
  ),
  {
    name: '/conn/remove with node_id: that connection closes (4003), the credentials stay valid',
    family: 'wukongim',
    setup: async (w) => {
      await w.simulate('target', { uid: 'alice01', deviceFlag: 0, connId: 12345 });
      await w.simulate('other', { uid: 'alice01', deviceFlag: 0, connId: 7 });
    },
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 12345, node_id: 1 }),
    expect: {
      status: 200,
      body: OK,
      closed: { target: SOCKET_CLOSED.connection_removed, other: 'open' },
      events: [
        {
          action: 'remove_connection',
          uid: 'alice01',
          connId: 12345,
          nodeId: 1,
          actor: { type: 'manager' },
          endpoint: 'POST /conn/remove',
          connectionsClosed: 1,
        },
      ],
    },
    next: [sessionNow('alice0', 200, ALICE_APP)],
  },
  {
    name: '/conn/remove without node_id finds the connection',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 3 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 3 }),
    expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.connection_removed } },
  },
  {
    name: '/conn/remove: a chunked body under 16 KiB',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 3 }),
    request: wk(CONN_REMOVE, { chunked: Buffer.from(bigJson({ uid: 'alice01', conn_id: 3 }, 3000)) }),
    expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.connection_removed } },
  },
  ...connRemoveBadBodies.map(
    ([what, body, msg]): ContractCase => ({
      name: `/conn/remove: 400 for ${what}`,
      family: 'wukongim',
      setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 1 }),
      request: wk(CONN_REMOVE, body),
      expect: { status: 400, body: wkError(400, msg), closed: { c: 'open' } },
      unchanged: true,
    }),
  ),
  {
    name: '/user/device_quit: 404 for an unknown user',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'nobody' }),
    expect: { status: 404, body: wkError(404, 'user does not exist') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: 404 for one device of an unknown user',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'nobody', device_flag: 0 }),
    expect: { status: 404, body: wkError(404, 'user does not exist') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: 404 for a device with no session and no connection',
    family: 'wukongim',
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 2 }),
    expect: { status: 404, body: wkError(404, 'device is not connected') },
    unchanged: true,
  },
  {
    name: '/user/device_quit: 404 for a device whose sessions were all quit already',
    family: 'wukongim',
    setup: async (w) => {
      await w.engine.quitDevice('alice01', 1);
      w.clock.advance(1000);
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, body: wkError(404, 'device is not connected') },
    unchanged: true,
  },
  {
    name: '/conn/remove: 404 for an unknown connection',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 1 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 999 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist'), closed: { c: 'open' } },
    unchanged: true,
  },
  {
    name: "/conn/remove: 404 for another user's connection",
    family: 'wukongim',
    setup: (w) => w.simulate('bob', { uid: 'bobby02', deviceFlag: 0, connId: 5 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 5 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist'), closed: { bob: 'open' } },
    unchanged: true,
  },
  {
    name: '/conn/remove: 404 naming another node_id than the one holding the connection',
    family: 'wukongim',
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 12345 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 12345, node_id: 2 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist'), closed: { c: 'open' } },
    unchanged: true,
  },
  {
    name: '/conn/remove: 404 for an unknown user',
    family: 'wukongim',
    request: wk(CONN_REMOVE, { uid: 'nobody', conn_id: 1 }),
    expect: { status: 404, body: wkError(404, 'connection does not exist') },
    unchanged: true,
  },
  ...(
    [
      [DEVICE_QUIT, { uid: 'alice01' }],
      [DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }],
      [CONN_REMOVE, { uid: 'alice01', conn_id: 1 }],
    ] as const
  ).map(
    ([path, body]): ContractCase => ({
      name: `${path} ${json(body)}: 500 when the store fails; the retry once it heals works`,
      family: 'wukongim',
      setup: async (w) => {
        await w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 1 });
        w.store.inject('fail');
      },
      request: wk(path, body),
      expect: { status: 500, body: INTERNAL, closed: { c: 'open' } },
      unchanged: true,
      next: [{ before: (w) => w.store.heal(), request: wk(path, body), expect: { status: 200, body: OK } }],
    }),
  ),
  {
    name: '/user/device_quit: 500 when the store fails half-way (cutoff written, listing fails); the retry closes',
    family: 'wukongim',
    setup: async (w) => {
      await w.simulate('c', { uid: 'alice01', deviceFlag: 1, connId: 1 });
      w.store.inject('fail', 'listConnections');
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 500, body: INTERNAL, events: [] },
    next: [
      {
        before: (w) => w.store.heal(),
        request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
        expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.device_quit } },
      },
    ],
  },
  {
    name: '/user/device_quit: 500 when the store hangs past storeTimeoutMs',
    family: 'wukongim',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: wk(DEVICE_QUIT, { uid: 'alice01' }),
    expect: { status: 500, body: INTERNAL },
    unchanged: true,
  },
  {
    name: '/conn/remove: 500 when the store hangs past storeTimeoutMs',
    family: 'wukongim',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 1 }),
    expect: { status: 500, body: INTERNAL },
    unchanged: true,
  },
  // wukongim.compat: the WuKongIM server's wire behaviour.
  {
    name: 'compat: /user/device_quit answers {"status":200}',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: '{"status":200}' },
  },
  {
    name: 'compat: an unknown user is 200 {"status":200} and changes nothing',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'nobody' }),
    expect: { status: 200, body: '{"status":200}' },
    unchanged: true,
  },
  {
    name: 'compat: an unknown connection is 200 {"status":200} and changes nothing',
    family: 'wukongim',
    options: { compat: true },
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 404 }),
    expect: { status: 200, body: '{"status":200}' },
    unchanged: true,
  },
  {
    name: 'compat: a missing device_flag means 0 (app)',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'alice01' }),
    expect: { status: 200, body: '{"status":200}', events: [quitEvent(0, 0)] },
    next: [sessionNow('alice0', 401, DEVICE_QUIT_REJECTED), sessionNow('alice1', 200, ALICE_WEB)],
  },
  {
    name: 'compat: still 401 with an empty body without the token',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 'alice01' }, null),
    expect: { status: 401, body: '' },
    unchanged: true,
  },
  {
    name: 'compat: still 400 for a bad body',
    family: 'wukongim',
    options: { compat: true },
    request: wk(DEVICE_QUIT, { uid: 1 }),
    expect: { status: 400, body: wkError(400, 'uid must be a string') },
    unchanged: true,
  },
];

// ---- Tencent Cloud IM (seed 003) ----

const kickEvent = (uid: string, admin = ADMIN) => ({
  action: 'kick_user',
  uid,
  actor: { type: 'admin', id: admin },
  endpoint: 'POST /v4/im_open_login_svc/kick',
});

const kickParamErrors: [string, Record<string, string | undefined>, string][] = [
  ['identifier missing', { identifier: undefined }, 'identifier is required'],
  ['identifier empty', { identifier: '' }, 'identifier is required'],
  ['random missing', { random: undefined }, RANDOM_MSG],
  ['random empty', { random: '' }, RANDOM_MSG],
  ['random over 4294967295', { random: '4294967296' }, RANDOM_MSG],
  ['random with 11 digits', { random: '00000000001' }, RANDOM_MSG],
  ['random negative', { random: '-1' }, RANDOM_MSG],
  ['random not a number', { random: 'abc' }, RANDOM_MSG],
  ['random a fraction', { random: '1.5' }, RANDOM_MSG],
  ['contenttype not json', { contenttype: 'xml' }, 'contenttype must be json'],
];

const kickBodyErrors: [string, ContractBody | undefined, string][] = [
  [
    'both Identifier and UserID',
    { Identifier: 'alice01', UserID: 'alice01' },
    'give Identifier or UserID, not both',
  ],
  ['Identifier missing', {}, 'Identifier is required'],
  ['Identifier null', { Identifier: null }, 'Identifier is required'],
  ['Identifier a number', { Identifier: 42 }, 'Identifier must be a string'],
  ['UserID an array', { UserID: ['alice01'] }, 'Identifier must be a string'],
  ['Identifier empty', { Identifier: '' }, 'Identifier must not be empty'],
  [
    'Identifier over 255 bytes',
    { Identifier: 'a'.repeat(256) },
    'Identifier must be at most 255 bytes of UTF-8',
  ],
  [
    'Identifier with a control character',
    { Identifier: 'ali\tce' },
    'Identifier must not contain control characters',
  ],
  ['an unknown field', { Identifier: 'alice01', Reason: 'spam' }, 'unknown field "Reason"'],
  ['a lowercase field', { identifier: 'alice01' }, 'unknown field "identifier"'],
  ['a __proto__ key', '{"Identifier":"alice01","__proto__":{"UserID":"bob"}}', 'unknown field "__proto__"'],
  ['a constructor key', '{"Identifier":"alice01","constructor":{}}', 'unknown field "constructor"'],
  ['a JSON array', [{ Identifier: 'alice01' }], 'request body must be a JSON object'],
  ['a JSON string', json('alice01'), 'request body must be a JSON object'],
  ['a JSON number', '7', 'request body must be a JSON object'],
  ['JSON null', 'null', 'request body must be a JSON object'],
  ['an empty body', undefined, 'request body is empty'],
  [
    'a body over 16 KiB with Content-Length',
    bigJson({ Identifier: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ Identifier: 'alice01' }),
    'request body is larger than 16 KiB',
  ],
];

const badSigs: [string, (w: World) => string | undefined, string][] = [
  ['missing', () => undefined, 'usersig is invalid: usersig is required'],
  ['empty', () => '', 'usersig is invalid: usersig is required'],
  ['tampered', (w) => tamper(w.sig(ADMIN)), 'usersig is invalid'],
  ['truncated', (w) => w.sig(ADMIN).slice(0, -10), 'usersig is invalid'],
  ['garbage', () => 'not-a-usersig!!', 'usersig is invalid'],
  [
    'base64 of garbage',
    () => Buffer.from('hello world').toString('base64').replace(/=/g, '_'),
    'usersig is invalid',
  ],
  ['signed with another key', (w) => w.sig(ADMIN, { key: OTHER_KEY }), 'usersig is invalid'],
  [
    'of another key and another app',
    (w) => w.sig(ADMIN, { key: OTHER_KEY, sdkAppId: 1400000002 }),
    'usersig is invalid',
  ],
];

/** Three successful kicks in the first 300 ms of a second (the limit is 3 a second). */
async function spendTheRateLimit(w: World): Promise<void> {
  for (let i = 0; i < 3; i += 1) {
    w.clock.advance(100);
    const answer = await w.send(kick({ Identifier: 'alice01' })(w));
    expect(answer.text).toBe(TENCENT_OK);
  }
  w.clock.advance(699); // the last millisecond of the same second
}

const tencent: ContractCase[] = [
  ...(['Identifier', 'UserID'] as const).map(
    (field): ContractCase => ({
      name: `kick {"${field}"} with a UserSig from tls-sig-api-v2: 200, byte-exact OK; the sessions are out`,
      family: 'tencent',
      request: kick({ [field]: 'alice01' }),
      expect: { status: 200, body: TENCENT_OK, events: [kickEvent('alice01')] },
      next: [
        sessionNow('alice0', 401, KICKED),
        sessionNow('alice1', 401, KICKED),
        sessionNow('bob0', 200, principal('bobby02', 0, 'session')),
      ],
    }),
  ),
  {
    name: 'kick: a user known only through engine.addUser (account import)',
    family: 'tencent',
    setup: (w) => w.engine.addUser('carol03'),
    request: kick({ Identifier: 'carol03' }),
    expect: { status: 200, body: TENCENT_OK, events: [kickEvent('carol03')] },
  },
  {
    name: 'kick: without contenttype',
    family: 'tencent',
    request: kick({ Identifier: 'alice01' }, { contenttype: undefined }),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: "kick: the README's curl -d (Content-Type application/x-www-form-urlencoded) is read as JSON",
    family: 'tencent',
    request: (w) => ({
      ...kick('{"Identifier": "alice01"}')(w),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
    expect: { status: 200, body: TENCENT_OK },
  },
  ...['0', '4294967295'].map(
    (random): ContractCase => ({
      name: `kick: random ${random}`,
      family: 'tencent',
      request: kick({ Identifier: 'alice01' }, { random }),
      expect: { status: 200, body: TENCENT_OK },
    }),
  ),
  {
    name: "kick: a UserSig made by evict's own signUserSig",
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ usersig: w.sig(ADMIN, { signer: 'evict' }) })),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: 'kick: by the second admin',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ identifier: OPS, usersig: w.sig(OPS) })),
    expect: { status: 200, body: TENCENT_OK, events: [kickEvent('alice01', OPS)] },
  },
  {
    name: 'kick: every live connection of the user closes with 4001',
    family: 'tencent',
    setup: async (w) => {
      await w.simulate('app', { uid: 'alice01', deviceFlag: 0 });
      await w.simulate('pc', { uid: 'alice01', deviceFlag: 2 });
      await w.simulate('bob', { uid: 'bobby02', deviceFlag: 0 });
    },
    request: kick({ Identifier: 'alice01' }),
    expect: {
      status: 200,
      body: TENCENT_OK,
      closed: { app: SOCKET_CLOSED.kicked, pc: SOCKET_CLOSED.kicked, bob: 'open' },
      events: [{ ...kickEvent('alice01'), connectionsClosed: 2 }],
    },
  },
  {
    name: 'kick: 60003 for a body that is not JSON',
    family: 'tencent',
    request: kick('{"Identifier": "alice01"'),
    expect: { status: 200, body: fail(60003, 'request body is not valid JSON') },
    unchanged: 'but the rate counter',
  },
  {
    name: 'kick: 60003 for a body that is not UTF-8',
    family: 'tencent',
    request: kick(Buffer.from([0x7b, 0xff, 0x7d])),
    expect: { status: 200, body: fail(60003, 'request body is not valid JSON') },
    unchanged: 'but the rate counter',
  },
  ...(
    [
      ['missing', undefined],
      ['of another app', '1400000002'],
      ['empty', ''],
      ['with a leading zero', `0${SDKAPPID}`],
      ['not a number', 'abc'],
    ] as const
  ).map(
    ([what, sdkappid]): ContractCase => ({
      name: `kick: 60006 for sdkappid ${what}`,
      family: 'tencent',
      request: kick({ Identifier: 'alice01' }, { sdkappid }),
      expect: { status: 200, body: fail(60006, 'SDKAppID is invalid') },
      unchanged: true,
    }),
  ),
  {
    name: 'kick: 60007 over the rate limit (the 4th call of a second); the next second works again',
    family: 'tencent',
    options: { rateLimitPerSecond: 3 },
    setup: spendTheRateLimit,
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: fail(60007, 'REST API call frequency exceeds the limit') },
    unchanged: 'but the rate counter',
    next: [
      {
        before: async (w) => {
          await w.login('fresh', 'alice01', 1);
        },
        request: kick({ Identifier: 'alice01' }),
        expect: { status: 200, body: fail(60007, 'REST API call frequency exceeds the limit') },
      },
      // A rejected call did not kick.
      sessionNow('fresh', 200, ALICE_WEB),
      {
        before: (w) => w.clock.advance(1),
        request: kick({ Identifier: 'alice01' }),
        expect: { status: 200, body: TENCENT_OK },
      },
    ],
  },
  {
    name: 'kick: calls that fail authentication do not count against the rate limit',
    family: 'tencent',
    options: { rateLimitPerSecond: 1 },
    setup: async (w) => {
      for (let i = 0; i < 3; i += 1) {
        const answer = await w.send(
          kick({ Identifier: 'alice01' }, { usersig: w.sig(ADMIN, { key: OTHER_KEY }) })(w),
        );
        expect(JSON.parse(answer.text)).toEqual(fail(70003, 'usersig is invalid'));
      }
    },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: 'kick: 70001 for an expired UserSig from tls-sig-api-v2',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      usersig: w.sig(ADMIN, { secondsAgo: 5, expireSec: 1 }),
    })),
    expect: { status: 200, body: fail(70001, 'usersig is expired') },
    unchanged: true,
  },
  {
    name: 'kick: 70001 for a UserSig whose hour is over',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      usersig: w.sig(ADMIN, { secondsAgo: 3600, expireSec: 3600 }),
    })),
    expect: { status: 200, body: fail(70001, 'usersig is expired') },
    unchanged: true,
  },
  ...badSigs.map(
    ([what, usersig, info]): ContractCase => ({
      name: `kick: 70003 for a usersig ${what}`,
      family: 'tencent',
      request: kickWith({ Identifier: 'alice01' }, (w) => ({ usersig: usersig(w) })),
      expect: { status: 200, body: fail(70003, info) },
      unchanged: true,
    }),
  ),
  {
    name: 'kick: 70003 for a UserSig issued more than 5 minutes in the future',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ usersig: w.sig(ADMIN, { secondsAgo: -600 }) })),
    expect: { status: 200, body: fail(70003, 'usersig is invalid') },
    unchanged: true,
  },
  {
    name: "kick: 70013 when the identifier is not the UserSig's",
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({ identifier: OPS, usersig: w.sig(ADMIN) })),
    expect: { status: 200, body: fail(70013, 'identifier does not match the usersig') },
    unchanged: true,
  },
  {
    name: 'kick: 70014 for a UserSig of another sdkappid made with the same key',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      usersig: w.sig(ADMIN, { sdkAppId: 1400000002 }),
    })),
    expect: { status: 200, body: fail(70014, 'sdkappid does not match the usersig') },
    unchanged: true,
  },
  {
    name: "kick: 70052 for a kicked admin's UserSig made at or before the kick; a newer one works",
    family: 'tencent',
    setup: async (w) => {
      await w.engine.addUser(ADMIN);
      const kickedAdmin = await w.send(kick({ Identifier: ADMIN })(w));
      expect(kickedAdmin.text).toBe(TENCENT_OK);
    },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: fail(70052, 'usersig has been invalidated') },
    unchanged: 'but the rate counter',
    next: [
      sessionNow('alice0', 200, ALICE_APP),
      {
        before: (w) => w.clock.advance(1000),
        request: kick({ Identifier: 'alice01' }),
        expect: { status: 200, body: TENCENT_OK },
      },
    ],
  },
  {
    name: 'kick: 70107 for a user that does not exist',
    family: 'tencent',
    request: kick({ Identifier: 'nobody' }),
    expect: { status: 200, body: fail(70107, 'the requested account does not exist') },
    unchanged: 'but the rate counter',
  },
  {
    name: 'kick: 70107 for a well-formed Identifier of exactly 255 bytes',
    family: 'tencent',
    request: kick({ Identifier: 'a'.repeat(255) }),
    expect: { status: 200, body: fail(70107, 'the requested account does not exist') },
    unchanged: 'but the rate counter',
  },
  ...kickParamErrors.map(
    ([what, query, detail]): ContractCase => ({
      name: `kick: 70402 for ${what}`,
      family: 'tencent',
      request: kick({ Identifier: 'alice01' }, query),
      expect: { status: 200, body: invalid(detail) },
      unchanged: 'but the rate counter',
    }),
  ),
  ...kickBodyErrors.map(
    ([what, body, detail]): ContractCase => ({
      name: `kick: 70402 for ${what}`,
      family: 'tencent',
      request: kick(body),
      expect: { status: 200, body: invalid(detail) },
      unchanged: 'but the rate counter',
      next: [sessionNow('alice0', 200, ALICE_APP)],
    }),
  ),
  {
    name: 'kick: 70403 for a valid UserSig of an identifier that is not an admin',
    family: 'tencent',
    request: kickWith({ Identifier: 'alice01' }, (w) => ({
      identifier: 'bobby02',
      usersig: w.sig('bobby02'),
    })),
    expect: { status: 200, body: fail(70403, 'the request requires App admin rights') },
    unchanged: true,
  },
  {
    name: 'kick: 70403 for an admin of another configuration',
    family: 'tencent',
    options: { admins: [OPS] },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: fail(70403, 'the request requires App admin rights') },
    unchanged: true,
  },
  ...(['hit', 'getUser', 'raiseCutoff'] as const).map(
    (method): ContractCase => ({
      name: `kick: 70500 when the store fails (${method})`,
      family: 'tencent',
      setup: (w) => w.store.inject('fail', method),
      request: kick({ Identifier: 'alice01' }),
      expect: { status: 200, body: TENCENT_INTERNAL },
      unchanged: 'but the rate counter',
      next: [{ before: (w) => w.store.heal(), ...sessionNow('alice0', 200, ALICE_APP) }],
    }),
  ),
  {
    name: 'kick: 70500 when every store call fails',
    family: 'tencent',
    setup: (w) => w.store.inject('fail'),
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_INTERNAL },
    unchanged: true,
  },
  {
    name: 'kick: 70169 when the store hangs past storeTimeoutMs',
    family: 'tencent',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_TIMEOUT },
    unchanged: true,
  },
  {
    name: 'kick: 70169 when the cutoff write hangs past storeTimeoutMs',
    family: 'tencent',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang', 'raiseCutoff'),
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 200, body: TENCENT_TIMEOUT },
    unchanged: 'but the rate counter',
  },
];

// ---- Lancens (seed 002) ----

const logoutBadBodies: [string, ContractBody | undefined, string][] = [
  ['username missing', { token: 'x' }, 'undefined username'],
  ['token missing', { username: 'alice01' }, 'undefined token'],
  ['both missing', {}, 'undefined username'],
  ['a username of 5 characters', { username: 'abcde', token: 'x' }, 'username length error'],
  ['a username of 33 characters', { username: 'a'.repeat(33), token: 'x' }, 'username length error'],
  ['an empty username', { username: '', token: 'x' }, 'username length error'],
  ['a username that is a number', { username: 1234567, token: 'x' }, 'username format error'],
  ['a null username', { username: null, token: 'x' }, 'username format error'],
  ['a username that is an array', { username: ['alice01'], token: 'x' }, 'username format error'],
  ['a username with a control character', { username: 'alice\u000101', token: 'x' }, 'username format error'],
  ['a token that is a number', { username: 'alice01', token: 123456 }, 'token format error'],
  ['a null token', { username: 'alice01', token: null }, 'token format error'],
  ['an empty token', { username: 'alice01', token: '' }, 'token format error'],
  ['a token over 4096 characters', { username: 'alice01', token: 'x'.repeat(4097) }, 'token format error'],
  ['a body that is not JSON', 'username=alice01&token=x', 'paramer error'],
  ['a JSON array', '[]', 'paramer error'],
  ['a JSON string', json('alice01'), 'paramer error'],
  ['an empty body', undefined, 'paramer error'],
  ['an unknown field', { username: 'alice01', token: 'x', device: 1 }, 'paramer error'],
  ['a __proto__ key', '{"username":"alice01","token":"x","__proto__":{}}', 'paramer error'],
  ['a constructor key', '{"username":"alice01","token":"x","constructor":{}}', 'paramer error'],
  ['a body over 16 KiB with Content-Length', bigJson({ username: 'alice01', token: 'x' }), 'paramer error'],
  [
    'a body over 16 KiB, chunked without Content-Length',
    chunkedOver16KiB({ username: 'alice01', token: 'x' }),
    'paramer error',
  ],
];

/** Ways a token stops being live, for the Lancens routes: what the setup does, and the token to send. */
const deadTokens: [string, (w: World) => Promise<string>][] = [
  ['an unknown token', async () => 'no-such-token'],
  [
    'a logged-out token',
    async (w) => {
      await w.engine.logout(w.tokens.alice0!);
      await w.engine.setPushToken('alice01', { kind: 'ring', token: 'ring-again', deviceFlag: 0 });
      await w.engine.setPushToken('alice01', { kind: 'message', token: 'message-again', deviceFlag: 0 });
      return w.tokens.alice0!;
    },
  ],
  [
    'a token of a kicked user',
    async (w) => {
      await w.engine.kickUser('alice01');
      return w.tokens.alice0!;
    },
  ],
];

/** Each dead token as a case for `request(token)`; `token` is filed under `dead`. */
const withDeadTokens = (label: string, request: (token: string) => ContractRequest): ContractCase[] =>
  deadTokens.map(([what, kill]) => ({
    name: `${label}: 401 invalid token for ${what}`,
    family: 'lancens' as const,
    setup: async (w) => {
      w.tokens.dead = await kill(w);
    },
    request: (w) => request(w.tokens.dead!),
    expect: { status: 401, body: lancens('invalid token'), pushTokens: { alice01: ['message', 'ring'] } },
    unchanged: true as const,
  }));

const clearRoutes: [string, PushTokenKind, PushTokenKind][] = [
  [RING, 'ring', 'message'],
  [MESSAGE, 'message', 'ring'],
];

const corruptSessions = (w: World) => {
  w.store.getSession = () => Promise.reject(new StoreCorruptError('unreadable session record'));
};

const lancensCases: ContractCase[] = [
  {
    name: 'logout: 200 {"status":"ok"}; the token is revoked and both push tokens cleared',
    family: 'lancens',
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: {
      status: 200,
      body: OK,
      pushTokens: { alice01: [], bobby02: ['message', 'ring'] },
      events: [
        {
          action: 'logout',
          uid: 'alice01',
          deviceFlag: 0,
          pushTokenKinds: ['ring', 'message'],
          actor: { type: 'user', id: 'alice01' },
          endpoint: 'POST /v1/api/user/logout',
        },
      ],
    },
    next: [sessionNow('alice0', 401, LOGGED_OUT), sessionNow('alice1', 200, ALICE_WEB)],
  },
  {
    name: 'logout: a user with no push tokens',
    family: 'lancens',
    setup: async (w) => {
      await w.login('carol', 'carol03', 0);
    },
    request: (w) => logout({ username: 'carol03', token: w.tokens.carol! }),
    expect: { status: 200, body: OK, pushTokens: { carol03: [], alice01: ['message', 'ring'] } },
  },
  ...['abcdef', 'a'.repeat(32), 'ééééé1', '用户名六个字'].map(
    (username): ContractCase => ({
      name: `logout: a username of ${[...username].length} characters (${username.slice(0, 8)}…)`,
      family: 'lancens',
      setup: async (w) => {
        await w.login('user', username, 0);
      },
      request: (w) => logout({ username, token: w.tokens.user! }),
      expect: { status: 200, body: OK },
      next: [sessionNow('user', 401, LOGGED_OUT)],
    }),
  ),
  {
    name: 'logout: a JSON body sent as text/plain',
    family: 'lancens',
    request: (w) => ({
      ...logout(json({ username: 'alice01', token: w.tokens.alice0! })),
      headers: { 'content-type': 'text/plain' },
    }),
    expect: { status: 200, body: OK },
  },
  ...logoutBadBodies.map(
    ([what, body, error]): ContractCase => ({
      name: `logout: 400 ${error} for ${what}`,
      family: 'lancens',
      request: logout(body),
      expect: { status: 400, body: lancens(error) },
      unchanged: true,
      next: [sessionNow('alice0', 200, ALICE_APP)],
    }),
  ),
  {
    name: 'logout: 400 for a malformed username even with a live token',
    family: 'lancens',
    request: (w) => logout({ username: 'abc', token: w.tokens.alice0! }),
    expect: { status: 400, body: lancens('username length error') },
    unchanged: true,
  },
  {
    name: 'logout: 401 invalid token for a well-formed token of exactly 4096 characters',
    family: 'lancens',
    request: logout({ username: 'alice01', token: 'x'.repeat(4096) }),
    expect: { status: 401, body: lancens('invalid token') },
    unchanged: true,
  },
  ...withDeadTokens('logout', (token) => logout({ username: 'alice01', token })),
  {
    name: 'logout: 401 invalid token for a token of another user',
    family: 'lancens',
    request: (w) => logout({ username: 'alice01', token: w.tokens.bob0! }),
    expect: {
      status: 401,
      body: lancens('invalid token'),
      pushTokens: { alice01: ['message', 'ring'], bobby02: ['message', 'ring'] },
    },
    unchanged: true,
    next: [sessionNow('bob0', 200, principal('bobby02', 0, 'session'))],
  },
  {
    name: 'logout: 401 invalid token for an expired token',
    family: 'lancens',
    setup: async (w) => {
      await w.login('short', 'alice01', 2, 1000);
      w.clock.advance(1000);
    },
    request: (w) => logout({ username: 'alice01', token: w.tokens.short! }),
    expect: { status: 401, body: lancens('invalid token') },
    unchanged: true,
  },
  {
    name: 'logout: 500 {"error":10001} when the store fails; the retry once it heals finishes',
    family: 'lancens',
    setup: (w) => w.store.inject('fail'),
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 500, body: lancens(10001) },
    unchanged: true,
    next: [
      { before: (w) => w.store.heal(), ...sessionNow('alice0', 200, ALICE_APP) },
      {
        request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
        expect: { status: 200, body: OK },
      },
      sessionNow('alice0', 401, LOGGED_OUT),
    ],
  },
  {
    name: 'logout: 500 {"error":10001} when the store fails half-way (revoke fails); the session stays live, the retry revokes',
    family: 'lancens',
    setup: (w) => w.store.inject('fail', 'revokeSession'),
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 500, body: lancens(10001), events: [] },
    next: [
      { before: (w) => w.store.heal(), ...sessionNow('alice0', 200, ALICE_APP) },
      {
        request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
        expect: { status: 200, body: OK },
      },
      sessionNow('alice0', 401, LOGGED_OUT),
    ],
  },
  {
    name: 'logout: 500 no data error when the store answers a record it cannot read',
    family: 'lancens',
    setup: corruptSessions,
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 500, body: lancens('no data error') },
    unchanged: true,
  },
  ...clearRoutes.flatMap(([path, cleared, kept]): ContractCase[] => [
    {
      name: `DELETE ${path}: 200, clears only the ${cleared} token; the session stays live`,
      family: 'lancens',
      request: (w) => del(path, w.tokens.alice0!),
      expect: {
        status: 200,
        body: OK,
        pushTokens: { alice01: [kept], bobby02: ['message', 'ring'] },
        events: [
          {
            action: 'clear_push_token',
            uid: 'alice01',
            pushTokenKinds: [cleared],
            actor: { type: 'user', id: 'alice01' },
            endpoint: `DELETE ${path}`,
          },
        ],
      },
      next: [
        sessionNow('alice0', 200, ALICE_APP),
        { request: (w) => del(path, w.tokens.alice0!), expect: { status: 200, body: OK } },
      ],
    },
    {
      name: `DELETE ${path}: 401 no token without the header`,
      family: 'lancens',
      request: del(path),
      expect: { status: 401, body: lancens('no token') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 401 no token for an empty header`,
      family: 'lancens',
      request: del(path, ''),
      expect: { status: 401, body: lancens('no token') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 401 no token for a bearer token (not the seed's header)`,
      family: 'lancens',
      request: (w) => ({ method: 'DELETE', path, headers: { authorization: `Bearer ${w.tokens.alice0}` } }),
      expect: { status: 401, body: lancens('no token') },
      unchanged: true,
    },
    ...withDeadTokens(`DELETE ${path}`, (token) => del(path, token)),
    {
      name: `DELETE ${path}: 401 invalid token for a token over 4096 characters`,
      family: 'lancens',
      request: del(path, 'x'.repeat(4097)),
      expect: { status: 401, body: lancens('invalid token') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 500 {"error":10001} when the store fails`,
      family: 'lancens',
      setup: (w) => w.store.inject('fail'),
      request: (w) => del(path, w.tokens.alice0!),
      expect: { status: 500, body: lancens(10001) },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: 500 no data error when the store answers a record it cannot read`,
      family: 'lancens',
      setup: corruptSessions,
      request: (w) => del(path, w.tokens.alice0!),
      expect: { status: 500, body: lancens('no data error') },
      unchanged: true,
    },
    {
      name: `DELETE ${path}: a body is ignored`,
      family: 'lancens',
      request: (w) => del(path, w.tokens.alice0!, { body: 'not json' }),
      expect: { status: 200, body: OK },
    },
  ]),
];

// ---- the guard on the host's route ----

const guard: ContractCase[] = [
  {
    name: '200 with the principal, from the token header',
    family: 'guard',
    request: asSession('alice1'),
    expect: { status: 200, body: ALICE_WEB },
    unchanged: true,
  },
  ...['Bearer', 'bearer', 'BEARER'].map(
    (scheme): ContractCase => ({
      name: `200 from Authorization: ${scheme}`,
      family: 'guard',
      request: (w) => guarded({ authorization: `${scheme} ${w.tokens.alice1}` }),
      expect: { status: 200, body: ALICE_WEB },
      unchanged: true,
    }),
  ),
  {
    name: '?token= is not read on HTTP routes (only upgrade checks read it)',
    family: 'guard',
    request: (w) => guarded({}, { token: w.tokens.alice1 }),
    expect: { status: 401, body: NO_CREDENTIAL },
    unchanged: true,
  },
  {
    name: '401 kicked',
    family: 'guard',
    setup: async (w) => {
      await w.engine.kickUser('alice01');
    },
    request: asSession('alice1'),
    expect: { status: 401, body: KICKED },
    unchanged: true,
  },
  {
    name: '401 device_quit, for the quit device only',
    family: 'guard',
    setup: async (w) => {
      await w.engine.quitDevice('alice01', 1);
    },
    request: (w) => guarded({ authorization: `Bearer ${w.tokens.alice1}` }),
    expect: { status: 401, body: DEVICE_QUIT_REJECTED },
    unchanged: true,
    next: [sessionNow('alice0', 200, ALICE_APP)],
  },
  {
    name: '401 logged_out',
    family: 'guard',
    setup: async (w) => {
      await w.engine.logout(w.tokens.alice1!);
    },
    request: asSession('alice1'),
    expect: { status: 401, body: LOGGED_OUT },
    unchanged: true,
  },
  {
    name: '401 expired, a session past its lifetime',
    family: 'guard',
    setup: async (w) => {
      await w.login('short', 'alice01', 2, 5000);
      w.clock.advance(5000);
    },
    request: asSession('short'),
    expect: { status: 401, body: EXPIRED },
    unchanged: true,
  },
  {
    name: '401 unknown, a session a day past its lifetime',
    family: 'guard',
    setup: async (w) => {
      await w.login('short', 'alice01', 2, 5000);
      w.clock.advance(5000 + 24 * 60 * 60 * 1000);
    },
    request: asSession('short'),
    expect: { status: 401, body: UNKNOWN },
  },
  {
    name: '200 for a stateless credential (a JWT the host verified)',
    family: 'guard',
    request: asClaims((now) => ({ sub: 'alice01', dev: 1, iat: now - 60, exp: now + 60 })),
    expect: { status: 200, body: principal('alice01', 1, 'stateless') },
    unchanged: true,
  },
  {
    name: '401 expired, a stateless credential past its expiry',
    family: 'guard',
    request: asClaims((now) => ({ sub: 'alice01', dev: 1, iat: now - 120, exp: now - 60 })),
    expect: { status: 401, body: EXPIRED },
    unchanged: true,
  },
  {
    name: "401 kicked, a stateless credential of the kick's second; one of the next second passes",
    family: 'guard',
    setup: async (w) => {
      w.clock.advance(500);
      await w.engine.kickUser('alice01');
    },
    request: asClaims((now) => ({ sub: 'alice01', iat: now, exp: now + 3600 })),
    expect: { status: 401, body: KICKED },
    unchanged: true,
    next: [
      {
        before: (w) => w.clock.advance(500),
        request: asClaims((now) => ({ sub: 'alice01', iat: now, exp: now + 3600 })),
        expect: { status: 200, body: principal('alice01', undefined, 'stateless') },
      },
    ],
  },
  {
    name: '200 for a UserSig from tls-sig-api-v2 (no device)',
    family: 'guard',
    request: asUserSig('alice01'),
    expect: { status: 200, body: principal('alice01', undefined, 'usersig') },
    unchanged: true,
  },
  {
    name: "401 70001 in Tencent's shape for an expired UserSig",
    family: 'guard',
    request: asUserSig('alice01', { secondsAgo: 20, expireSec: 10 }),
    expect: { status: 401, body: usersigRejected(70001, 'usersig is expired', 'expired') },
    unchanged: true,
  },
  {
    name: '401 70003 for a UserSig signed with another key',
    family: 'guard',
    request: asUserSig('alice01', { key: OTHER_KEY }),
    expect: { status: 401, body: usersigRejected(70003, 'usersig is invalid', 'unknown') },
    unchanged: true,
  },
  {
    name: '401 70013 for the UserSig of another identifier',
    family: 'guard',
    request: (w) => guarded({}, { identifier: 'alice01', usersig: w.sig('bobby02') }),
    expect: { status: 401, body: usersigRejected(70013, 'identifier does not match the usersig', 'unknown') },
    unchanged: true,
  },
  {
    name: '401 70052 for a UserSig made before a kick',
    family: 'guard',
    setup: async (w) => {
      await w.engine.kickUser('alice01');
    },
    request: asUserSig('alice01', { secondsAgo: 60 }),
    expect: { status: 401, body: usersigRejected(70052, 'usersig has been invalidated', 'kicked') },
    unchanged: true,
  },
  {
    name: "401 70052 for a UserSig made after a kick in the kick's own second; the next second passes",
    family: 'guard',
    setup: async (w) => {
      w.clock.advance(500);
      await w.engine.kickUser('alice01');
      w.clock.advance(400);
    },
    request: asUserSig('alice01'),
    expect: { status: 401, body: usersigRejected(70052, 'usersig has been invalidated', 'kicked') },
    unchanged: true,
    next: [
      {
        before: (w) => w.clock.advance(100),
        request: asUserSig('alice01'),
        expect: { status: 200, body: principal('alice01', undefined, 'usersig') },
      },
    ],
  },
  ...(
    [
      ['an unknown token', { token: 'no-such-token' }],
      ['an unknown bearer token', { authorization: 'Bearer no-such-token' }],
      ['a token over 4096 characters', { token: 'x'.repeat(4097) }],
    ] as const
  ).map(
    ([what, headers]): ContractCase => ({
      name: `401 unknown for ${what}`,
      family: 'guard',
      request: guarded(headers),
      expect: { status: 401, body: UNKNOWN },
      unchanged: true,
    }),
  ),
  ...(
    [
      ['no credential', {}],
      ['an empty token header', { token: '' }],
      ['a Basic authorization', { authorization: 'Basic YTpi' }],
      ['a Bearer with no token', { authorization: 'Bearer ' }],
    ] as const
  ).map(
    ([what, headers]): ContractCase => ({
      name: `401 unknown for ${what}`,
      family: 'guard',
      request: guarded(headers),
      expect: { status: 401, body: NO_CREDENTIAL },
      unchanged: true,
    }),
  ),
  {
    name: '503 unavailable for a session when the store fails (fails closed); 200 once it heals',
    family: 'guard',
    setup: (w) => w.store.inject('fail'),
    request: asSession('alice1'),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
    next: [{ before: (w) => w.store.heal(), ...sessionNow('alice1', 200, ALICE_WEB) }],
  },
  {
    name: '503 unavailable for a stateless credential when the store fails',
    family: 'guard',
    setup: (w) => w.store.inject('fail'),
    request: asClaims((now) => ({ sub: 'alice01', iat: now, exp: now + 60 })),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
  },
  {
    name: '503 70500 for a UserSig when the store fails',
    family: 'guard',
    setup: (w) => w.store.inject('fail'),
    request: asUserSig('alice01'),
    expect: {
      status: 503,
      body: usersigRejected(70500, 'internal server error, please try again later', 'unavailable'),
    },
    unchanged: true,
  },
  {
    name: '503 unavailable when the store hangs past storeTimeoutMs',
    family: 'guard',
    options: { storeTimeoutMs: 50 },
    setup: (w) => w.store.inject('hang'),
    request: asSession('alice1'),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
  },
  {
    name: 'the first credential source present decides (a session before the JWT)',
    family: 'guard',
    request: (w) =>
      guarded({
        token: w.tokens.alice1!,
        'x-claims': json({ sub: 'bobby02', iat: Math.floor(w.clock.nowMs() / 1000), exp: 4102444800 }),
      }),
    expect: { status: 200, body: ALICE_WEB },
    unchanged: true,
  },
];

// ---- sockets: the upgrade check and the connections evict closes ----

const socket: ContractCase[] = [
  {
    name: 'an accepted upgrade says hello with its conn_id and node_id',
    family: 'socket',
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 101, body: { type: 'hello', conn_id: 1_000_000_001, node_id: 1 } },
  },
  {
    name: 'a Tencent kick closes it with 4001 kicked; the token cannot reconnect',
    family: 'socket',
    setup: (w) => w.connect('s', w.tokens.alice1!),
    request: kick({ Identifier: 'alice01' }),
    expect: {
      status: 200,
      body: TENCENT_OK,
      closed: { s: SOCKET_CLOSED.kicked },
      events: [{ ...kickEvent('alice01'), connectionsClosed: 1 }],
    },
    next: [{ request: (w) => upgrade(w.tokens.alice1), expect: { status: 401, body: KICKED } }],
  },
  {
    name: "a WuKongIM device_quit closes it with 4002 device_quit; the other device's stays open",
    family: 'socket',
    setup: async (w) => {
      await w.connect('web', w.tokens.alice1!);
      await w.connect('app', w.tokens.alice0!);
    },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: OK, closed: { web: SOCKET_CLOSED.device_quit, app: 'open' } },
    next: [{ request: (w) => upgrade(w.tokens.alice1), expect: { status: 401, body: DEVICE_QUIT_REJECTED } }],
  },
  {
    name: 'a WuKongIM conn/remove closes that one with 4003; the token connects again',
    family: 'socket',
    setup: async (w) => {
      await w.connect('first', w.tokens.alice1!);
      await w.connect('second', w.tokens.alice1!);
    },
    request: (w) =>
      wk(CONN_REMOVE, {
        uid: 'alice01',
        conn_id: w.hello('first').conn_id,
        node_id: w.hello('first').node_id,
      }),
    expect: {
      status: 200,
      body: OK,
      closed: { first: SOCKET_CLOSED.connection_removed, second: 'open' },
    },
    next: [
      {
        request: (w) => upgrade(w.tokens.alice1),
        expect: { status: 101, body: { type: 'hello', conn_id: 1_000_000_003, node_id: 1 } },
      },
    ],
  },
  {
    name: 'a logged-out token cannot upgrade: 401 logged_out',
    family: 'socket',
    setup: async (w) => {
      await w.engine.logout(w.tokens.alice1!);
    },
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 401, body: LOGGED_OUT },
    unchanged: true,
  },
  {
    name: 'a kicked token cannot upgrade: 401 kicked; a new session can',
    family: 'socket',
    setup: async (w) => {
      await w.engine.kickUser('alice01');
    },
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 401, body: KICKED },
    unchanged: true,
    next: [
      {
        before: async (w) => {
          await w.login('fresh', 'alice01', 1);
        },
        request: (w) => upgrade(w.tokens.fresh),
        expect: { status: 101, body: { type: 'hello', conn_id: 1_000_000_001, node_id: 1 } },
      },
    ],
  },
  {
    name: 'an unknown token cannot upgrade: 401 unknown',
    family: 'socket',
    request: upgrade('no-such-token'),
    expect: { status: 401, body: UNKNOWN },
    unchanged: true,
  },
  {
    name: 'no token cannot upgrade: 401',
    family: 'socket',
    request: upgrade(),
    expect: { status: 401, body: NO_CREDENTIAL_UPGRADE },
    unchanged: true,
  },
  {
    name: 'a failing store refuses the upgrade with 503',
    family: 'socket',
    setup: (w) => w.store.inject('fail'),
    request: (w) => upgrade(w.tokens.alice1),
    expect: { status: 503, body: UNAVAILABLE },
    unchanged: true,
  },
];

// ---- mounting: under a prefix, a subset of the families, other methods ----

const ADMIN_PREFIX = '/admin';
const prefixed: ContractCase[] = [
  {
    name: 'prefix: POST /admin/user/device_quit',
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    request: wk(`${ADMIN_PREFIX}${DEVICE_QUIT}`, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: OK },
  },
  {
    name: 'prefix: POST /admin/conn/remove',
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 12345 }),
    request: wk(`${ADMIN_PREFIX}${CONN_REMOVE}`, { uid: 'alice01', conn_id: 12345, node_id: 1 }),
    expect: { status: 200, body: OK, closed: { c: SOCKET_CLOSED.connection_removed } },
  },
  {
    name: 'prefix: a parameter error keeps its family shape',
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    request: wk(`${ADMIN_PREFIX}${DEVICE_QUIT}`, { uid: 'alice01', device_flag: '1' }),
    expect: { status: 400, body: wkError(400, DEVICE_FLAG_MSG) },
    unchanged: true,
  },
  {
    name: "prefix: the root path is the framework's 404",
    family: 'wukongim',
    options: { prefix: ADMIN_PREFIX },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: 'prefix: POST /admin/v4/im_open_login_svc/kick',
    family: 'tencent',
    options: { prefix: ADMIN_PREFIX },
    request: kick({ Identifier: 'alice01' }, {}, ADMIN_PREFIX),
    expect: { status: 200, body: TENCENT_OK },
  },
  {
    name: "prefix: the root kick path is the framework's 404",
    family: 'tencent',
    options: { prefix: ADMIN_PREFIX },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: 'prefix: POST /admin/v1/api/user/logout',
    family: 'lancens',
    options: { prefix: ADMIN_PREFIX },
    request: (w) => ({
      ...logout({ username: 'alice01', token: w.tokens.alice0! }),
      path: `${ADMIN_PREFIX}${LOGOUT}`,
    }),
    expect: { status: 200, body: OK },
    next: [sessionNow('alice0', 401, LOGGED_OUT)],
  },
  {
    name: 'prefix: DELETE /admin/v1/api/user/token',
    family: 'lancens',
    options: { prefix: ADMIN_PREFIX },
    request: (w) => del(`${ADMIN_PREFIX}${RING}`, w.tokens.alice0!),
    expect: { status: 200, body: OK, pushTokens: { alice01: ['message'] } },
  },
  {
    name: 'prefix: the guarded route stays where the host put it',
    family: 'guard',
    options: { prefix: ADMIN_PREFIX },
    request: asSession('alice1'),
    expect: { status: 200, body: ALICE_WEB },
  },
];

const subsets: ContractCase[] = [
  {
    name: "families ['lancens']: /user/device_quit falls through to the framework's 404",
    family: 'wukongim',
    options: { families: ['lancens'] },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['lancens']: /conn/remove falls through to the framework's 404",
    family: 'wukongim',
    options: { families: ['lancens'] },
    setup: (w) => w.simulate('c', { uid: 'alice01', deviceFlag: 0, connId: 1 }),
    request: wk(CONN_REMOVE, { uid: 'alice01', conn_id: 1 }),
    expect: { status: 404, fallsThrough: true, closed: { c: 'open' } },
    unchanged: true,
  },
  {
    name: "families ['lancens']: the kick falls through to the framework's 404",
    family: 'tencent',
    options: { families: ['lancens'] },
    request: kick({ Identifier: 'alice01' }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['lancens']: the logout is served",
    family: 'lancens',
    options: { families: ['lancens'] },
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 200, body: OK },
  },
  {
    name: "families ['wukongim']: the logout falls through to the framework's 404",
    family: 'lancens',
    options: { families: ['wukongim'] },
    request: (w) => logout({ username: 'alice01', token: w.tokens.alice0! }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['wukongim']: DELETE /v1/api/user/message/token falls through to the framework's 404",
    family: 'lancens',
    options: { families: ['wukongim'] },
    request: (w) => del(MESSAGE, w.tokens.alice0!),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
  },
  {
    name: "families ['wukongim']: /user/device_quit is served",
    family: 'wukongim',
    options: { families: ['wukongim'] },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 200, body: OK },
  },
  {
    name: "families ['tencent']: /user/device_quit falls through, the kick is served",
    family: 'tencent',
    options: { families: ['tencent'] },
    request: wk(DEVICE_QUIT, { uid: 'alice01', device_flag: 1 }),
    expect: { status: 404, fallsThrough: true },
    unchanged: true,
    next: [{ request: kick({ Identifier: 'alice01' }), expect: { status: 200, body: TENCENT_OK } }],
  },
];

/** Another method on a family's path is not the family's: the framework answers, whatever the request carries. */
const otherMethods: ContractCase[] = (
  [
    ['wukongim', 'GET', DEVICE_QUIT],
    ['wukongim', 'PUT', DEVICE_QUIT],
    ['wukongim', 'OPTIONS', DEVICE_QUIT],
    ['wukongim', 'GET', CONN_REMOVE],
    ['wukongim', 'DELETE', CONN_REMOVE],
    ['tencent', 'GET', KICK],
    ['tencent', 'PUT', KICK],
    ['lancens', 'GET', LOGOUT],
    ['lancens', 'DELETE', LOGOUT],
    ['lancens', 'POST', RING],
    ['lancens', 'GET', RING],
    ['lancens', 'PUT', MESSAGE],
  ] as const
).map(
  ([family, method, path]): ContractCase => ({
    name: `${method} ${path} falls through to the framework`,
    family,
    request: (w) => {
      const documented: ContractRequest =
        family === 'wukongim'
          ? wk(path, { uid: 'alice01', device_flag: 1, conn_id: 1 })
          : family === 'tencent'
            ? kick({ Identifier: 'alice01' })(w)
            : {
                ...logout({ username: 'alice01', token: w.tokens.alice0! }),
                headers: { token: w.tokens.alice0! },
              };
      const withBody = method !== 'GET' && method !== 'OPTIONS';
      const { body, ...rest } = documented;
      return { ...rest, path, method, ...(withBody && body !== undefined ? { body } : {}) };
    },
    expect: { fallsThrough: true },
    unchanged: true,
  }),
);

export const cases: ContractCase[] = [
  ...wukongim,
  ...tencent,
  ...lancensCases,
  ...guard,
  ...socket,
  ...prefixed,
  ...subsets,
  ...otherMethods,
];
