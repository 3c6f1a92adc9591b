import {
  type Clock,
  type ClusterMessage,
  type ConnectionRecord,
  type Cutoff,
  type DeviceRecord,
  type EvictStore,
  type KickOutcome,
  type KickRequest,
  type PushTokenKind,
  type PushTokenRecord,
  type SessionRecord,
  StoreCorruptError,
  systemClock,
  type UserRecord,
} from '@evict/core';
import { DEFAULT_PREFIX, KeyLayout, userKeyList } from './keys.js';
import {
  type ClientKind,
  clientKind,
  errorMessage,
  type RedisClient,
  type RedisCommands,
  redisCommands,
} from './redis-commands.js';
import {
  CLEAR_PUSH_TOKENS,
  DELETE_CONNECTION,
  GRACE_MS,
  HIT,
  KICK,
  LIST_CONNECTIONS,
  type LuaScript,
  PUBLISH,
  PUT_CONNECTION,
  RAISE_CUTOFF,
  RECORD_SESSION,
  REVOKE_SESSION,
  SESSION_INDEX,
  SET_PUSH_TOKEN,
  TOUCH_USER,
} from './scripts.js';
import { createSubscriberLink, type SubscriberLink } from './subscriber-link.js';

export interface RedisStoreOptions {
  /**
   * The host's client: an ioredis `Redis` or `Cluster`, or a node-redis client or cluster client
   * (connected). The store borrows it and never closes it.
   */
  client: RedisClient;
  /** Put in front of every key and of the pub/sub channel. Default `evict:`. No `{` or `}` (hash tags). */
  prefix?: string;
  /** Source of "now" for expiry; defaults to the system clock. Use the engine's clock. */
  clock?: Clock;
  /**
   * A connection the host dedicates to subscriptions, lent like `client` (never closed by the store).
   * Without it the store duplicates `client` on first `subscribe` and closes the duplicate on `close`.
   */
  subscriber?: RedisClient;
}

const KNOWN_OPTIONS = new Set(['client', 'prefix', 'clock', 'subscriber']);
const LINK_RETRY_MIN_MS = 100;
const LINK_RETRY_MAX_MS = 5_000;
/** How long `publish` waits for the store's own first subscription, at most. */
const PUBLISH_WAITS_FOR_LINK_MS = 1_000;

interface ResolvedOptions {
  commands: RedisCommands;
  client: RedisClient;
  clientKind: ClientKind;
  subscriber: { client: RedisClient; kind: ClientKind; owned: boolean };
  keys: KeyLayout;
  clock: Clock;
}

function parseOptions(options: RedisStoreOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('RedisStore: options must be an object with a client');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      process.emitWarning(`RedisStore: unknown option ${JSON.stringify(key)} is ignored`, {
        code: 'EVICT_UNKNOWN_OPTION',
      });
    }
  }
  const defined = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<RedisStoreOptions>;
  const { client, prefix = DEFAULT_PREFIX, clock = systemClock, subscriber } = defined;

  const kind = clientKind(client);
  if (client === undefined || kind === undefined) {
    throw new TypeError(
      'RedisStore: client must be an ioredis Redis or Cluster, or a node-redis client or cluster client',
    );
  }
  if (typeof prefix !== 'string' || prefix.length === 0) {
    throw new TypeError('RedisStore: prefix must be a non-empty string');
  }
  if (/[{}]/.test(prefix)) {
    throw new TypeError(
      'RedisStore: prefix must not contain "{" or "}" (the store puts its own hash tags after it)',
    );
  }
  if (typeof clock !== 'object' || clock === null || typeof clock.nowMs !== 'function') {
    throw new TypeError('RedisStore: clock must have a nowMs() method');
  }
  const subscriberKind = subscriber === undefined ? kind : clientKind(subscriber);
  if (subscriberKind === undefined) {
    throw new TypeError(
      'RedisStore: subscriber must be an ioredis Redis or Cluster, or a node-redis client or cluster client',
    );
  }
  return {
    commands: redisCommands(client, kind),
    client,
    clientKind: kind,
    subscriber: { client: subscriber ?? client, kind: subscriberKind, owned: subscriber === undefined },
    keys: new KeyLayout(prefix),
    clock,
  };
}

