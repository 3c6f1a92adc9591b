import {
  type AdminApiOptions,
  createAdminApi,
  createGuard,
  type Evict,
  type GuardOptions,
  type GuardResult,
  type MaybePromise,
  mapMaybePromise,
  type Principal,
} from '@evict/core';
import {
  attachPrincipal,
  createUpgradeCheck,
  fromNodeRequest,
  guardRequestOf,
  parsedBodyOf,
  writeNodeResponse,
} from '@evict/core/node';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** Set by `evictGuard` on an accepted request: who the caller is. */
      evict?: Principal;
    }
  }
}

/**
 * The admin endpoints of the chosen families as one Express middleware: `app.use(evictRouter(...))`,
 * or under any path with `app.use('/admin', evictRouter(...))`. Requests for other paths pass on.
 * Works with or without `express.json()` before it.
 */
export function evictRouter(engine: Evict, options: AdminApiOptions = {}): RequestHandler {
  const api = createAdminApi(engine, options);
  return (req: Request, res: Response, next: NextFunction) => {
    api.handle(fromNodeRequest(req, req.path, parsedBodyOf(req))).then((answer) => {
      if (answer === undefined) next();
      else writeNodeResponse(res, answer);
    }, next);
  };
}

/** Rejects requests whose credential is revoked, expired or unknown; sets `req.evict` on the others. */
export function evictGuard(engine: Evict, options: GuardOptions = {}): RequestHandler {
  const guard = createGuard(engine, options);
  return (req: Request, res: Response, next: NextFunction) => {
    let result: MaybePromise<GuardResult>;
    try {
      result = guard.checkNow(guardRequestOf(req));
    } catch (error) {
      return next(error);
    }
    // A warm check answers synchronously: the route then runs in this same tick.
    mapMaybePromise(result, (settled) => admit(req, res, next, settled), next);
  };
}

function admit(req: Request, res: Response, next: NextFunction, result: GuardResult): void {
  if (result.ok) {
    attachPrincipal(req, result.principal); // reads back as req.evict
    next();
  } else {
    writeNodeResponse(res, result.response);
  }
}

/** The same check as a plain function for WebSocket upgrades (reads `?token=` too). */
export const checkUpgrade = createUpgradeCheck;

export type { AdminApiOptions, GuardOptions, Principal } from '@evict/core';
