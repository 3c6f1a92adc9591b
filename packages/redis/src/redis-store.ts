import {
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
  type ScanPage,
  type SessionRecord,
  StoreCorruptError,
  type UserRecord,
} from '@evict/core';
import { ClusterChannel } from './cluster-channel.js';
import { ConnectionRegistry, type NodeTable, withIncarnations } from './connection-registry.js';
import { JOIN_DEVICE } from './connection-scripts.js';
import { HIT } from './hit-script.js';
import { type KeyLayout, userKeyList } from './keys.js';
import { closeMessageTail, KICK } from './kick-script.js';
import { GRACE_MS, type LuaScript, runScript } from './lua-script.js';
import { parseOptions, type RedisStoreOptions } from './options.js';
import { CLEAR_PUSH_TOKENS, SET_PUSH_TOKEN } from './push-token-scripts.js';
import {
  connectionField,
  decodeConnection,
  decodePushToken,
  decodeUser,
  encodeCutoff,
  type StoredConnection,
} from './records.js';
import type { ClientKind, RedisCommands } from './redis-commands.js';
import { Replication } from './replication.js';
import { pairs, stringList } from './replies.js';
import { SessionRegistry } from './session-registry.js';
import { RAISE_CUTOFF, READ_USER, TOUCH_USER } from './session-scripts.js';

export type { RedisStoreOptions, ReplicaAcknowledgement } from './options.js';

/**
 * The evict store on Redis, for nodes that share state. It borrows a client the host owns (ioredis
 * or node-redis, standalone or Cluster), prefixes every key, and runs every read-modify-write as one
 * Lua script on the keys of one hash slot. Every key expires with what it holds (see
 * `lua-script.ts`), so nothing outlives what it could reject. Cluster messages go through
 * Redis pub/sub on a connection of the store's own, whose drops are reported by `onLinkChange`.
 */
export class RedisStore implements EvictStore {
  readonly prefix: string;
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #clock: Clock;
  readonly #replication: Replication;
  /** Every publish of a cluster goes through PUBLISH's routing key; one Redis can publish from any script. */
  readonly #cluster: boolean;
  /** Publish, subscriptions and the subscriber link. */
  readonly #clusterChannel: ClusterChannel;
  #closing: Promise<void> | undefined;
  /** Connections, the node table and the sweep. */
  readonly #connections: ConnectionRegistry;
  /** The sessions: their user's side and their own keys. */
  readonly #sessions: SessionRegistry;

  constructor(options: RedisStoreOptions) {
    const resolved = parseOptions(options);
    this.#commands = resolved.commands;
    this.#keys = resolved.keys;
    this.#clock = resolved.clock;
    this.#cluster = resolved.clientKind === 'ioredis-cluster' || resolved.clientKind === 'node-redis-cluster';
    this.#replication = new Replication(resolved.commands, this.#cluster, resolved.waitForReplicas);
    this.#clusterChannel = new ClusterChannel(resolved.commands, resolved.keys, resolved.subscriber);
    this.prefix = resolved.keys.prefix;
    const context = {
      commands: resolved.commands,
      keys: resolved.keys,
      clock: resolved.clock,
      cluster: this.#cluster,
    };
    this.#connections = new ConnectionRegistry(context);
    this.#sessions = new SessionRegistry(context, this.#replication, this.#clusterChannel);
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
    await this.#clusterChannel.ready();
  }

  /** Unsubscribes and closes the connection the store created; the host's clients stay open. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#commands.release();
      await this.#clusterChannel.close();
    })();
    return this.#closing;
  }

  // Sessions (see `SessionRegistry`)

  putSession(session: SessionRecord): Promise<void> {
    return this.#sessions.putSession(session);
  }

  admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome> {
    return this.#sessions.admitSession(session, request);
  }

  dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void> {
    return this.#sessions.dischargeSessions(uid, tokenHashes);
  }

  getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#sessions.getSession(tokenHash);
  }

  listSessions(uid: string): Promise<SessionRecord[]> {
    return this.#sessions.listSessions(uid);
  }

  scanSessions(uid: string, cursor: string | undefined, count: number): Promise<ScanPage<SessionRecord>> {
    return this.#sessions.scanSessions(uid, cursor, count);
  }

  touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void> {
    return this.#sessions.touchSessions(touches);
  }

  revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    return this.#sessions.revokeSession(tokenHash, atMs);
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
    await this.#replication.replicated(drops, this.#keys.user(uid).user);
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
    if (inline) await this.#clusterChannel.awaitOwnSubscription();
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
    // lost would be a kick half applied (the engine publishes them after `Replication.replicated`).
    const closes = inline && this.#replication.wanted === undefined ? request.closes : undefined;
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
    await this.#replication.replicated(drops, keys.user);
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

  // Cluster messages (see `ClusterChannel`)

  publish(message: ClusterMessage): Promise<void> {
    return this.#clusterChannel.publish(message);
  }

  subscribe(listener: (message: ClusterMessage) => void): () => void {
    return this.#clusterChannel.subscribe(listener);
  }

  onLinkChange(listener: (up: boolean) => void): () => void {
    return this.#clusterChannel.onLinkChange(listener);
  }

  // Internals

  #now(): number {
    return this.#clock.nowMs();
  }

  #userScript(script: LuaScript, uid: string, args: string[]): Promise<unknown> {
    return this.#eval(script, userKeyList(this.#keys.user(uid)), args);
  }

  #eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    return runScript(this.#commands, script, keys, args);
  }
}
