import {
  assertIncarnation,
  type Clock,
  type ConnectionRecord,
  type ConnectionRef,
  countByDevice,
  type DeviceConnections,
  type NodeRecord,
  readAllPages,
  type ScanPage,
  StoreCorruptError,
} from '@evict/core';
import {
  COUNT_CONNECTIONS,
  DELETE_CONNECTIONS,
  HEARTBEAT_NODE,
  INDEX_CONNECTIONS,
  PUT_CONNECTIONS,
  UNINDEX_CONNECTIONS,
} from './connection-scripts.js';
import { hashSlot, INDEX_BUCKET_SIZE, type KeyLayout } from './keys.js';
import { GRACE_MS, type LuaScript, runScript } from './lua-script.js';
import {
  CONNECTION_FIELD,
  connectionField,
  decodeConnection,
  encodeConnection,
  numberOf,
  type StoredConnection,
} from './records.js';
import type { RedisCommands } from './redis-commands.js';
import { pairs, scanReply, stringList, text } from './replies.js';

/** Index entries one script adds or removes at most: no step of the index blocks Redis for long. */
const INDEX_STEP = INDEX_BUCKET_SIZE;
/** Connection records one users' script writes or removes at most, for the same reason. */
const USER_STEP = 1_000;
/** Fields one page of a listing asks Redis for (`HSCAN`'s `COUNT`). */
const LIST_PAGE = 500;

/** The node table as read: nodeId → its record's incarnation, expiry and generation. */
export type NodeTable = Map<number, { incarnation: string; expiresAtMs: number; generation: string }>;

/** Nodes whose incarnation is remembered (see `#incarnations`) before the memory starts afresh. */
const NODES_REMEMBERED = 1_024;

/** What the registry (and `SessionKeys`) share with their store: the client, the key layout and the clock. */
export interface RegistryContext {
  commands: RedisCommands;
  keys: KeyLayout;
  clock: Clock;
  /** On a cluster a users' script takes users of one hash slot only. */
  cluster: boolean;
}

/**
 * The connections and the nodes' liveness, for `RedisStore`: connection records on their users'
 * hashes, each node incarnation's index of them, the node table, and the sweep of dead
 * incarnations. A connection counts while its node incarnation is live in the table.
 */
export class ConnectionRegistry {
  readonly #commands: RedisCommands;
  readonly #keys: KeyLayout;
  readonly #clock: Clock;
  readonly #cluster: boolean;
  /** The node table read under way: calls made meanwhile share it (see `liveConnections`). */
  #nodeTableRead: Promise<NodeTable> | undefined;
  /**
   * nodeId → the incarnation on file and its generation, as this store last saw them (its heartbeats,
   * its reads of the node table). What a node's own process puts is of the incarnation it last
   * heartbeated, so this answers without a read but after a restart of this store or a new
   * incarnation.
   */
  readonly #incarnations = new Map<number, { incarnation: string; generation: string }>();

  constructor(context: RegistryContext) {
    this.#commands = context.commands;
    this.#keys = context.keys;
    this.#clock = context.clock;
    this.#cluster = context.cluster;
  }

  async heartbeatNode(node: NodeRecord): Promise<boolean> {
    assertIncarnation(node.incarnation);
    const reply = await this.#eval(
      HEARTBEAT_NODE,
      [this.#keys.nodes, this.#keys.replacedNodes],
      [String(this.#now()), String(node.nodeId), node.incarnation, String(node.expiresAtMs)],
    );
    const generation = text(reply);
    if (generation === undefined) return false;
    this.#remember(node.nodeId, node.incarnation, generation);
    return true;
  }

  #remember(nodeId: number, incarnation: string, generation: string): void {
    if (this.#incarnations.size >= NODES_REMEMBERED && !this.#incarnations.has(nodeId)) {
      this.#incarnations.clear();
    }
    this.#incarnations.set(nodeId, { incarnation, generation });
  }

  /**
   * The generation of each connection's incarnation, in order, when it is the one on file (live or
   * lapsed): remembered, else read from the node table. Undefined for any other (never put by a
   * heartbeat, or replaced since), whose connections could never count.
   */
  async #generationsOf(connections: readonly ConnectionRecord[]): Promise<(string | undefined)[]> {
    const known = (c: ConnectionRecord) => {
      const node = this.#incarnations.get(c.nodeId);
      return node?.incarnation === c.incarnation ? node.generation : undefined;
    };
    if (connections.some((c) => known(c) === undefined)) {
      // Shared with a read under way: concurrent batches of unknown nodes read the table once.
      for (const [nodeId, node] of await this.nodeTable())
        this.#remember(nodeId, node.incarnation, node.generation);
    }
    return connections.map(known);
  }

