import { type ConnectionRecord, MemoryStore, type ScanPage, type SessionRecord } from '@evict/core';

/**
 * A memory store whose scans answer in small pages, each starting with the previous page's last item
 * again: what the store contract allows of a scan (and Redis's SCAN does when a hash grows), which
 * the memory store itself never does, as it answers in one page. The engine's listings must come
 * out the same either way.
 */
export class PagedMemoryStore extends MemoryStore {
  constructor(
    options: ConstructorParameters<typeof MemoryStore>[0],
    readonly pageSize = 7,
  ) {
    super(options);
  }

  override async scanSessions(uid: string, cursor: string | undefined): Promise<ScanPage<SessionRecord>> {
    return this.#page(await this.listSessions(uid), (s) => s.tokenHash, cursor);
  }

  override async scanConnections(
    uid: string,
    cursor: string | undefined,
  ): Promise<ScanPage<ConnectionRecord>> {
    return this.#page(await this.listConnections(uid), (c) => `${c.nodeId}:${c.connId}`, cursor);
  }

  /** The items after the cursor's (in key order), the cursor's own again first. */
  #page<T>(all: T[], key: (item: T) => string, cursor: string | undefined): ScanPage<T> {
    const sorted = all.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const at = cursor === undefined ? 0 : sorted.findIndex((item) => key(item) >= cursor);
    const start = at === -1 ? sorted.length : at;
    const items = sorted.slice(start, start + this.pageSize);
    const last = items.at(-1);
    const done = start + this.pageSize >= sorted.length || last === undefined;
    return { items, cursor: done ? undefined : key(last) };
  }
}
