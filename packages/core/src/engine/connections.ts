import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { StoreCorruptError } from '../errors.js';
import type { ClusterMessage, ConnectionDetails, ConnectionRecord, ConnectionRef } from '../model.js';
import { sessionIdOf } from '../secrets.js';
import { ShardedIndex, ShardedMap, shardOfNumber, shardOfString } from '../sharded-map.js';
import type { EvictStore } from '../store.js';
import type { EventHub } from './events.js';
import { CONN_IDS_PER_NODE } from './options.js';
import type { TimedStore } from './timed-store.js';
import {
  CLOSE_CODES,
  type CloseReason,
  type ConnectionCloseInfo,
  type LocalConnectionInfo,
} from './types.js';
import { WriteBatch } from './write-batch.js';

/**
 * A node holds a million of these, and each object on the heap is work for every full garbage
 * collection (whose pause is the stall an idle gateway node still sees). So a class, not an object
 * literal (objects made by spreading the caller's input each got a hidden class of their own, about
 * 260 B more per connection), and the connection time as milliseconds since the registry started:
 * a small integer for 24 days, held in the object, where a timestamp is a number object of its own.
 */
class LocalConnection {
  constructor(
    readonly uid: string,
    readonly deviceFlag: number,
    readonly connId: number,
    readonly close: (info: ConnectionCloseInfo) => void,
    readonly connectedAfterMs: number,
    /** The hash of the session token it was opened with, if it was: a logout of it closes the connection. */
    readonly sessionHash: string | undefined,
    /** One field for all of them, absent (no object) when none was given. */
    readonly details: ConnectionDetails | undefined,
  ) {}
}

/** Connections one store call writes or removes at most (a batch of registrations, a re-registration). */
const BATCH = 1_000;
/** Dead nodes' connection records one sweep step removes at most, and the steps of one heartbeat. */
const SWEEP_STEP_LIMIT = 500;
const SWEEP_STEPS_PER_HEARTBEAT = 100;

/** A random id of one run of this node (see `NodeRecord.incarnation`). */
const newIncarnation = () => randomBytes(6).toString('base64url');

export interface ConnectionRegistryOptions {
  nodeId: number;
  /** The store as the host gave it: whether it has `sweepConnections` is read from it. */
  rawStore: EvictStore;
  store: TimedStore;
  clock: Clock;
  events: EventHub;
  connectionTtlMs: number;
}

/**
 * This node's live connections and their records in the store, and closing connections wherever
 * they are: here at once, on other nodes through the store's `close-connections` message.
 *
 * The records live by this node's own record (`heartbeatNode`), which one write per interval keeps
 * live while the node holds connections, whatever their number; the same timer sweeps dead nodes'
 * records in bounded steps. Registrations and removals of one turn of the event loop go to the store
 * as one batch.
 */
export class ConnectionRegistry {
  readonly #o: ConnectionRegistryOptions;
  /**
   * By connId, and by user. Sharded: a single Map of a million entries rehashes all of them in the
   * one registration that takes it past a power of two, a stall of tens of milliseconds.
   */
  readonly #connections = new ShardedMap<number, LocalConnection>(shardOfNumber);
  readonly #connectionsByUid = new ShardedIndex<string, LocalConnection>(shardOfString);
  /** Those opened with a session token, by its hash. */
  readonly #connectionsBySession = new ShardedIndex<string, LocalConnection>(shardOfString);
  /**
   * Held but not yet admitted (their credential under check): `connectionOpened` has not announced
   * them, so their end is not announced either. A few at a time, where a flag would cost every connection.
   */
  readonly #admitting = new Set<LocalConnection>();
  /** Assigned connIds are `nodeId × 10⁹ + n`: unique in the cluster, so `conn/remove` without `node_id` is unambiguous. */
  #nextConnId: number;
  /** What `LocalConnection.connectedAfterMs` counts from: the first registration's time. */
  #startedAtMs: number | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** This run's incarnation: a new one if a heartbeat finds it lapsed. */
  #incarnation = newIncarnation();
  /** The heartbeat under way (the first one, before the first connection is written, included). */
  #beating: Promise<void> | undefined;
  #stopped = false;
  /** Records are made when the batch goes out, so that they carry the incarnation of that moment. */
  readonly #puts: WriteBatch<LocalConnection, void>;
  readonly #deletes: WriteBatch<ConnectionRef, boolean>;