  /**
   * The index first (one script per bucket group of a node incarnation), then the users' fields:
   * one script per `USER_STEP` records on one Redis, per hash slot on a cluster (a script's keys
   * share one slot there), all sent without waiting in between. See `keys.ts` for why in this order.
   */
  async putConnections(connections: readonly ConnectionRecord[]): Promise<void> {
    for (const c of connections) assertIncarnation(c.incarnation);
    if (connections.length === 0) return;
    const generations = await this.#generationsOf(connections);
    const kept: (ConnectionRecord & { generation: string })[] = [];
    connections.forEach((c, i) => {
      const generation = generations[i];
      if (generation !== undefined) kept.push({ ...c, generation });
    });
    if (kept.length === 0) return;
    await this.#index(INDEX_CONNECTIONS, kept);
    const now = String(this.#now());
    await Promise.all(
      this.#userBatches(kept).map((batch) => {
        const keys: string[] = [];
        const args = [now];
        for (const i of batch) {
          const c = kept[i]!;
          const userKeys = this.#keys.user(c.uid);
          keys.push(userKeys.user, userKeys.push);
          args.push(connectionField(c.nodeId, c.connId), encodeConnection(c, c.generation));
        }
        return this.#eval(PUT_CONNECTIONS, keys, args);
      }),
    );
  }

  /** Each user's field first, then the index entries of what was removed (see `keys.ts`). */
  async deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const generations = await this.#deleteFields(refs, '');
    const removed = refs.map((ref, i) => {
      const generation = generations[i];
      return generation === undefined ? undefined : { ...ref, generation };
    });
    const gone = removed.filter((r) => r !== undefined);
    if (gone.length === 0) return refs.map(() => false);
    await this.#index(UNINDEX_CONNECTIONS, gone);
    const table = await this.nodeTable();
    const at = this.#now();
    return removed.map((r) => r !== undefined && liveIncarnation(table, r, at) !== undefined);
  }

  /** Drops the index entries of connections whose records a kick's script dropped. */
  unindex(connections: readonly StoredConnection[]): Promise<void> {
    return this.#index(UNINDEX_CONNECTIONS, connections);
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    // A page at a time: a user holding 100,000 connections is never one reply. (A small hash, the
    // commonest, comes back whole in the first.)
    return readAllPages(
      (cursor) => this.scanConnections(uid, cursor, LIST_PAGE),
      (c) => connectionField(c.nodeId, c.connId),
    );
  }

  /**
   * A page of the user's live connections: an HSCAN of the user's hash, its connection fields read
   * (the scan may also step over the user's other fields, or return a field twice).
   */
  async scanConnections(
    uid: string,
    cursor: string | undefined,
    count: number,
  ): Promise<ScanPage<ConnectionRecord>> {
    const key = this.#keys.user(uid).user;
    const [reply, table] = await Promise.all([
      this.#commands.command(['HSCAN', key, cursor ?? '0', 'COUNT', String(count)], key),
      this.nodeTable(),
    ]);
    const page = scanReply(reply, key);
    const onFile: StoredConnection[] = [];
    for (let i = 0; i + 1 < page.entries.length; i += 2) {
      const field = page.entries[i]!;
      if (CONNECTION_FIELD.test(field)) onFile.push(decodeConnection(key, uid, field, page.entries[i + 1]!));
    }
    return { items: await this.liveConnections(onFile, table), cursor: page.cursor };
  }

  async countConnections(uid: string): Promise<DeviceConnections[]> {
    const key = this.#keys.user(uid).user;
    const [reply, table] = await Promise.all([
      this.#eval(COUNT_CONNECTIONS, [key], [String(this.#now())]),
      this.nodeTable(),
    ]);
    const groups = stringList(reply, 'countConnections').map((entry) => {
      const [nodeId, generation, deviceFlag, connections] = entry.split(' ');
      return {
        nodeId: Number(nodeId),
        generation: generation!,
        deviceFlag: Number(deviceFlag),
        connections: Number(connections),
      };
    });
    const now = this.#now();
    let live = groups.filter((g) => liveIncarnation(table, g, now) !== undefined);
    if (live.length < groups.length) {
      // Judged again on a fresh read, as `liveConnections` does: a node that just started counts.
      const fresh = await this.#readNodeTable();
      const at = this.#now();
      live = groups.filter(
        (g) => liveIncarnation(table, g, now) !== undefined || liveIncarnation(fresh, g, at) !== undefined,
      );
    }
    return countByDevice(live);
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
    const dead: { nodeId: number; generation: string; replaced: string | undefined }[] = [];
    for (const [nodeId, node] of table) {
      if (node.expiresAtMs + GRACE_MS <= now)
        dead.push({ nodeId, generation: node.generation, replaced: undefined });
    }
    for (const entry of stringList(replaced, 'replaced nodes')) {
      const [id, generation] = entry.split(' ');
      const nodeId = Number(id);
      // Never the one on file (a replacing incarnation takes the next generation); checked all the same.
      if (generation === undefined || table.get(nodeId)?.generation === generation) continue;
      dead.push({ nodeId, generation, replaced: entry });
    }
    let drained = 0;
    for (const { nodeId, generation, replaced: entry } of dead) {
      const bucketsKey = this.#keys.indexBuckets(nodeId, generation);
      while (drained < limit) {
        const bucket = text(await this.#commands.command(['SRANDMEMBER', bucketsKey], bucketsKey));
        if (bucket === undefined) {
          if (entry !== undefined) await this.#commands.command(['SREM', replacedKey, entry], replacedKey);
          break;
        }
        const bucketKey = this.#keys.indexBucket(nodeId, generation, Number(bucket));
        const entries = pairs(await this.#commands.command(['HGETALL', bucketKey], bucketKey), bucketKey);
        if (entries.length === 0) {
          await this.#commands.command(['SREM', bucketsKey, bucket], bucketsKey);
          continue;
        }
        const taken = entries.slice(0, limit - drained).map(([offset, uid]) => ({
          uid,
          nodeId,
          connId: Number(bucket) * INDEX_BUCKET_SIZE + Number(offset),
          generation,
        }));
        await this.#deleteFields(taken, generation);
        await this.#index(UNINDEX_CONNECTIONS, taken);
        drained += taken.length;
      }
      if (drained >= limit) break;
    }
    return drained;
  }

  /**
   * Removes connections' fields from their users (one script per `USER_STEP` records, or per hash
   * slot on a cluster), each only when of `generation` ('' for any). Returns, in order, the
   * generation of each one removed, else undefined.
   */
  async #deleteFields(refs: readonly ConnectionRef[], generation: string): Promise<(string | undefined)[]> {
    const now = String(this.#now());
    const removed: (string | undefined)[] = refs.map(() => undefined);
    await Promise.all(
      this.#userBatches(refs).map(async (batch) => {
        const keys: string[] = [];
        const args = [now];
        for (const i of batch) {
          const ref = refs[i]!;
          keys.push(this.#keys.user(ref.uid).user);
          args.push(connectionField(ref.nodeId, ref.connId), generation);
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
    connections: readonly { uid: string; nodeId: number; connId: number; generation: string }[],
  ): Promise<void> {
    const groups = new Map<string, { nodeId: number; generation: string; buckets: Map<number, string[]> }>();
    for (const c of connections) {
      const groupKey = `${c.nodeId} ${c.generation}`;
      let group = groups.get(groupKey);
      if (group === undefined) {
        group = { nodeId: c.nodeId, generation: c.generation, buckets: new Map() };
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
    for (const { nodeId, generation, buckets } of groups.values()) {
      let keys = [this.#keys.indexBuckets(nodeId, generation)];
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
          keys.push(this.#keys.indexBucket(nodeId, generation, bucket));
          args.push(String(bucket), String(part.length / 2), ...part);
          size += part.length / 2;
        }
      }
      flush();
    }
    await Promise.all(calls);
  }

  /** The node table, shared with a read already under way (never older than that read's start). */
  nodeTable(): Promise<NodeTable> {
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
      table.set(nodeId, { incarnation: match[1]!, expiresAtMs, generation: match[3]! });
    }
    return table;
  }

  /**
   * The connections of live incarnations. `table` may be a little old (shared with a read under way,
   * or read before a kick's script): a connection it shows live is counted (at worst, one that died
   * a moment ago is closed again), and one it does not is judged again on a fresh read, so that a
   * connection of a node that just started or refreshed is never missed.
   */
  async liveConnections(onFile: readonly StoredConnection[], table: NodeTable): Promise<ConnectionRecord[]> {
    const now = this.#now();
    const live = withIncarnations(onFile, (c) => liveIncarnation(table, c, now));
    if (live.length === onFile.length) return live;
    const fresh = await this.#readNodeTable();
    const at = this.#now();
    return withIncarnations(onFile, (c) => liveIncarnation(table, c, now) ?? liveIncarnation(fresh, c, at));
  }

  #now(): number {
    return this.#clock.nowMs();
  }

  #eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    return runScript(this.#commands, script, keys, args);
  }
}

/** The incarnation of the connection's generation when the table shows it live, else undefined. */
function liveIncarnation(
  table: NodeTable,
  c: { nodeId: number; generation: string },
  now: number,
): string | undefined {
  const node = table.get(c.nodeId);
  return node !== undefined && node.generation === c.generation && node.expiresAtMs > now
    ? node.incarnation
    : undefined;
}

/** The connections `incarnationOf` finds live, as records with that incarnation. */
export function withIncarnations(
  onFile: readonly StoredConnection[],
  incarnationOf: (c: StoredConnection, index: number) => string | undefined,
): ConnectionRecord[] {
  const records: ConnectionRecord[] = [];
  for (let index = 0; index < onFile.length; index += 1) {
    const stored = onFile[index]!;
    const incarnation = incarnationOf(stored, index);
    if (incarnation !== undefined) records.push(recordWith(stored, incarnation));
  }
  return records;
}

/**
 * Field by field, not by rest and spread (`{ generation, ...record }`): a kick lists a user's
 * thousand connections, and the spreads took about three times as long as decoding them.
 */
function recordWith(stored: StoredConnection, incarnation: string): ConnectionRecord {
  const { uid, deviceFlag, nodeId, connId, connectedAtMs, sessionId, deviceId, ip, port } = stored;
  const record: ConnectionRecord = { uid, deviceFlag, nodeId, connId, connectedAtMs, incarnation };
  if (sessionId !== undefined) record.sessionId = sessionId;
  if (deviceId !== undefined) record.deviceId = deviceId;
  if (ip !== undefined) record.ip = ip;
  if (port !== undefined) record.port = port;
  return record;
}

/** A node record as stored: `<incarnation> <expiresAtMs> <generation>`. */
const NODE = /^(\S+) (\S+) ([0-9a-z]+)$/;
