import type { Clock } from '../clock.js';
import { ConnectionNotFoundError, DeviceNotFoundError, isEvictError, UnknownUserError } from '../errors.js';
import type {
  ConnectionRecord,
  Cutoff,
  CutoffReason,
  DeviceLevel,
  SessionRecord,
  UserRecord,
} from '../model.js';
import type { EvictStore, KickOutcome } from '../store.js';
import type { CredentialCheck } from './check.js';
import type { ConnectionRegistry } from './connections.js';
import type { EventHub } from './events.js';
import { applicableCutoff, deviceRecordIsCurrent } from './rules.js';
import type { TimedStore } from './timed-store.js';
import { CLOSE_CODES, type CloseReason, type RevocationResult } from './types.js';

/** How long a failed announcement of a revoked session waits before it is published again. */
const REANNOUNCE_DELAY_MS = 1_000;

export interface RevocationsOptions {
  nodeId: number;
  /** The store as the host gave it: whether it has `kick` is read from it. */
  rawStore: EvictStore;
  store: TimedStore;
  clock: Clock;
  events: EventHub;
  check: CredentialCheck;
  connections: ConnectionRegistry;
  maxCredentialLifetimeMs: number;
  userExists: ((uid: string) => boolean | Promise<boolean>) | undefined;
}

/**
 * What a revocation does to the store, the caches of every node and the live connections, in the
 * order that keeps the engine's guarantees: nothing written for a missing user or device, a cutoff
 * announced to every node before it is acknowledged, connections listed only once it is written.
 */
export class Revocations {
  readonly #o: RevocationsOptions;
  #stopped = false;

  constructor(options: RevocationsOptions) {
    this.#o = options;
  }

