import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Evict } from './engine/evict.js';
import type { ConnectionHandle, Credential } from './engine/types.js';
import type { EvictResponse } from './http/types.js';

/** What evict needs of a live socket: `ws`'s WebSocket, or anything shaped like it. */
export interface ClosableSocket {
  close(code: number, reason: string): void;
  once(event: 'close', listener: () => void): unknown;
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
  input: { uid: string; deviceFlag: number; connId?: number; credential?: Credential },
): Promise<ConnectionHandle> {
  const registered = engine.registerConnection({
    ...input,
    close: ({ code, reason }) => socket.close(code, reason),
  });
  socket.once('close', () => {
    registered.then((handle) => handle.unregister()).catch(() => undefined);
  });
  registered.catch(() => socket.close(1011, 'registration failed'));
  return registered;
}
