/**
 * `@evict/core/webhooks`: the engine's presence and revocation events POSTed to a URL of the
 * host's, in evict's own JSON, Tencent's `State.StateChange` callback or WuKongIM's
 * `user.onlinestatus` webhook, signed as Standard Webhooks sign; and the check a receiver runs.
 */
export {
  DEFAULT_STATE_CHANGE_PLATFORMS,
  WEBHOOK_FORMATS,
  type WebhookEvent,
  type WebhookEventType,
  type WebhookFormat,
} from './formats.js';
export {
  createWebhookSender,
  type WebhookDropReason,
  type WebhookSender,
  type WebhookSenderOptions,
  type WebhookStats,
} from './sender.js';
export {
  DEFAULT_WEBHOOK_TOLERANCE_SEC,
  signWebhook,
  type VerifyWebhookInput,
  verifyWebhook,
  WEBHOOK_HEADERS,
  type WebhookVerification,
} from './signature.js';
