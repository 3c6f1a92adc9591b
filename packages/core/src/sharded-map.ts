/**
 * A Map split in 2^SHARD_BITS Maps by a hash of the key. A V8 Map rehashes its whole table in the
 * one `set` or `delete` that takes it past a power of two, a stall that grows with the Map; a shard
 * holds a fraction of the entries, and so does its rehash.
 */
const SHARD_BITS = 8;

export class ShardedMap<K extends string | number, V> {
  readonly #shards: (Map<K, V> | undefined)[] = [];
  #size = 0;

  constructor(readonly shardOf: (key: K) => number) {}

  get(key: K): V | undefined {
    return this.#shards[this.shardOf(key)]?.get(key);
  }

  has(key: K): boolean {
    return this.#shards[this.shardOf(key)]?.has(key) === true;
  }

  set(key: K, value: V): void {
    const index = this.shardOf(key);
    let shard = this.#shards[index];
    if (shard === undefined) {
      shard = new Map();
      this.#shards[index] = shard;
    }
    const before = shard.size;
    shard.set(key, value);
    this.#size += shard.size - before;
  }

  delete(key: K): boolean {
    const deleted = this.#shards[this.shardOf(key)]?.delete(key) === true;
    if (deleted) this.#size -= 1;
    return deleted;
  }

  get size(): number {
    return this.#size;
  }

  *[Symbol.iterator](): IterableIterator<[K, V]> {
    for (const shard of this.#shards) if (shard !== undefined) yield* shard;
  }
}

/**
 * The values filed under each key (a user's sessions, a user's connections), in a ShardedMap. Most
 * keys hold one value, kept as it is; a Set is made only for the second: a million users with one
 * connection each cost no million Sets. A value must not itself be a Set.
 */
export class ShardedIndex<K extends string | number, V> {
  readonly #map: ShardedMap<K, V | Set<V>>;

  constructor(shardOf: (key: K) => number) {
    this.#map = new ShardedMap(shardOf);
  }

  add(key: K, value: V): void {
    const held = this.#map.get(key);
    if (held === undefined) this.#map.set(key, value);
    else if (held instanceof Set) held.add(value);
    else if (held !== value) this.#map.set(key, new Set([held, value]));
  }

  /** Removes `value` from `key`'s values, and `key` with its last value. */
  delete(key: K, value: V): void {
    const held = this.#map.get(key);
    if (held === value) this.#map.delete(key);
    else if (held instanceof Set && held.delete(value) && held.size === 0) this.#map.delete(key);
  }

  /** The values of `key`, as a new array (the caller may change the index while it reads them). */
  get(key: K): V[] {
    const held = this.#map.get(key);
    if (held === undefined) return [];
    return held instanceof Set ? [...held] : [held];
  }

  /** Every key with its values. */
  *[Symbol.iterator](): IterableIterator<[K, V[]]> {
    for (const [key, held] of this.#map) yield [key, held instanceof Set ? [...held] : [held]];
  }
}

/** The shard of a string key: a hash of its length and of up to 32 of its characters, from the end. */
export function shardOfString(key: string): number {
  const length = key.length;
  const step = (length >> 5) + 1;
  let hash = length;
  for (let i = length - 1; i >= 0; i -= step) hash = Math.imul(hash ^ key.charCodeAt(i), 0x9e3779b1);
  return Math.imul(hash ^ (hash >>> 15), 0x85ebca6b) >>> (32 - SHARD_BITS);
}

export function shardOfNumber(key: number): number {
  return key & ((1 << SHARD_BITS) - 1);
}
