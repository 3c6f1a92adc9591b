import { createServer } from 'node:http';
import { checkUpgrade, evictGuard, evictRouter } from '@evict/express';
import express from 'express';
import { serveContractApp } from '../serve.js';
import type { ContractAdapter } from './types.js';

/** The app the README tells Express users to write. */
export const adapter: ContractAdapter = {
  name: 'express',
  async start({ engine, admin, guard, prefix }) {
    const app = express();
    app.use(prefix ?? '/', evictRouter(engine, admin));
    app.get('/protected', evictGuard(engine, guard), (req, res) => {
      const { uid, deviceFlag, credential } = req.evict!;
      res.json({ uid, deviceFlag, credential });
    });

    const server = createServer(app);
    return serveContractApp(server, engine, checkUpgrade(engine));
  },
};
