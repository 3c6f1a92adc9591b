/**
 * Starts test/support/gateway-node.ts in a process of its own and talks to it over IPC: each request
 * answered in turn, by id. SIGKILL ends it as a crash would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { repoRoot } from './demo-process.js';
import type { GatewayAnswers, GatewayMessage, GatewayRequest } from './gateway-node.js';

export interface GatewayProcess {
  child: ChildProcess;
  nodeId: number;
  request<K extends GatewayRequest['op']>(
    request: Extract<GatewayRequest, { op: K }>,
    timeoutMs?: number,
  ): Promise<GatewayAnswers[K]>;
  stderr(): string;
  kill(): Promise<void>;
}

/** `env`: REDIS_URL, EVICT_REDIS_PREFIX, NODE_ID, EVICT_CONNECTION_TTL_MS; `nodeArgs` before the script. */
export async function startGatewayNode(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'test/support/gateway-node.ts'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const waiting = new Map<number, (message: GatewayMessage) => void>();
  let nextId = 1;
  const ready = new Promise<number>((resolve, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`gateway node exited (${code ?? signal}) before it was ready:\n${stderr}`)),
    );
    child.on('message', (message: GatewayMessage) => {
      if ('ready' in message) resolve(message.ready);
      else waiting.get(message.id)?.(message);
      waiting.delete(message.id);
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nodeId = await ready;
  return {
    child,
    nodeId,
    request(request, timeoutMs = 120_000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`gateway node ${nodeId}: no answer to ${request.op} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (message) => {
          clearTimeout(timer);
          if ('error' in message) reject(new Error(`gateway node ${nodeId}: ${message.error}`));
          // The answer under a request's id is that request's (gateway-node.ts).
          else if ('answer' in message) resolve(message.answer as never);
        });
        child.send({ id, request });
      });
    },
    stderr: () => stderr,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
