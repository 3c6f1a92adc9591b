import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkUpgrade, evictGuard, evictRouter } from '@evict/express';
import express from 'express';
import { serveSockets } from '../sockets.js';
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
