/**
 * The contract table's types: a case is a request, the answer it must get and what must (not)
 * change, run in a `World` (a fresh engine, store, clock and app). `setup` and `before` are the
 * only code: they prepare the world (and check what they rely on).
 */
import type { ConnectionDetails, Credential, Evict, PushTokenKind } from '@evict/core';
import type { ManualClock } from '../support/clock.js';
import type { FaultyStore } from '../support/faulty-store.js';
import type { CaseOptions } from './app.js';

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
  /**
   * Opens a real WebSocket to `/ws?token=` (and `&device_id=`, WuKongIM's install id, when given)
   * and waits for its hello; `closed` expectations name it.
   */
  connect(name: string, token: string, deviceId?: string): Promise<void>;
  /** The hello of an open socket. */
  hello(name: string): { conn_id: number; node_id: number };
  /**
   * Registers a connection whose close is only recorded (checked with `credential`, when given, as
   * a socket's would be); `closed` expectations name it.
   */
  simulate(
    name: string,
    connection: {
      uid: string;
      deviceFlag: number;
      connId?: number;
      credential?: Credential;
    } & ConnectionDetails,
  ): Promise<void>;
}

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
  /** A list sends the header once per value. */
  headers?: Record<string, string | string[]>;
  /** A body gets `content-type: application/json` unless `headers` name another ('' for none at all). */
  body?: ContractBody;
  /** A WebSocket upgrade instead: 101 and the first message, or the refusal's status and body. */
  websocket?: true;
}

/** How a socket ended: closed with this code and reason (after these messages, when `told` is given), or still open. */
export type Closed = { code: number; reason: string; told?: string[] } | 'open';

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
