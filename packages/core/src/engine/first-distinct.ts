/**
 * The first `limit` distinct items of a scan in `order`, kept in bounded memory as its pages arrive.
 * Items that compare equal are one: a scan may return an item twice, and sorted, the copies are
 * neighbours. What `listSessions` (the newest) and `listConnections` (the lowest ids) keep.
 */
export class FirstDistinct<T> {
  #items: T[] = [];

  constructor(
    readonly order: (a: T, b: T) => number,
    readonly limit: number,
  ) {}

  add(items: Iterable<T>): void {
    for (const item of items) this.#items.push(item);
    if (this.#items.length >= 2 * this.limit) this.#items = this.result();
  }

  result(): T[] {
    const items = this.#items.sort(this.order);
    return items.filter((item, i) => i === 0 || this.order(item, items[i - 1]!) !== 0).slice(0, this.limit);
  }
}
