import 'reflect-metadata';
import type { IncomingMessage, Server } from 'node:http';
import { type Evict, type Principal, type PushTokenKind, signUserSig, userSigSource } from '@evict/core';
import {
  createDemoEngine,
  type Demo,
  type DemoOptions,
  demoAdminOptions,
  demoLogin,
  demoLoginFailure,
  type LoginBody,
  logEngineEvents,
  serveDemo,
} from '@evict/demo-kit';
import { EvictGuard, EvictModule, EvictService, EvictUser } from '@evict/nestjs';
import {
  type ArgumentsHost,
  BadRequestException,
  Body,
  Catch,
  Controller,
  type DynamicModule,
  Get,
  HttpCode,
  HttpException,
  type HttpServer,
  Inject,
  Module,
  NotFoundException,
  Post,
  Put,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { BaseExceptionFilter, NestFactory } from '@nestjs/core';

export { type Demo, type DemoOptions, demoOptionsFromEnv } from '@evict/demo-kit';

const DEMO_OPTIONS = Symbol('DEMO_OPTIONS');
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

interface PushTokenBody {
  kind?: PushTokenKind;
  push_token?: string;
}

/** The host's own routes. */
@Controller()
class DemoController {
  constructor(
    @Inject(EvictService) private readonly evict: EvictService,
    @Inject(DEMO_OPTIONS) private readonly options: DemoOptions,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: LoginBody | undefined, @Req() request: IncomingMessage) {
    try {
      return await demoLogin(this.evict.engine, body, {
        userAgent: request.headers['user-agent'],
        ip: request.socket.remoteAddress,
      });
    } catch (error) {
      const failure = demoLoginFailure(error);
      throw new HttpException(failure.body as Record<string, unknown>, failure.status);
    }
  }

  @Get('me')
  @UseGuards(EvictGuard)
  me(@EvictUser() user: Principal) {
    return { uid: user.uid, device_flag: user.deviceFlag ?? null, credential: user.credential };
  }

  @Put('push-tokens')
  @UseGuards(EvictGuard)
  async setPushToken(@EvictUser() user: Principal, @Body() body: PushTokenBody | undefined) {
    try {
      await this.evict.setPushToken(user.uid, {
        kind: body?.kind as PushTokenKind,
        token: body?.push_token as string,
        deviceFlag: user.deviceFlag ?? 0,
      });
      return { status: 'ok' };
    } catch (error) {
      throw new BadRequestException({ error: message(error) });
    }
  }

  @Get('push-tokens')
  @UseGuards(EvictGuard)
  async pushTokens(@EvictUser('uid') uid: string) {
    const tokens = await this.evict.pushTokens(uid);
    return Object.fromEntries(tokens.map((t) => [t.kind, t.token]));
  }

  // Demo convenience: a UserSig signed with the demo app's key (what tls-sig-api-v2's genUserSig makes).
  @Get('demo/usersig')
  userSig(@Query('identifier') identifier = 'admin') {
    // Off (EVICT_DEMO_USERSIG_ROUTE=0): answered as a route that does not exist.
    if (!this.options.userSigRoute) throw new NotFoundException();
    const { tencent } = this.options;
    return {
      sdkappid: tencent.sdkAppId,
      identifier,
      usersig: signUserSig({ ...tencent, identifier, expireSec: 86_400 }),
    };
  }
}

/** The demo's app: the three admin families at their documented paths, and the host's routes. */
@Module({})
class DemoModule {
  static register(engine: Evict, options: DemoOptions): DynamicModule {
    return {
      module: DemoModule,
      imports: [
        EvictModule.forRoot({
          engine,
          admin: demoAdminOptions(engine, options),
          guard: { credentials: ['session', userSigSource(options.tencent)] },
        }),
      ],
      controllers: [DemoController],
      providers: [{ provide: DEMO_OPTIONS, useValue: options }],
    };
  }
}

/** Unexpected errors: logged, and answered as the Express demo answers them. */
@Catch()
class DemoErrors extends BaseExceptionFilter {
  constructor(
    private readonly log: (line: string) => void,
    adapter: HttpServer,
  ) {
    super(adapter);
  }

  override catch(error: unknown, host: ArgumentsHost): void {
    if (error instanceof HttpException) {
      super.catch(error, host);
      return;
    }
    this.log(`[demo] error: ${error instanceof Error ? error.stack : String(error)}`);
    super.catch(new HttpException({ error: 'internal error' }, 500), host);
  }
}

/** The NestJS demo: the three admin families, the host's own routes behind the guard, a WebSocket. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const engine = await createDemoEngine(options);
  await engine.ready();
  logEngineEvents(engine, options.log);

  const app = await NestFactory.create(DemoModule.register(engine, options), { logger: ['error'] });
  app.useGlobalFilters(new DemoErrors(options.log, app.getHttpAdapter()));
  await app.init();

  return serveDemo(app.getHttpServer() as Server, engine, options, () => app.close());
}
