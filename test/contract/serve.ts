import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Evict, type GuardResult, sessionTokenOf } from '@evict/core';
import { queryOf, registerSocket, rejectUpgrade } from '@evict/core/node';
import { WebSocketServer } from 'ws';
import type { ContractApp } from './apps/types.js';

/**
 * The `/ws` endpoint every contract app serves (see `apps/types.ts`), on the adapter's own upgrade
 * check: refused upgrades get the check's answer, accepted sockets are registered with the engine
 * and greeted with their `conn_id` and `node_id`.
 */
function serveSockets(
  server: Server,
  engine: Evict,
  check: (request: IncomingMessage) => Promise<GuardResult>,
): { close(): Promise<void> } {
  const sockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    check(req).then(
      (result) => {
        if (!result.ok) return rejectUpgrade(socket, result.response);
        sockets.handleUpgrade(req, socket, head, (ws) => {
          const { uid, deviceFlag = 0 } = result.principal;
          const query = queryOf(req.url);
          const token = sessionTokenOf({ headers: req.headers, query }, true)!;
          const deviceId = query.has('device_id') ? { deviceId: query.get('device_id')! } : {};
          registerSocket(engine, ws, {
            uid,
            deviceFlag,
            credential: { type: 'session', token },
            ...deviceId,
          }).then(
            (connection) =>
              ws.send(
                JSON.stringify({ type: 'hello', conn_id: connection.connId, node_id: connection.nodeId }),
              ),
            () => undefined,
          );
        });
      },
      () => socket.destroy(),
    );
  });
  return {
    async close() {
      for (const client of sockets.clients) client.terminate();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/**
 * Serves a contract app's server on 127.0.0.1 with the `/ws` endpoint. `listen` and `stop` default
 * to the server's own; Nest passes `app.listen` and `app.close`.
 */
export async function serveContractApp(
  server: Server,
  engine: Evict,
  check: (request: IncomingMessage) => Promise<GuardResult>,
  listen: () => Promise<unknown> = () =>
    new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)),
  stop: () => Promise<void> = () => new Promise<void>((resolve) => server.close(() => resolve())),
): Promise<ContractApp> {
  const sockets = serveSockets(server, engine, check);
  await listen();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    async close() {
      await sockets.close();
      server.closeAllConnections();
      await stop();
    },
  };
}
