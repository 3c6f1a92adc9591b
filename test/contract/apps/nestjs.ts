import 'reflect-metadata';
import type { Server } from 'node:http';
import type { Principal } from '@evict/core';
import { checkUpgrade, EvictGuard, EvictModule, EvictUser } from '@evict/nestjs';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { type AbstractHttpAdapter, NestFactory } from '@nestjs/core';
import { serveContractApp } from '../serve.js';
import type { ContractAdapter, ContractAppOptions } from './types.js';

@Controller()
class ProtectedController {
  @Get('protected')
  @UseGuards(EvictGuard)
  protected(@EvictUser() { uid, deviceFlag, credential }: Principal) {
    return { uid, deviceFlag, credential };
  }
}

/** The app the README tells NestJS users to write, on the platform `httpAdapter` gives (default Express). */
export async function startNestApp(
  { engine, admin, guard, prefix }: ContractAppOptions,
  httpAdapter?: AbstractHttpAdapter,
) {
  @Module({
    imports: [EvictModule.forRoot({ engine, admin: { ...admin, path: prefix ?? '/' }, guard })],
    controllers: [ProtectedController],
  })
  class AppModule {}

  const options = { logger: false as const, abortOnError: false };
  const app =
    httpAdapter === undefined
      ? await NestFactory.create(AppModule, options)
      : await NestFactory.create(AppModule, httpAdapter, options);
  await app.init();
  const server = app.getHttpServer() as Server;
  return serveContractApp(
    server,
    engine,
    checkUpgrade(engine),
    () => app.listen(0, '127.0.0.1'),
    () => app.close(),
  );
}

export const adapter: ContractAdapter = { name: 'nestjs', start: (options) => startNestApp(options) };
