import type { Clock } from '../clock.js';

/**
 * Expiry is filed by the minute: a record's key goes into the bucket of the minute it expires, and a
 * sweep reads only the buckets of minutes that have ended, so its work is what expired, not what is
 * on file. A record is dropped within a minute and a sweep interval of its expiry.
 */
export const BUCKET_MS = 60_000;
/**
 * Keys the timer's sweep reads per turn of the event loop: each costs a map lookup and at most a
 * delete, so a slice stays within a few milliseconds whatever the number of records.
 */
export const SWEEP_SLICE_KEYS = 1_000;

export function bucketOf(atMs: number): number {
  return Math.floor(atMs / BUCKET_MS);
}

/**
 * The keys that expire within one minute, by kind. A key may be stale (its record gone, replaced or
 * extended): whoever reads it looks at the record on file.
 */
export class ExpiryBucket {
  sessions: string[] = [];
  users: string[] = [];
  counters: string[] = [];
  /** Uids with a push token that expires in this minute. */
  pushTokens: string[] = [];
}

export function isEmpty(bucket: ExpiryBucket): boolean {
  return (
    bucket.sessions.length === 0 &&
    bucket.users.length === 0 &&
    bucket.counters.length === 0 &&
    bucket.pushTokens.length === 0
  );
}

/** Reads up to `budget` keys of bucket `index` (taking them out of it), drops what expired; returns the budget left. */
export type DrainBucket = (bucket: ExpiryBucket, index: number, nowMs: number, budget: number) => number;

/**
 * The expiry buckets of a store and its sweep: a timer starts one every `intervalMs`, which runs one
 * slice per turn of the event loop until nothing is due. What a key's record is,
 * and whether it expired, is the store's `drain` to say.
 */
export class ExpiryQueue {
  readonly #clock: Clock;
  readonly #drain: DrainBucket;
  readonly #buckets = new Map<number, ExpiryBucket>();
  /** The first bucket not yet swept; a key that expires before it is filed in it. */
  #nextBucket: number;
  readonly #timer: NodeJS.Timeout;
  /** Whether the timer's sweep is under way (it goes on from turn to turn until nothing is due). */
  #sweeping = false;
  /** One slice of the timer's sweep: the store's own `sweepSlice`, so that what it does is what a caller sees. */
  readonly #slice: () => boolean;

  constructor(clock: Clock, intervalMs: number, drain: DrainBucket, slice: () => boolean) {
    this.#clock = clock;
    this.#drain = drain;
    this.#slice = slice;
    this.#nextBucket = bucketOf(clock.nowMs());
    this.#timer = setInterval(() => this.#startSweep(), intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sweeping = false;
  }

  /** Files `key` under `kind` in the bucket of `atMs` (or the first not yet swept); returns the bucket. */
  file(kind: keyof ExpiryBucket, key: string, atMs: number): number {
    const index = Math.max(bucketOf(atMs), this.#nextBucket);
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) {
      bucket = new ExpiryBucket();
      this.#buckets.set(index, bucket);
    }
    bucket[kind].push(key);
    return index;
  }

  /**
   * Reads at most `limit` keys of the buckets of minutes that have ended (a bucket with nothing in
   * it counts as one); true once nothing is due.
   */
  sweepSlice(limit: number): boolean {
    const now = this.#clock.nowMs();
    const due = bucketOf(now);
    let budget = limit;
    while (this.#nextBucket < due) {
      if (budget <= 0) return false;
      if (this.#buckets.size === 0) {
        this.#nextBucket = due;
        break;
      }
      const bucket = this.#buckets.get(this.#nextBucket);
      if (bucket === undefined) {
        budget -= 1;
      } else {
        budget = this.#drain(bucket, this.#nextBucket, now, budget);
        if (budget <= 0 && !isEmpty(bucket)) return false;
        this.#buckets.delete(this.#nextBucket);
      }
      this.#nextBucket += 1;
    }
    return true;
  }

  /** Every due key at once, and those of the minute under way (which a slice leaves until it ends). */
  sweepAll(): void {
    while (!this.sweepSlice(Number.POSITIVE_INFINITY));
    const now = this.#clock.nowMs();
    const current = bucketOf(now);
    const bucket = this.#buckets.get(current);
    if (bucket === undefined) return;
    // What has not expired yet is filed again, in the bucket that replaces this one.
    this.#buckets.delete(current);
    this.#drain(bucket, current, now, Number.POSITIVE_INFINITY);
    const refiled = this.#buckets.get(current);
    if (refiled !== undefined && isEmpty(refiled)) this.#buckets.delete(current);
  }

  #startSweep(): void {
    if (this.#sweeping) return;
    this.#sweeping = true;
    const next = () => {
      if (!this.#sweeping) return;
      if (this.#slice()) this.#sweeping = false;
      else setImmediate(next).unref();
    };
    next();
  }
}
