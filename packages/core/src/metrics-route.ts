import type { FamilyRoute } from './families/family.js';
import { bearerOf } from './guard.js';
import { type EvictResponse, emptyResponse } from './http/types.js';
import { secretsEqual } from './secrets.js';

/** What serves the metrics' text: a `prom-client` `Registry`, or anything with its two members. */
export interface MetricsSource {
  metrics(): Promise<string> | string;
  contentType: string;
}

export interface MetricsRouteOptions {
  /** The registry to expose (`evictMetrics(engine, { registry })` fills it, beside the host's own metrics). */
  registry: MetricsSource;
  /** Default `/metrics`. */
  path?: string;
  /**
   * The token Prometheus sends as `Authorization: Bearer` (its scrape config's
   * `authorization.credentials`), compared in constant time; at least 16 characters.
   */
  bearerToken?: string;
  /** Serve the metrics to anyone who reaches the route (a scrape over a private network only). */
  allowUnauthenticated?: boolean;
}

/**
 * `GET /metrics` in Prometheus' text format. Like the admin routes, it refuses to mount without
 * authentication unless the host opts out: metrics name no user, but they say how busy and how
 * attacked the service is.
 */
export function metricsRoute(options: MetricsRouteOptions): FamilyRoute {
  const { registry, path = '/metrics', bearerToken, allowUnauthenticated = false } = options;
  if (typeof registry?.metrics !== 'function' || typeof registry.contentType !== 'string')
    throw new TypeError('evict: metrics.registry must be a prom-client Registry (metrics() and contentType)');
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new TypeError('evict: metrics.path must be a path that starts with "/"');
  if (bearerToken !== undefined && (typeof bearerToken !== 'string' || bearerToken.length < 16))
    throw new TypeError('evict: metrics.bearerToken must be a string of at least 16 characters');
  if (bearerToken === undefined && allowUnauthenticated !== true) {
    throw new TypeError(
      'evict: the metrics route refuses to mount without metrics.bearerToken; ' +
        'set metrics.allowUnauthenticated: true to serve it to anyone who reaches it',
    );
  }
  return {
    method: 'GET',
    path,
    doc: {
      summary: 'Metrics, in Prometheus’ text format',
      description:
        'What the engine counts (revocations, guard decisions, closed connections, store calls, cluster lag, refused admin authentications) and whatever else the registry holds. No label names a user, a token or a connection.',
      security: bearerToken === undefined ? [] : ['metricsBearer'],
      responses: {
        '200': { description: 'The metrics.', contentType: 'text/plain', schema: { type: 'string' } },
        ...(bearerToken === undefined
          ? {}
          : { '401': { description: 'No `Authorization: Bearer` with the metrics token (an empty body).' } }),
      },
    },
    async handle(request): Promise<EvictResponse> {
      if (bearerToken !== undefined) {
        const given = bearerOf(request);
        if (given === undefined || !secretsEqual(given, bearerToken))
          return {
            ...emptyResponse(401),
            headers: { 'cache-control': 'no-store', 'www-authenticate': 'Bearer' },
          };
      }
      return {
        status: 200,
        headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
        body: await registry.metrics(),
      };
    },
  };
}