/**
 * The evict store on Redis, for nodes that share state. It borrows a client the host owns (ioredis
 * or node-redis, standalone or Cluster), prefixes every key, and runs every read-modify-write as one
 * Lua script on the keys of one hash slot. Every key expires with what it holds (see `scripts.ts`),
 * so nothing outlives what it could reject. Cluster messages go through Redis pub/sub on a
 * connection of the store's own, whose drops are reported by `onLinkChange`.
 */
export class RedisStore implements EvictStore {
  readonly prefix: string;
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #clock: Clock;
  /** Every publish of a cluster goes through PUBLISH's routing key; one Redis can publish from any script. */
  readonly #cluster: boolean;
  readonly #subscriberSource: ResolvedOptions['subscriber'];
  readonly #listeners = new Set<(message: ClusterMessage) => void>();
  readonly #linkListeners = new Set<(up: boolean) => void>();
  #link: SubscriberLink | undefined;
  /** The latest attempt at the first subscription: resolved once it is confirmed, rejected if it failed. */
  #linkStarted: Promise<void> | undefined;
  #linkRetryMs = LINK_RETRY_MIN_MS;
  /** Last state reported to link listeners; undefined before the first subscription. */
  #linkUp: boolean | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: RedisStoreOptions) {
    const resolved = parseOptions(options);
    this.#commands = resolved.commands;
    this.#keys = resolved.keys;
    this.#clock = resolved.clock;
    this.#cluster = resolved.clientKind === 'ioredis-cluster' || resolved.clientKind === 'node-redis-cluster';
    this.#subscriberSource = resolved.subscriber;
    this.prefix = resolved.keys.prefix;
  }

  /** Which client the store borrowed: `ioredis`, `ioredis-cluster`, `node-redis` or `node-redis-cluster`. */
  get clientKind(): ClientKind {
    return this.#commands.kind;
  }

  /** The pub/sub channel of this prefix. */
  get channel(): string {
    return this.#keys.channel;
  }

  /**
   * Resolves once the client answers PING and the store is subscribed to its channel: from then on a
   * `subscribe` takes effect at once, as on the memory store (the subscription starts here, or at
   * the first `subscribe` of a store nobody made ready).
   */
  async ready(): Promise<void> {
    await this.#commands.command(['PING']);
    if (this.#closing === undefined) this.#startLink();
    await this.#linkStarted;
  }

  /** Unsubscribes and closes the connection the store created; the host's clients stay open. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listeners.clear();
      this.#linkListeners.clear();
      await this.#link?.close();
    })();
    return this.#closing;
  }

  // Sessions

  async putSession(session: SessionRecord): Promise<void> {
    const now = this.#now();
    // The user's side first (device record and session index), then the session: a failure between
    // the two leaves a device marked with no session behind it (harmless, it expires), never a usable
    // session that the user's records do not know of (a device quit would miss it). The two live in
    // different slots, so one script cannot write both on a cluster.
    await this.#userScript(RECORD_SESSION, session.uid, [
      String(now),
      String(session.deviceFlag),
      String(session.issuedAtMs),
      String(session.expiresAtMs),
      session.tokenHash,
      String(session.retainUntilMs),
    ]);
    const key = this.#keys.session(session.tokenHash);
    if (session.retainUntilMs <= now) {
      await this.#commands.command(['DEL', key], key);
      return;
    }
    const ttlMs = Math.ceil(session.retainUntilMs - now) + GRACE_MS;
    await this.#commands.command(['SET', key, encodeSession(session), 'PX', String(ttlMs)], key);
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    const key = this.#keys.session(tokenHash);
    const raw = await this.#commands.command(['GET', key], key);
    if (raw === null || raw === undefined) return undefined;
    const session = decodeSession(key, tokenHash, raw);
    return session.retainUntilMs <= this.#now() ? undefined : session;
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    const now = this.#now();
    const hashes = stringList(await this.#userScript(SESSION_INDEX, uid, [String(now)]), 'session index');
    // The sessions live in slots of their own: one GET each, sent together (MGET cannot span slots).
    const found = await Promise.all(hashes.map((hash) => this.getSession(hash)));
    // An entry whose session is missing is skipped, not removed: it may be a putSession between its two
    // writes. Entries leave the index when their retention passes (scored by retainUntilMs).
    return found.filter((s): s is SessionRecord => s !== undefined && s.uid === uid && s.retainUntilMs > now);
  }

  async revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    const key = this.#keys.session(tokenHash);
    const raw = await this.#eval(REVOKE_SESSION, [key], [String(this.#now()), String(atMs)]);
    // A Lua false is nil in RESP2, and may arrive as false or null in RESP3.
    return raw === null || raw === undefined || raw === false
      ? undefined
      : decodeSession(key, tokenHash, raw);
  }

  // Users

  async getUser(uid: string): Promise<UserRecord | undefined> {
    const key = this.#keys.user(uid).user;
    const fields = pairs(await this.#commands.command(['HGETALL', key], key), key);
    if (fields.length === 0) return undefined;
    const user = decodeUser(key, uid, fields);
    return user.expiresAtMs <= this.#now() ? undefined : user;
  }

  async touchUser(uid: string, expiresAtMs: number): Promise<void> {
    await this.#userScript(TOUCH_USER, uid, [String(this.#now()), String(expiresAtMs)]);
  }

  async raiseCutoff(
    uid: string,
    deviceFlag: number | null,
    cutoff: Cutoff,
    expiresAtMs: number,
  ): Promise<void> {
    await this.#userScript(RAISE_CUTOFF, uid, [
      String(this.#now()),
      deviceFlag === null ? 'c' : `c:${deviceFlag}`,
      encodeCutoff(cutoff),
      String(cutoff.atMs),
      String(expiresAtMs),
    ]);
  }

  /**
   * One script checks what is required, raises the cutoff, lists the connections and, on one Redis,
   * publishes the announcement: one round trip. On a cluster the announcement follows the script (it
   * must enter at PUBLISH's master, and the user's keys live on another), so a failure between the
   * two leaves the cutoff written and the call rejected, as `raiseCutoff` then `publish` would.
   */
  async kick(request: KickRequest): Promise<KickOutcome> {
    const { uid, deviceFlag, cutoff } = request;
    const inline = !this.#cluster;
    if (inline) await this.#awaitOwnSubscription();
    const keys = this.#keys.user(uid);
    const reply = await this.#eval(KICK, userKeyList(keys), [
      String(this.#now()),
      deviceFlag === null ? '' : String(deviceFlag),
      encodeCutoff(cutoff),
      String(cutoff.atMs),
      String(request.expiresAtMs),
      request.require.user ? '1' : '0',
      request.require.device && deviceFlag !== null ? '1' : '0',
      inline ? this.#keys.channel : '',
      inline ? JSON.stringify(request.announce) : '',
    ]);
    const [status, ...raws] = stringList(reply, 'kick');
    if (status === 'user' || status === 'device') return { applied: false, missing: status };
    if (status !== 'ok') throw new StoreCorruptError('unexpected reply from Redis for kick');
    if (!inline) await this.publish(request.announce);
    return { applied: true, connections: raws.map((raw) => decodeConnection(keys.conns, raw)) };
  }

  // Connections

  async putConnection(connection: ConnectionRecord): Promise<void> {
    const record: ConnectionRecord = {
      uid: connection.uid,
      deviceFlag: connection.deviceFlag,
      nodeId: connection.nodeId,
      connId: connection.connId,
      connectedAtMs: connection.connectedAtMs,
      expiresAtMs: connection.expiresAtMs,
    };
    await this.#userScript(PUT_CONNECTION, connection.uid, [
      String(this.#now()),
      connectionField(connection.nodeId, connection.connId),
      JSON.stringify(record),
      String(connection.expiresAtMs),
    ]);
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const removed = await this.#userScript(DELETE_CONNECTION, uid, [
      String(this.#now()),
      connectionField(nodeId, connId),
    ]);
    return Number(removed) === 1;
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    const keys = this.#keys.user(uid);
    const raws = stringList(await this.#userScript(LIST_CONNECTIONS, uid, [String(this.#now())]), keys.conns);
    return raws.map((raw) => decodeConnection(keys.conns, raw));
  }

  // Push tokens

  async setPushToken(uid: string, record: PushTokenRecord): Promise<void> {
    const copy: PushTokenRecord = {
      kind: record.kind,
      token: record.token,
      deviceFlag: record.deviceFlag,
      updatedAtMs: record.updatedAtMs,
      expiresAtMs: record.expiresAtMs,
    };
    await this.#userScript(SET_PUSH_TOKEN, uid, [
      String(this.#now()),
      record.kind,
      JSON.stringify(copy),
      String(record.expiresAtMs),
    ]);
  }

  async getPushTokens(uid: string): Promise<PushTokenRecord[]> {
    const key = this.#keys.user(uid).push;
    const fields = pairs(await this.#commands.command(['HGETALL', key], key), key);
    const now = this.#now();
    return fields.map(([, raw]) => decodePushToken(key, raw)).filter((t) => t.expiresAtMs > now);
  }

  async clearPushTokens(uid: string, kinds: readonly PushTokenKind[]): Promise<PushTokenKind[]> {
    if (kinds.length === 0) return [];
    const cleared = await this.#userScript(CLEAR_PUSH_TOKENS, uid, [String(this.#now()), ...kinds]);
    return stringList(cleared, 'cleared push tokens') as PushTokenKind[];
  }

  // Rate limits

  async hit(key: string, atMs: number, windowMs: number): Promise<number> {
    const windowStartMs = atMs - (atMs % windowMs);
    const counter = this.#keys.counter(key, windowStartMs);
    const ttlMs = Math.ceil(windowStartMs + windowMs - atMs) + GRACE_MS;
    return Number(await this.#eval(HIT, [counter], [String(ttlMs)]));
  }

  // Cluster messages

  async publish(message: ClusterMessage): Promise<void> {
    await this.#awaitOwnSubscription();
    await this.#eval(PUBLISH, [this.#keys.publishRoute], [this.#keys.channel, JSON.stringify(message)]);
  }

  subscribe(listener: (message: ClusterMessage) => void): () => void {
    if (this.#closing !== undefined) return () => {};
    this.#listeners.add(listener);
    this.#startLink();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  onLinkChange(listener: (up: boolean) => void): () => void {
    if (this.#closing !== undefined) return () => {};
    this.#linkListeners.add(listener);
    return () => {
      this.#linkListeners.delete(listener);
    };
  }

  // Internals

  #now(): number {
    return this.#clock.nowMs();
  }

  /**
   * Before a publish: a store subscribed a moment ago receives its own message, so the subscription
   * is confirmed first (waiting a bounded time: a subscriber connection in trouble must not hold
   * revocations back). Costs nothing once the link is up.
   */
  async #awaitOwnSubscription(): Promise<void> {
    if (this.#linkStarted === undefined || this.#linkUp === true) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PUBLISH_WAITS_FOR_LINK_MS);
    });
    await Promise.race([this.#linkStarted.catch(() => {}), waited]);
    clearTimeout(timer);
  }

  /** The subscriber connection, created on first use. */
  #startLink(): void {
    if (this.#link !== undefined) return;
    const { client, kind, owned } = this.#subscriberSource;
    this.#link = createSubscriberLink(client, kind, owned, this.#keys.channel, {
      message: (raw) => this.#deliver(raw),
      down: () => this.#setLink(false),
      up: () => this.#setLink(true),
    });
    this.#startAttempt(this.#link);
  }

  /** One attempt at the first subscription; a failed one is retried (with backoff) until one succeeds. */
  #startAttempt(link: SubscriberLink): void {
    const attempt = link.start().catch((error: unknown) => {
      this.#setLink(false);
      if (this.#closing === undefined) {
        const delayMs = this.#linkRetryMs;
        this.#linkRetryMs = Math.min(delayMs * 2, LINK_RETRY_MAX_MS);
        setTimeout(() => {
          if (this.#closing === undefined) this.#startAttempt(link);
        }, delayMs).unref();
      }
      throw error;
    });
    // ready() reports a failed attempt; until someone asks, it must not be an unhandled rejection.
    attempt.catch(() => {});
    this.#linkStarted = attempt;
  }

  #setLink(up: boolean): void {
    if (this.#closing !== undefined || this.#linkUp === up) return;
    this.#linkUp = up;
    for (const listener of this.#linkListeners) listener(up);
  }

  #deliver(raw: string): void {
    const message = parseMessage(raw);
    if (message === undefined) return;
    // Each listener on a later tick, as MemoryStore does: a listener never runs inside the client's reader.
    for (const listener of this.#listeners) queueMicrotask(() => listener(message));
  }

  #userScript(script: LuaScript, uid: string, args: string[]): Promise<unknown> {
    return this.#eval(script, userKeyList(this.#keys.user(uid)), args);
  }

  async #eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#commands.evalScript(script, keys, args);
    } catch (error) {
      const message = errorMessage(error);
      const corrupt = /EVICT_CORRUPT (.*?)(?: script: [0-9a-f]{40}.*)?$/s.exec(message);
      if (corrupt !== null) throw new StoreCorruptError(`unreadable record in Redis: ${corrupt[1]}`);
      throw error;
    }
  }
}

