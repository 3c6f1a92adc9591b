import 'reflect-metadata';
import { Evict, isEvictError } from '@evict/core';
import {
  EVICT_ENGINE,
  type EVICT_OPTIONS,
  EvictModule,
  type EvictOptionsFactory,
  EvictService,
} from '@evict/nestjs';
import { type DynamicModule, Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adminOptions, MANAGER_TOKEN } from '../../../test/support/fixtures.js';
import { closeAll, engine, start } from './helpers.js';

afterEach(closeAll);

/** A ConfigService-like provider of another module, for forRootAsync's `imports` and `inject`. */
@Injectable()
class ConfigService {
  readonly managerToken = MANAGER_TOKEN;
  readonly made: Evict[] = [];
  get(): EVICT_OPTIONS {
    const made = engine();
    this.made.push(made);
    return { engine: made, admin: adminOptions({ families: ['wukongim'] }) };
  }
}

@Module({ providers: [ConfigService], exports: [ConfigService] })
class ConfigModule {}

@Injectable()
class EvictConfig implements EvictOptionsFactory {
  constructor(@Inject(ConfigService) private readonly config: ConfigService) {}
  createEvictOptions(): EVICT_OPTIONS {
    return this.config.get();
  }
}

@Module({ imports: [ConfigModule], providers: [EvictConfig], exports: [EvictConfig] })
class EvictConfigModule {}

/** A feature module that injects the service without importing EvictModule. */
@Injectable()
class Feature {
  constructor(@Inject(EvictService) readonly evict: EvictService) {}
}
@Module({ providers: [Feature] })
class FeatureModule {}

const appOf = (evict: DynamicModule, ...imports: DynamicModule['imports'] & object) => {
  @Module({ imports: [evict, ...imports] })
  class AppModule {}
  return AppModule;
};

/** Nest's app for `evict`, its engine, and one seed's call against it. */
async function serve(evict: DynamicModule) {
  const app = await start(appOf(evict));
  const served = app.get<Evict>(EVICT_ENGINE);
  await served.issueSession({ uid: 'alice01', deviceFlag: 1 });
  const answer = await request(app.getHttpServer())
    .post('/user/device_quit')
    .set('token', MANAGER_TOKEN)
    .set('content-type', 'application/json')
    .send('{"uid": "alice01", "device_flag": 1}');
  return { app, engine: served, answer };
}

describe('forRoot', () => {
  it('serves the engine the host passed, as EVICT_ENGINE and EvictService.engine', async () => {
    const e = engine();
    const {
      app,
      engine: served,
      answer,
    } = await serve(EvictModule.forRoot({ engine: e, admin: adminOptions() }));
    expect(served).toBe(e);
    expect(app.get(EvictService).engine).toBe(e);
    expect(answer.status).toBe(200);
  });

  it('makes an engine from engineOptions (or none), and refuses both', async () => {
    const { engine: made, answer } = await serve(
      EvictModule.forRoot({ engineOptions: { nodeId: 7 }, admin: adminOptions() }),
    );
    expect(made.nodeId).toBe(7);
    expect(answer.status).toBe(200);
    const { engine: defaulted } = await serve(EvictModule.forRoot({ admin: adminOptions() }));
    expect(defaulted.nodeId).toBe(1);
    await expect(
      start(appOf(EvictModule.forRoot({ engine: engine(), engineOptions: {}, admin: false }))),
    ).rejects.toThrow(TypeError);
  });
});

describe('forRootAsync', () => {
  it('useFactory + inject, with a provider of an imported module', async () => {
    const { app, answer } = await serve(
      EvictModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          engineOptions: { nodeId: 3 },
          admin: adminOptions({ wukongim: { managerToken: config.managerToken } }),
        }),
      }),
    );
    expect(app.get<Evict>(EVICT_ENGINE).nodeId).toBe(3);
    expect(answer.status).toBe(200);
  });

  it('useClass: the module makes the factory', async () => {
    const {
      app,
      engine: served,
      answer,
    } = await serve(EvictModule.forRootAsync({ imports: [ConfigModule], useClass: EvictConfig }));
    expect(app.get(ConfigService, { strict: false }).made).toEqual([served]);
    expect(answer.status).toBe(200);
  });

  it('useExisting: a factory an imported module provides', async () => {
    const {
      app,
      engine: served,
      answer,
    } = await serve(EvictModule.forRootAsync({ imports: [EvictConfigModule], useExisting: EvictConfig }));
    expect(app.get(ConfigService, { strict: false }).made).toEqual([served]);
    expect(answer.status).toBe(200);
  });

  it('takes exactly one way to make the options', () => {
    expect(() => EvictModule.forRootAsync({})).toThrow(TypeError);
    expect(() =>
      EvictModule.forRootAsync({ useClass: EvictConfig, useFactory: () => ({ admin: false }) }),
    ).toThrow(TypeError);
  });
});

