import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvict, type Evict } from '@evict/core';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';

const engines: Evict[] = [];
const apps: INestApplication[] = [];

/** A fresh in-memory engine, closed by `closeAll`. */
export function engine(): Evict {
  const made = createEvict();
  engines.push(made);
  return made;
}

export interface AppOptions {
  bodyParser?: boolean;
  globalPrefix?: string;
  /** Build with Test.createTestingModule rather than NestFactory.create. */
  testing?: boolean;
}

/** Builds, initialises and tracks a Nest app of `module`; `closeAll` closes it. */
export async function start(
  module: Type | DynamicModule,
  options: AppOptions = {},
): Promise<INestApplication> {
  const appOptions = { logger: false as const, abortOnError: false, bodyParser: options.bodyParser ?? true };
  const app = options.testing
    ? (await Test.createTestingModule({ imports: [module] }).compile()).createNestApplication(appOptions)
    : await NestFactory.create(module, appOptions);
  apps.push(app);
  if (options.globalPrefix !== undefined) app.setGlobalPrefix(options.globalPrefix);
  await app.init();
  return app;
}

/** Starts listening on a random loopback port; answers the base URL. */
export async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

export async function closeAll(): Promise<void> {
  for (const app of apps.splice(0)) await app.close();
  for (const made of engines.splice(0)) await made.close();
}
