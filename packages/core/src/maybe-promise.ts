/** A value, or a promise of it when it had to wait (the guard's check, warm or not). */
export type MaybePromise<T> = T | Promise<T>;

/**
 * `then` for a value that may be a promise: a plain value goes through `map` in this same tick, so a
 * warm check reaches the route without a microtask; a promise is chained. A synchronous throw of
 * `map` on a plain value is thrown, as it is; `onRejected` handles a rejected promise only.
 */
export function mapMaybePromise<T, U>(
  value: MaybePromise<T>,
  map: (value: T) => U,
  onRejected?: (error: unknown) => U,
): MaybePromise<U> {
  if (value instanceof Promise) return value.then(map, onRejected);
  return map(value);
}

/** Any thenable (not only a native promise), as `await` would treat it. */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}
