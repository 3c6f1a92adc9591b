/**
 * The memory store's nodes and connections: each node's record, the connections (kept on their
 * users' entries, with the device rosters of `joinDevice`), and each node incarnation's index of
 * its connections, which `sweepConnections` drains once the incarnation is dead.
 */
import type { Clock } from '../clock.js';
import type { ConnectionRecord, ConnectionRef, DeviceConnections, NodeRecord } from '../model.js';
import { ShardedMap, shardOfNumber } from '../sharded-map.js';
import { assertIncarnation, countByDevice } from '../store.js';
import { connectionKey, indexKey, splitIndexKey, type UserEntry } from './entries.js';
import type { UserTable } from './users.js';

export class ConnectionTable {
  readonly #clock: Clock;
  readonly #users: UserTable;
  /** Each node's record, by nodeId. */
  readonly #nodes = new Map<number, NodeRecord>();
  /**
   * Each node incarnation's connections (connId → uid), keyed by `nodeId:incarnation`: what
   * `sweepConnections` drains once the incarnation is dead. Dropped when drained.
   */
  readonly #nodeIndex = new Map<string, ShardedMap<number, string>>();

  constructor(clock: Clock, users: UserTable) {
    this.#clock = clock;
    this.#users = users;
  }

  async heartbeatNode(node: NodeRecord): Promise<boolean> {
    assertIncarnation(node.incarnation);
    const now = this.#clock.nowMs();
    const current = this.#nodes.get(node.nodeId);
    if (current !== undefined && current.incarnation === node.incarnation) {
      if (current.expiresAtMs <= now) return false;
      current.expiresAtMs = Math.max(current.expiresAtMs, node.expiresAtMs);
      return true;
    }
    // The record on file, if any, is replaced: its incarnation's index stays for the sweep.
    this.#nodes.set(node.nodeId, {
      nodeId: node.nodeId,
      incarnation: node.incarnation,
      expiresAtMs: node.expiresAtMs,
    });
    return node.expiresAtMs > now;
  }

  async putConnections(connections: readonly ConnectionRecord[]): Promise<void> {
    for (const connection of connections) assertIncarnation(connection.incarnation);
    for (const connection of connections) this.#putConnection(connection);
  }

  async joinDevice(connection: ConnectionRef & { deviceFlag: number }): Promise<ConnectionRecord[]> {
    const { uid, nodeId, connId, deviceFlag } = connection;
    const now = this.#clock.nowMs();
    const entry = this.#users.live(uid, now);
    const own = connectionKey(nodeId, connId);
    const connections = entry?.connections;
    if (connections?.get(own) === undefined) return [];
    entry!.rosters ??= new Map<number, string[]>();
    const rosters = entry!.rosters;
    // The connections gone since are dropped from the roster as it is read.
    const standing = (rosters.get(deviceFlag) ?? []).filter((key) => key !== own && connections.has(key));
    rosters.set(deviceFlag, [...standing, own]);
    return standing
      .map((key) => connections.get(key)!)
      .filter((c) => this.isLive(c, now))
      .map((c) => ({ ...c }));
  }

  async deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]> {
    const now = this.#clock.nowMs();
    return refs.map((ref) => {
      const removed = this.#deleteConnection(ref.uid, ref.nodeId, ref.connId, undefined);
      return removed !== undefined && this.isLive(removed, now);
    });
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    const now = this.#clock.nowMs();
    const entry = this.#users.live(uid, now);
    return entry === undefined ? [] : this.liveConnections(entry, now).map((c) => ({ ...c }));
  }

  async countConnections(uid: string): Promise<DeviceConnections[]> {
    const now = this.#clock.nowMs();
    const entry = this.#users.live(uid, now);
    return countByDevice(entry === undefined ? [] : this.liveConnections(entry, now));
  }

  /** Drains the indexes of dead incarnations (lapsed, or no longer the one on file). */
  async sweepConnections(limit: number): Promise<number> {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError('limit must be a positive integer');
    const now = this.#clock.nowMs();
    let drained = 0;
    for (const [key, index] of this.#nodeIndex) {
      const [nodeId, incarnation] = splitIndexKey(key);
      const node = this.#nodes.get(nodeId);
      if (node !== undefined && node.incarnation === incarnation && node.expiresAtMs > now) continue;
      for (const [connId, uid] of index) {
        if (drained === limit) return drained;
        this.#deleteConnection(uid, nodeId, connId, incarnation);
        drained += 1;
      }
    }
    return drained;
  }

  isLive(connection: ConnectionRecord, now: number): boolean {
    const node = this.#nodes.get(connection.nodeId);
    return node !== undefined && node.incarnation === connection.incarnation && node.expiresAtMs > now;
  }

  /** The user's connections of live node incarnations (not copies). */
  liveConnections(entry: UserEntry, now: number): ConnectionRecord[] {
    const live: ConnectionRecord[] = [];
    for (const c of entry.connections?.values() ?? []) if (this.isLive(c, now)) live.push(c);
    return live;
  }

  #putConnection(connection: ConnectionRecord): void {
    const { uid, nodeId, connId, incarnation } = connection;
    // Of an incarnation not on file: it could never count (see `EvictStore.putConnections`).
    if (this.#nodes.get(nodeId)?.incarnation !== incarnation) return;
    const entry = this.#users.entry(uid);
    entry.connections ??= new Map();
    const key = connectionKey(nodeId, connId);
    const previous = entry.connections.get(key);
    if (previous !== undefined && previous.incarnation !== incarnation) {
      this.#nodeIndex.get(indexKey(nodeId, previous.incarnation))?.delete(connId);
    }
    const { deviceFlag, connectedAtMs, sessionId, deviceId, ip, port } = connection;
    const record: ConnectionRecord = { uid, deviceFlag, nodeId, connId, connectedAtMs, incarnation };
    // Copied field by field: what is on file is only what the contract knows, never the caller's object.
    if (sessionId !== undefined) record.sessionId = sessionId;
    if (deviceId !== undefined) record.deviceId = deviceId;
    if (ip !== undefined) record.ip = ip;
    if (port !== undefined) record.port = port;
    entry.connections.set(key, record);
    const ik = indexKey(nodeId, incarnation);
    let index = this.#nodeIndex.get(ik);
    if (index === undefined) {
      index = new ShardedMap(shardOfNumber);
      this.#nodeIndex.set(ik, index);
    }
    index.set(connId, uid);
  }

  /**
   * Removes the connection from its user and its incarnation's index (only if it is of
   * `incarnation`, when given); returns the record removed.
   */
  #deleteConnection(
    uid: string,
    nodeId: number,
    connId: number,
    incarnation: string | undefined,
  ): ConnectionRecord | undefined {
    const entry = this.#users.onFile(uid);
    const connections = entry?.connections;
    const key = connectionKey(nodeId, connId);
    const connection = connections?.get(key);
    if (incarnation !== undefined) this.#unindex(nodeId, incarnation, connId, uid);
    if (connection === undefined || (incarnation !== undefined && connection.incarnation !== incarnation)) {
      return undefined;
    }
    connections!.delete(key);
    if (connections!.size === 0) {
      entry!.connections = undefined;
      // Its connections kept the user on file; with none left, its own expiry decides.
      this.#users.live(uid, this.#clock.nowMs());
    }
    if (incarnation === undefined) this.#unindex(nodeId, connection.incarnation, connId, uid);
    return connection;
  }

  #unindex(nodeId: number, incarnation: string, connId: number, uid: string): void {
    const ik = indexKey(nodeId, incarnation);
    const index = this.#nodeIndex.get(ik);
    if (index === undefined || index.get(connId) !== uid) return;
    index.delete(connId);
    if (index.size === 0) this.#nodeIndex.delete(ik);
  }
}
