import 'reflect-metadata';
import { type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Principal, queryOf, sessionTokenOf } from '@evict/core';
import { checkUpgrade, EvictGuard, EvictModule, EvictUser } from '@evict/nestjs';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebSocketServer } from 'ws';
import type { ContractAdapter } from './types.js';

@Controller()
class ProtectedController {
  @Get('protected')
  @UseGuards(EvictGuard)
  protected(@EvictUser() { uid, deviceFlag, credential }: Principal) {
    return { uid, deviceFlag, credential };
  }
}

/** The app the README tells NestJS users to write. */
export const adapter: ContractAdapter = {
  name: 'nestjs',
  async start({ engine, admin, guard, prefix }) {
    @Module({
      imports: [EvictModule.forRoot({ engine, admin: { ...admin, path: prefix ?? '/' }, guard })],
      controllers: [ProtectedController],
    })
    class AppModule {}

    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    const server = app.getHttpServer() as Server;
    const sockets = new WebSocketServer({ noServer: true });
    const check = checkUpgrade(engine);
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      check(req).then(
        (result) => {
          if (!result.ok) {
            const { status, headers, body } = result.response;
            const lines = [
              `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
              ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
              `Content-Length: ${Buffer.byteLength(body)}`,
              'Connection: close',
            ];
            socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
            return;
          }
          sockets.handleUpgrade(req, socket, head, (ws) => {
            const { uid, deviceFlag = 0 } = result.principal;
            const token = sessionTokenOf({ headers: req.headers, query: queryOf(req.url) }, true)!;
            const registered = engine.registerConnection({
              uid,
              deviceFlag,
              credential: { type: 'session', token },
              close: ({ code, reason }) => ws.close(code, reason),
            });
            ws.on('close', () => {
              registered.then((connection) => connection.unregister()).catch(() => undefined);
            });
            registered.then(
              (connection) =>
                ws.send(
                  JSON.stringify({ type: 'hello', conn_id: connection.connId, node_id: connection.nodeId }),
                ),
              () => ws.close(1011, 'registration failed'),
            );
          });
        },
        () => socket.destroy(),
      );
    });

    await app.listen(0, '127.0.0.1');
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      server,
      async close() {
        for (const client of sockets.clients) client.terminate();
        await new Promise<void>((resolve) => sockets.close(() => resolve()));
        server.closeAllConnections();
        await app.close();
      },
    };
  },
};