  constructor(options: ConnectionRegistryOptions) {
    this.#o = options;
    this.#nextConnId = options.nodeId * CONN_IDS_PER_NODE + 1;
    this.#puts = new WriteBatch(async (locals) => {
      await options.store.putConnections(locals.map((local) => this.#recordOf(local)));
      return undefined;
    }, BATCH);
    this.#deletes = new WriteBatch((refs) => options.store.deleteConnections(refs), BATCH);
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
   * Holds the connection here and writes its record; on failure it is not held. Returns `unregister`,
   * which forgets it and deletes its record (idempotent, and a no-op once it was closed), and `admit`,
   * from which on it counts (`connectionOpened`).
   */
  async add(
    input: Omit<LocalConnection, 'connectedAfterMs'>,
  ): Promise<{ unregister: () => Promise<void>; admit: () => void }> {
    const { uid, deviceFlag, connId, close, sessionHash, details } = input;
    const nowMs = this.#o.clock.nowMs();
    this.#startedAtMs ??= nowMs;
    const connectedAfterMs = nowMs - this.#startedAtMs;
    const local = new LocalConnection(uid, deviceFlag, connId, close, connectedAfterMs, sessionHash, details);
    this.#connections.set(connId, local);
    this.#connectionsByUid.add(uid, local);
    this.#admitting.add(local);
    if (sessionHash !== undefined) this.#connectionsBySession.add(sessionHash, local);
    try {
      // The node's record first: a connection counts only while it is live.
      if (this.#heartbeat === undefined) await this.#beat();
      await this.#puts.add(local);
    } catch (error) {
      this.#forget(local);
      throw error;
    }
    this.#startHeartbeat();
    const unregister = async () => {
      if (this.#connections.get(connId) !== local) return;
      if (this.#forget(local)) this.#announceEnd(local, 'host');
      await this.#deletes.add({ uid, nodeId: this.#o.nodeId, connId });
    };
    return { unregister, admit: () => this.#admit(local) };
  }

  /**
   * The connection counts from now on (`registerConnection` admitted it): `connectionOpened`
   * announces it, unless it was closed meanwhile (a kick that landed during its check).
   */
  #admit(local: LocalConnection): void {
    if (!this.#admitting.delete(local) || !this.#o.events.listens('connectionOpened')) return;
    const { uid, deviceFlag, connId, sessionHash, details } = local;
    this.#o.events.emit('connectionOpened', {
      uid,
      deviceFlag,
      connId,
      nodeId: this.#o.nodeId,
      atMs: this.#o.clock.nowMs(),
      ...(sessionHash === undefined ? {} : { sessionId: sessionIdOf(sessionHash) }),
      ...(details?.deviceId === undefined ? {} : { deviceId: details.deviceId }),
      ...this.#countsOf(uid, deviceFlag),
    });
  }

  /** This node's live connections of the user, and of its device `deviceFlag`. */
  #countsOf(
    uid: string,
    deviceFlag: number,
  ): { deviceConnectionsOnNode: number; userConnectionsOnNode: number } {
    const held = this.#connectionsByUid.get(uid);
    let deviceConnectionsOnNode = 0;
    for (const local of held) if (local.deviceFlag === deviceFlag) deviceConnectionsOnNode += 1;
    return { deviceConnectionsOnNode, userConnectionsOnNode: held.length };
  }

  #announceEnd(local: LocalConnection, endedBy: 'evict' | 'host', code?: number, reason?: string): void {
    if (!this.#o.events.listens('connectionEnded')) return;
    const { uid, deviceFlag, connId } = local;
    this.#o.events.emit('connectionEnded', {
      uid,
      deviceFlag,
      connId,
      nodeId: this.#o.nodeId,
      atMs: this.#o.clock.nowMs(),
      endedBy,
      ...(code === undefined ? {} : { code, reason }),
      ...this.#countsOf(uid, deviceFlag),
    });
  }

  /** How many connections this node holds. */
  get size(): number {
    return this.#connections.size;
  }

