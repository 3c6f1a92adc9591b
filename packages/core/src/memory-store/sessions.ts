/**
 * The memory store's sessions: each by its token hash, each user's token hashes, and the admission
 * of a session under a login policy (`EvictStore.admitSession`), whose list is kept on the user.
 */
import type { Clock } from '../clock.js';
import { type AdmissionOutcome, type AdmissionRequest, admit } from '../engine/login-policy.js';
import { admissionCounts } from '../engine/rules.js';
import type { Admission, ClusterMessage, SessionRecord } from '../model.js';
import { ShardedIndex, ShardedMap, shardOfString } from '../sharded-map.js';
import { StoredDevice, StoredSession } from './entries.js';
import { bucketOf, type ExpiryQueue } from './expiry.js';
import type { UserTable } from './users.js';

export class SessionTable {
  readonly #clock: Clock;
  readonly #expiry: ExpiryQueue;
  readonly #users: UserTable;
  /** The store's `publish`, looked up at each call: a subclass or a spy on the store sees what it sends. */
  readonly #publish: (message: ClusterMessage) => Promise<void>;
  readonly #sessions = new ShardedMap<string, StoredSession>(shardOfString);
  /**
   * Token hashes of each user's sessions: kept apart from the user entry, which may expire before
   * them. A user with one session maps to that hash itself; a Set is made for the second one only
   * (nearly every user has one session at a time, and a Set of one costs more than the hash).
   */
  readonly #sessionsByUser = new ShardedIndex<string, string>(shardOfString);

  constructor(
    clock: Clock,
    expiry: ExpiryQueue,
    users: UserTable,
    publish: (message: ClusterMessage) => Promise<void>,
  ) {
    this.#clock = clock;
    this.#expiry = expiry;
    this.#users = users;
    this.#publish = publish;
  }

  /** Every session on file, by token hash, expired or not yet swept. */
  [Symbol.iterator](): IterableIterator<[string, StoredSession]> {
    return this.#sessions[Symbol.iterator]();
  }

  /** Every user's token hashes, as on file. */
  hashesByUser(): IterableIterator<[string, string[]]> {
    return this.#sessionsByUser[Symbol.iterator]();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** The sweep's step for a token hash read from bucket `index`. */
  sweepSession(tokenHash: string, index: number, now: number): void {
    const session = this.#sessions.get(tokenHash);
    if (session === undefined) return;
    if (session.retainUntilMs <= now) {
      this.#sessions.delete(tokenHash);
      this.#unindexSession(session.uid, tokenHash);
    } else if (bucketOf(session.retainUntilMs) === index) {
      this.#expiry.file('sessions', tokenHash, session.retainUntilMs);
    }
  }

  async putSession(session: SessionRecord): Promise<void> {
    this.#putSessionNow(session);
  }

  #putSessionNow(session: SessionRecord): void {
    const { tokenHash, uid } = session;
    const previous = this.#sessions.get(tokenHash);
    this.#sessions.set(tokenHash, new StoredSession(session));
    if (previous === undefined || bucketOf(previous.retainUntilMs) !== bucketOf(session.retainUntilMs)) {
      this.#expiry.file('sessions', tokenHash, session.retainUntilMs);
    }
    this.#sessionsByUser.add(uid, tokenHash);
    const entry = this.#users.entry(uid);
    const device = entry.device(session.deviceFlag);
    if (device === undefined) {
      entry.addDevice(new StoredDevice(session.deviceFlag, session.issuedAtMs, session.expiresAtMs));
    } else {
      device.lastIssuedAtMs = Math.max(device.lastIssuedAtMs, session.issuedAtMs);
      device.expiresAtMs = Math.max(device.expiresAtMs, session.expiresAtMs);
    }
    this.#users.extend(entry, session.expiresAtMs);
  }

  async admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome> {
    const now = this.#clock.nowMs();
    const entry = this.#users.live(session.uid, now);
    const user = entry?.toRecord(now);
    const candidate: Admission = {
      tokenHash: session.tokenHash,
      deviceFlag: session.deviceFlag,
      deviceClass: request.deviceClass,
      issuedAtMs: session.issuedAtMs,
      expiresAtMs: session.expiresAtMs,
    };
    const { outcome, kept } = admit(entry?.admissions ?? [], candidate, request, (a) =>
      admissionCounts(user, a, now),
    );
    // No await from the read to the writes: one step, as atomic as the store's other writes.
    if (outcome.admitted) {
      this.#putSessionNow({ ...session, governed: true });
      this.#users.entry(session.uid).admissions = kept.map((a) => ({ ...a }));
      for (const { tokenHash } of outcome.replaced)
        await this.#publish({
          type: 'revoked',
          uid: session.uid,
          tokenHash,
          replaced: true,
          fromNodeId: request.fromNodeId,
        });
    }
    return outcome.admitted
      ? { admitted: true, replaced: outcome.replaced.map((a) => ({ ...a })) }
      : { admitted: false, full: outcome.full.map((a) => ({ ...a })) };
  }

  async dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void> {
    const entry = this.#users.live(uid, this.#clock.nowMs());
    if (entry?.admissions === undefined) return;
    entry.admissions = entry.admissions.filter((a) => !tokenHashes.includes(a.tokenHash));
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#liveSession(tokenHash)?.toRecord();
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    const sessions: SessionRecord[] = [];
    for (const hash of this.#sessionsByUser.get(uid)) {
      const session = this.#liveSession(hash);
      if (session !== undefined) sessions.push(session.toRecord());
    }
    return sessions;
  }

  async touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void> {
    for (const { tokenHash, atMs } of touches) {
      const session = this.#liveSession(tokenHash);
      if (session !== undefined && !(session.lastSeenAtMs !== undefined && session.lastSeenAtMs >= atMs))
        session.lastSeenAtMs = atMs;
    }
  }

  async revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    // Read and write without an await in between, so that concurrent revocations keep the first time.
    const session = this.#liveSession(tokenHash);
    if (session === undefined) return undefined;
    const before = session.toRecord();
    if (session.revokedAtMs === undefined) session.revokedAtMs = atMs;
    return before;
  }

  /** The session on file (not a copy), or undefined once its retention has passed. */
  #liveSession(tokenHash: string): StoredSession | undefined {
    const session = this.#sessions.get(tokenHash);
    return session === undefined || session.retainUntilMs <= this.#clock.nowMs() ? undefined : session;
  }

  /** Drops the hash from its user's index (the sweep drops sessions; nothing else does). */
  #unindexSession(uid: string, tokenHash: string): void {
    this.#sessionsByUser.delete(uid, tokenHash);
  }
}
