import type { Server } from 'node:http';
import type { AdminApiOptions, Evict, GuardOptions } from '@evict/core';

/**
 * How the contract suite builds an app on one adapter, the way the README tells users to. Each file
 * `test/contract/apps/<adapter>.ts` exports `adapter: ContractAdapter`; the suite runs every case
 * on every adapter it finds there.
 */
export interface ContractAppOptions {
  engine: Evict;
  /** The admin families, mounted at the root (or under `prefix`). */
  admin: AdminApiOptions;
  /** The guard on `GET /protected`, which answers 200 `{ uid, deviceFlag, credential }` (the principal). */
  guard: GuardOptions;
  /** Mount the admin routes under this path (e.g. `/admin`) instead of the root. */
  prefix?: string;
}

export interface ContractApp {
  /** `http://127.0.0.1:<port>` of the listening server. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface ContractAdapter {
  name: 'express' | 'koa' | 'nestjs' | 'nestjs-fastify' | 'fastify' | 'hono';
  /**
   * Builds and starts the app. Besides the admin routes and `GET /protected`, its server serves a
   * WebSocket at `/ws`: the upgrade is checked with the adapter's upgrade check (session token in
   * `?token=`), a rejected upgrade is answered with the check's status and body, an accepted socket
   * is registered with `engine.registerConnection({ uid, deviceFlag, credential, close })` and its
   * first message is `{"type":"hello","conn_id":…,"node_id":…}`.
   */
  start(options: ContractAppOptions): Promise<ContractApp>;
}
