/**
 * A redis-server of a test's own: killable (SIGKILL), restartable on the same port and directory,
 * pausable (SIGSTOP). Used by the Redis restart test and the fault suite.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, it } from 'vitest';
import { freePort, waitFor } from './demo-process.js';

/** Redis Cluster's bus listens on the node's port plus this. */
const CLUSTER_BUS_OFFSET = 10_000;

export const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * `describe` (or `base`, e.g. `describeRedis`) for tests that start redis-server processes of their
 * own: without the binary they are skipped with a loud message, and under CI=true they fail, as the
 * tests that need a running Redis do.
 */
export function describeWithRedisServer(
  name: string,
  fn: () => void,
  base: (name: string, fn: () => void) => void = describe,
): void {
  if (hasRedisServer) {
    base(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs the redis-server binary: under CI=true, these tests must run, not skip', () => {
        throw new Error('redis-server is required under CI=true and is not on PATH');
      });
    });
  } else {
    console.warn(`\n!!! SKIPPED, no redis-server binary on PATH: "${name}"\n`);
    describe.skip(name, fn);
  }
}

/** Waits until the server `child` started on `port` answers PING (10 s at most); fails if it exits. */
async function answersPing(child: ChildProcess, port: number, what: string): Promise<void> {
  const probe = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await waitFor(
      `${what} on port ${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${what} exited`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      },
      10_000,
    );
  } finally {
    probe.disconnect();
  }
}

/** A redis-server of the test's own; with `aof`, every acknowledged write survives a kill -9. */
export class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'evict-redis-'));
  #child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly aof: boolean,
    /** More arguments for redis-server (`--replicaof host port`, a Sentinel's config file first). */
    readonly extraArgs: readonly string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir];
    // AOF with fsync on every write: a write Redis acknowledged survives a kill -9.
    if (this.aof) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    else args.push('--appendonly', 'no');
    args.push(...this.extraArgs);
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.#child = child;
    await answersPing(child, this.port, 'redis-server');
  }

  /** SIGKILL: no shutdown, no last save. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the TCP connections stay up, nothing answers. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async remove(): Promise<void> {
    this.resume();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Sentinel of the test's own (`redis-server <config> --sentinel`), watching the primary `name` at
 * `primaryPort`: with `quorum` Sentinels agreeing it is down `downAfterMs` after it stops answering,
 * they promote a replica. Its config lives in a temporary directory (Sentinel rewrites it).
 */
export class OwnSentinel {
  readonly dir = mkdtempSync(join(tmpdir(), 'evict-sentinel-'));
  #child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly name: string,
    readonly primaryPort: number,
    readonly options: { quorum: number; downAfterMs: number; failoverTimeoutMs: number },
  ) {}

  async start(): Promise<void> {
    const config = join(this.dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${this.port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${this.name} 127.0.0.1 ${this.primaryPort} ${this.options.quorum}`,
        `sentinel down-after-milliseconds ${this.name} ${this.options.downAfterMs}`,
        `sentinel failover-timeout ${this.name} ${this.options.failoverTimeoutMs}`,
        `sentinel parallel-syncs ${this.name} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
    this.#child = child;
    await answersPing(child, this.port, 'redis-server --sentinel');
  }

  /** `SENTINEL MASTER <name>` as a record of its fields. */
  async primaryState(): Promise<Record<string, string>> {
    const sentinel = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
    sentinel.on('error', () => undefined);
    try {
      const fields = (await sentinel.call('SENTINEL', 'MASTER', this.name)) as string[];
      const state: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) state[fields[i]!] = fields[i + 1]!;
      return state;
    } finally {
      sentinel.disconnect();
    }
  }

  async remove(): Promise<void> {
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A port free for a cluster node and for its bus (port + 10000). */
export function freeClusterPort(): Promise<number> {
  return freePort(CLUSTER_BUS_OFFSET);
}

/** Runs redis-cli against 127.0.0.1:`port`; its output and errors as one string. */
export function redisCli(port: number, ...args: string[]): string {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
  });
  return `${result.stdout}${result.stderr}`;
}

/** Joins the cluster-enabled servers on `ports` into one cluster, `replicas` replicas per primary. */
export function formCluster(ports: number[], replicas: number): void {
  const created = spawnSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  if (created.status !== 0)
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
}
