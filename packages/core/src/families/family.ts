import type { Evict } from '../engine/evict.js';
import type { BodyResult, EvictRequest, EvictResponse } from '../http/types.js';
import type { RouteDoc } from './route-doc.js';

/** One admin route of a family. */
export interface FamilyRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** What it takes and answers: Fastify's route schemas and the OpenAPI document are made of it. */
  doc: RouteDoc;
  handle(request: EvictRequest): Promise<EvictResponse>;
}

export interface Family {
  name: FamilyName;
  routes: FamilyRoute[];
}

export type FamilyName = 'wukongim' | 'tencent' | 'lancens';
export const FAMILY_NAMES: readonly FamilyName[] = ['wukongim', 'tencent', 'lancens'];

export type FamilyFactory<O> = (engine: Evict, options: O) => Family;

export type BodyProblem = 'empty' | 'not_json' | 'too_large' | 'not_object' | 'unknown_field';

export type ObjectBody =
  | { ok: true; fields: Readonly<Record<string, unknown>> }
  | { ok: false; problem: BodyProblem; message: string };

/** The request body's JSON value, or what is wrong with it (empty, not JSON, too large). */
export function jsonBody(
  body: BodyResult,
): { ok: true; value: unknown } | { ok: false; problem: BodyProblem; message: string } {
  if (body.kind === 'empty') return { ok: false, problem: 'empty', message: 'request body is empty' };
  if (body.kind === 'invalid') {
    return body.problem === 'too_large'
      ? { ok: false, problem: 'too_large', message: 'request body is larger than 16 KiB' }
      : { ok: false, problem: 'not_json', message: 'request body is not valid JSON' };
  }
  return { ok: true, value: body.value };
}

/**
 * The request body as a plain JSON object whose keys are all in `allowed`, or what is wrong with
 * it. Keys like `__proto__` are just unknown fields: JSON.parse makes them own properties.
 */
export function objectBody(body: BodyResult, allowed: readonly string[]): ObjectBody {
  const json = jsonBody(body);
  if (!json.ok) return json;
  const { value } = json;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'not_object', message: 'request body must be a JSON object' };
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      return { ok: false, problem: 'unknown_field', message: `unknown field ${JSON.stringify(key)}` };
  }
  // A null-prototype copy: reading a field never reaches Object.prototype.
  return { ok: true, fields: Object.assign(Object.create(null) as Record<string, unknown>, value) };
}
