/** A cached value and whether it was read since eviction last passed it. */
export interface Slot<V> {
  value: V;
  used: boolean;
}

/**
 * The guard's local copy of what can reject a credential: session records by token hash and user
 * records (their cutoffs) by uid, so that a check costs no store round trip.
 *
 * - Bounded: at most `capacity` entries; capacity 0 caches nothing. Eviction is "second chance"
 *   (CLOCK), an approximation of least recently used: a hit only sets a flag, where true LRU would
 *   move the entry in the map on every hit, which cost as much as the rest of a warm check.
 * - Only what the store answered is cached, never a miss of a session: a sprayed random token would
 *   otherwise push the live sessions out (each miss still costs one store read, as without a cache).
 * - A read of the store that was under way when its key was invalidated (or the cache cleared) does
 *   not fill the cache when it lands: it may carry the value from before the revocation.
 * - Untrusted (the store's link is down): nothing is kept and nothing is served, every read goes to
 *   the store.
 */
export class RevocationCache<V> {
  readonly capacity: number;
  readonly #entries = new Map<string, Slot<V>>();
  /** The store reads under way, per key; invalidating the key marks them stale. */
  readonly #reads = new Map<string, Set<{ stale: boolean }>>();
  #trusted = true;
  /** Capacity above 0 and trusted; a field, not a private getter, which V8 calls through its runtime on every read. */
  #enabled: boolean;
  #hits = 0;
  #misses = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#enabled = capacity > 0;
  }

  /**
   * The cached value, or undefined on a miss. An entry that `current(value, nowMs)` rejects (past
   * its own expiry) is dropped and counts as a miss.
   */
  get(key: string, nowMs: number, current: (value: V, nowMs: number) => boolean): V | undefined {
    if (!this.#enabled) return undefined;
    const slot = this.#entries.get(key);
    if (slot === undefined || !current(slot.value, nowMs)) {
      if (slot !== undefined) this.invalidate(key);
      this.#misses += 1;
      return undefined;
    }
    this.#hits += 1;
    slot.used = true;
    return slot.value;
  }

  /**
   * The slot of `key` as it is, without testing its expiry or counting anything; undefined when the
   * cache holds none or serves nothing (off, or untrusted). For a hot path that tests the value
   * itself, then calls `hit` for what it used, or else reads again with `get`.
   */
  peek(key: string): Slot<V> | undefined {
    return this.#enabled ? this.#entries.get(key) : undefined;
  }

  /** Counts the use of a slot `peek` gave, as `get` counts a hit. */
  hit(slot: Slot<V>): void {
    this.#hits += 1;
    slot.used = true;
  }

  /**
   * Reads `key` from the store with `fetch` and caches the answer when `keep(answer)` says so and
   * nothing invalidated the key while the read was under way. A failed read caches nothing.
   */
  async load(key: string, fetch: () => Promise<V>, keep: (value: V) => boolean): Promise<V> {
    if (!this.#enabled) return fetch();
    const read = { stale: false };
    const reads = this.#reads.get(key) ?? new Set();
    this.#reads.set(key, reads.add(read));
    try {
      const value = await fetch();
      if (!read.stale && this.#enabled && keep(value)) this.#put(key, value);
      return value;
    } finally {
      reads.delete(read);
      if (reads.size === 0 && this.#reads.get(key) === reads) this.#reads.delete(key);
    }
  }

  /** Drops the key, and keeps the reads of it under way from filling it. Synchronous. */
  invalidate(key: string): void {
    this.#entries.delete(key);
    for (const read of this.#reads.get(key) ?? []) read.stale = true;
    this.#reads.delete(key);
  }

  /** Drops everything, and keeps every read under way from filling. */
  clear(): void {
    this.#entries.clear();
    for (const reads of this.#reads.values()) for (const read of reads) read.stale = true;
    this.#reads.clear();
  }

  /** Trusted: serve and fill. Either way the cache is cleared: whatever it held may have missed a message. */
  setTrusted(trusted: boolean): void {
    this.#trusted = trusted;
    this.#enabled = this.capacity > 0 && trusted;
    this.clear();
  }

  stats(): CacheStats {
    return {
      entries: this.#entries.size,
      capacity: this.capacity,
      trusted: this.#trusted,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  #put(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, used: false });
    // Oldest first; a read since its last pass buys an entry another round at the young end (the
    // entry just put is never the one dropped). Each pass spends the flag, so an eviction costs
    // O(1) amortized.
    while (this.#entries.size > this.capacity) {
      const [oldest, slot] = this.#entries.entries().next().value as [string, Slot<V>];
      this.#entries.delete(oldest);
      if (slot.used || oldest === key) {
        slot.used = false;
        this.#entries.set(oldest, slot);
      }
    }
  }
}

/** What `engine.cacheStats()` reports. */
export interface CacheStats {
  /** Entries held now (sessions and users together). */
  entries: number;
  /** The `cacheSize` option. */
  capacity: number;
  /** False while the store's link is down: every check then reads the store. */
  trusted: boolean;
  /** Checks answered from the cache, and lookups that went to the store, since the engine started. */
  hits: number;
  misses: number;
}
