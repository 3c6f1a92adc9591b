import 'reflect-metadata';
import type { Server } from 'node:http';
import type { Principal } from '@evict/core';
import { checkUpgrade, EvictGuard, EvictModule, EvictUser } from '@evict/nestjs';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { serveContractApp } from '../serve.js';
import type { ContractAdapter } from './types.js';

@Controller()
class ProtectedController {
  @Get('protected')
  @UseGuards(EvictGuard)
  protected(@EvictUser() { uid, deviceFlag, credential }: Principal) {
    return { uid, deviceFlag, credential };
  }
}

/** The NestJS app of the README on `@nestjs/platform-fastify`: the same module, another platform. */
export const adapter: ContractAdapter = {
  name: 'nestjs-fastify',
  async start({ engine, admin, guard, prefix }) {
    @Module({
      imports: [EvictModule.forRoot({ engine, admin: { ...admin, path: prefix ?? '/' }, guard })],
      controllers: [ProtectedController],
    })
    class AppModule {}

    const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
      logger: false,
      abortOnError: false,
    });
    await app.init();
    const server = app.getHttpServer() as Server;
    return serveContractApp(
      server,
      engine,
      checkUpgrade(engine),
      () => app.listen(0, '127.0.0.1'),
      () => app.close(),
    );
  },
};
