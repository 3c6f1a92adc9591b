import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AdminApi, fromNodeRequest, parsedBodyOf, writeNodeResponse } from '@evict/core';

/**
 * The admin routes as a Node middleware below `mountPath()`, read per request so that the global prefix
 * may be set after the module was built. Requests for other paths pass on.
 */
export function adminMiddleware(api: AdminApi, mountPath: () => string) {
  return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void => {
    const path = pathBelow(mountPath(), req.url ?? '/');
    if (path === undefined) {
      next();
      return;
    }
    api.handle(fromNodeRequest(req, path, parsedBodyOf(req))).then((answer) => {
      if (answer === undefined) next();
      else writeNodeResponse(res, answer);
    }, next);
  };
}

/** A path as Nest reads a prefix: `'api'`, `'/api/'` → `'/api'`; `''`, `'/'` → `''`. */
export function mountPathOf(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `/${trimmed}`;
}

function pathBelow(mount: string, url: string): string | undefined {
  const end = url.indexOf('?');
  const pathname = end === -1 ? url : url.slice(0, end);
  if (mount === '') return pathname;
  return pathname.startsWith(`${mount}/`) ? pathname.slice(mount.length) : undefined;
}
