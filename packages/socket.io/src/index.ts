import {
  type ConnectionCloseInfo,
  type ConnectionHandle,
  type Credential,
  createGuard,
  type Evict,
  type GuardOptions,
  type GuardRequest,
  type Principal,
  sessionTokenOf,
} from '@evict/core';
import type { Socket } from 'socket.io';

/** What the middleware leaves on `socket.data.evict`: who the socket is, and its connection. */
export interface SocketPrincipal extends Principal {
  connId: number;
  nodeId: number;
}

/** What a socket is told before evict disconnects it (`evict:revoked` by default). */
export interface RevokedNotice {
  /** Why: `kicked`, `device_quit`, `connection_removed`, `session_revoked`, `replaced`, `connection_kicked`. */
  reason: string;
  /** The close code a WebSocket would get (4001–4006). */
  code: number;
}

export interface EvictSocketIoOptions {
  /**
   * What the handshake is checked with (the guard's options, docs/guard.md); the session token is read
   * from `socket.handshake.auth.token`, the `token` header, or the `token` query parameter.
   */
  guard?: GuardOptions;
  /**
   * The device flag of a socket whose credential names none (a UserSig): default
   * `handshake.auth.device_flag`, else the `device_flag` query parameter, else 0.
   */
  deviceFlag?: (socket: Socket) => number;
  /** The event emitted before evict disconnects a socket. Default `evict:revoked`. */
  revokedEvent?: string;
}

/**
 * evict for socket.io: `io.use(evictSocketIo(engine))`. Checks each handshake as the guard checks
 * a request (a refusal is a `connect_error` whose `data` is the guard's answer), registers the socket
 * as a live connection (with the client's address and its `device_id`, from `auth` or the query),
 * and unregisters it when it disconnects. Every revocation that closes a connection (a kick, a
 * device quit, `/conn/remove`, `/conn/kick`, a logout, a session revoked or replaced) emits
 * `evict:revoked` `{ reason, code }` to the socket and then disconnects it, on whichever node holds
 * it: evict's own cluster messages reach it, with or without `@socket.io/redis-adapter`, and
 * nothing waits on `fetchSockets`. The principal and the connection are on `socket.data.evict`.
 */
export function evictSocketIo(
  engine: Evict,
  options: EvictSocketIoOptions = {},
): (socket: Socket, next: (error?: Error) => void) => void {
  const guard = createGuard(engine, { queryToken: true, ...options.guard });
  const revokedEvent = options.revokedEvent ?? 'evict:revoked';
  const deviceFlagOf = options.deviceFlag ?? defaultDeviceFlag;
  return (socket, next) => {
    const request = guardRequestOfHandshake(socket);
    guard(request)
      .then(async (result) => {
        if (!result.ok) {
          next(refusal(result.reason, result.response.status, result.response.body));
          return;
        }
        const { principal } = result;
        const token = sessionTokenOf(request, true);
        const credential: Credential | undefined =
          principal.credential === 'session' && token !== undefined ? { type: 'session', token } : undefined;
        const deviceId = stringOf(socket.handshake.auth?.device_id) ?? socket.handshake.query.device_id;
        const address = socket.handshake.address.replace(/^::ffff:/, '');
        let handle: ConnectionHandle;
        try {
          handle = await engine.registerConnection({
            uid: principal.uid,
            deviceFlag: principal.deviceFlag ?? deviceFlagOf(socket),
            ...(credential === undefined ? {} : { credential }),
            ...(typeof deviceId === 'string' && deviceId !== '' ? { deviceId } : {}),
            ...(address === '' ? {} : { ip: address }),
            close: (info) => revoke(socket, revokedEvent, info),
          });
        } catch (error) {
          next(
            refusal('unavailable', 503, JSON.stringify({ error: 'unavailable', message: messageOf(error) })),
          );
          return;
        }
        const data: SocketPrincipal = { ...principal, connId: handle.connId, nodeId: handle.nodeId };
        socket.data.evict = data;
        // Unregistered when the socket leaves its namespace, or its connection closes (also one that
        // closed while the handshake was under way, before the socket ever connected). Idempotent.
        const unregister = () => void handle.unregister().catch(() => undefined);
        if (socket.conn.readyState === 'closing' || socket.conn.readyState === 'closed') {
          unregister();
        } else {
          socket.once('disconnect', unregister);
          socket.conn.once('close', unregister);
        }
        next();
      })
      .catch((error: unknown) => next(error instanceof Error ? error : new Error(String(error))));
  };
}

/** Tells the socket why, then disconnects it (after the grace period, when the revocation gives one). */
function revoke(socket: Socket, event: string, info: ConnectionCloseInfo): void {
  const notice: RevokedNotice = { reason: info.reason, code: info.code };
  socket.emit(event, notice);
  if (info.graceMs === undefined || info.graceMs === 0) socket.disconnect(true);
  else setTimeout(() => socket.disconnect(true), info.graceMs).unref();
}

/** The handshake as the guard reads a request: its headers, `auth.token` as the `token` header, its query. */
function guardRequestOfHandshake(socket: Socket): GuardRequest {
  const { headers, auth, query } = socket.handshake;
  const token = stringOf(auth?.token);
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (typeof value === 'string') search.append(name, value);
    else if (Array.isArray(value)) for (const one of value) search.append(name, String(one));
  }
  return { headers: token === undefined ? headers : { ...headers, token }, query: search };
}

function defaultDeviceFlag(socket: Socket): number {
  const given = socket.handshake.auth?.device_flag ?? socket.handshake.query.device_flag;
  const flag = Number(given ?? 0);
  return Number.isInteger(flag) && flag >= 0 && flag <= 255 ? flag : 0;
}

/** A `connect_error` the client sees: the guard's reason as the message, its answer as `data`. */
function refusal(reason: string, status: number, body: string): Error {
  const error = new Error(reason) as Error & { data: unknown };
  let parsed: unknown = body;
  try {
    parsed = JSON.parse(body);
  } catch {
    // Not JSON: the text as it is.
  }
  error.data = { status, body: parsed };
  return error;
}

const stringOf = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
