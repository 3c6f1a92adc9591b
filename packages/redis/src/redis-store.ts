import {
  type Admission,
  type AdmissionOutcome,
  type AdmissionRequest,
  type Clock,
  type ClusterMessage,
  type ConnectionRecord,
  type ConnectionRef,
  type Cutoff,
  type DeviceConnections,
  type EvictStore,
  type KickOutcome,
  type KickRequest,
  type NodeRecord,
  type PushTokenKind,
  type PushTokenRecord,
  readAllPages,
  type ScanPage,
  type SessionRecord,
  StoreCorruptError,
  StoreNotReplicatedError,
  type UserRecord,
} from '@evict/core';
import { ConnectionRegistry, type NodeTable, withIncarnations } from './connection-registry.js';
import { JOIN_DEVICE } from './connection-scripts.js';
import { HIT } from './hit-script.js';
import { type KeyLayout, userKeyList } from './keys.js';
import { closeMessageTail, KICK } from './kick-script.js';
import { GRACE_MS, type LuaScript, runScript } from './lua-script.js';
import { parseOptions, type RedisStoreOptions, type ResolvedOptions } from './options.js';
import { PUBLISH } from './publish-script.js';
import { CLEAR_PUSH_TOKENS, SET_PUSH_TOKEN } from './push-token-scripts.js';
import {
  admissionField,
  connectionField,
  decodeAdmission,
  decodeConnection,
  decodePushToken,
  decodeSession,
  decodeUser,
  encodeCutoff,
  parseMessage,
  type StoredConnection,
} from './records.js';
import type { ClientKind, RedisCommands } from './redis-commands.js';
import { pairs, scanReply, stringList, text } from './replies.js';
import { SessionKeys } from './session-keys.js';
import {
  ADMIT_SESSION,
  INDEXED_SESSION,
  RAISE_CUTOFF,
  READ_USER,
  RECORD_SESSION,
  REVOKE_SESSION,
  TOUCH_SESSION,
  TOUCH_USER,
} from './session-scripts.js';
import { createSubscriberLink, type SubscriberLink } from './subscriber-link.js';

export type { RedisStoreOptions, ReplicaAcknowledgement } from './options.js';

/** What a scan asks Redis for a page (`COUNT`): every reply of a listing stays about this size. */
const SCAN_COUNT = 500;
const LINK_RETRY_MIN_MS = 100;
const LINK_RETRY_MAX_MS = 5_000;
/** How long `publish` waits for the store's own first subscription, at most. */
const PUBLISH_WAITS_FOR_LINK_MS = 1_000;

/**
 * The evict store on Redis, for nodes that share state. It borrows a client the host owns (ioredis
 * or node-redis, standalone or Cluster), prefixes every key, and runs every read-modify-write as one
 * Lua script on the keys of one hash slot. Every key expires with what it holds (see
 * `lua-script.ts`), so nothing outlives what it could reject. Cluster messages go through
 * Redis pub/sub on a connection of the store's own, whose drops are reported by `onLinkChange`.
 */
/** The arguments the scripts that record a session on its user share (session-scripts.ts, RECORD). */
function recordArgs(session: SessionRecord, now: number): string[] {
  const { deviceFlag, issuedAtMs, expiresAtMs, tokenHash, retainUntilMs } = session;
  return [
    String(now),
    String(deviceFlag),
    String(issuedAtMs),
    String(expiresAtMs),
    tokenHash,
    String(retainUntilMs),
  ];
}

export class RedisStore implements EvictStore {
  readonly prefix: string;
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #clock: Clock;
  readonly #waitForReplicas: ResolvedOptions['waitForReplicas'];
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
  /** Connections, the node table and the sweep. */
  readonly #connections: ConnectionRegistry;
  /** The sessions' own keys. */
  readonly #sessions: SessionKeys;

  constructor(options: RedisStoreOptions) {
    const resolved = parseOptions(options);
    this.#commands = resolved.commands;
    this.#keys = resolved.keys;
    this.#clock = resolved.clock;
    this.#waitForReplicas = resolved.waitForReplicas;
    this.#cluster = resolved.clientKind === 'ioredis-cluster' || resolved.clientKind === 'node-redis-cluster';
    this.#subscriberSource = resolved.subscriber;
    this.prefix = resolved.keys.prefix;
    const context = {
      commands: resolved.commands,
      keys: resolved.keys,
      clock: resolved.clock,
      cluster: this.#cluster,
    };
    this.#connections = new ConnectionRegistry(context);
    this.#sessions = new SessionKeys(context);
  }