describe('global', () => {
  const compile = (global: boolean | undefined) =>
    Test.createTestingModule({
      imports: [
        EvictModule.forRoot({ engine: engine(), admin: false, ...(global === undefined ? {} : { global }) }),
        FeatureModule,
      ],
    }).compile();

  it('global: true makes EvictService injectable in a module that does not import EvictModule', async () => {
    const moduleRef = await compile(true);
    expect(moduleRef.get(Feature).evict).toBeInstanceOf(EvictService);
    await moduleRef.close();
  });

  it('by default (global: false) only modules that import it can inject it', async () => {
    await expect(compile(undefined)).rejects.toThrow(/EvictService/);
    await expect(compile(false)).rejects.toThrow(/EvictService/);
  });

  it('forRootAsync takes global too', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        EvictModule.forRootAsync({ global: true, useFactory: () => ({ engine: engine(), admin: false }) }),
        FeatureModule,
      ],
    }).compile();
    expect(moduleRef.get(Feature).evict).toBeInstanceOf(EvictService);
    await moduleRef.close();
  });
});

describe('without HTTP', () => {
  it('works in a standalone application context (a worker that revokes)', async () => {
    const context = await NestFactory.createApplicationContext(
      EvictModule.forRoot({ engineOptions: {}, admin: adminOptions() }),
      { logger: false, abortOnError: false },
    );
    const evict = context.get(EvictService);
    const { token } = await evict.issueSession({ uid: 'alice01', deviceFlag: 1 });
    await evict.kickUser('alice01');
    expect(await evict.check({ type: 'session', token })).toMatchObject({ ok: false, reason: 'kicked' });
    await context.close();
  });
});

describe('EvictService', () => {
  it('delegates to the engine', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [EvictModule.forRoot({ admin: false })],
    }).compile();
    const evict = moduleRef.get(EvictService);
    const events: string[] = [];
    const off = evict.on('revocation', (event) => events.push(event.action));

    const web = await evict.issueSession({ uid: 'alice01', deviceFlag: 1 });
    const app = await evict.issueSession({ uid: 'alice01', deviceFlag: 0 });
    expect(await evict.check({ type: 'session', token: web.token })).toMatchObject({
      ok: true,
      uid: 'alice01',
    });
    await evict.registerConnection({
      uid: 'alice01',
      deviceFlag: 0,
      connId: 7,
      close: () => undefined,
    });
    await evict.removeConnection({ uid: 'alice01', connId: 7 });
    await evict.clearPushToken(app.token, 'ring');
    await evict.logout(app.token);
    await evict.quitDevice('alice01', 1);
    await evict.kickUser('alice01');
    off();
    await evict.kickUser('alice01');
    expect(events).toEqual(['remove_connection', 'clear_push_token', 'logout', 'quit_device', 'kick_user']);
    await moduleRef.close();
  });

  it("offers every method and property of the engine, bound to the module's engine", async () => {
    const e = engine();
    const moduleRef = await Test.createTestingModule({
      imports: [EvictModule.forRoot({ engine: e, admin: false })],
    }).compile();
    const evict = moduleRef.get(EvictService);
    const members = Object.getOwnPropertyNames(Evict.prototype).filter((name) => name !== 'constructor');
    expect(members.length).toBeGreaterThan(20);
    for (const name of members) {
      const own = (e as unknown as Record<string, unknown>)[name];
      const served = (evict as unknown as Record<string, unknown>)[name];
      expect(typeof served, name).toBe(typeof own);
      if (typeof own !== 'function') expect(served, name).toBe(own);
    }
    expect(evict.nodeId).toBe(e.nodeId);
    expect(evict.store).toBe(e.store);
    await evict.setPushToken('bob0001', { kind: 'ring', token: 'r-1', deviceFlag: 0 });
    expect(await evict.pushTokens('bob0001')).toMatchObject([{ kind: 'ring', token: 'r-1' }]);
    expect(await e.pushTokens('bob0001')).toMatchObject([{ kind: 'ring', token: 'r-1' }]);
    await moduleRef.close();
  });
});

describe('shutdown', () => {
  const isClosed = (e: Evict) =>
    e.registerConnection({ uid: 'alice01', deviceFlag: 0, close: () => undefined }).then(
      (handle) => handle.unregister().then(() => false),
      (error: unknown) => isEvictError(error, 'EVICT_CLOSED'),
    );

  it('app.close() closes an engine the module made', async () => {
    const app = await start(appOf(EvictModule.forRoot({ admin: false })));
    const made = app.get<Evict>(EVICT_ENGINE);
    expect(await isClosed(made)).toBe(false);
    await app.close();
    expect(await isClosed(made)).toBe(true);
  });

  it('and never one the host passed in', async () => {
    const e = engine();
    const close = vi.spyOn(e, 'close');
    const app = await start(appOf(EvictModule.forRoot({ engine: e, admin: false })));
    await app.close();
    expect(close).not.toHaveBeenCalled();
    expect(await isClosed(e)).toBe(false);
  });
});
