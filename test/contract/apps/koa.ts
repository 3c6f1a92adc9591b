import { createServer } from 'node:http';
import { checkUpgrade, evictGuard, evictRoutes } from '@evict/koa';
import Router from '@koa/router';
import Koa from 'koa';
import { serveContractApp } from '../serve.js';
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
    return serveContractApp(server, engine, checkUpgrade(engine));
  },
};