  list(): LocalConnectionInfo[] {
    return Array.from(this.#connections, ([, local]) => {
      const { nodeId: _, incarnation: __, ...info } = this.#recordOf(local);
      return info;
    });
  }

  /**
   * The connections a revocation of the user (of one device, or all: `deviceFlag` null) closes:
   * those `listed` by the store, and this node's own that the store does not list (a lost write).
   */
  targetsOf(uid: string, deviceFlag: number | null, listed: readonly ConnectionRecord[]): ConnectionRecord[] {
    const targets = listed.filter((c) => deviceFlag === null || c.deviceFlag === deviceFlag);
    const listedHere = new Set(targets.filter((t) => t.nodeId === this.#o.nodeId).map((t) => t.connId));
    for (const local of this.#connectionsByUid.get(uid)) {
      if (!listedHere.has(local.connId) && (deviceFlag === null || local.deviceFlag === deviceFlag))
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

  /**
   * Asks other nodes to close their targets, closes the local ones here, and drops all of them from
   * the store. With `graceMs`, each connection is told first and closed that much later (by its `close`).
   * `othersTold`: the store published every node's message already (`KickOutcome.closesAnnounced`),
   * this one's included; the local targets are closed here all the same (once each).
   * `recordsToDrop`: the targets whose records are dropped here (default: all; fewer when the store
   * dropped the others with the kick, `KickOutcome.recordsDropped`).
   */
  async close(
    targets: readonly ConnectionRecord[],
    reason: CloseReason,
    graceMs?: number,
    {
      othersTold = false,
      recordsToDrop = targets,
    }: { othersTold?: boolean; recordsToDrop?: readonly ConnectionRecord[] } = {},
  ): Promise<number> {
    const code = CLOSE_CODES[reason];
    const local: ConnectionRecord[] = [];
    const remote = new Map<number, { uid: string; connId: number }[]>();
    for (const target of targets) {
      if (target.nodeId === this.#o.nodeId) {
        local.push(target);
      } else if (!othersTold) {
        const entry = { uid: target.uid, connId: target.connId };
        const list = remote.get(target.nodeId);
        if (list === undefined) remote.set(target.nodeId, [entry]);
        else list.push(entry);
      }
    }
    // Side by side: each message names one node, so their relative order does not matter. The records
    // are dropped only once every message is out: if one fails, a retry still finds them to close.
    const sent = Promise.all(
      [...remote].map(([nodeId, connections]) =>
        this.#o.store.publish({
          type: 'close-connections',
          nodeId,
          connections,
          code,
          reason,
          ...(graceMs === undefined ? {} : { graceMs }),
          fromNodeId: this.#o.nodeId,
          sentAtMs: this.#o.clock.nowMs(),
        }),
      ),
    );
    // The messages are written first (the store's calls get past their own awaits within this turn),
    // so that the other nodes close theirs while this one closes its own, not after: a user's
    // thousand sockets are one long loop here.
    if (remote.size > 0 && local.length > 0) {
      // A failure is thrown below, once the local ones are closed; meanwhile it is not unhandled.
      sent.catch(() => undefined);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (const target of local) this.#closeLocal(target.uid, target.connId, code, reason, graceMs);
    await sent;
    if (recordsToDrop.length > 0) {
      await this.#o.store.deleteConnections(
        recordsToDrop.map(({ uid, nodeId, connId }) => ({ uid, nodeId, connId })),
      );
    }
    return targets.length;
  }

  /**
   * Closes this node's connections opened with the session whose token hash this is (`4004
   * session_revoked`, or `4005 replaced`) and drops their records; returns how many. Each node does so on the logout's
   * `revoked` message, and the node serving the logout before it answers. The records go in the
   * next batch: a failure to drop them is reported, not the logout's (its session is revoked).
   */
  closeSession(tokenHash: string, reason: 'session_revoked' | 'replaced' = 'session_revoked'): number {
    const locals = this.#connectionsBySession.get(tokenHash);
    for (const local of locals) {
      this.#closeLocal(local.uid, local.connId, CLOSE_CODES[reason], reason);
      this.#deletes
        .add({ uid: local.uid, nodeId: this.#o.nodeId, connId: local.connId })
        .catch((error) => this.#o.events.error(error));
    }
    return locals.length;
  }

  /** Closes what a `close-connections` message of another node asks this node to close. */
  onClusterMessage(message: ClusterMessage): void {
    if (message.type !== 'close-connections' || message.nodeId !== this.#o.nodeId) return;
    const graceMs =
      Number.isSafeInteger(message.graceMs) && (message.graceMs as number) >= 0 ? message.graceMs : undefined;
    for (const { uid, connId } of message.connections)
      this.#closeLocal(uid, connId, message.code, message.reason, graceMs);
  }

  /** Stops the heartbeat for good and sends the pending writes (the engine closes; its store may close next). */
  stop(): void {
    this.#stopped = true;
    this.#stopHeartbeat();
    this.#puts.close();
    this.#deletes.close();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #closeLocal(uid: string, connId: number, code: number, reason: string, graceMs?: number): void {
    const local = this.#connections.get(connId);
    if (local === undefined || local.uid !== uid) return;
    const announced = this.#forget(local);
    try {
      local.close({ code, reason: reason as CloseReason, ...(graceMs === undefined ? {} : { graceMs }) });
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
      atMs: this.#o.clock.nowMs(),
    });
    if (announced) this.#announceEnd(local, 'evict', code, reason);
  }

  /** Drops the connection from this node's indexes; returns whether `connectionOpened` had announced it. */
  #forget(local: LocalConnection): boolean {
    const announced = !this.#admitting.delete(local);
    this.#connections.delete(local.connId);
    this.#connectionsByUid.delete(local.uid, local);
    if (local.sessionHash !== undefined) this.#connectionsBySession.delete(local.sessionHash, local);
    if (this.#connections.size === 0) this.#stopHeartbeat();
    return announced;
  }

  #connectedAtMs(local: LocalConnection): number {
    // Set by the first registration, before any connection exists to read it.
    return this.#startedAtMs! + local.connectedAfterMs;
  }

  #recordOf(local: LocalConnection): ConnectionRecord {
    const record: ConnectionRecord = {
      uid: local.uid,
      deviceFlag: local.deviceFlag,
      nodeId: this.#o.nodeId,
      connId: local.connId,
      connectedAtMs: this.#connectedAtMs(local),
      incarnation: this.#incarnation,
    };
    // Derived when a record is made rather than held: a second string per connection on the heap,
    // against one hash per record written (a registration, or a re-registration after a lapse).
    if (local.sessionHash !== undefined) record.sessionId = sessionIdOf(local.sessionHash);
    // Field by field, not a spread: a registration's hot path, and most have no details.
    const { details } = local;
    if (details !== undefined) {
      if (details.deviceId !== undefined) record.deviceId = details.deviceId;
      if (details.ip !== undefined) record.ip = details.ip;
      if (details.port !== undefined) record.port = details.port;
    }
    return record;
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined || this.#stopped) return;
    this.#heartbeat = setInterval(
      () => {
        this.#beat()
          .then(() => this.#sweepDeadConnections())
          .catch((error) => this.#o.events.error(error));
      },
      Math.max(1, Math.floor(this.#o.connectionTtlMs / 3)),
    );
    this.#heartbeat.unref();
  }

  /** One heartbeat of this node; calls made while one is under way share it. */
  #beat(): Promise<void> {
    this.#beating ??= this.#heartbeatNode().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #heartbeatNode(): Promise<void> {
    const heartbeat = () =>
      this.#o.store.heartbeatNode({
        nodeId: this.#o.nodeId,
        incarnation: this.#incarnation,
        expiresAtMs: this.#o.clock.nowMs() + this.#o.connectionTtlMs,
      });
    if (await heartbeat()) return;
    // This incarnation lapsed (no heartbeat got through for connectionTtlMs): its records no longer
    // count and may be swept, so the node starts a new one and writes its connections again. A batch
    // still to go out makes its records then, with the new incarnation.
    this.#incarnation = newIncarnation();
    if (!(await heartbeat())) throw new StoreCorruptError('the store refused a new node incarnation');
    // A batch at a time, the records made as it goes: a node holding a million connections must not
    // stop to copy them all. The map's iterator sees deletions and additions made meanwhile.
    let batch: ConnectionRecord[] = [];
    for (const [, local] of this.#connections) {
      batch.push(this.#recordOf(local));
      if (batch.length === BATCH) {
        await this.#o.store.putConnections(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.#o.store.putConnections(batch);
  }

  /** Bounded steps of removing dead nodes' connection records, each awaited before the next. */
  async #sweepDeadConnections(): Promise<void> {
    if (this.#o.rawStore.sweepConnections === undefined) return;
    for (let step = 0; step < SWEEP_STEPS_PER_HEARTBEAT && !this.#stopped; step++) {
      const drained = await this.#o.store.sweepConnections(SWEEP_STEP_LIMIT);
      if (drained < SWEEP_STEP_LIMIT) return;
    }
  }
}
