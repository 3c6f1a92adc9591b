/**
 * What every Redis test in the repo shares: where Redis is, whether it answers, and how to name keys.
 * Without Redis, Redis suites are skipped with a loud warning, except under `CI=true`, where a
 * missing Redis fails the run: CI must never pass by skipping them.
 */
import { randomUUID } from 'node:crypto';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { describe, it } from 'vitest';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const IS_CI = process.env.CI === 'true' || process.env.CI === '1';

/** One RESP command, every argument a bulk string (safe for any password). */
function respCommand(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * True if a Redis answers PING at `url` (after AUTH, if the url has credentials) within `timeoutMs`.
 * Plain TCP (or TLS for `rediss:`), no client library: it never retries and never throws.
 */
export function redisReachable(url: string = REDIS_URL, timeoutMs = 1_000): Promise<boolean> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  const tls = parsed.protocol === 'rediss:';
  if (!tls && parsed.protocol !== 'redis:') return Promise.resolve(false);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = Number(parsed.port || 6379);
  const password = decodeURIComponent(parsed.password);
  const username = decodeURIComponent(parsed.username);

  return new Promise((resolve) => {
    let socket: Socket;
    let replies = '';
    const done = (up: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(up);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    const send = () => {
      const auth = password
        ? username
          ? respCommand('AUTH', username, password)
          : respCommand('AUTH', password)
        : '';
      socket.write(`${auth}${respCommand('PING')}`);
    };
    socket = tls ? connectTls({ host, port, servername: host }, send) : connectTcp({ host, port }, send);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      replies += chunk;
      if (replies.startsWith('-') || replies.includes('\r\n-')) done(false);
      else if (replies.includes('+PONG\r\n')) done(true);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Whether the Redis at `REDIS_URL` answered when this module loaded. */
export const redisUp = await redisReachable(REDIS_URL);

/** A fresh key prefix (`evict-test:<random>:`), so that suites and runs share one Redis safely. */
export function randomPrefix(): string {
  return `evict-test:${randomUUID()}:`;
}

/**
 * `describe` for a suite that needs the Redis at `REDIS_URL`. Without it: skipped, with a loud
 * warning, or under `CI=true` a failing test that says Redis is required.
 */
export const describeRedis = Object.assign(
  (name: string, fn: () => void): void => {
    if (redisUp) {
      describe(name, fn);
    } else if (IS_CI) {
      describe(name, () => {
        it(`needs Redis at ${REDIS_URL}: under CI=true, Redis tests must run, not skip`, () => {
          throw new Error(`Redis is required under CI=true, and ${REDIS_URL} does not answer PING`);
        });
      });
    } else {
      console.warn(
        [
          '',
          '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
          `!!! REDIS TESTS SKIPPED: "${name}"`,
          `!!! No Redis answers PING at ${REDIS_URL} (set REDIS_URL to change it).`,
          '!!! Start one (e.g. `docker run --rm -p 6379:6379 redis:7`) to run them.',
          '!!! Under CI=true these tests fail instead of skipping.',
          '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
          '',
        ].join('\n'),
      );
      describe.skip(name, fn);
    }
  },
  {
    /** Skips the suite outright, whatever Redis does (for a suite that needs more than Redis). */
    skip: (name: string, fn: () => void): void => {
      describe.skip(name, fn);
    },
  },
);