  /**
   * A kick of the user (`deviceFlag` null) or of one device: checks that the user (and the device)
   * is there, raises the cutoff, tells every node, and closes the connections. With a store that
   * has `kick`, the check, the cutoff, the listing of the connections and (on one Redis) the
   * announcement are one store call; without it, step by step (`#revokeAndClose`), with the same
   * guarantees.
   */
  async kick(uid: string, deviceFlag: number | null, reason: CutoffReason): Promise<RevocationResult> {
    const { rawStore, store, check } = this.#o;
    if (rawStore.kick === undefined) {
      const user = await this.assertUserExists(uid);
      if (deviceFlag !== null && !(await this.#deviceIsPresent(uid, user, deviceFlag)))
        throw new DeviceNotFoundError(uid, deviceFlag);
      const atMs = this.#o.clock.nowMs();
      return { atMs, connectionsClosed: await this.#revokeAndClose(uid, deviceFlag, { atMs, reason }) };
    }
    // A host with its own user table decides whether the user exists; the store then checks only the device.
    const hook = this.#o.userExists;
    if (hook !== undefined && !(await hook(uid))) throw new UnknownUserError(uid);
    const atMs = this.#o.clock.nowMs();
    let outcome: KickOutcome;
    try {
      outcome = await store.kick({
        uid,
        deviceFlag,
        cutoff: { atMs, reason },
        expiresAtMs: atMs + this.#o.maxCredentialLifetimeMs,
        require: { user: hook === undefined, device: deviceFlag !== null },
        announce: { type: 'revoked', uid, fromNodeId: this.#o.nodeId, sentAtMs: atMs },
        closes: { code: CLOSE_CODES[reason], reason, fromNodeId: this.#o.nodeId, sentAtMs: atMs },
      });
    } finally {
      // Also on failure: a write that timed out may still land.
      check.forgetUser(uid);
    }
    if (!outcome.applied) {
      if (outcome.missing === 'device' && deviceFlag !== null) throw new DeviceNotFoundError(uid, deviceFlag);
      throw new UnknownUserError(uid);
    }
    // The `revoked` message is out already: the other nodes hear it before any `close-connections`
    // (which the store may have published too, in the same step).
    return {
      atMs,
      connectionsClosed: await this.#closeUserConnections(uid, deviceFlag, reason, {
        listed: outcome.connections,
        othersTold: outcome.closesAnnounced === true,
        listedDropped: outcome.closesAnnounced === true && outcome.recordsDropped === true,
      }),
    };
  }

  /** Closes one live connection wherever it is (all nodes when `nodeId` is absent). */
  /**
   * Closes one connection wherever it is: at once (`connection_removed`), or, with `graceMs`, told
   * first and closed that much later (`connection_kicked`).
   */
  async removeConnection(
    uid: string,
    connId: number,
    nodeId: number | undefined,
    graceMs?: number,
  ): Promise<RevocationResult> {
    const reason = graceMs === undefined ? 'connection_removed' : 'connection_kicked';
    const listed = await this.#o.store.listConnections(uid);
    const targets = this.#o.connections.targetsOfConnection(uid, connId, nodeId, listed);
    if (targets.length === 0) throw new ConnectionNotFoundError(uid, connId);
    const atMs = this.#o.clock.nowMs();
    return { atMs, connectionsClosed: await this.#o.connections.close(targets, reason, graceMs) };
  }

  /**
   * WuKongIM's rule as a connection of a device-level session registers: it joins its device's
   * roster (`EvictStore.joinDevice`, atomic, so of two racing the later acts on the earlier) and
   * closes those that joined before it on whichever node holds them, `4005 replaced`. A `master`
   * closes them all, telling those of another `deviceId` first and closing them `graceMs` later
   * ("login in other device"); a `slave` closes only those of its own `deviceId`. The same device's
   * earlier connections close at once (WuKongIM closes them after 2 s, without a word). Returns how
   * many it closed.
   */
  async joinDevice(
    connection: { uid: string; deviceFlag: number; connId: number; deviceId: string | undefined },
    level: DeviceLevel,
    graceMs: number,
  ): Promise<number> {
    const { uid, deviceFlag, connId } = connection;
    const earlier = await this.#o.store.joinDevice({ uid, deviceFlag, connId, nodeId: this.#o.nodeId });
    const own = connection.deviceId ?? '';
    const sameDevice = earlier.filter((c) => (c.deviceId ?? '') === own);
    const otherDevices = level === 'master' ? earlier.filter((c) => (c.deviceId ?? '') !== own) : [];
    const [told, closed] = await Promise.all([
      this.#o.connections.close(otherDevices, 'replaced', graceMs),
      this.#o.connections.close(sameDevice, 'replaced'),
    ]);
    return told + closed;
  }

  /**
   * Marks the session revoked, closes this node's connections of it and tells every node (which
   * close theirs); returns how many this node closed.
   */
  async revokeSession(session: SessionRecord, atMs: number): Promise<number> {
    try {
      await this.#o.store.revokeSession(session.tokenHash, atMs);
    } catch (error) {
      // Revoked on the primary, only not confirmed by its replicas: a retry would find nothing left
      // to revoke, so this node closes the session's connections and tells every node now.
      if (isEvictError(error, 'EVICT_STORE_NOT_REPLICATED')) {
        this.#o.connections.closeSession(session.tokenHash);
        this.announce(session.uid, session.tokenHash).catch(() =>
          this.#reannounce(session.uid, session.tokenHash),
        );
      }
      throw error;
    } finally {
      this.#o.check.forgetSession(session.tokenHash);
    }
    const connectionsClosed = this.#o.connections.closeSession(session.tokenHash);
    if (session.governed) {
      // Off its user's admission list, so that it no longer counts against the login policy. The
      // session is revoked already: a failure here is reported, and the entry lapses with it.
      this.#o.check.forgetUser(session.uid);
      await this.#o.store
        .dischargeSessions(session.uid, [session.tokenHash])
        .catch((error: unknown) => this.#o.events.error(error));
    }
    try {
      await this.announce(session.uid, session.tokenHash);
    } catch (error) {
      // The session is revoked on file, so a retry of the request finds nothing left to revoke and
      // would announce nothing: the announcement is retried here until it gets through, or other
      // nodes whose link stayed up could go on serving their cached copy.
      this.#reannounce(session.uid, session.tokenHash);
      throw error;
    }
    return connectionsClosed;
  }

  /**
   * Sessions a login policy pushed out (already off their user's admission list, and announced by
   * the store): this node's cache and connections of each (`4005 replaced`). Returns how many
   * connections this node closed, per session.
   */
  replaceSessions(uid: string, tokenHashes: readonly string[]): number[] {
    this.#o.check.forgetUser(uid);
    const closed = tokenHashes.map((tokenHash) => {
      this.#o.check.forgetSession(tokenHash);
      return this.#o.connections.closeSession(tokenHash, 'replaced');
    });
    // The store announced them with the admission (`EvictStore.admitSession`).
    return closed;
  }

  /**
   * Tells every live connection of the user's device, on whichever node holds it, and closes it
   * `graceMs` later (`4006 connection_kicked`): WuKongIM's master login. Credentials stay valid.
   */
  async kickDeviceConnections(uid: string, deviceFlag: number, graceMs: number): Promise<RevocationResult> {
    const atMs = this.#o.clock.nowMs();
    return {
      atMs,
      connectionsClosed: await this.#closeUserConnections(uid, deviceFlag, 'connection_kicked', { graceMs }),
    };
  }

  /** Stops announcing again (the engine closes). */
  stop(): void {
    this.#stopped = true;
  }

  /** Publishes a session's revocation again, a second apart, until it gets through or `stop`. */
  #reannounce(uid: string, tokenHash: string): void {
    const retry = () => {
      if (this.#stopped) return;
      this.announce(uid, tokenHash).catch((error: unknown) => {
        this.#o.events.error(error);
        setTimeout(retry, REANNOUNCE_DELAY_MS).unref();
      });
    };
    setTimeout(retry, REANNOUNCE_DELAY_MS).unref();
  }

  /** Tells every node to drop its cached copies of what a revocation changed. */
  async announce(uid: string, tokenHash?: string): Promise<void> {
    // A revocation is acknowledged only once every node can hear of it: a failed publish fails the request, and the retry publishes again.
    await this.#o.store.publish({
      type: 'revoked',
      uid,
      ...(tokenHash === undefined ? {} : { tokenHash }),
      fromNodeId: this.#o.nodeId,
      sentAtMs: this.#o.clock.nowMs(),
    });
  }

  /** The user's record, or `EVICT_UNKNOWN_USER` when the user does not exist (the host's hook decides, if any). */
  async assertUserExists(uid: string): Promise<UserRecord | undefined> {
    const user = await this.#o.store.getUser(uid);
    const hook = this.#o.userExists;
    const exists = hook !== undefined ? Boolean(await hook(uid)) : user !== undefined;
    if (!exists) throw new UnknownUserError(uid);
    return user;
  }

  /** A live device record issued after its cutoff, or a live connection of the device (`EvictStore.kick`'s rule). */
  async #deviceIsPresent(uid: string, user: UserRecord | undefined, deviceFlag: number): Promise<boolean> {
    const now = this.#o.clock.nowMs();
    if (deviceRecordIsCurrent(user?.devices[deviceFlag], applicableCutoff(user, deviceFlag), now))
      return true;
    const connections = await this.#o.store.listConnections(uid);
    return connections.some((c) => c.deviceFlag === deviceFlag);
  }

  /**
   * `kick` step by step, once the user and the device are known to be there. Writes the cutoff and
   * drops this node's copy of the user at once; then, side by side, tells the other nodes and closes
   * the connections (one store round trip fewer than one after the other). The connections are
   * listed only once the cutoff is written: one registered after the listing is rejected by its own
   * re-check. Either failing fails the revocation (a retry does both again).
   */
  async #revokeAndClose(uid: string, deviceFlag: number | null, cutoff: Cutoff): Promise<number> {
    const expiresAtMs = cutoff.atMs + this.#o.maxCredentialLifetimeMs;
    try {
      await this.#o.store.raiseCutoff(uid, deviceFlag, cutoff, expiresAtMs);
    } finally {
      // Also on failure: a write that timed out may still land.
      this.#o.check.forgetUser(uid);
    }
    // The publish is sent first: on Redis the other nodes hear `revoked` before any `close-connections`.
    const [announced, closed] = await Promise.allSettled([
      this.announce(uid),
      this.#closeUserConnections(uid, deviceFlag, cutoff.reason),
    ]);
    if (announced.status === 'rejected') throw announced.reason;
    if (closed.status === 'rejected') throw closed.reason;
    return closed.value;
  }

  /**
   * Closes the user's connections (of one device, or all): those `listed` (default: listed now), and
   * this node's own; with `graceMs`, each told first and closed that much later. `listedDropped`: the
   * store dropped the records of the listed ones it closes (`KickOutcome.recordsDropped`).
   */
  async #closeUserConnections(
    uid: string,
    deviceFlag: number | null,
    reason: CloseReason,
    options: {
      listed?: ConnectionRecord[];
      graceMs?: number;
      othersTold?: boolean;
      listedDropped?: boolean;
    } = {},
  ): Promise<number> {
    const onFile = options.listed ?? (await this.#o.store.listConnections(uid));
    const targets = this.#o.connections.targetsOf(uid, deviceFlag, onFile);
    let recordsToDrop: readonly ConnectionRecord[] = targets;
    if (options.listedDropped === true) {
      const listed = new Set(onFile.map((c) => `${c.nodeId} ${c.connId}`));
      recordsToDrop = targets.filter((t) => !listed.has(`${t.nodeId} ${t.connId}`));
    }
    return this.#o.connections.close(targets, reason, options.graceMs, {
      othersTold: options.othersTold === true,
      recordsToDrop,
    });
  }
}
