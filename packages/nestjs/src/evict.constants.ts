/** The injection token of the engine the module serves: the one the host passed, or the one it made. */
export const EVICT_ENGINE = Symbol('EVICT_ENGINE');

/** The metadata key `@Public()` sets. */
export const EVICT_PUBLIC = 'evict:public';
