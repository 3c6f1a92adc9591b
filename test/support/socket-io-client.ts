import { io as connectClient, type Socket } from 'socket.io-client';

/** A socket.io client that said hello, with what it heard since. */
export interface HeldSocketIo {
  client: Socket;
  hello: { uid: string; conn_id: number; node_id: number; device_flag?: number };
  /** Every event after the hello, in order, `disconnect` (with its reason) included. */
  events: [string, unknown][];
  /** Resolves with the disconnect reason. */
  disconnected: Promise<string>;
}

/**
 * Connects over WebSocket (or the transports given: `['polling']` keeps to HTTP long-polling), with
 * no reconnection, `auth` and `query`, and waits for the server's `hello`; rejects with the
 * `connect_error` of a refused handshake. `opened` collects the clients.
 */
export async function connectSocketIo(
  url: string,
  opened: Socket[],
  auth: Record<string, unknown>,
  query: Record<string, string> = {},
  transports: ('websocket' | 'polling')[] = ['websocket'],
): Promise<HeldSocketIo> {
  const client = connectClient(url, {
    auth,
    query,
    transports,
    // Long-polling only when asked: no upgrade to WebSocket behind the test's back.
    upgrade: transports.includes('websocket'),
    reconnection: false,
    forceNew: true,
  });
  opened.push(client);
  const events: [string, unknown][] = [];
  client.onAny((event, payload) => {
    if (event !== 'hello') events.push([event, payload]);
  });
  const disconnected = new Promise<string>((resolve) =>
    client.on('disconnect', (reason) => {
      events.push(['disconnect', reason]);
      resolve(reason);
    }),
  );
  const hello = await new Promise<HeldSocketIo['hello']>((resolve, reject) => {
    client.once('hello', resolve);
    client.once('connect_error', reject);
  });
  return { client, hello, events, disconnected };
}