  /**
   * Which client the store borrowed: `ioredis`, `ioredis-cluster`, `node-redis`, `node-redis-cluster`
   * or `node-redis-sentinel`.
   */
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
      this.#commands.release();
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
    await this.#userScript(RECORD_SESSION, session.uid, recordArgs(session, now));
    await this.#sessions.write(session, now);
  }

  async admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome> {
    const drops = this.#commands.connectionDrops();
    const now = this.#now();
    // The user's side decides and writes in one script; the session follows, as putSession's does.
    // A login may come through here each time: its arguments and reply are built without copies.
    const args = recordArgs(session, now);
    args.push(
      request.deviceClass,
      request.classLimit === undefined ? '' : String(request.classLimit),
      request.userLimit === undefined ? '' : String(request.userLimit),
      request.refuse ? '1' : '0',
    );
    // One Redis: announced by the script (a cluster publishes through its routing key, after).
    if (this.#cluster) args.push('', '', '');
    else args.push(this.#keys.channel, session.uid, String(request.fromNodeId));
    const userKeys = this.#keys.user(session.uid);
    const reply = stringList(await this.#eval(ADMIT_SESSION, userKeyList(userKeys), args), 'admitSession');
    const key = userKeys.user;
    if (reply.length % 2 === 0) throw new StoreCorruptError('unexpected reply from Redis for admitSession');
    const named: Admission[] = [];
    for (let i = 1; i < reply.length; i += 2) named.push(decodeAdmission(key, reply[i]!, reply[i + 1]!));
    if (reply[0] === 'full') return { admitted: false, full: named };
    if (reply[0] !== 'admitted') throw new StoreCorruptError('unexpected reply from Redis for admitSession');
    await this.#sessions.write(session, now, true);
    if (this.#cluster) {
      await Promise.all(
        named.map(({ tokenHash }) =>
          this.publish({
            type: 'revoked',
            uid: session.uid,
            tokenHash,
            replaced: true,
            fromNodeId: request.fromNodeId,
          }),
        ),
      );
    }
    // Sessions pushed out are rejected from now on, a revocation as durable as a kick's; announced
    // first, as a kick is.
    if (named.length > 0 && this.#waitForReplicas !== undefined)
      await this.#replicated(drops, key, this.#keys.session(session.tokenHash));
    return { admitted: true, replaced: named };
  }

  async dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void> {
    if (tokenHashes.length === 0) return;
    // A field per admission (see `keys.ts`): taking one off is a plain HDEL, atomic on its own.
    const key = this.#keys.user(uid).user;
    await this.#commands.command(['HDEL', key, ...tokenHashes.map(admissionField)], key);
  }

  getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#sessions.read(tokenHash);
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    // A page at a time: a user holding 100,000 sessions is never one reply.
    return readAllPages(
      (cursor) => this.scanSessions(uid, cursor, SCAN_COUNT),
      (session) => session.tokenHash,
    );
  }

  async scanSessions(
    uid: string,
    cursor: string | undefined,
    count: number,
  ): Promise<ScanPage<SessionRecord>> {
    const now = this.#now();
    const keys = this.#keys.user(uid);
    const key = keys.sessions;
    const hashes: string[] = [];
    if (cursor === undefined) {
      // The first page also reads the entry the user's hash holds (its one session, see `keys.ts`),
      // before the sorted set: an entry that moves between the two meanwhile is in the set by then.
      const indexed = text(await this.#userScript(INDEXED_SESSION, uid, [String(now)]));
      if (indexed !== undefined) hashes.push(indexed);
    }
    const reply = scanReply(
      await this.#commands.command(['ZSCAN', key, cursor ?? '0', 'COUNT', String(count)], key),
      key,
    );
    // Scored by retainUntilMs: an entry whose retention has passed is left for the next write's pruning.
    for (let i = 0; i + 1 < reply.entries.length; i += 2) {
      if (Number(reply.entries[i + 1]) > now) hashes.push(reply.entries[i]!);
    }
    const found = await this.#sessions.readAll(hashes);
    // An entry whose session is missing is skipped, not removed: it may be a putSession between its two writes.
    const items = found.filter(
      (s): s is SessionRecord => s !== undefined && s.uid === uid && s.retainUntilMs > now,
    );
    return { items, cursor: reply.cursor };
  }

  async touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void> {
    const now = String(this.#now());
    // Each session in its own slot: one script each, sent together.
    await Promise.all(
      touches.map(({ tokenHash, atMs }) =>
        this.#sessions.run(tokenHash, TOUCH_SESSION, [now, String(Math.floor(atMs))]),
      ),
    );
  }

  async revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    const drops = this.#commands.connectionDrops();
    const now = String(this.#now());
    const { key, reply } = await this.#sessions.run(tokenHash, REVOKE_SESSION, [now, String(atMs)]);
    // Also when it was revoked already: a retry after EVICT_STORE_NOT_REPLICATED waits again.
    await this.#replicated(drops, key);
    // 0: on file past its retention.
    return reply === 0 ? undefined : decodeSession(key, tokenHash, reply);
  }

  // Users

  async getUser(uid: string): Promise<UserRecord | undefined> {
    const key = this.#keys.user(uid).user;
    const reply = await this.#eval(READ_USER, [key], []);
    const [length, all] = Array.isArray(reply) ? reply : [];
    if (typeof length !== 'number' || !Number.isSafeInteger(length))
      throw new StoreCorruptError(`unexpected reply from Redis for getUser at ${key}`);
    if (length === 0) return undefined;
    // A field read twice (a large hash, paged) counts once: the last value read stands.
    const fields = [...new Map(pairs(all, key))];
    const now = this.#now();
    // Read whole, the hash's connections are among the fields (none left out); else they are the
    // fields left out.
    const user = decodeUser(key, uid, fields, now, length - fields.length);
    return user.expiresAtMs <= now ? undefined : user;
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
    const drops = this.#commands.connectionDrops();
    await this.#userScript(RAISE_CUTOFF, uid, [
      String(this.#now()),
      deviceFlag === null ? 'c' : `c:${deviceFlag}`,
      encodeCutoff(cutoff),
      String(cutoff.atMs),
      String(expiresAtMs),
    ]);
    await this.#replicated(drops, this.#keys.user(uid).user);
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
    const drops = this.#commands.connectionDrops();
    const keys = this.#keys.user(uid);
    // One Redis: the script reads the node table itself. A cluster: the table lives in another
    // slot, so the live incarnations are read first when the device check needs them, and every
    // listed connection is judged after the script.
    const requireDevice = request.require.device && deviceFlag !== null;
    const before: NodeTable = inline || !requireDevice ? new Map() : await this.#connections.nodeTable();
    const now = this.#now();
    const live: string[] = [];
    for (const [nodeId, node] of before)
      if (node.expiresAtMs > now) live.push(`${nodeId} ${node.generation}`);
    const scriptKeys = userKeyList(keys);
    if (inline) scriptKeys.push(this.#keys.nodes);
    // Every node's close messages go out with the announcement, unless an acknowledgement of
    // the write by replicas must come first: a connection closed for a cutoff that a failover then
    // lost would be a kick half applied (the engine publishes them after `#replicated`).
    const closes = inline && this.#waitForReplicas === undefined ? request.closes : undefined;
    const reply = await this.#eval(KICK, scriptKeys, [
      String(this.#now()),
      deviceFlag === null ? '' : String(deviceFlag),
      encodeCutoff(cutoff),
      String(cutoff.atMs),
      String(request.expiresAtMs),
      request.require.user ? '1' : '0',
      requireDevice ? '1' : '0',
      inline ? this.#keys.channel : '',
      inline ? JSON.stringify(request.announce) : '',
      closes === undefined ? '' : JSON.stringify(uid),
      closes === undefined ? '' : closeMessageTail(closes),
      ...live,
    ]);
    const [status, ...fields] = stringList(reply, 'kick');
    if (status === 'user' || status === 'device') return { applied: false, missing: status };
    if (status !== 'ok' && status !== 'live')
      throw new StoreCorruptError('unexpected reply from Redis for kick');
    if (fields.length % 3 !== 0) throw new StoreCorruptError('unexpected reply from Redis for kick');
    const onFile: StoredConnection[] = [];
    const incarnations: string[] = [];
    for (let i = 0; i < fields.length; i += 3) {
      onFile.push(decodeConnection(keys.user, uid, fields[i]!, fields[i + 1]!));
      incarnations.push(fields[i + 2]!);
    }
    // One Redis: the script judged them, and named each one's incarnation. A cluster: judged after
    // the script, and a connection whose generation the table read before does not show live is
    // judged again on a fresh read, one that starts after the cutoff was written.
    const connections =
      status === 'live'
        ? withIncarnations(onFile, (_, i) => incarnations[i])
        : await this.#connections.liveConnections(onFile, before);
    if (!inline) await this.publish(request.announce);
    if (closes !== undefined) {
      // The script dropped the records of the connections it announced closes for; their index
      // entries live in their nodes' slots.
      await this.#connections.unindex(
        onFile.filter((c) => deviceFlag === null || c.deviceFlag === deviceFlag),
      );
    }
    // After the announcement: the nodes drop their cached copies whether the replicas confirm or not.
    await this.#replicated(drops, keys.user);
    return closes === undefined
      ? { applied: true, connections }
      : { applied: true, connections, closesAnnounced: true, recordsDropped: true };
  }

  // Nodes and connections (see `ConnectionRegistry`)

  heartbeatNode(node: NodeRecord): Promise<boolean> {
    return this.#connections.heartbeatNode(node);
  }

  putConnections(connections: readonly ConnectionRecord[]): Promise<void> {
    return this.#connections.putConnections(connections);
  }

  async putConnection(connection: ConnectionRecord): Promise<void> {
    await this.putConnections([connection]);
  }

  async joinDevice(connection: ConnectionRef & { deviceFlag: number }): Promise<ConnectionRecord[]> {
    const { uid, nodeId, connId, deviceFlag } = connection;
    const reply = await this.#userScript(JOIN_DEVICE, uid, [
      String(this.#now()),
      String(deviceFlag),
      connectionField(nodeId, connId),
    ]);
    if (reply === null) return [];
    const key = this.#keys.user(uid).user;
    const fields = stringList(reply, 'joinDevice');
    const onFile: StoredConnection[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2)
      onFile.push(decodeConnection(key, uid, fields[i]!, fields[i + 1]!));
    // Live: of node incarnations that still count, as every listing judges them.
    return onFile.length === 0
      ? []
      : this.#connections.liveConnections(onFile, await this.#connections.nodeTable());
  }

  deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]> {
    return this.#connections.deleteConnections(refs);
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const [removed] = await this.deleteConnections([{ uid, nodeId, connId }]);
    return removed!;
  }

  listConnections(uid: string): Promise<ConnectionRecord[]> {
    return this.#connections.listConnections(uid);
  }

  scanConnections(
    uid: string,
    cursor: string | undefined,
    count: number,
  ): Promise<ScanPage<ConnectionRecord>> {
    return this.#connections.scanConnections(uid, cursor, count);
  }

  countConnections(uid: string): Promise<DeviceConnections[]> {
    return this.#connections.countConnections(uid);
  }

  sweepConnections(limit: number): Promise<number> {
    return this.#connections.sweepConnections(limit);
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

  /**
   * After a write that can reject a credential, with `waitForReplicas`: resolves once enough replicas
   * confirmed the writes made on the connection of each key's node (one WAIT per node), else throws
   * `StoreNotReplicatedError`. Without the option the primary's acknowledgement is enough.
   * `dropsBefore`: the client's connection drops counted before the write. A drop since means the
   * WAIT may have run on another connection than the write (resent, or retried on a new primary),
   * where it confirms nothing of it: counted as confirmed by none.
   */
  async #replicated(dropsBefore: number, ...keys: string[]): Promise<void> {
    const wanted = this.#waitForReplicas;
    if (wanted === undefined) return;
    // One Redis: one connection wrote them all. A cluster: each key's node, in turn.
    const routes = this.#cluster ? keys : keys.slice(0, 1);
    for (const key of routes) {
      const confirmed = await this.#commands.waitForReplicas(key, wanted.replicas, wanted.timeoutMs);
      if (this.#commands.connectionDrops() !== dropsBefore)
        throw new StoreNotReplicatedError(wanted.replicas, 0, wanted.timeoutMs);
      if (!(confirmed >= wanted.replicas))
        throw new StoreNotReplicatedError(wanted.replicas, confirmed, wanted.timeoutMs);
    }
  }

  #userScript(script: LuaScript, uid: string, args: string[]): Promise<unknown> {
    return this.#eval(script, userKeyList(this.#keys.user(uid)), args);
  }

  #eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    return runScript(this.#commands, script, keys, args);
  }
}
