import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Evict } from './engine/evict.js';
import type { ConnectionCloseInfo, ConnectionHandle, Credential } from './engine/types.js';
import type { EvictResponse } from './http/types.js';
import type { ConnectionDetails } from './model.js';

/** What evict needs of a live socket: `ws`'s WebSocket, or anything shaped like it. */
export interface ClosableSocket {
  close(code: number, reason: string): void;
  once(event: 'close', listener: () => void): unknown;
  /** Tells the client why before a close with a grace period (`ConnectionCloseInfo.graceMs`). */
  send?(data: string): void;
}

/**
 * What a socket is sent before a close with a grace period: WuKongIM's DISCONNECT of `/conn/kick`
 * (reason code 12, ConnectKick), as JSON.
 */
export function defaultDisconnectMessage(info: ConnectionCloseInfo): string | undefined {
  // WuKongIM's words: a master connection pushing out another device's, else an operator's kick.
  const reason = info.reason === 'replaced' ? 'login in other device' : 'server kick';
  return JSON.stringify({ type: 'disconnect', reason_code: 12, reason });
}

/**
 * Answers a refused WebSocket upgrade on the raw socket with the guard's status, headers and body
 * (in `server.on('upgrade')`, before any WebSocket exists).
 */
export function rejectUpgrade(socket: Duplex, response: EvictResponse): void {
  const lines = [
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`,
    ...Object.entries(response.headers).map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${Buffer.byteLength(response.body)}`,
    'Connection: close',
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${response.body}`);
}

/**
 * Registers an accepted socket with the engine so that revocations close it, and unregisters it
 * when it closes, even if it closes while the registration is still under way. If the registration
 * fails (the credential was revoked meanwhile, the store is down), the socket is closed with 1011.
 */
export function registerSocket(
  engine: Evict,
  socket: ClosableSocket,
  input: ConnectionDetails & {
    uid: string;
    deviceFlag: number;
    connId?: number;
    credential?: Credential;
    /**
     * The message sent before a close with a grace period (a `/conn/kick`); undefined sends none.
     * Default `defaultDisconnectMessage`.
     */
    disconnectMessage?: (info: ConnectionCloseInfo) => string | undefined;
  },
): Promise<ConnectionHandle> {
  const { disconnectMessage = defaultDisconnectMessage, ...connection } = input;
  const registered = engine.registerConnection({
    ...connection,
    close: (info) => {
      if (info.graceMs === undefined) {
        socket.close(info.code, info.reason);
        return;
      }
      const message = disconnectMessage(info);
      if (message !== undefined) socket.send?.(message);
      setTimeout(() => socket.close(info.code, info.reason), info.graceMs).unref();
    },
  });
  socket.once('close', () => {
    registered.then((handle) => handle.unregister()).catch(() => undefined);
  });
  registered.catch(() => socket.close(1011, 'registration failed'));
  return registered;
}
