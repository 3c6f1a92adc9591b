import { type ConsoleOptions, consoleRoutes } from './console/console-api.js';
import type { Evict } from './engine/evict.js';
import { FAMILY_NAMES, type Family, type FamilyName } from './families/family.js';
import { type LancensOptions, lancensFamily } from './families/lancens.js';
import type { RouteDoc } from './families/route-doc.js';
import { type TencentOptions, tencentFamily } from './families/tencent/index.js';
import { type WukongimOptions, wukongimFamily } from './families/wukongim.js';
import type { EvictHandler, EvictRequest, EvictResponse } from './http/types.js';
import { jsonResponse } from './http/types.js';
import { type MetricsRouteOptions, metricsRoute } from './metrics-route.js';
import { type OpenApiOptions, openApiDocument } from './openapi.js';
import { definedOptions } from './options.js';
import { handleSelfService, SELF_SERVICE_ROUTES } from './self-service.js';

export interface AdminApiOptions {
  /** Which families to mount. Default: all three. */
  families?: readonly FamilyName[];
  /** WuKongIM: `POST /user/device_quit`, `POST /conn/remove`. Needs `managerToken` (or an explicit opt-out). */
  wukongim?: WukongimOptions;
  /** Tencent Cloud IM: `POST /v4/im_open_login_svc/kick`. Needs the app's `sdkAppId`, `secretKey`, `admins`. */
  tencent?: TencentOptions;
  /** Lancens: `POST /v1/api/user/logout`, `DELETE /v1/api/user/token`, `DELETE /v1/api/user/message/token`. */
  lancens?: LancensOptions;
  /**
   * The signed-in user's own sessions: `GET /sessions`, `DELETE /sessions/:id`,
   * `POST /sessions/revoke-others`, authenticated by the session token as the guard reads it.
   * Default false.
   */
  sessions?: boolean;
  /**
   * Serve the OpenAPI 3.1 document of these routes (`openApiDocument`) at `GET /openapi.json` (or
   * `path`), open to anyone who reaches it: it names routes, never a secret. Mounted below a prefix,
   * give it here too, so that the document's paths include it. Default false.
   */
  openapi?: boolean | (OpenApiOptions & { path?: string });
  /**
   * Serve a metrics registry at `GET /metrics` (or `path`), behind `bearerToken` unless
   * `allowUnauthenticated` (docs/metrics.md). Default: none.
   */
  metrics?: MetricsRouteOptions;
  /**
   * The admin console at `GET /console` (or `path`): look a user up, see their sessions, live
   * connections and push tokens, revoke them. Authenticated by the WuKongIM manager token unless
   * `authorize` says otherwise (docs/console.md). Default: none.
   */
  console?: ConsoleOptions;
}

export interface AdminRoute {
  /** `evict` for evict's own: the OpenAPI document. */
  family: FamilyName | 'sessions' | 'evict';
  method: string;
  /** As routers write it: a path parameter is `:name`. */
  path: string;
  /** What it takes and answers, under the options it was mounted with. */
  doc: RouteDoc;
}

export interface AdminApi {
  /** Answers a request for one of the mounted routes; undefined for any other (pass it on). */
  handle: EvictHandler;
  /** The mounted routes, for logs and docs. */
  routes: readonly AdminRoute[];
}

const OPENAPI_ROUTE_DOC: RouteDoc = {
  summary: 'This API as an OpenAPI 3.1 document',
  description: 'Every route evict serves here, with its bodies, answers, examples and security schemes.',
  responses: {
    '200': { description: 'The document.', schema: { type: 'object', required: ['openapi', 'paths'] } },
  },
};

const KNOWN_OPTIONS = [
  'families',
  'wukongim',
  'tencent',
  'lancens',
  'sessions',
  'openapi',
  'metrics',
  'console',
];

/** The admin endpoints of the chosen families as one framework-neutral handler. */
export function createAdminApi(engine: Evict, options: AdminApiOptions = {}): AdminApi {
  const defined = definedOptions(options, KNOWN_OPTIONS, 'evict admin API');
  const names = defined.families ?? FAMILY_NAMES;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => !FAMILY_NAMES.includes(n))) {
    throw new TypeError(`evict: families must be a non-empty list of ${FAMILY_NAMES.join(', ')}`);
  }
  const build: Record<FamilyName, () => Family> = {
    wukongim: () => wukongimFamily(engine, defined.wukongim),
    tencent: () => tencentFamily(engine, defined.tencent),
    lancens: () => lancensFamily(engine, defined.lancens),
  };
  const families = [...new Set<FamilyName>(names)].map((name) => build[name]());
  const table = new Map<string, Family['routes'][number]>();
  const routes: AdminRoute[] = [];
  for (const family of families) {
    for (const route of family.routes) {
      table.set(`${route.method} ${route.path}`, route);
      routes.push({ family: family.name, method: route.method, path: route.path, doc: route.doc });
    }
  }

  const sessions = defined.sessions ?? false;
  if (typeof sessions !== 'boolean') throw new TypeError('evict: sessions must be a boolean');
  if (sessions) for (const route of SELF_SERVICE_ROUTES) routes.push({ family: 'sessions', ...route });

  const own = [
    ...(defined.metrics === undefined ? [] : [metricsRoute(defined.metrics)]),
    ...(defined.console === undefined
      ? []
      : consoleRoutes(
          engine,
          defined.console,
          names.includes('wukongim') ? defined.wukongim?.managerToken : undefined,
        )),
  ];
  for (const route of own) {
    table.set(`${route.method} ${route.path}`, route);
    routes.push({ family: 'evict', method: route.method, path: route.path, doc: route.doc });
  }

  const openapi = defined.openapi ?? false;
  if (openapi !== false) {
    const { path = '/openapi.json', ...documentOptions } = openapi === true ? {} : openapi;
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new TypeError('evict: openapi.path must be a path that starts with "/"');
    let document: EvictResponse | undefined;
    const route: Family['routes'][number] = {
      method: 'GET',
      path,
      doc: OPENAPI_ROUTE_DOC,
      // Made on the first call, when every route is in the table, and kept: the routes never change.
      handle: async () => {
        document ??= jsonResponse(200, openApiDocument({ routes }, documentOptions));
        return document;
      },
    };
    table.set(`GET ${path}`, route);
    routes.push({ family: 'evict', method: 'GET', path, doc: route.doc });
  }

  async function handle(request: EvictRequest): Promise<EvictResponse | undefined> {
    const route = table.get(`${request.method.toUpperCase()} ${request.path}`);
    if (route !== undefined) return route.handle(request);
    return sessions ? handleSelfService(engine, request) : undefined;
  }

  return { handle, routes };
}
