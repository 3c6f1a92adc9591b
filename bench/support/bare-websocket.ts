/**
 * A bare WebSocket client for timing closes by the thousand in one process: it opens a demo node's
 * `/ws`, counts as open once the node's first message (its hello) arrived, and notes the moment the
 * node's close frame arrived and the moment the TCP connection ended.
 *
 * Why not `ws`: the process holding a user's 1,000 clients would spend a few hundred microseconds
 * of CPU on each close, and each client's moment would be taken only once the process got to it.
 * Here a close frame's moment is taken first thing in the socket's `data` callback, and the
 * answering close frame (RFC 6455 §5.5.1, masked, as a client's must be) is written and the socket
 * ended in the next turn, after every frame that arrived in the same turn has been timed.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;

/** A socket of `openBareSocket`, open: its hello arrived. */
export interface BareSocket {
  /** performance.now() when the node's close frame arrived, and its close code. */
  closeFrame: Promise<{ at: number; code: number }>;
  /** performance.now() when the TCP connection ended (the close handshake done, or the socket destroyed). */
  closed: Promise<number>;
  destroy(): void;
}

/** Where a socket puts the writing of its answer to a close frame. */
export interface CloseAnswers {
  push(answer: () => void): void;
}

/** The default: close frames answered in the turn after they arrived (see the header). */
let nextTurn: (() => void)[] = [];
export const answersNextTurn: CloseAnswers = {
  push(answer) {
    if (nextTurn.length === 0)
      setImmediate(() => {
        const due = nextTurn;
        nextTurn = [];
        for (const write of due) write();
      });
    nextTurn.push(answer);
  },
};

/**
 * Answers held until `expected` close frames arrived (or `capMs` passed): in one process standing
 * in for many devices, each answer is CPU the process (and the node reading it) spends before the
 * frames still in flight are read, where a device would answer on its own CPU. What it changes is
 * when the TCP connections end, which the caller times apart.
 */
export class AnswersOnceAllArrived implements CloseAnswers {
  #due: (() => void)[] = [];
  #timer: NodeJS.Timeout;
  #done = false;

  constructor(
    private readonly expected: number,
    capMs: number,
  ) {
    this.#timer = setTimeout(() => this.#flush(), capMs).unref();
  }

  push(answer: () => void): void {
    if (this.#done) {
      answer();
      return;
    }
    this.#due.push(answer);
    if (this.#due.length >= this.expected) setImmediate(() => this.#flush());
  }

  #flush(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    for (const write of this.#due) write();
    this.#due = [];
  }
}

/** A client's close frame: FIN and opcode 8, masked, carrying `code`. */
function maskedCloseFrame(code: number): Buffer {
  const mask = randomBytes(4);
  const frame = Buffer.alloc(8);
  frame[0] = 0x80 | OPCODE_CLOSE;
  frame[1] = 0x80 | 2;
  mask.copy(frame, 2);
  frame[6] = (code >> 8) ^ mask[0]!;
  frame[7] = (code & 0xff) ^ mask[1]!;
  return frame;
}

/** Opens `ws://127.0.0.1:<port><path>`; resolves once the first text frame (the node's hello) arrived. */
export function openBareSocket(
  port: number,
  path: string,
  answers: () => CloseAnswers = () => answersNextTurn,
): Promise<BareSocket> {
  const socket: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
  let resolveFrame!: (frame: { at: number; code: number }) => void;
  const closeFrame = new Promise<{ at: number; code: number }>((resolve) => {
    resolveFrame = resolve;
  });
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let upgraded = false;
    let open = false;
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.on('error', fail);
    socket.once('close', () => {
      if (!open) reject(new Error('the connection closed before the hello'));
      // Closed without a close frame: 1006, as RFC 6455 §7.1.5 names it.
      resolveFrame({ at: performance.now(), code: 1006 });
    });
    socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const status = buffered.toString('latin1', 0, end).split(' ', 2)[1];
        if (status !== '101') return fail(new Error(`the upgrade was answered ${status}`));
        upgraded = true;
        buffered = buffered.subarray(end + 4);
      }
      // Frames from a server are unmasked; the demo's are short (a hello, a close).
      while (buffered.length >= 2) {
        const opcode = buffered[0]! & 0x0f;
        let length = buffered[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffered.length < 4) return;
          length = buffered.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          return fail(new Error('a frame longer than 65,535 bytes from the demo'));
        }
        if (buffered.length < offset + length) return;
        const payload = buffered.subarray(offset, offset + length);
        buffered = buffered.subarray(offset + length);
        if (opcode === OPCODE_TEXT && !open) {
          open = true;
          resolve({ closeFrame, closed, destroy: () => socket.destroy() });
        } else if (opcode === OPCODE_CLOSE) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          resolveFrame({ at, code });
          answers().push(() => socket.end(maskedCloseFrame(code)));
          return;
        }
      }
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
  });
}
