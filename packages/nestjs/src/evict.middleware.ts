import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminApi } from '@evict/core';
import { fromNodeRequest, parsedBodyOf, pathBelowMount, writeNodeResponse } from '@evict/core/node';

/**
 * The admin routes as a Node middleware below `mountPath()`, read per request so that the global prefix
 * may be set after the module was built. Requests for other paths pass on.
 */
export function adminMiddleware(api: AdminApi, mountPath: () => string) {
  return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void => {
    const url = req.url ?? '/';
    const end = url.indexOf('?');
    const path = pathBelowMount(mountPath(), end === -1 ? url : url.slice(0, end));
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
