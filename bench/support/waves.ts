/**
 * The store, counting waves: a wave starts when the store is called while none of its calls is
 * under way. Calls sent together (one tick, one pipeline on the client's connection) are one wave.
 */
export function waveCounting<T extends object>(
  store: T,
): { store: T; waves: () => number; largestPage: () => number; reset: () => void } {
  let inFlight = 0;
  let waves = 0;
  /** The most items one scan page (`scanSessions`, `scanConnections`) brought back. */
  let largestPage = 0;
  const counted = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      // Bound to the store itself: its private fields are not the proxy's.
      if (name === 'subscribe' || name === 'onLinkChange') return value.bind(target);
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        if (inFlight === 0) waves += 1;
        inFlight += 1;
        return result
          .then((value: unknown) => {
            if (typeof name === 'string' && name.startsWith('scan'))
              largestPage = Math.max(largestPage, (value as { items: unknown[] }).items.length);
            return value;
          })
          .finally(() => {
            inFlight -= 1;
          });
      };
    },
  });
  return {
    store: counted,
    waves: () => waves,
    largestPage: () => largestPage,
    reset: () => {
      waves = 0;
      largestPage = 0;
    },
  };
}
