/**
 * Every error evict throws on purpose is an `EvictError` with a stable `code`.
 * Recognise them by `code` (`isEvictError`), not only by `instanceof`: two copies of core
 * installed side by side would each have their own class.
 */
export type EvictErrorCode =
  | 'EVICT_UNKNOWN_USER'
  | 'EVICT_DEVICE_NOT_FOUND'
  | 'EVICT_CONNECTION_NOT_FOUND'
  | 'EVICT_SESSION_NOT_FOUND'
  | 'EVICT_LOGIN_REFUSED'
  | 'EVICT_INVALID_TOKEN'
  | 'EVICT_STORE_UNAVAILABLE'
  | 'EVICT_STORE_TIMEOUT'
  | 'EVICT_STORE_CORRUPT'
  | 'EVICT_STORE_NOT_REPLICATED'
  | 'EVICT_CLOSED';

export class EvictError extends Error {
  static code: EvictErrorCode | 'EVICT_ERROR' = 'EVICT_ERROR';
  readonly code: EvictErrorCode;

  constructor(code: EvictErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'EvictError';
  }
}

export class UnknownUserError extends EvictError {
  static override code = 'EVICT_UNKNOWN_USER' as const;
  constructor(readonly uid: string) {
    super('EVICT_UNKNOWN_USER', `user ${JSON.stringify(uid)} is unknown`);
  }
}

export class DeviceNotFoundError extends EvictError {
  static override code = 'EVICT_DEVICE_NOT_FOUND' as const;
  constructor(
    readonly uid: string,
    readonly deviceFlag: number,
  ) {
    super(
      'EVICT_DEVICE_NOT_FOUND',
      `device ${deviceFlag} of user ${JSON.stringify(uid)} has no session and no connection`,
    );
  }
}

export class ConnectionNotFoundError extends EvictError {
  static override code = 'EVICT_CONNECTION_NOT_FOUND' as const;
  constructor(
    readonly uid: string,
    readonly connId: number,
  ) {
    super('EVICT_CONNECTION_NOT_FOUND', `connection ${connId} of user ${JSON.stringify(uid)} does not exist`);
  }
}

/**
 * A login policy with `onExceed: 'refuse-new'` refused the login: the user's class of device (or
 * the user) holds as many live sessions as the policy allows. Nothing was written.
 */
export class LoginRefusedError extends EvictError {
  static override code = 'EVICT_LOGIN_REFUSED' as const;
  constructor(
    readonly uid: string,
    readonly deviceClass: string,
    /** How many sessions fill the limit the login would pass. */
    readonly held: number,
  ) {
    super(
      'EVICT_LOGIN_REFUSED',
      `user ${JSON.stringify(uid)} already holds ${held} live session(s) of ${JSON.stringify(deviceClass)} the login policy allows`,
    );
  }
}

/** No live session of the user has this public id (another user's is not found either). */
export class SessionNotFoundError extends EvictError {
  static override code = 'EVICT_SESSION_NOT_FOUND' as const;
  constructor(
    readonly uid: string,
    readonly sessionId: string,
  ) {
    super(
      'EVICT_SESSION_NOT_FOUND',
      `user ${JSON.stringify(uid)} has no live session ${JSON.stringify(sessionId)}`,
    );
  }
}

export class InvalidTokenError extends EvictError {
  static override code = 'EVICT_INVALID_TOKEN' as const;
  constructor(message = 'the token is not a live session') {
    super('EVICT_INVALID_TOKEN', message);
  }
}

/** The store could not be reached or failed; nothing was applied that a retry would not repair. */
export class StoreUnavailableError extends EvictError {
  static override code = 'EVICT_STORE_UNAVAILABLE' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super('EVICT_STORE_UNAVAILABLE', message, options);
  }
}

/** The store did not answer within `storeTimeoutMs`. */
export class StoreTimeoutError extends EvictError {
  static override code = 'EVICT_STORE_TIMEOUT' as const;
  constructor(readonly timeoutMs: number) {
    super('EVICT_STORE_TIMEOUT', `the store did not answer within ${timeoutMs} ms`);
  }
}

/** The store answered with a record evict cannot read. */
export class StoreCorruptError extends EvictError {
  static override code = 'EVICT_STORE_CORRUPT' as const;
  constructor(message: string) {
    super('EVICT_STORE_CORRUPT', message);
  }
}

/**
 * The store applied a write that can reject a credential, but fewer replicas than the host asked
 * for confirmed it in time: a failover now could lose it. The caller should retry (the write is
 * idempotent), so the families answer their internal error, never "ok".
 */
export class StoreNotReplicatedError extends EvictError {
  static override code = 'EVICT_STORE_NOT_REPLICATED' as const;
  constructor(
    /** Replicas the host asked to confirm the write. */
    readonly replicas: number,
    /** Replicas that confirmed it within `timeoutMs`. */
    readonly confirmed: number,
    readonly timeoutMs: number,
  ) {
    super(
      'EVICT_STORE_NOT_REPLICATED',
      `${confirmed} of the ${replicas} replica(s) asked for confirmed the write within ${timeoutMs} ms`,
    );
  }
}

export function isEvictError(value: unknown, code?: EvictErrorCode): value is EvictError {
  if (typeof value !== 'object' || value === null) return false;
  const c = (value as { code?: unknown }).code;
  if (typeof c !== 'string' || !c.startsWith('EVICT_')) return false;
  return code === undefined || c === code;
}

/** True for the errors that mean "the store failed", which the families answer as internal errors. */
export function isStoreFailure(value: unknown): boolean {
  return (
    isEvictError(value, 'EVICT_STORE_UNAVAILABLE') ||
    isEvictError(value, 'EVICT_STORE_TIMEOUT') ||
    isEvictError(value, 'EVICT_STORE_CORRUPT') ||
    isEvictError(value, 'EVICT_STORE_NOT_REPLICATED')
  );
}
