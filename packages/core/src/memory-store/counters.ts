/** The memory store's hit counters (`EvictStore.hit`): one fixed window per key. */
import { ShardedMap, shardOfString } from '../sharded-map.js';
import { bucketOf, type ExpiryQueue } from './expiry.js';

interface HitWindow {
  windowStartMs: number;
  count: number;
  expiresAtMs: number;
}

export class CounterTable {
  readonly #expiry: ExpiryQueue;
  readonly #counters = new ShardedMap<string, HitWindow>(shardOfString);

  constructor(expiry: ExpiryQueue) {
    this.#expiry = expiry;
  }

  /** Every counter on file, expired or not yet swept. */
  [Symbol.iterator](): IterableIterator<[string, HitWindow]> {
    return this.#counters[Symbol.iterator]();
  }

  get size(): number {
    return this.#counters.size;
  }

  /** The sweep's step for a counter's key read from bucket `index`. */
  sweepCounter(key: string, index: number, now: number): void {
    const counter = this.#counters.get(key);
    if (counter === undefined) return;
    if (counter.expiresAtMs <= now) this.#counters.delete(key);
    else if (bucketOf(counter.expiresAtMs) === index) this.#expiry.file('counters', key, counter.expiresAtMs);
  }

  async hit(key: string, atMs: number, windowMs: number): Promise<number> {
    const windowStartMs = atMs - (atMs % windowMs);
    const counter = this.#counters.get(key);
    if (counter === undefined || counter.windowStartMs !== windowStartMs) {
      const expiresAtMs = windowStartMs + windowMs;
      this.#counters.set(key, { windowStartMs, count: 1, expiresAtMs });
      this.#expiry.file('counters', key, expiresAtMs);
      return 1;
    }
    counter.count += 1;
    return counter.count;
  }
}
