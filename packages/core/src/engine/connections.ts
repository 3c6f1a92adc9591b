import type { Clock } from '../clock.js';
import type { ClusterMessage, ConnectionRecord } from '../model.js';
import type { EventHub } from './events.js';
import { CONN_IDS_PER_NODE } from './options.js';
import type { TimedStore } from './timed-store.js';
import {
  CLOSE_CODES,
  type CloseReason,
  type ConnectionCloseInfo,
  type LocalConnectionInfo,
} from './types.js';

interface LocalConnection extends LocalConnectionInfo {
  close: (info: ConnectionCloseInfo) => void;
}

export interface ConnectionRegistryOptions {
  nodeId: number;
  store: TimedStore;
  clock: Clock;
  events: EventHub;
  connectionTtlMs: number;
}

/**
 * This node's live connections, their records in the store (kept alive by a heartbeat while the
 * node holds any), and closing connections wherever they are: here at once, on other nodes through
 * the store's `close-connections` message.
 */
export class ConnectionRegistry {
  readonly #o: ConnectionRegistryOptions;
  /** By connId, and the connIds of each user. */
  readonly #connections = new Map<number, LocalConnection>();
  readonly #connectionsByUid = new Map<string, Set<number>>();
  /** Assigned connIds are `nodeId × 10⁹ + n`: unique in the cluster, so `conn/remove` without `node_id` is unambiguous. */
  #nextConnId: number;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: ConnectionRegistryOptions) {
    this.#o = options;
    this.#nextConnId = options.nodeId * CONN_IDS_PER_NODE + 1;
  }

  /** A connId no live connection of this node has. */
  nextConnId(): number {
    while (this.#connections.has(this.#nextConnId)) this.#nextConnId += 1;
    return this.#nextConnId++;
  }

  has(connId: number): boolean {
    return this.#connections.has(connId);
  }

  /**
   * Holds the connection here and writes its record; on failure it is not held. Returns the
   * function that forgets it and deletes its record (idempotent, and a no-op once it was closed).
   */
  async add(input: Omit<LocalConnection, 'connectedAtMs'>): Promise<() => Promise<void>> {
    const local: LocalConnection = { ...input, connectedAtMs: this.#o.clock.nowMs() };
    const { uid, connId } = local;
    this.#connections.set(connId, local);
    const ids = this.#connectionsByUid.get(uid) ?? new Set<number>();
    this.#connectionsByUid.set(uid, ids.add(connId));
    try {
      await this.#o.store.putConnection(this.#recordOf(local));
    } catch (error) {
      this.#forget(local);
      throw error;
    }
    this.#startHeartbeat();
    return async () => {
      if (this.#connections.get(connId) !== local) return;
      this.#forget(local);
      await this.#o.store.deleteConnection(uid, this.#o.nodeId, connId);
    };
  }

  list(): LocalConnectionInfo[] {
    return [...this.#connections.values()].map(({ uid, deviceFlag, connId, connectedAtMs }) => ({
      uid,
      deviceFlag,
      connId,
      connectedAtMs,
    }));
  }

  /**
   * The connections a revocation of the user (of one device, or all: `deviceFlag` null) closes:
   * those `listed` by the store, and this node's own that the store does not list (a lost write).
   */
  targetsOf(uid: string, deviceFlag: number | null, listed: readonly ConnectionRecord[]): ConnectionRecord[] {
    const targets = listed.filter((c) => deviceFlag === null || c.deviceFlag === deviceFlag);
    const listedHere = new Set(targets.filter((t) => t.nodeId === this.#o.nodeId).map((t) => t.connId));
    for (const connId of this.#connectionsByUid.get(uid) ?? []) {
      const local = this.#connections.get(connId)!;
      if (!listedHere.has(connId) && (deviceFlag === null || local.deviceFlag === deviceFlag))
        targets.push(this.#recordOf(local));
    }
    return targets;
  }

  /** `/conn/remove`'s targets: the listed records of `connId` (on `nodeId`, if given), and this node's own if unlisted. */
  targetsOfConnection(
    uid: string,
    connId: number,
    nodeId: number | undefined,
    listed: readonly ConnectionRecord[],
  ): ConnectionRecord[] {
    const here = this.#o.nodeId;
    const targets = listed.filter(
      (c) => c.connId === connId && (nodeId === undefined || c.nodeId === nodeId),
    );
    const local = this.#connections.get(connId);
    if (
      local?.uid === uid &&
      (nodeId === undefined || nodeId === here) &&
      !targets.some((t) => t.nodeId === here)
    ) {
      targets.push(this.#recordOf(local));
    }
    return targets;
  }

  /** Closes local targets here, asks other nodes to close theirs, and drops all of them from the store. */
  async close(targets: readonly ConnectionRecord[], reason: CloseReason): Promise<number> {
    const code = CLOSE_CODES[reason];
    const remote = new Map<number, { uid: string; connId: number }[]>();
    for (const target of targets) {
      if (target.nodeId === this.#o.nodeId) {
        this.#closeLocal(target.uid, target.connId, code, reason);
      } else {
        const entry = { uid: target.uid, connId: target.connId };
        const list = remote.get(target.nodeId);
        if (list === undefined) remote.set(target.nodeId, [entry]);
        else list.push(entry);
      }
    }
    // Side by side: each message names one node, so their relative order does not matter. The records
    // are dropped only once every message is out: if one fails, a retry still finds them to close.
    await Promise.all(
      [...remote].map(([nodeId, connections]) =>
        this.#o.store.publish({
          type: 'close-connections',
          nodeId,
          connections,
          code,
          reason,
          fromNodeId: this.#o.nodeId,
        }),
      ),
    );
    await Promise.all(targets.map((t) => this.#o.store.deleteConnection(t.uid, t.nodeId, t.connId)));
    return targets.length;
  }

  /** Closes what a `close-connections` message of another node asks this node to close. */
  onClusterMessage(message: ClusterMessage): void {
    if (message.type !== 'close-connections' || message.nodeId !== this.#o.nodeId) return;
    for (const { uid, connId } of message.connections)
      this.#closeLocal(uid, connId, message.code, message.reason);
  }

  stop(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #closeLocal(uid: string, connId: number, code: number, reason: string): void {
    const local = this.#connections.get(connId);
    if (local === undefined || local.uid !== uid) return;
    this.#forget(local);
    try {
      local.close({ code, reason: reason as CloseReason });
    } catch (error) {
      this.#o.events.error(error);
    }
    this.#o.events.emit('connectionClosed', {
      uid,
      deviceFlag: local.deviceFlag,
      connId,
      nodeId: this.#o.nodeId,
      code,
      reason,
    });
  }

  #forget(local: LocalConnection): void {
    this.#connections.delete(local.connId);
    const ids = this.#connectionsByUid.get(local.uid);
    ids?.delete(local.connId);
    if (ids?.size === 0) this.#connectionsByUid.delete(local.uid);
    if (this.#connections.size === 0) this.stop();
  }

  #recordOf(local: LocalConnection): ConnectionRecord {
    return {
      uid: local.uid,
      deviceFlag: local.deviceFlag,
      nodeId: this.#o.nodeId,
      connId: local.connId,
      connectedAtMs: local.connectedAtMs,
      expiresAtMs: this.#o.clock.nowMs() + this.#o.connectionTtlMs,
    };
  }

  /** Refreshes this node's connection records so that they expire only if the node dies. */
  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(
      () => {
        for (const local of this.#connections.values()) {
          this.#o.store.putConnection(this.#recordOf(local)).catch((error) => this.#o.events.error(error));
        }
      },
      Math.max(1, Math.floor(this.#o.connectionTtlMs / 3)),
    );
    this.#heartbeat.unref();
  }
}
