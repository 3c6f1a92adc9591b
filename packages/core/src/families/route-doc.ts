import { MAX_PRESENCE_UIDS } from '../engine/types.js';
import { MAX_DEVICE_FLAG, MAX_TOKEN_LENGTH, MAX_UID_BYTES } from '../validation.js';

/**
 * What a route of evict's takes and answers, as JSON Schema (draft 2020-12, the dialect of OpenAPI
 * 3.1). Each family writes it beside its handlers, from the same constants they check against, and
 * takes its body's field list from it; adapters that describe routes (Fastify's schemas) and the
 * OpenAPI document read it from the route table. The handlers stay the judges of a request: each
 * family answers bad input in its own shape, which no schema validator would.
 */
export type JsonSchema = { readonly [keyword: string]: unknown };

export interface ParameterDoc {
  name: string;
  in: 'query' | 'header' | 'path';
  required: boolean;
  description: string;
  schema: JsonSchema;
  example?: unknown;
}

export interface ResponseDoc {
  description: string;
  /** Default `application/json`. */
  contentType?: string;
  /** The body's schema; absent for an empty body. */
  schema?: JsonSchema;
  example?: unknown;
}

/** How a route authenticates its caller: the name of a scheme in `SECURITY_SCHEMES`. */
export type SecuritySchemeName =
  | 'wukongimManagerToken'
  | 'tencentUserSig'
  | 'lancensLoginToken'
  | 'sessionToken'
  | 'sessionBearer'
  | 'metricsBearer';

export interface RouteDoc {
  summary: string;
  description: string;
  /** The schemes any one of which authenticates a call; absent or empty: the route is open (or authenticates in its body). */
  security?: readonly SecuritySchemeName[];
  parameters?: readonly ParameterDoc[];
  /** A JSON body: its schema and an example a call would send. */
  body?: { schema: JsonSchema; example: unknown };
  /** Keyed by status code (`"200"`, `"400"`, …). */
  responses: Readonly<Record<string, ResponseDoc>>;
}

/** The security schemes the routes name, as OpenAPI writes them. */
export const SECURITY_SCHEMES: Readonly<Record<SecuritySchemeName, JsonSchema>> = {
  wukongimManagerToken: {
    type: 'apiKey',
    in: 'header',
    name: 'token',
    description: "WuKongIM's manager token (`wukongim.managerToken`), compared in constant time.",
  },
  tencentUserSig: {
    type: 'apiKey',
    in: 'query',
    name: 'usersig',
    description:
      "An App admin's UserSig (TLSSigAPIv2, HMAC-SHA256 with the app's secret key), with `sdkappid`, `identifier`, `random` and `contenttype=json` beside it in the query.",
  },
  lancensLoginToken: {
    type: 'apiKey',
    in: 'header',
    name: 'token',
    description: "The user's own login token.",
  },
  sessionToken: {
    type: 'apiKey',
    in: 'header',
    name: 'token',
    description: 'The signed-in user’s session token.',
  },
  sessionBearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'The signed-in user’s session token as `Authorization: Bearer <token>`.',
  },
  metricsBearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'The metrics token (`metrics.bearerToken`), as Prometheus sends it.',
  },
};

/** A body of exactly these fields: the field list a handler accepts is this schema's. */
export function objectSchema(
  properties: Readonly<Record<string, JsonSchema>>,
  required: readonly string[] = [],
): JsonSchema {
  return { type: 'object', properties, required, additionalProperties: false };
}

/** The fields an object schema allows, for `objectBody`. */
export function fieldsOf(schema: JsonSchema): readonly string[] {
  return Object.keys(schema.properties as Record<string, JsonSchema>);
}

export const uidSchema = (description = 'The user id.'): JsonSchema => ({
  type: 'string',
  minLength: 1,
  // Characters, not bytes: a schema cannot count UTF-8 bytes, so the description says the rest.
  maxLength: MAX_UID_BYTES,
  description: `${description} At most ${MAX_UID_BYTES} bytes of UTF-8, no control characters.`,
});

export const uidListSchema = (description: string): JsonSchema => ({
  type: 'array',
  items: uidSchema(),
  maxItems: MAX_PRESENCE_UIDS,
  uniqueItems: true,
  description,
});

export const deviceFlagSchema = (
  description = 'The device flag (WuKongIM: 0 app, 1 web, 2 PC).',
): JsonSchema => ({
  type: 'integer',
  minimum: 0,
  maximum: MAX_DEVICE_FLAG,
  description,
});

export const tokenSchema = (description: string): JsonSchema => ({
  type: 'string',
  minLength: 1,
  maxLength: MAX_TOKEN_LENGTH,
  description,
});

export const positiveIdSchema = (description: string): JsonSchema => ({
  type: 'integer',
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description,
});

/** The `{"status":"ok"}` most routes answer. */
export const statusOkSchema: JsonSchema = {
  type: 'object',
  properties: { status: { const: 'ok' } },
  required: ['status'],
};
