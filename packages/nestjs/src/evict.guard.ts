import type { IncomingMessage } from 'node:http';
import {
  createGuard,
  type Evict,
  type EvictResponse,
  type Guard,
  type GuardResult,
  mapMaybePromise,
  type Principal,
  type RejectionReason,
} from '@evict/core';
import { attachPrincipal, guardRequestOf } from '@evict/core/node';
import { type CanActivate, type ExecutionContext, HttpException, Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { EVICT_ENGINE, EVICT_PUBLIC } from './evict.constants.js';
import { EVICT_OPTIONS } from './evict.options.js';

/**
 * Rejects requests whose credential is revoked, expired or unknown, with core's status and body; sets
 * `request.evict` (`@EvictUser()`) on the others. Per route, per controller, or as `APP_GUARD` with `@Public()`.
 */
@Injectable()
export class EvictGuard implements CanActivate {
  readonly #guard: Guard;

  constructor(
    @Inject(EVICT_ENGINE) engine: Evict,
    @Inject(EVICT_OPTIONS) options: EVICT_OPTIONS,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {
    this.#guard = createGuard(engine, options.guard);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(EVICT_PUBLIC, targets)) return true;
    if (context.getType() !== 'http') {
      throw new TypeError(
        'evict: EvictGuard guards HTTP requests; check WebSocket upgrades with checkUpgrade',
      );
    }
    const http = context.switchToHttp();
    const request = http.getRequest<IncomingMessage & { evict?: Principal }>();
    // A warm check answers synchronously: no promise for Nest to wait on.
    return mapMaybePromise(this.#guard.checkNow(guardRequestOf(request)), (settled) =>
      this.#admit(request, http, settled),
    );
  }

  #admit(
    request: IncomingMessage & { evict?: Principal },
    http: ReturnType<ExecutionContext['switchToHttp']>,
    result: GuardResult,
  ): boolean {
    if (result.ok) {
      attachPrincipal(request, result.principal); // reads back as request.evict
      return true;
    }
    const response = http.getResponse();
    for (const [name, value] of Object.entries(result.response.headers)) {
      this.adapterHost.httpAdapter.setHeader(response, name, value);
    }
    throw new EvictRejectedException(result.reason, result.response);
  }
}

/** `EvictGuard`'s rejection: Nest writes core's JSON body with core's status, as the other adapters do. */
export class EvictRejectedException extends HttpException {
  constructor(
    readonly reason: RejectionReason,
    readonly answer: EvictResponse,
  ) {
    super(JSON.parse(answer.body) as Record<string, unknown>, answer.status);
  }
}
