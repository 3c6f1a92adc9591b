import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkUpgrade, evictGuard, evictRoutes } from '@evict/koa';
import Router from '@koa/router';
import Koa from 'koa';
import { serveSockets } from '../sockets.js';
import type { ContractAdapter } from './types.js';

/** The app the README tells Koa users to write. */
export const adapter: ContractAdapter = {
  name: 'koa',
  async start({ engine, admin, guard, prefix }) {
    const app = new Koa();
    app.use(evictRoutes(engine, { ...admin, prefix }));
    const router = new Router();
    router.get('/protected', evictGuard(engine, guard), (ctx) => {
      const { uid, deviceFlag, credential } = ctx.state.evict!;
      ctx.body = { uid, deviceFlag, credential };
    });
    app.use(router.routes());

    const server = createServer(app.callback());
    const sockets = serveSockets(server, engine, checkUpgrade(engine));

    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      server,
      async close() {
        await sockets.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  },
};
