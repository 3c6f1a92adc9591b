/**
 * Replays every example an OpenAPI document of evict's gives against a live server, and checks
 * that each answer has a documented status and that status's documented shape.
 */
import { isDeepStrictEqual } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
// OpenAPI's own keyword beside JSON Schema's, and a format ajv leaves to ajv-formats.
ajv.addKeyword('example');
ajv.addFormat('date-time', true);

/** A JSON Schema validator (draft 2020-12, OpenAPI 3.1's dialect), compiled once per schema. */
export function schemaValidator(schema: object): ((value: unknown) => boolean) & { errors?: unknown } {
  return ajv.compile(schema);
}

interface Operation {
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; example?: unknown }[];
  requestBody?: { content: Record<string, { example?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: object; example?: unknown }> }>;
}

export interface ReplayCredentials {
  /** The `token` header of the WuKongIM routes; absent when the server mounts them open. */
  managerToken?: string;
  /** A live session token, for the routes a user authenticates. */
  sessionToken: string;
  /** The query of a Tencent call (sdkappid, identifier, a fresh usersig, random, contenttype). */
  tencentQuery(): string;
}

/** Routes whose example ends the example user's sessions: replayed last. */
const ENDS_SESSIONS = /device_quit|kick|logout|revoke-others/;

/** The problems found (none: every answer as documented) and how many calls were made. */
export async function replayDocumentedExamples(
  baseUrl: string,
  document: { paths?: unknown },
  credentials: ReplayCredentials,
): Promise<{ calls: number; problems: string[]; matched: string[]; differing: string[] }> {
  const paths = document.paths as Record<string, Record<string, Operation>>;
  const operations = Object.entries(paths)
    .flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
    )
    .sort((a, b) => Number(ENDS_SESSIONS.test(a.path)) - Number(ENDS_SESSIONS.test(b.path)));
  const problems: string[] = [];
  /** Answers equal to the documented example of their status, and those whose example differs. */
  const matched: string[] = [];
  const differing: string[] = [];
  for (const { path, method, operation } of operations) {
    const schemes = (operation.security ?? []).flatMap((s) => Object.keys(s));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const query = new URLSearchParams(schemes.includes('tencentUserSig') ? credentials.tencentQuery() : '');
    if (schemes.includes('wukongimManagerToken') && credentials.managerToken !== undefined)
      headers.token = credentials.managerToken;
    if (schemes.includes('lancensLoginToken') || schemes.includes('sessionToken'))
      headers.token = credentials.sessionToken;
    for (const p of operation.parameters ?? [])
      if (p.in === 'query' && p.example !== undefined && !query.has(p.name))
        query.set(p.name, String(p.example));
    // A path parameter: well formed, naming nothing.
    const url = `${baseUrl}${path.replace(/\{[^}]+\}/g, 'AAAAAAAAAAAAAAAAAAAAAA')}${query.size > 0 ? `?${query}` : ''}`;
    const example = operation.requestBody?.content['application/json']?.example;
    const response = await fetch(url, {
      method: method.toUpperCase(),
      headers,
      ...(example === undefined ? {} : { body: JSON.stringify(example) }),
    });
    // An event stream never ends by itself: its head is checked, and the stream let go.
    const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (streaming) await response.body?.cancel();
    const text = streaming ? '' : await response.text();
    const where = `${method.toUpperCase()} ${path} → ${response.status} ${text.slice(0, 200)}`;
    const documented = operation.responses[String(response.status)];
    if (documented === undefined) {
      problems.push(`${where}: status not documented`);
      continue;
    }
    const [mediaType, media] = Object.entries(documented.content ?? {})[0] ?? [];
    if (media === undefined) {
      if (text !== '') problems.push(`${where}: documented without a body`);
      continue;
    }
    if (!(response.headers.get('content-type') ?? '').startsWith(mediaType!))
      problems.push(`${where}: answered ${response.headers.get('content-type')}, documented ${mediaType}`);
    // A body that is not JSON (Prometheus' text, the console's page, an event stream) is checked for its media type only.
    if (mediaType !== 'application/json') continue;
    const { schema } = media;
    const validate = schemaValidator(schema);
    const body: unknown = JSON.parse(text);
    if (!validate(body)) problems.push(`${where}: ${JSON.stringify(validate.errors)}`);
    if (media.example !== undefined) {
      const operationName = `${method.toUpperCase()} ${path} ${response.status}`;
      if (isDeepStrictEqual(body, media.example)) matched.push(operationName);
      else differing.push(`${operationName}: ${text.slice(0, 200)}`);
    }
  }
  return { calls: operations.length, problems, matched, differing };
}
