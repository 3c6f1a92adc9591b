import {
  assertIncarnation,
  type Clock,
  type ClusterMessage,
  type ConnectionRecord,
  type ConnectionRef,
  type Cutoff,
  type DeviceRecord,
  type EvictStore,
  type KickOutcome,
  type KickRequest,
  type NodeRecord,
  type PushTokenKind,
  type PushTokenRecord,
  type SessionRecord,
  StoreCorruptError,
  systemClock,
  type UserRecord,
} from '@evict/core';
import { DEFAULT_PREFIX, hashSlot, INDEX_BUCKET_SIZE, KeyLayout, userKeyList } from './keys.js';
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
  DELETE_CONNECTIONS,
  GRACE_MS,
  HEARTBEAT_NODE,
  HIT,
  INDEX_CONNECTIONS,
  KICK,
  type LuaScript,
  PUBLISH,
  PUT_CONNECTIONS,
  RAISE_CUTOFF,
  RECORD_SESSION,
  REVOKE_SESSION,
  SESSION_INDEX,
  SET_PUSH_TOKEN,
  TOUCH_USER,
  UNINDEX_CONNECTIONS,
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
/** Index entries one script adds or removes at most: no step of the index blocks Redis for long. */
const INDEX_STEP = INDEX_BUCKET_SIZE;
/** Connection records one users' script writes or removes at most, for the same reason. */
const USER_STEP = 1_000;

