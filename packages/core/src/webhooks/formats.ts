/**
 * The wire formats a webhook speaks: the host's IM backend reads one of them already.
 *
 * - `evict`: one event a request, `{"id", "type", "data"}`, `data` being the engine's event as
 *   `engine.on` gives it (`revocation`, `connectionOpened`, `connectionEnded`).
 * - `tencent`: Tencent Cloud IM's state-change callback, one a request (cloud.tencent.com/document/
 *   product/269/2570): `POST {url}?CallbackCommand=State.StateChange&contenttype=json&OptPlatform=…
 *   [&SdkAppid=…]`, body `{"CallbackCommand":"State.StateChange","EventTime":<ms>,"Info":{"Action",
 *   "To_Account","Reason"}[,"KickedDevice":[{"Platform"}]]}`. A connection opened is `Login`/
 *   `Register`; one the client left, `Disconnect`/`LinkClose`; one evict closed (a kick, a device
 *   quit, a logout), `Logout`/`Unregister`; a login that pushed a session out (the `replace`
 *   revocation) is `Login`/`Register` with the pushed-out device in `KickedDevice`.
 * - `wukongim`: WuKongIM's presence webhook (WuKongIM v2.2.5 `internal/webhook/webhook.go`,
 *   `Online`/`Offline` and `sendWebhookForHttp`): `POST {url}?event=user.onlinestatus`, body a JSON
 *   array of `"uid-deviceFlag-online-connId-deviceOnlineCount-totalOnlineCount"`, several events a
 *   request. The counts are this node's (WuKongIM's are its slot leader's, cluster-wide).
 */
import type { ConnectionEndedEvent, ConnectionOpenedEvent, RevocationEvent } from '../engine/types.js';

export const WEBHOOK_FORMATS = ['evict', 'tencent', 'wukongim'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** The engine events a webhook can carry, by the name `engine.on` gives them. */
export type WebhookEvent =
  | { type: 'revocation'; data: RevocationEvent }
  | { type: 'connectionOpened'; data: ConnectionOpenedEvent }
  | { type: 'connectionEnded'; data: ConnectionEndedEvent };

export type WebhookEventType = WebhookEvent['type'];

/** An event waiting for delivery, with its id (what the `evict` format carries, for receivers to dedupe on). */
export interface QueuedWebhookEvent {
  id: string;
  queuedAtMs: number;
  event: WebhookEvent;
}

/**
 * The `Platform` Tencent's state-change callback names each device flag (0 Android, 1 Web, 2
 * Windows: WuKongIM's app, web and desktop). The callback's own names (`iOS, Android, Web, Windows,
 * iPad, Mac, Linux`) differ from `query_online_status`'s (`PC`, `iPhone`), hence a table of its own.
 */
export const DEFAULT_STATE_CHANGE_PLATFORMS: Readonly<Record<number, string>> = Object.freeze({
  0: 'Android',
  1: 'Web',
  2: 'Windows',
});

export interface FormatSettings {
  /** Tencent's `SdkAppid` query parameter; left out when absent. */
  sdkAppId: number | undefined;
  platforms: Readonly<Record<number, string>>;
}

/** The events each format carries: the others are not listened to at all. */
export const CARRIED_EVENTS: Record<WebhookFormat, readonly WebhookEventType[]> = {
  evict: ['revocation', 'connectionOpened', 'connectionEnded'],
  tencent: ['revocation', 'connectionOpened', 'connectionEnded'],
  wukongim: ['connectionOpened', 'connectionEnded'],
};

/** Whether the format has anything to say about this event (Tencent: of revocations, a `replace` only). */
export function carries(format: WebhookFormat, event: WebhookEvent): boolean {
  if (!CARRIED_EVENTS[format].includes(event.type)) return false;
  return format !== 'tencent' || event.type !== 'revocation' || event.data.action === 'replace';
}

/** The one request of a delivery: where it goes and its body. */
export interface WebhookRequest {
  url: string;
  body: string;
}

const withQuery = (base: string, query: Record<string, string>): string => {
  const url = new URL(base);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return url.toString();
};

/** A WuKongIM presence line: `uid-deviceFlag-online-connId-deviceOnlineCount-totalOnlineCount`. */
export function wukongimPresenceLine(
  event: ConnectionOpenedEvent | ConnectionEndedEvent,
  online: boolean,
): string {
  const { uid, deviceFlag, connId, deviceConnectionsOnNode, userConnectionsOnNode } = event;
  return `${uid}-${deviceFlag}-${online ? 1 : 0}-${connId}-${deviceConnectionsOnNode}-${userConnectionsOnNode}`;
}

/** Tencent's `State.StateChange` callback of one event (one the format `carries`). */
export function tencentStateChange(
  event: WebhookEvent,
  settings: FormatSettings,
): { optPlatform: string; body: Record<string, unknown> } {
  const platformOf = (deviceFlag: number) => settings.platforms[deviceFlag] ?? 'Unknown';
  const callback = (action: string, uid: string, reason: string, atMs: number) => ({
    CallbackCommand: 'State.StateChange',
    EventTime: atMs,
    Info: { Action: action, To_Account: uid, Reason: reason },
  });
  switch (event.type) {
    case 'connectionOpened': {
      const { uid, deviceFlag, atMs } = event.data;
      return { optPlatform: platformOf(deviceFlag), body: callback('Login', uid, 'Register', atMs) };
    }
    case 'connectionEnded': {
      const { uid, deviceFlag, atMs, endedBy } = event.data;
      // A kick, a device quit or a logout is the server's doing: Tencent names the REST API as the platform then.
      return endedBy === 'evict'
        ? { optPlatform: 'RESTAPI', body: callback('Logout', uid, 'Unregister', atMs) }
        : { optPlatform: platformOf(deviceFlag), body: callback('Disconnect', uid, 'LinkClose', atMs) };
    }
    case 'revocation': {
      const { uid, deviceFlag, atMs, replacedBy } = event.data;
      const kicked = typeof deviceFlag === 'number' ? [{ Platform: platformOf(deviceFlag) }] : [];
      return {
        optPlatform: replacedBy === undefined ? 'Unknown' : platformOf(replacedBy.deviceFlag),
        body: { ...callback('Login', uid, 'Register', atMs), KickedDevice: kicked },
      };
    }
  }
}

/** The request that delivers `batch` (one event, or several for `wukongim`) in `format`. */
export function webhookRequestOf(
  format: WebhookFormat,
  url: string,
  batch: readonly QueuedWebhookEvent[],
  settings: FormatSettings,
): WebhookRequest {
  switch (format) {
    case 'evict': {
      const [{ id, event }] = batch as [QueuedWebhookEvent];
      return { url, body: JSON.stringify({ id, type: event.type, data: event.data }) };
    }
    case 'tencent': {
      const { optPlatform, body } = tencentStateChange((batch[0] as QueuedWebhookEvent).event, settings);
      const query: Record<string, string> = {
        CallbackCommand: 'State.StateChange',
        contenttype: 'json',
        OptPlatform: optPlatform,
      };
      if (settings.sdkAppId !== undefined) query.SdkAppid = String(settings.sdkAppId);
      return { url: withQuery(url, query), body: JSON.stringify(body) };
    }
    case 'wukongim': {
      const lines = batch.map(({ event }) =>
        wukongimPresenceLine(event.data as ConnectionOpenedEvent, event.type === 'connectionOpened'),
      );
      return { url: withQuery(url, { event: 'user.onlinestatus' }), body: JSON.stringify(lines) };
    }
  }
}
