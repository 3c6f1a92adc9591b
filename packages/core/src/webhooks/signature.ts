/**
 * The webhook signature, as Standard Webhooks (standardwebhooks.com) defines it, so that its
 * libraries verify evict's deliveries as they are:
 *
 * ```
 * webhook-id:        the delivery's id (the same on every retry of it: dedupe on it)
 * webhook-timestamp: when this attempt was signed, in whole seconds since the epoch
 * webhook-signature: v1,<base64 of HMAC-SHA256(key, `${id}.${timestamp}.${rawBody}`)>
 * ```
 *
 * The key: a secret `whsec_<base64>` is those base64 bytes (the standard's form); any other secret
 * is its UTF-8 bytes. The signature header may list several space-separated signatures (a key being
 * rotated): one that verifies is enough. A timestamp further than the tolerance from now is refused,
 * so that a captured delivery cannot be replayed later.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

/** How far a delivery's timestamp may be from the receiver's clock by default: five minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_SEC = 300;

const STANDARD_SECRET_PREFIX = 'whsec_';

/** The HMAC key of a secret: the base64 bytes of `whsec_…`, else the secret's UTF-8 bytes. */
export function webhookKeyOf(secret: string): Buffer {
  if (typeof secret !== 'string' || secret === '')
    throw new TypeError('evict: a webhook secret must be a non-empty string');
  return secret.startsWith(STANDARD_SECRET_PREFIX)
    ? Buffer.from(secret.slice(STANDARD_SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** The `webhook-signature` value of one delivery attempt: `v1,<base64>`. */
export function signWebhook(
  secret: string,
  id: string,
  timestampSec: number,
  rawBody: string | Uint8Array,
): string {
  const mac = createHmac('sha256', webhookKeyOf(secret)).update(`${id}.${timestampSec}.`).update(rawBody);
  return `v1,${mac.digest('base64')}`;
}

export type WebhookVerification =
  | { ok: true; id: string; timestampSec: number }
  | { ok: false; reason: 'missing_header' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature' };

export interface VerifyWebhookInput {
  secret: string;
  /** The request's headers (a Node `IncomingHttpHeaders`, a fetch `Headers`, or a plain record of lower-case names). */
  headers: Headers | Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The body exactly as received, before any JSON parsing. */
  rawBody: string | Uint8Array;
  /** Default `DEFAULT_WEBHOOK_TOLERANCE_SEC`. */
  toleranceSec?: number;
  /** Default `Date.now()`. */
  nowMs?: number;
}

function headerOf(headers: VerifyWebhookInput['headers'], name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | readonly string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : (value as string | undefined);
}

/**
 * Checks a delivery as a receiver gets it: the signature over the raw body (compared in constant
 * time) and the timestamp's freshness. Returns the delivery id to dedupe on.
 */
export function verifyWebhook(input: VerifyWebhookInput): WebhookVerification {
  const id = headerOf(input.headers, WEBHOOK_HEADERS.id);
  const timestamp = headerOf(input.headers, WEBHOOK_HEADERS.timestamp);
  const signatures = headerOf(input.headers, WEBHOOK_HEADERS.signature);
  if (id === undefined || timestamp === undefined || signatures === undefined)
    return { ok: false, reason: 'missing_header' };
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const timestampSec = Number(timestamp);
  const toleranceSec = input.toleranceSec ?? DEFAULT_WEBHOOK_TOLERANCE_SEC;
  const nowSec = Math.floor((input.nowMs ?? Date.now()) / 1000);
  if (Math.abs(nowSec - timestampSec) > toleranceSec) return { ok: false, reason: 'stale_timestamp' };
  const expected = Buffer.from(signWebhook(input.secret, id, timestampSec, input.rawBody).slice(3), 'base64');
  for (const candidate of signatures.split(' ')) {
    if (!candidate.startsWith('v1,')) continue;
    const given = Buffer.from(candidate.slice(3), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected))
      return { ok: true, id, timestampSec };
  }
  return { ok: false, reason: 'bad_signature' };
}