/** The node table as read: nodeId → its record's incarnation and expiry. */
type NodeTable = Map<number, { incarnation: string; expiresAtMs: number }>;

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
  /** The node table read under way: calls made meanwhile share it (see `#liveConnections`). */
  #nodeTableRead: Promise<NodeTable> | undefined;

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
    const now = this.#now();
    const user = decodeUser(key, uid, fields, now);
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
    // One Redis: the script reads the node table itself. A cluster: the table lives in another
    // slot, so the live incarnations are read first when the device check needs them, and every
    // listed connection is judged after the script.
    const requireDevice = request.require.device && deviceFlag !== null;
    const before: NodeTable = inline || !requireDevice ? new Map() : await this.#nodeTable();
    const now = this.#now();
    const live: string[] = [];
    for (const [nodeId, node] of before)
      if (node.expiresAtMs > now) live.push(`${nodeId} ${node.incarnation}`);
    const scriptKeys = userKeyList(keys);
    if (inline) scriptKeys.push(this.#keys.nodes);
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
      ...live,
    ]);
    const [status, ...fields] = stringList(reply, 'kick');
    if (status === 'user' || status === 'device') return { applied: false, missing: status };
    if (status !== 'ok' && status !== 'live')
      throw new StoreCorruptError('unexpected reply from Redis for kick');
    const onFile: ConnectionRecord[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      onFile.push(decodeConnection(keys.user, uid, fields[i]!, fields[i + 1]!));
    }
    // Judged after the script: a connection whose incarnation the table read before does not show
    // live is judged again on a fresh read, one that starts after the cutoff was written.
    const connections = status === 'live' ? onFile : await this.#liveConnections(onFile, before);
    if (!inline) await this.publish(request.announce);
    return { applied: true, connections };
  }

  // Nodes and connections

  async heartbeatNode(node: NodeRecord): Promise<boolean> {
    assertIncarnation(node.incarnation);
    const reply = await this.#eval(
      HEARTBEAT_NODE,
      [this.#keys.nodes, this.#keys.replacedNodes],
      [String(this.#now()), String(node.nodeId), node.incarnation, String(node.expiresAtMs)],
    );
    return Number(reply) === 1;
  }

  /**
   * The index first (one script per bucket group of a node incarnation), then the users' fields:
   * one script per `USER_STEP` records on one Redis, per hash slot on a cluster (a script's keys
   * share one slot there), all sent without waiting in between. See `keys.ts` for why in this order.
   */
  async putConnections(connections: readonly ConnectionRecord[]): Promise<void> {
    for (const c of connections) assertIncarnation(c.incarnation);
    if (connections.length === 0) return;
    await this.#index(INDEX_CONNECTIONS, connections);
    const now = String(this.#now());
    await Promise.all(
      this.#userBatches(connections).map((batch) => {
        const keys: string[] = [];
        const args = [now];
        for (const i of batch) {
          const c = connections[i]!;
          const userKeys = this.#keys.user(c.uid);
          keys.push(userKeys.user, userKeys.push);
          args.push(connectionField(c.nodeId, c.connId), encodeConnection(c));
        }
        return this.#eval(PUT_CONNECTIONS, keys, args);
      }),
    );
  }

  async putConnection(connection: ConnectionRecord): Promise<void> {
    await this.putConnections([connection]);
  }

  /** Each user's field first, then the index entries of what was removed (see `keys.ts`). */
  async deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const incarnations = await this.#deleteFields(refs, '');
    const removed = refs.map((ref, i) => {
      const incarnation = incarnations[i];
      return incarnation === undefined ? undefined : { ...ref, incarnation };
    });
    const gone = removed.filter((r) => r !== undefined);
    if (gone.length === 0) return refs.map(() => false);
    await this.#index(UNINDEX_CONNECTIONS, gone);
    const table = await this.#nodeTable();
    const at = this.#now();
    return removed.map((r) => r !== undefined && isLive(table, r.nodeId, r.incarnation, at));
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const [removed] = await this.deleteConnections([{ uid, nodeId, connId }]);
    return removed!;
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    const key = this.#keys.user(uid).user;
    const [reply, table] = await Promise.all([
      this.#commands.command(['HGETALL', key], key),
      this.#nodeTable(),
    ]);
    const onFile: ConnectionRecord[] = [];
    for (const [field, raw] of pairs(reply, key)) {
      if (CONNECTION_FIELD.test(field)) onFile.push(decodeConnection(key, uid, field, raw));
    }
    return this.#liveConnections(onFile, table);
  }

  /**
   * Drains dead incarnations' indexes, a bucket at a time: the incarnations replaced, and those whose
   * record lapsed more than `GRACE_MS` ago (by then the node's own clock, if behind, sees it lapsed
   * too, so its heartbeat can no longer bring it back). Each record is removed by its user's script
   * only while it is of the dead incarnation; then its index entries go.
   */
  async sweepConnections(limit: number): Promise<number> {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError('limit must be a positive integer');
    const replacedKey = this.#keys.replacedNodes;
    const [table, replaced] = await Promise.all([
      this.#readNodeTable(),
      this.#commands.command(['SMEMBERS', replacedKey], replacedKey),
    ]);
    const now = this.#now();
    const dead: { nodeId: number; incarnation: string; replaced: string | undefined }[] = [];
    for (const [nodeId, node] of table) {
      if (node.expiresAtMs + GRACE_MS <= now)
        dead.push({ nodeId, incarnation: node.incarnation, replaced: undefined });
    }
    for (const entry of stringList(replaced, 'replaced nodes')) {
      const [id, incarnation] = entry.split(' ');
      const nodeId = Number(id);
      // An incarnation replaced, then back on file (a misconfigured pair of nodes): not dead.
      if (incarnation === undefined || table.get(nodeId)?.incarnation === incarnation) continue;
      dead.push({ nodeId, incarnation, replaced: entry });
    }
    let drained = 0;
    for (const { nodeId, incarnation, replaced: entry } of dead) {
      const bucketsKey = this.#keys.indexBuckets(nodeId, incarnation);
      while (drained < limit) {
        const bucket = text(await this.#commands.command(['SRANDMEMBER', bucketsKey], bucketsKey));
        if (bucket === undefined) {
          if (entry !== undefined) await this.#commands.command(['SREM', replacedKey, entry], replacedKey);
          break;
        }
        const bucketKey = this.#keys.indexBucket(nodeId, incarnation, Number(bucket));
        const entries = pairs(await this.#commands.command(['HGETALL', bucketKey], bucketKey), bucketKey);
        if (entries.length === 0) {
          await this.#commands.command(['SREM', bucketsKey, bucket], bucketsKey);
          continue;
        }
        const taken = entries.slice(0, limit - drained).map(([offset, uid]) => ({
          uid,
          nodeId,
          connId: Number(bucket) * INDEX_BUCKET_SIZE + Number(offset),
          incarnation,
        }));
        await this.#deleteFields(taken, incarnation);
        await this.#index(UNINDEX_CONNECTIONS, taken);
        drained += taken.length;
      }
      if (drained >= limit) break;
    }
    return drained;
  }

  /**
   * Removes connections' fields from their users (one script per `USER_STEP` records, or per hash
   * slot on a cluster), each only when of `incarnation` ('' for any). Returns, in order, the
   * incarnation of each one removed, else undefined.
   */
  async #deleteFields(refs: readonly ConnectionRef[], incarnation: string): Promise<(string | undefined)[]> {
    const now = String(this.#now());
    const removed: (string | undefined)[] = refs.map(() => undefined);
    await Promise.all(
      this.#userBatches(refs).map(async (batch) => {
        const keys: string[] = [];
        const args = [now];
        for (const i of batch) {
          const ref = refs[i]!;
          keys.push(this.#keys.user(ref.uid).user);
          args.push(connectionField(ref.nodeId, ref.connId), incarnation);
        }
        const reply = stringList(await this.#eval(DELETE_CONNECTIONS, keys, args), 'deleted connections');
        if (reply.length !== batch.length) {
          throw new StoreCorruptError('unexpected reply from Redis for deleted connections');
        }
        batch.forEach((i, j) => {
          if (reply[j] !== '') removed[i] = reply[j];
        });
      }),
    );
    return removed;
  }

  /**
   * The records' positions in batches for the users' scripts: at most `USER_STEP` each, and on a
   * cluster only users of one hash slot together.
   */
  #userBatches(records: readonly { uid: string }[]): number[][] {
    const batches: number[][] = [];
    const bySlot = new Map<number, number[]>();
    records.forEach((record, i) => {
      const slot = this.#cluster ? hashSlot(this.#keys.user(record.uid).user) : 0;
      let batch = bySlot.get(slot);
      if (batch === undefined || batch.length === USER_STEP) {
        batch = [];
        batches.push(batch);
        bySlot.set(slot, batch);
      }
      batch.push(i);
    });
    return batches;
  }

  /**
   * Runs INDEX_CONNECTIONS or UNINDEX_CONNECTIONS over connections, grouped by node incarnation and
   * bucket, at most `INDEX_STEP` entries a script.
   */
  async #index(
    script: LuaScript,
    connections: readonly { uid: string; nodeId: number; connId: number; incarnation: string }[],
  ): Promise<void> {
    const groups = new Map<string, { nodeId: number; incarnation: string; buckets: Map<number, string[]> }>();
    for (const c of connections) {
      const groupKey = `${c.nodeId} ${c.incarnation}`;
      let group = groups.get(groupKey);
      if (group === undefined) {
        group = { nodeId: c.nodeId, incarnation: c.incarnation, buckets: new Map() };
        groups.set(groupKey, group);
      }
      const bucket = Math.floor(c.connId / INDEX_BUCKET_SIZE);
      let entries = group.buckets.get(bucket);
      if (entries === undefined) {
        entries = [];
        group.buckets.set(bucket, entries);
      }
      entries.push(String(c.connId - bucket * INDEX_BUCKET_SIZE), c.uid);
    }
    const calls: Promise<unknown>[] = [];
    for (const { nodeId, incarnation, buckets } of groups.values()) {
      let keys = [this.#keys.indexBuckets(nodeId, incarnation)];
      let args = [String(this.#now())];
      let size = 0;
      const flush = () => {
        if (keys.length > 1) calls.push(this.#eval(script, keys, args));
        keys = [keys[0]!];
        args = [args[0]!];
        size = 0;
      };
      for (const [bucket, entries] of buckets) {
        for (let i = 0; i < entries.length; i += 2 * INDEX_STEP) {
          const part = entries.slice(i, i + 2 * INDEX_STEP);
          if (size + part.length / 2 > INDEX_STEP) flush();
          keys.push(this.#keys.indexBucket(nodeId, incarnation, bucket));
          args.push(String(bucket), String(part.length / 2), ...part);
          size += part.length / 2;
        }
      }
      flush();
    }
    await Promise.all(calls);
  }

  /** The node table, shared with a read already under way (never older than that read's start). */
  #nodeTable(): Promise<NodeTable> {
    if (this.#nodeTableRead === undefined) {
      const read = this.#readNodeTable();
      this.#nodeTableRead = read;
      const done = () => {
        if (this.#nodeTableRead === read) this.#nodeTableRead = undefined;
      };
      read.then(done, done);
    }
    return this.#nodeTableRead;
  }

  async #readNodeTable(): Promise<NodeTable> {
    const key = this.#keys.nodes;
    const table: NodeTable = new Map();
    for (const [field, raw] of pairs(await this.#commands.command(['HGETALL', key], key), key)) {
      const match = NODE.exec(raw);
      const nodeId = numberOf(field);
      const expiresAtMs = numberOf(match?.[2]);
      if (match === null || nodeId === undefined || expiresAtMs === undefined) {
        throw new StoreCorruptError(`unreadable node ${field} in Redis at ${key}`);
      }
      table.set(nodeId, { incarnation: match[1]!, expiresAtMs });
    }
    return table;
  }

  /**
   * The connections of live incarnations. `table` may be a little old (shared with a read under way,
   * or read before a kick's script): a connection it shows live is counted (at worst, one that died
   * a moment ago is closed again), and one it does not is judged again on a fresh read, so that a
   * connection of a node that just started or refreshed is never missed.
   */
  async #liveConnections(onFile: ConnectionRecord[], table: NodeTable): Promise<ConnectionRecord[]> {
    const now = this.#now();
    const live = onFile.filter((c) => isLive(table, c.nodeId, c.incarnation, now));
    if (live.length === onFile.length) return live;
    const fresh = await this.#readNodeTable();
    const at = this.#now();
    return onFile.filter(
      (c) => isLive(table, c.nodeId, c.incarnation, now) || isLive(fresh, c.nodeId, c.incarnation, at),
    );
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

/** A connection's field in its user's hash (see `keys.ts`). */
function connectionField(nodeId: number, connId: number): string {
  return `${nodeId}:${connId}`;
}

/** A connection's value in its user's hash: `<deviceFlag> <connectedAt> <incarnation>` (see `keys.ts`). */
function encodeConnection(c: ConnectionRecord): string {
  return `${c.deviceFlag} ${encodeTime(c.connectedAtMs)} ${c.incarnation}`;
}

/** An instant in base 36 when it is a safe integer, else in decimal after `~`. */
function encodeTime(atMs: number): string {
  return Number.isSafeInteger(atMs) ? atMs.toString(36) : `~${atMs}`;
}

const BASE36 = /^-?[0-9a-z]+$/;

function decodeTime(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (raw.startsWith('~')) return numberOf(raw.slice(1));
  if (!BASE36.test(raw)) return undefined;
  const n = Number.parseInt(raw, 36);
  return Number.isSafeInteger(n) ? n : undefined;
}

function isLive(table: NodeTable, nodeId: number, incarnation: string, now: number): boolean {
  const node = table.get(nodeId);
  return node !== undefined && node.incarnation === incarnation && node.expiresAtMs > now;
}

/** A node record as stored: `<incarnation> <expiresAtMs>`. */
const NODE = /^(\S+) (\S+)$/;

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

function decodeUser(key: string, uid: string, fields: [string, string][], nowMs: number): UserRecord {
  const user: UserRecord = { uid, deviceCutoffs: {}, devices: {}, expiresAtMs: Number.NaN };
  let connections: number | undefined;
  let connectionFields = 0;
  let others = 0;
  for (const [field, raw] of fields) {
    if (CONNECTION_FIELD.test(field)) {
      connectionFields += 1;
      continue;
    }
    others += 1;
    if (field === 'e') {
      user.expiresAtMs = numberOf(raw) ?? Number.NaN;
    } else if (field === 'n') {
      connections = numberOf(raw) ?? Number.NaN;
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
  if (!fields.some(([field]) => field === 'e')) {
    // A hash without `e` holds connections alone, and is on file through them.
    if (others > 0 || connectionFields === 0)
      throw new StoreCorruptError(`unreadable user in Redis at ${key}`);
    user.expiresAtMs = Number.POSITIVE_INFINITY;
    return user;
  }
  connections ??= 0;
  if (!isNumber(connections) || !isNumber(user.expiresAtMs)) {
    throw new StoreCorruptError(`unreadable user in Redis at ${key}`);
  }
  // A connection on file keeps the user past its own expiry, with no end (see `EvictStore`).
  if (connections > 0 && user.expiresAtMs <= nowMs) user.expiresAtMs = Number.POSITIVE_INFINITY;
  return user;
}

const CONNECTION_FIELD = /^(\d+):(\d+)$/;
const CONNECTION = /^(\S+) (\S+) ([A-Za-z0-9_-]+)$/;

/** A connection as stored in its user's hash (see `keys.ts`). */
function decodeConnection(key: string, uid: string, field: string, raw: string): ConnectionRecord {
  const name = CONNECTION_FIELD.exec(field);
  const value = CONNECTION.exec(raw);
  const nodeId = numberOf(name?.[1]);
  const connId = numberOf(name?.[2]);
  const deviceFlag = numberOf(value?.[1]);
  const connectedAtMs = decodeTime(value?.[2]);
  if (
    value === null ||
    nodeId === undefined ||
    connId === undefined ||
    deviceFlag === undefined ||
    connectedAtMs === undefined
  ) {
    throw new StoreCorruptError(`unreadable connection ${field} in Redis at ${key}`);
  }
  return { uid, deviceFlag, nodeId, connId, connectedAtMs, incarnation: value[3]! };
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
