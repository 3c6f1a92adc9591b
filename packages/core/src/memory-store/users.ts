/**
 * The memory store's users: each user's entry (`UserEntry`), the rule of when an entry is live, and
 * what is kept on the entry alone: cutoffs and push tokens. The session and connection tables reach
 * the entries through this one.
 */
import type { Clock } from '../clock.js';
import type { Cutoff, PushTokenKind, PushTokenRecord, UserRecord } from '../model.js';
import { ShardedMap, shardOfString } from '../sharded-map.js';
import { raiseCutoffOf, UserEntry } from './entries.js';
import { bucketOf, type ExpiryQueue } from './expiry.js';

export class UserTable {
  readonly #clock: Clock;
  readonly #expiry: ExpiryQueue;
  readonly #users = new ShardedMap<string, UserEntry>(shardOfString);

  constructor(clock: Clock, expiry: ExpiryQueue) {
    this.#clock = clock;
    this.#expiry = expiry;
  }

  /** Every entry on file, expired or not yet swept. */
  [Symbol.iterator](): IterableIterator<[string, UserEntry]> {
    return this.#users[Symbol.iterator]();
  }

  get size(): number {
    return this.#users.size;
  }

  /** The entry as it is on file, whether or not it is live. */
  onFile(uid: string): UserEntry | undefined {
    return this.#users.get(uid);
  }

  /** The live entry, or a new one put on file in place of what was there. */
  entry(uid: string): UserEntry {
    const live = this.live(uid, this.#clock.nowMs());
    if (live !== undefined) return live;
    const entry = new UserEntry(uid);
    this.#users.set(uid, entry);
    return entry;
  }

  /**
   * The user's entry with its expired push tokens dropped, or undefined (and dropped) once the user
   * has expired with no connection on file. The user's `expiresAtMs` is never below a push token's
   * (each put raises it), so a user that has expired holds nothing live but connections, which keep
   * it on file (their node's liveness decides whether they count).
   */
  live(uid: string, now: number): UserEntry | undefined {
    const entry = this.#users.get(uid);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= now && entry.connections === undefined) {
      this.#users.delete(uid);
      return undefined;
    }
    if (entry.pushTokens !== undefined) {
      for (const [kind, t] of entry.pushTokens) if (t.expiresAtMs <= now) entry.pushTokens.delete(kind);
      if (entry.pushTokens.size === 0) entry.pushTokens = undefined;
    }
    return entry;
  }

  /** The user's life only grows; the first extension of an unfiled user files it for the sweep. */
  extend(entry: UserEntry, expiresAtMs: number): void {
    entry.expiresAtMs = Math.max(entry.expiresAtMs, expiresAtMs);
    this.#file(entry);
  }

  #file(entry: UserEntry): void {
    if (entry.sweepBucket === 0) entry.sweepBucket = this.#expiry.file('users', entry.uid, entry.expiresAtMs);
  }

  /** The sweep's step for a uid read from bucket `index`. */
  sweepUser(uid: string, index: number, now: number): void {
    const entry = this.#users.get(uid);
    if (entry !== undefined && entry.sweepBucket === index) {
      entry.sweepBucket = 0;
      // An expired user kept by its connections stays unfiled: its last connection's removal drops it.
      if (this.live(uid, now) !== undefined && entry.expiresAtMs > now) this.#file(entry);
    }
  }

  /** The sweep's step for a uid read from bucket `index` of push tokens. */
  sweepPushTokens(uid: string, index: number, now: number): void {
    const tokens = this.live(uid, now)?.pushTokens;
    for (const token of tokens?.values() ?? []) {
      if (bucketOf(token.expiresAtMs) === index) this.#expiry.file('pushTokens', uid, token.expiresAtMs);
    }
  }

  async getUser(uid: string): Promise<UserRecord | undefined> {
    const now = this.#clock.nowMs();
    return this.live(uid, now)?.toRecord(now);
  }

  async touchUser(uid: string, expiresAtMs: number): Promise<void> {
    this.extend(this.entry(uid), expiresAtMs);
  }

  async raiseCutoff(
    uid: string,
    deviceFlag: number | null,
    cutoff: Cutoff,
    expiresAtMs: number,
  ): Promise<void> {
    const entry = this.entry(uid);
    raiseCutoffOf(entry, deviceFlag, cutoff);
    this.extend(entry, expiresAtMs);
  }

  async setPushToken(uid: string, record: PushTokenRecord): Promise<void> {
    const entry = this.entry(uid);
    entry.pushTokens ??= new Map();
    entry.pushTokens.set(record.kind, { ...record });
    this.#expiry.file('pushTokens', uid, record.expiresAtMs);
    this.extend(entry, record.expiresAtMs);
  }

  async getPushTokens(uid: string): Promise<PushTokenRecord[]> {
    const entry = this.live(uid, this.#clock.nowMs());
    return [...(entry?.pushTokens?.values() ?? [])].map((t) => ({ ...t }));
  }

  async clearPushTokens(uid: string, kinds: readonly PushTokenKind[]): Promise<PushTokenKind[]> {
    const entry = this.live(uid, this.#clock.nowMs());
    const tokens = entry?.pushTokens;
    if (entry === undefined || tokens === undefined) return [];
    const cleared = kinds.filter((kind) => tokens.delete(kind));
    if (tokens.size === 0) entry.pushTokens = undefined;
    return cleared;
  }
}
