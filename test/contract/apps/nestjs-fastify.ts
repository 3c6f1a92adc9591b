import { FastifyAdapter } from '@nestjs/platform-fastify';
import { startNestApp } from './nestjs.js';
import type { ContractAdapter } from './types.js';

/** The NestJS app of the README on `@nestjs/platform-fastify`: the same module, another platform. */
export const adapter: ContractAdapter = {
  name: 'nestjs-fastify',
  start: (options) => startNestApp(options, new FastifyAdapter()),
};
