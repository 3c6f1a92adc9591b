/**
 * WebSocket clients in a process of their own (`node --import tsx test/support/socket-clients.ts`),
 * so that a test's sockets are spread over several processes' file descriptors. Driven over IPC,
 * one request at a time: `connect` opens a socket per uid to `ws://127.0.0.1:<port>/ws?uid=` and
 * waits until the server says it registered each; `state` tells which are open and how the others
 * closed; `close` ends them all.
 */
import WebSocket from 'ws';

export type ClientsRequest =
  | { op: 'connect'; port: number; uids: string[]; inFlight: number }
  | { op: 'state' }
  | { op: 'close' };

export interface ClientsState {
  open: number;
  /** Closed sockets: uid and close code. */
  closed: Array<{ uid: string; code: number }>;
  failed: number;
}

const sockets: Array<{ uid: string; ws: WebSocket; closeCode?: number }> = [];
let failed = 0;

/** Opens one socket; resolves once the server registered it (its `registered` message), or it failed. */
function open(port: number, uid: string): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?uid=${encodeURIComponent(uid)}`, {
      perMessageDeflate: false,
    });
    const entry: { uid: string; ws: WebSocket; closeCode?: number } = { uid, ws };
    sockets.push(entry);
    ws.once('message', () => resolve());
    ws.once('error', () => {
      failed += 1;
      resolve();
    });
    ws.once('close', (code) => {
      entry.closeCode = code;
      resolve();
    });
  });
}

async function handle(request: ClientsRequest): Promise<unknown> {
  switch (request.op) {
    case 'connect': {
      let next = 0;
      const worker = async () => {
        while (next < request.uids.length) await open(request.port, request.uids[next++]!);
      };
      await Promise.all(Array.from({ length: request.inFlight }, worker));
      return state();
    }
    case 'state':
      return state();
    case 'close':
      for (const { ws } of sockets) ws.terminate();
      return state();
  }
}

function state(): ClientsState {
  return {
    open: sockets.filter((s) => s.ws.readyState === WebSocket.OPEN).length,
    closed: sockets.filter((s) => s.closeCode !== undefined).map((s) => ({ uid: s.uid, code: s.closeCode! })),
    failed,
  };
}

process.on('message', (request: ClientsRequest) => {
  handle(request).then(
    (answer) => process.send?.({ answer }),
    (error: unknown) => process.send?.({ error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
