import type { AdminApiOptions, Evict, EvictOptions, GuardOptions } from '@evict/core';
import type { FactoryProvider, ModuleMetadata, Type } from '@nestjs/common';

/** The injection token of the module's options (the interface of the same name is their shape). */
export const EVICT_OPTIONS = Symbol('EVICT_OPTIONS');

export interface EVICT_OPTIONS {
  /** An engine the host made; the host closes it. */
  engine?: Evict;
  /** Options to make one instead (default: an in-memory engine); the module closes it on shutdown. */
  engineOptions?: EvictOptions;
  /** The admin routes of the families (all three by default); `false` serves none. */
  admin?: EvictAdminOptions | false;
  /** What `EvictGuard` checks. */
  guard?: GuardOptions;
}

export interface EvictAdminOptions extends AdminApiOptions {
  /** Serve the routes below this path (e.g. `/admin`), itself below the global prefix. Default: the root. */
  path?: string;
  /** Serve the routes outside `app.setGlobalPrefix()`. Default false: `/api/user/device_quit` under `api`. */
  ignoreGlobalPrefix?: boolean;
}

/** A class that makes the options, for `forRootAsync({ useClass })` and `forRootAsync({ useExisting })`. */
export interface EvictOptionsFactory {
  createEvictOptions(): EVICT_OPTIONS | Promise<EVICT_OPTIONS>;
}

/** `forRootAsync`: exactly one of `useFactory` (with `inject`), `useClass`, `useExisting`. */
export interface EvictModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory?: (...args: never[]) => EVICT_OPTIONS | Promise<EVICT_OPTIONS>;
  inject?: FactoryProvider['inject'];
  useClass?: Type<EvictOptionsFactory>;
  useExisting?: Type<EvictOptionsFactory>;
  /** Make `EvictService`, `EVICT_ENGINE` and `EVICT_OPTIONS` injectable everywhere. Default false. */
  global?: boolean;
}