// Records in and out. Everything read back is checked: a record evict cannot read is StoreCorruptError.

function connectionField(nodeId: number, connId: number): string {
  return `${nodeId}:${connId}`;
}

/**
 * A session as stored (see `keys.ts`): `<deviceFlag> <issuedAtMs> <expiresAtMs> <retainUntilMs>
 * <revokedAtMs or -> <uid>`. The token hash is the key's; the uid comes last, as it may hold spaces.
 */
function encodeSession(session: SessionRecord): string {
  const { deviceFlag, issuedAtMs, expiresAtMs, retainUntilMs, revokedAtMs, uid } = session;
  return `${deviceFlag} ${issuedAtMs} ${expiresAtMs} ${retainUntilMs} ${revokedAtMs ?? '-'} ${uid}`;
}

/** A cutoff as stored: `<atMs> <reason>`. */
function encodeCutoff(cutoff: Cutoff): string {
  return `${cutoff.atMs} ${cutoff.reason}`;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function parseJson(key: string, raw: unknown, what: string): Record<string, unknown> {
  const s = text(raw);
  let value: unknown;
  try {
    value = s === undefined ? undefined : JSON.parse(s);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoreCorruptError(`unreadable ${what} in Redis at ${key}`);
  }
  return value as Record<string, unknown>;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A number as the store writes them (JavaScript's String, Lua's %.17g); anything else is undefined. */
const NUMBER = /^-?\d+(?:\.\d+)?(?:e[+-]\d+)?$/;

function numberOf(raw: string | undefined): number | undefined {
  if (raw === undefined || !NUMBER.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

const SESSION = /^(\S+) (\S+) (\S+) (\S+) (\S+) ([\s\S]*)$/;

function decodeSession(key: string, tokenHash: string, raw: unknown): SessionRecord {
  const match = SESSION.exec(text(raw) ?? '');
  const deviceFlag = numberOf(match?.[1]);
  const issuedAtMs = numberOf(match?.[2]);
  const expiresAtMs = numberOf(match?.[3]);
  const retainUntilMs = numberOf(match?.[4]);
  const revokedAtMs = match?.[5] === '-' ? undefined : numberOf(match?.[5]);
  if (
    match === null ||
    deviceFlag === undefined ||
    issuedAtMs === undefined ||
    expiresAtMs === undefined ||
    retainUntilMs === undefined ||
    (revokedAtMs === undefined && match[5] !== '-')
  ) {
    throw new StoreCorruptError(`unreadable session in Redis at ${key}`);
  }
  const session: SessionRecord = {
    tokenHash,
    uid: match[6]!,
    deviceFlag,
    issuedAtMs,
    expiresAtMs,
    retainUntilMs,
  };
  if (revokedAtMs !== undefined) session.revokedAtMs = revokedAtMs;
  return session;
}

const CUTOFF = /^(\S+) (kicked|device_quit)$/;
const DEVICE = /^(\S+) (\S+)$/;

function decodeCutoff(key: string, field: string, raw: string): Cutoff {
  const match = CUTOFF.exec(raw);
  const atMs = numberOf(match?.[1]);
  if (match === null || atMs === undefined)
    throw new StoreCorruptError(`unreadable ${field} in Redis at ${key}`);
  return { atMs, reason: match[2] as Cutoff['reason'] };
}

function decodeDevice(key: string, field: string, raw: string): DeviceRecord {
  const match = DEVICE.exec(raw);
  const lastIssuedAtMs = numberOf(match?.[1]);
  const expiresAtMs = numberOf(match?.[2]);
  if (lastIssuedAtMs === undefined || expiresAtMs === undefined) {
    throw new StoreCorruptError(`unreadable ${field} in Redis at ${key}`);
  }
  return { lastIssuedAtMs, expiresAtMs };
}

const DEVICE_FIELD = /^([cd]):(\d+)$/;

function decodeUser(key: string, uid: string, fields: [string, string][]): UserRecord {
  const user: UserRecord = { uid, deviceCutoffs: {}, devices: {}, expiresAtMs: Number.NaN };
  for (const [field, raw] of fields) {
    if (field === 'e') {
      user.expiresAtMs = numberOf(raw) ?? Number.NaN;
    } else if (field === 'c') {
      user.cutoff = decodeCutoff(key, field, raw);
    } else {
      const match = DEVICE_FIELD.exec(field);
      if (match === null) continue; // a field a later version may add
      const flag = Number(match[2]);
      if (match[1] === 'c') user.deviceCutoffs[flag] = decodeCutoff(key, field, raw);
      else user.devices[flag] = decodeDevice(key, field, raw);
    }
  }
  if (!isNumber(user.expiresAtMs)) throw new StoreCorruptError(`unreadable user in Redis at ${key}`);
  return user;
}

function decodeConnection(key: string, raw: unknown): ConnectionRecord {
  const v = parseJson(key, raw, 'connection');
  if (
    typeof v.uid !== 'string' ||
    !isNumber(v.deviceFlag) ||
    !isNumber(v.nodeId) ||
    !isNumber(v.connId) ||
    !isNumber(v.connectedAtMs) ||
    !isNumber(v.expiresAtMs)
  ) {
    throw new StoreCorruptError(`unreadable connection in Redis at ${key}`);
  }
  return {
    uid: v.uid,
    deviceFlag: v.deviceFlag,
    nodeId: v.nodeId,
    connId: v.connId,
    connectedAtMs: v.connectedAtMs,
    expiresAtMs: v.expiresAtMs,
  };
}

function decodePushToken(key: string, raw: unknown): PushTokenRecord {
  const v = parseJson(key, raw, 'push token');
  if (
    (v.kind !== 'ring' && v.kind !== 'message') ||
    typeof v.token !== 'string' ||
    !isNumber(v.deviceFlag) ||
    !isNumber(v.updatedAtMs) ||
    !isNumber(v.expiresAtMs)
  ) {
    throw new StoreCorruptError(`unreadable push token in Redis at ${key}`);
  }
  return {
    kind: v.kind,
    token: v.token,
    deviceFlag: v.deviceFlag,
    updatedAtMs: v.updatedAtMs,
    expiresAtMs: v.expiresAtMs,
  };
}

/** A list of strings from a reply (a script's table, ZRANGE). */
function stringList(reply: unknown, what: string): string[] {
  if (!Array.isArray(reply)) throw new StoreCorruptError(`unexpected reply from Redis for ${what}`);
  return reply.map((item) => {
    const s = text(item);
    if (s === undefined) throw new StoreCorruptError(`unexpected reply from Redis for ${what}`);
    return s;
  });
}

/** HGETALL's reply as field/value pairs: a flat array (RESP2), or a map or object (RESP3). */
function pairs(reply: unknown, key: string): [string, string][] {
  if (reply === null || reply === undefined) return [];
  let entries: [unknown, unknown][];
  if (Array.isArray(reply)) {
    entries = [];
    for (let i = 0; i + 1 < reply.length; i += 2) entries.push([reply[i], reply[i + 1]]);
  } else if (reply instanceof Map) {
    entries = [...reply.entries()];
  } else if (typeof reply === 'object') {
    entries = Object.entries(reply);
  } else {
    throw new StoreCorruptError(`unexpected reply from Redis at ${key}`);
  }
  return entries.map(([field, value]) => {
    const f = text(field);
    const v = text(value);
    if (f === undefined || v === undefined)
      throw new StoreCorruptError(`unexpected reply from Redis at ${key}`);
    return [f, v];
  });
}

function parseMessage(raw: string): ClusterMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return type === 'close-connections' || type === 'revoked' ? (value as ClusterMessage) : undefined;
}
