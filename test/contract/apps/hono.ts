import type { Server } from 'node:http';
import { createUpgradeCheck as checkUpgrade } from '@evict/core/node';
import { evictGuard, evictRoutes } from '@evict/hono';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { serveContractApp } from '../serve.js';
import type { ContractAdapter } from './types.js';

/** The app the README tells Hono users to write, on Node through @hono/node-server. */
export const adapter: ContractAdapter = {
  name: 'hono',
  async start({ engine, admin, guard, prefix }) {
    const app = new Hono();
    app.use(evictRoutes(engine, { ...admin, prefix }));
    app.get('/protected', evictGuard(engine, guard), (c) => {
      const { uid, deviceFlag, credential } = c.get('evict');
      return c.json({ uid, deviceFlag, credential });
    });
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    return serveContractApp(server, engine, checkUpgrade(engine));
  },
};
