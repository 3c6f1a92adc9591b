import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Principal } from '@evict/core';
import { checkUpgrade, EvictGuard, EvictModule, EvictUser } from '@evict/nestjs';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { serveSockets } from '../sockets.js';
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
    const sockets = serveSockets(server, engine, checkUpgrade(engine));

    await app.listen(0, '127.0.0.1');
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      server,
      async close() {
        await sockets.close();
        server.closeAllConnections();
        await app.close();
      },
    };
  },
};
