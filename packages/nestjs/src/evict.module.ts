import { createAdminApi, createEvict, definedOptions, type Evict } from '@evict/core';
import { mountPathOf } from '@evict/core/node';
import {
  type DynamicModule,
  Inject,
  Module,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { EVICT_ENGINE } from './evict.constants.js';
import { adminMiddleware } from './evict.middleware.js';
import { EVICT_OPTIONS, type EvictModuleAsyncOptions, type EvictOptionsFactory } from './evict.options.js';
import { EvictService } from './evict.service.js';

const KNOWN_OPTIONS = ['engine', 'engineOptions', 'admin', 'guard'];

/**
 * evict for Nest: `EvictModule.forRoot({ engine, admin, guard })` serves the families' admin routes and
 * provides `EvictService`, `EVICT_ENGINE` and `EVICT_OPTIONS` (for `EvictGuard`).
 */
@Module({})
export class EvictModule implements OnApplicationShutdown {
  constructor(
    @Inject(EVICT_OPTIONS) private readonly options: EVICT_OPTIONS,
    @Inject(EVICT_ENGINE) private readonly engine: Evict,
    @Inject(HttpAdapterHost) adapterHost: HttpAdapterHost,
    @Inject(ApplicationConfig) config: ApplicationConfig,
  ) {
    if (options.admin === false) return;
    const { path = '', ignoreGlobalPrefix = false, ...admin } = options.admin ?? {};
    const api = createAdminApi(engine, admin);
    // Nest writes paths with or without a leading slash (`setGlobalPrefix('api')`).
    const nestPath = (given: string) => mountPathOf(`/${given.replace(/^\/+/, '')}`);
    const mountPath = () => (ignoreGlobalPrefix ? '' : nestPath(config.getGlobalPrefix())) + nestPath(path);
    // Mounted as soon as the adapter exists, before Nest's body parsers: the families read each body as sent.
    // A standalone application context has no adapter (null), and nothing to serve.
    adapterHost.init$.subscribe(() => adapterHost.httpAdapter?.use(adminMiddleware(api, mountPath)));
  }

  static forRoot({ global = false, ...options }: EVICT_OPTIONS & { global?: boolean }): DynamicModule {
    return evictModule(global, [], [{ provide: EVICT_OPTIONS, useValue: options }]);
  }

  static forRootAsync(options: EvictModuleAsyncOptions): DynamicModule {
    return evictModule(options.global ?? false, options.imports ?? [], asyncOptionsProviders(options));
  }

  /** Closes the engine the module made; one the host passed in is the host's to close. */
  async onApplicationShutdown(): Promise<void> {
    if (this.options.engine === undefined) await this.engine.close();
  }
}

function evictModule(
  global: boolean,
  imports: NonNullable<EvictModuleAsyncOptions['imports']>,
  optionsProviders: Provider[],
): DynamicModule {
  return {
    global,
    module: EvictModule,
    imports,
    providers: [...optionsProviders, engineProvider, EvictService],
    exports: [EVICT_OPTIONS, EVICT_ENGINE, EvictService],
  };
}

const engineProvider: Provider = {
  provide: EVICT_ENGINE,
  inject: [EVICT_OPTIONS],
  useFactory: async (options: EVICT_OPTIONS): Promise<Evict> => {
    const { engine: given, engineOptions } = definedOptions(options, KNOWN_OPTIONS, 'evict EvictModule');
    if (given !== undefined) {
      if (engineOptions !== undefined) {
        throw new TypeError('evict: EvictModule takes engine or engineOptions, not both');
      }
      return given;
    }
    const engine = createEvict(engineOptions);
    await engine.ready();
    return engine;
  },
};

function asyncOptionsProviders(options: EvictModuleAsyncOptions): Provider[] {
  const { useFactory, useClass, useExisting } = options;
  if ([useFactory, useClass, useExisting].filter((given) => given !== undefined).length !== 1) {
    throw new TypeError('evict: EvictModule.forRootAsync takes one of useFactory, useClass, useExisting');
  }
  if (useFactory !== undefined) return [{ provide: EVICT_OPTIONS, useFactory, inject: options.inject ?? [] }];
  const factory = (useClass ?? useExisting)!;
  const fromFactory: Provider = {
    provide: EVICT_OPTIONS,
    useFactory: (made: EvictOptionsFactory) => made.createEvictOptions(),
    inject: [factory],
  };
  return useClass === undefined ? [fromFactory] : [fromFactory, { provide: useClass, useClass }];
}
