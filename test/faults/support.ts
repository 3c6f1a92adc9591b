/**
 * What the fault suite and the soak share: demo nodes with the diagnostics preload, a keep-alive HTTP
 * client, WebSocket connects that record the guard's decision, and small statistics. The
 * redis-server of their own is test/support/redis-server.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { type DemoNode, type Framework, startDemoNode } from '../support/demo-process.js';

export { describeWithRedisServer, hasRedisServer, OwnRedis } from '../support/redis-server.js';

/** FAULT_QUICK=1 (or FAULT_SCALE<1): the short version CI runs. */
export const QUICK = process.env.FAULT_QUICK === '1' || process.env.FAULT_QUICK === 'true';
export const SCALE = Number(process.env.FAULT_SCALE ?? (QUICK ? 0.2 : 1));

export const now = () => performance.now();

/**
 * How long after a revocation's acknowledgement another node may still accept the credential: the
 * cluster's guarantee (docs/clusters.md, "What the guard's cache guarantees"). The node that served the
 * revocation rejects every request sent after its answer. Every other node rejects the credential once
 * its event loop has read the revocation's message, published before the answer; a node busy when it
 * arrives may first answer a request already waiting on its sockets (epoll hands back ready sockets
 * in no particular order). Measured, that window is a few milliseconds (bench section 5c); the bound
 * leaves room for a loaded CI machine, and a node that missed the message would accept well past it.
 */
export const PROPAGATION_BOUND_MS = 500;

/**
 * A guard decision that accepted a credential, judged against an acknowledged revocation of it:
 * `undefined` when the request was sent before the acknowledgement; `propagating` when another
 * node accepted it within PROPAGATION_BOUND_MS of it; `violation` otherwise.
 */
export function acceptedAfterAck(
  check: { node: number; sentAt: number },
  ack: { node: number; ackedAt: number },
): 'propagating' | 'violation' | undefined {
  if (check.sentAt <= ack.ackedAt) return undefined;
  if (check.node === ack.node || check.sentAt - ack.ackedAt > PROPAGATION_BOUND_MS) return 'violation';
  return 'propagating';
}

/**
 * Where a fault test writes its report (`name`, e.g. `report.md`): `test/faults/out/`, which git
 * ignores, so that running a test leaves the tree as it was; with FAULT_PUBLISH=1 next to the tests,
 * over the reports the repository publishes (a deliberate full run, to refresh them).
 */
export function writeReport(name: string, text: string): void {
  const publish = process.env.FAULT_PUBLISH === '1' || process.env.FAULT_PUBLISH === 'true';
  const dir = new URL(publish ? './' : './out/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(name, dir), text);
}

const DIAG = fileURLToPath(new URL('./diag.cjs', import.meta.url));

/**
 * A demo node with the diagnostics preload (`[diag]` lines every `diagMs`; 0: only `[diag-exit]`).
 * `nodeArgs` go to node itself (V8 flags NODE_OPTIONS does not take, such as the semi-space sizes).
 */
export function startNode(
  framework: Framework,
  nodeId: number,
  env: Record<string, string>,
  diagMs = 0,
  nodeArgs: string[] = [],
): Promise<DemoNode> {
  return startDemoNode(
    framework,
    nodeId,
    {
      ...env,
      NODE_OPTIONS: `--expose-gc --require ${DIAG}`,
      FAULT_DIAG_MS: String(diagMs),
    },
    nodeArgs,
  );
}

export interface DiagSample {
  t: number;
  rss: number;
  /** After a full GC: what is live. */
  heapUsed: number;
  /** What V8 has committed for its heap, the young generation included. */
  heapTotal: number;
  /** The young generation's committed size (both semi-spaces). */
  newSpace: number;
  external: number;
  arrayBuffers: number;
  handles: number;
  resources: Record<string, number>;
}

export function diagSamples(node: DemoNode): DiagSample[] {
  return node.lines.filter((l) => l.startsWith('[diag] ')).map((l) => JSON.parse(l.slice(7)) as DiagSample);
}

export interface DiagExit {
  code: number;
  /** Whether the process exited on its own once close() resolved (nothing left open). */
  natural: boolean;
  afterMs: number;
  resources?: Record<string, number>;
}

export function diagExit(node: DemoNode): DiagExit | undefined {
  const line = node.lines.find((l) => l.startsWith('[diag-exit] '));
  return line === undefined ? undefined : JSON.parse(line.slice(12));
}

/** SIGTERM, then the exit code (null if it did not exit within `withinMs`, then SIGKILL). */
export async function terminate(
  node: DemoNode,
  withinMs = 5_000,
): Promise<{ code: number | null; ms: number }> {
  const { child } = node;
  const started = now();
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, ms: 0 };
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const code = await Promise.race([
    exited,
    new Promise<'late'>((r) => setTimeout(() => r('late'), withinMs)),
  ]);
  if (code === 'late') {
    child.kill('SIGKILL');
    await exited;
    return { code: null, ms: now() - started };
  }
  return { code, ms: now() - started };
}

export interface HttpAnswer {
  /** 0: no answer (connection refused or reset, or the client's timeout). */
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
  json: any;
  text: string;
  error?: string;
  timedOut: boolean;
}

/** One HTTP request on a keep-alive agent; never throws. */
export function httpCall(
  agent: Agent,
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          done({ status: res.statusCode ?? 0, json, text, timedOut: false });
        });
        res.on('error', (error) =>
          done({ status: 0, json: undefined, text, error: String(error), timedOut: false }),
        );
      },
    );
    const timer = setTimeout(() => {
      done({ status: 0, json: undefined, text: '', error: 'client timeout', timedOut: true });
      req.destroy();
    }, options.timeoutMs ?? 10_000);
    req.on('error', (error) =>
      done({ status: 0, json: undefined, text: '', error: String(error), timedOut: false }),
    );
    req.end(body);
  });
}

export interface SocketAttempt {
  /** 101 when the node said hello, else the upgrade's HTTP status (0: no answer). */
  status: number;
  ws?: WebSocket;
  connId?: number;
  nodeId?: number;
  closed?: Promise<{ code: number; reason: string }>;
  closeCode?: number;
}

/** A WebSocket connect, recorded as a guard decision: accepted (hello) or the upgrade's status. */
export function connectSocket(port: number, token: string, timeoutMs = 5_000): Promise<SocketAttempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`);
    let settled = false;
    const attempt: SocketAttempt = { status: 0 };
    const done = (status: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      attempt.status = status;
      if (status !== 101) ws.terminate();
      resolve(attempt);
    };
    const timer = setTimeout(() => done(0), timeoutMs);
    attempt.closed = new Promise((resolveClosed) =>
      ws.once('close', (code, reason) => {
        attempt.closeCode = code;
        resolveClosed({ code, reason: String(reason) });
        done(0);
      }),
    );
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    ws.on('error', () => done(0));
    ws.once('message', (data) => {
      try {
        const hello = JSON.parse(String(data));
        attempt.ws = ws;
        attempt.connId = hello.conn_id;
        attempt.nodeId = hello.node_id;
        done(101);
      } catch {
        done(0);
      }
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A small seeded PRNG (mulberry32): a run's choices are reproducible from FAULT_SEED. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const keepAliveAgent = () => new Agent({ keepAlive: true, maxSockets: 32 });
