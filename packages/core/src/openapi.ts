import type { AdminApi, AdminRoute } from './admin-api.js';
import { type JsonSchema, SECURITY_SCHEMES, type SecuritySchemeName } from './families/route-doc.js';
import { mountPathOf } from './http/mount.js';

export interface OpenApiOptions {
  /** `info.title`. Default `evict admin API`. */
  title?: string;
  /** `info.version`: the version of the host's API. Default `1.0.0`. */
  version?: string;
  /** The path the routes are mounted below (as given to the adapter); the document's paths include it. */
  prefix?: string;
  /** `servers`: where the API is reached, e.g. `[{ url: 'https://im.example.com' }]`. */
  servers?: readonly { url: string; description?: string }[];
}

const FAMILY_TAGS: Readonly<Record<AdminRoute['family'], string>> = {
  wukongim: 'WuKongIM’s admin API: sign users and devices out, close connections, see who is online.',
  tencent: 'Tencent Cloud IM’s REST API: kick a user, query online status.',
  lancens: 'Lancens’ logout API: a user signs a session out and clears its push tokens.',
  sessions: 'The signed-in user’s own sessions.',
  evict: 'This document.',
};

/**
 * An OpenAPI 3.1 document of the routes `api` serves, made from the route table they run on: each
 * family's request and answer shapes, its examples, and how it authenticates.
 */
export function openApiDocument(
  api: Pick<AdminApi, 'routes'>,
  options: OpenApiOptions = {},
): Record<string, unknown> {
  const mount = mountPathOf(options.prefix);
  const paths: Record<string, Record<string, unknown>> = {};
  const schemes = new Set<SecuritySchemeName>();
  for (const route of api.routes) {
    const { doc } = route;
    for (const name of doc.security ?? []) schemes.add(name);
    // `:id` as routers write it, `{id}` as OpenAPI does.
    const path = `${mount}${route.path}`.replace(/:([A-Za-z_]\w*)/g, '{$1}');
    const operation: Record<string, unknown> = {
      tags: [route.family],
      operationId: operationIdOf(route),
      summary: doc.summary,
      description: doc.description,
      // An empty list says "no authentication" rather than "the document's default".
      security: (doc.security ?? []).map((name) => ({ [name]: [] })),
      responses: Object.fromEntries(
        Object.entries(doc.responses).map(([status, response]) => [
          status,
          {
            description: response.description,
            ...(response.schema === undefined
              ? {}
              : {
                  content: {
                    [response.contentType ?? 'application/json']: content(response.schema, response.example),
                  },
                }),
          },
        ]),
      ),
    };
    if (doc.parameters !== undefined && doc.parameters.length > 0) {
      operation.parameters = doc.parameters.map((p) => ({
        name: p.name,
        in: p.in,
        required: p.required,
        description: p.description,
        schema: p.schema,
        ...(p.example === undefined ? {} : { example: p.example }),
      }));
    }
    if (doc.body !== undefined) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': content(doc.body.schema, doc.body.example) },
      };
    }
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation;
  }
  const families = [...new Set(api.routes.map((r) => r.family))];
  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'evict admin API',
      version: options.version ?? '1.0.0',
      description:
        'Session revocation: the admin endpoints of the API families evict speaks, as their own documentation describes them. Every family answers bad input in its own shape and changes nothing.',
    },
    ...(options.servers === undefined ? {} : { servers: options.servers.map((s) => ({ ...s })) }),
    tags: families.map((name) => ({ name, description: FAMILY_TAGS[name] })),
    paths,
    components: {
      securitySchemes: Object.fromEntries([...schemes].sort().map((name) => [name, SECURITY_SCHEMES[name]])),
    },
  };
}

function content(schema: JsonSchema, example: unknown): Record<string, unknown> {
  return example === undefined ? { schema } : { schema, example };
}

/** `wukongim_user_device_quit`, `sessions_delete_sessions_id`: unique across the table. */
function operationIdOf(route: AdminRoute): string {
  const words = route.path.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  const method = route.family === 'sessions' ? [route.method.toLowerCase()] : [];
  return [route.family, ...method, ...words].join('_');
}
