import { checkUpgrade, fastifyEvict } from '@evict/fastify';
import Fastify from 'fastify';
import { serveContractApp } from '../serve.js';
import type { ContractAdapter } from './types.js';

/** The app the README tells Fastify users to write. */
export const adapter: ContractAdapter = {
  name: 'fastify',
  async start({ engine, admin, guard, prefix }) {
    const app = Fastify();
    await app.register(fastifyEvict, { engine, admin: { ...admin, prefix } });
    app.get('/protected', { config: { evict: guard } }, async (request) => {
      const { uid, deviceFlag, credential } = request.evict!;
      return { uid, deviceFlag, credential };
    });
    await app.ready();
    return serveContractApp(
      app.server,
      engine,
      checkUpgrade(engine),
      () => app.listen({ port: 0, host: '127.0.0.1' }),
      () => app.close(),
    );
  },
};
