/**
 * 12. What a kick costs when replicas must confirm it: a primary and one replica of the section's own
 * (`redis-server` on free ports, in a temporary directory, removed afterwards), one engine on the
 * built packages, kicks with the Redis store's default acknowledgement (the primary applied it) and
 * with `waitForReplicas: { replicas: 1 }` (WAIT after each), in alternating rounds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/demo-process.js';
import { type BenchOptions, type BenchResult, type BenchSection, median, percentile } from '../report.js';
import { builtPackages } from '../support/compile.js';

const MODES = ['primary', 'replica'] as const;
const USERS = 1_000;
const WAIT_TIMEOUT_MS = 1_000;

interface Plan {
  rounds: number;
  roundMs: number;
  /** Kicks in flight at once (an admin service under load), and one at a time (a lone operator). */
  concurrency: number[];
}
const FULL: Plan = { rounds: 5, roundMs: 3_000, concurrency: [1, 16] };
const QUICK: Plan = { rounds: 1, roundMs: 500, concurrency: [1, 16] };

/** A redis-server of the section's own, answering PING. */
async function startRedis(dir: string, args: string[]): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...args,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return { port, child };
    } catch {
      if (child.exitCode !== null) throw new Error('redis-server exited (is it installed?)');
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export const section: BenchSection = {
  id: 'replica-ack',
  title: '12. Kicks acknowledged by the primary, or by a replica too (WAIT)',
  async run(options: BenchOptions): Promise<BenchResult> {
    const plan = options.quick ? QUICK : FULL;
    const { core, redis } = await builtPackages();
    const dir = mkdtempSync(join(tmpdir(), 'evict-bench-replica-'));
    const children: ChildProcess[] = [];
    try {
      const primary = await startRedis(mkdtempSync(join(dir, 'primary-')), []);
      children.push(primary.child);
      const replica = await startRedis(mkdtempSync(join(dir, 'replica-')), [
        '--replicaof',
        '127.0.0.1',
        String(primary.port),
      ]);
      children.push(replica.child);
      const onReplica = new Redis(replica.port, '127.0.0.1');
      for (let i = 0; !(await onReplica.info('replication')).includes('master_link_status:up'); i += 1) {
        if (i > 200) throw new Error('the replica did not sync');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      onReplica.disconnect();

      const client = new Redis(primary.port, '127.0.0.1');
      const stores = {
        primary: new redis.RedisStore({ client, prefix: 'bench-ack:' }),
        replica: new redis.RedisStore({
          client,
          prefix: 'bench-ack:',
          waitForReplicas: { replicas: 1, timeoutMs: WAIT_TIMEOUT_MS },
        }),
      };
      const engines = {
        primary: core.createEvict({ store: stores.primary, nodeId: 1 }),
        replica: core.createEvict({ store: stores.replica, nodeId: 2 }),
      };
      await Promise.all(Object.values(engines).map((engine) => engine.ready()));
      for (let u = 0; u < USERS; u += 1) await engines.primary.addUser(`u${u}`);

      const samples = new Map<string, { perSecond: number[]; latencies: number[]; p99s: number[] }>();
      for (let round = 0; round < plan.rounds; round += 1) {
        for (const concurrency of plan.concurrency) {
          // Alternating: the machine's drift over the run lands on both modes alike.
          for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
            const engine = engines[mode];
            const key = `${mode}/${concurrency}`;
            const cell = samples.get(key) ?? { perSecond: [], latencies: [], p99s: [] };
            samples.set(key, cell);
            const roundLatencies: number[] = [];
            let next = 0;
            let kicks = 0;
            const started = performance.now();
            const until = started + plan.roundMs;
            await Promise.all(
              Array.from({ length: concurrency }, async () => {
                while (performance.now() < until) {
                  const sent = performance.now();
                  await engine.kickUser(`u${next++ % USERS}`);
                  roundLatencies.push(performance.now() - sent);
                  kicks += 1;
                }
              }),
            );
            cell.perSecond.push(kicks / ((performance.now() - started) / 1000));
            cell.p99s.push(percentile(roundLatencies, 99));
            for (const latency of roundLatencies) cell.latencies.push(latency);
          }
        }
        options.log(`replica-ack: round ${round + 1} of ${plan.rounds}`);
      }
      await Promise.all(Object.values(engines).map((engine) => engine.close()));
      await Promise.all(Object.values(stores).map((store) => store.close()));
      client.disconnect();

      const fmt = (value: number, digits = 0) => Number(value.toFixed(digits));
      // The spread of the rounds: on a loaded machine a median alone hides how far apart they were.
      const range = (values: number[], digits = 0) =>
        `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
      const rows = plan.concurrency.flatMap((concurrency) =>
        MODES.map((mode) => {
          const cell = samples.get(`${mode}/${concurrency}`)!;
          return {
            name: `${mode === 'primary' ? 'default (primary applied it)' : 'waitForReplicas 1'}, ${concurrency} in flight`,
            figures: {
              'kicks/s (median of rounds)': fmt(median(cell.perSecond)),
              'kicks/s (rounds)': range(cell.perSecond),
              'p50 ms': fmt(percentile(cell.latencies, 50), 3),
              'p99 ms': fmt(percentile(cell.latencies, 99), 3),
              'p99 ms (rounds)': range(cell.p99s, 2),
              kicks: cell.latencies.length,
            },
          };
        }),
      );
      const ratio = (concurrency: number) =>
        median(samples.get(`replica/${concurrency}`)!.perSecond) /
        median(samples.get(`primary/${concurrency}`)!.perSecond);
      return {
        tables: [
          {
            title: `engine.kickUser on Redis with one replica on loopback (${plan.rounds} rounds of ${plan.roundMs / 1000} s per cell)`,
            columns: [
              'kicks/s (median of rounds)',
              'kicks/s (rounds)',
              'p50 ms',
              'p99 ms',
              'p99 ms (rounds)',
              'kicks',
            ],
            rows,
          },
        ],
        targets: [],
        notes: [
          `Method: the built packages, one primary and one replica started by the section (no persistence), one ioredis client shared by two engines whose stores differ only in waitForReplicas ({ replicas: 1, timeoutMs: ${WAIT_TIMEOUT_MS} }). ${USERS} users, kicked round-robin by engine.kickUser (the store's one-step kick, then WAIT 1 on the same connection when asked), with 1 and 16 kicks in flight; the two modes alternate within each round.`,
          `With replica acknowledgement, kicks per second are ${plan.concurrency.map((c) => `${(ratio(c) * 100).toFixed(0)} % of the default's with ${c} in flight`).join(' and ')}. WAIT blocks the connection it runs on until the replica answers, so kicks in flight on one client queue behind each other's WAIT; on loopback the replica's answer is a fraction of a millisecond, across machines it is a network round trip.${options.quick ? ' Quick mode: one short round, for a look only.' : ''}`,
        ],
      };
    } finally {
      for (const child of children) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
