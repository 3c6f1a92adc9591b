/**
 * Gathers the writes of one turn of the event loop into one store call: every registration (or
 * removal) made while the loop handles one batch of I/O (a reconnect storm's upgrades) goes out as
 * one `putConnections` (`deleteConnections`), at most `maxBatch` at a time. Each caller's promise
 * settles with its own result, or with the batch's failure.
 */
export class WriteBatch<T, R> {
  readonly #write: (items: T[]) => Promise<R[] | undefined>;
  readonly #maxBatch: number;
  #pending: { item: T; resolve: (result: R | undefined) => void; reject: (error: unknown) => void }[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** Once closed, each write goes out at once: nothing may wait for a turn of a loop that is ending. */
  #closed = false;

  constructor(write: (items: T[]) => Promise<R[] | undefined>, maxBatch: number) {
    this.#write = write;
    this.#maxBatch = maxBatch;
  }

  add(item: T): Promise<R | undefined> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#closed || this.#pending.length >= this.#maxBatch) this.flush();
      // setImmediate, not a microtask: the other upgrades of this I/O phase are still to be handled.
      else this.#scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Sends what is pending now, and from then on every write at once (the engine closes; its store may close next). */
  close(): void {
    this.#closed = true;
    this.flush();
  }

  flush(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    let written: Promise<R[] | undefined>;
    try {
      written = this.#write(batch.map((entry) => entry.item));
    } catch (error) {
      written = Promise.reject(error);
    }
    written.then(
      (results) => {
        for (const [i, entry] of batch.entries()) entry.resolve(results?.[i]);
      },
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  }
}
