/**
 * Section 13's third part: a kick on node 1 of many, and the moment each other node's guard learns
 * of it. Read from the engine itself, not by polling the guard: each node's `GET /metrics` holds
 * `evict_cluster_message_lag_seconds`, the histogram the engine's `clusterMessage` observer feeds
 * when a cluster message arrives, with the message's lag (the receiving node's clock minus the
 * `sentAtMs` the kick stamped on it, both `Date.now()`). The engine drops the user from its guard's
 * cache in the same synchronous step, so from that instant the guard refuses the token.
 */
import { type BenchNode, KeepAliveClient } from './demo-cluster.js';
import type { ScaleCalls } from './scale-kicks.js';

const LAG_SUM = /^evict_cluster_message_lag_seconds_sum (\S+)$/m;
const LAG_COUNT = /^evict_cluster_message_lag_seconds_count (\S+)$/m;

/** A node's cluster messages so far: how many, and their lags summed. */
interface LagTotals {
  count: number;
  sumSeconds: number;
}

async function lagTotals(client: KeepAliveClient): Promise<LagTotals> {
  const answer = await client.send('GET', '/metrics');
  const sum = LAG_SUM.exec(answer.body)?.[1];
  const count = LAG_COUNT.exec(answer.body)?.[1];
  if (answer.status !== 200 || sum === undefined || count === undefined)
    throw new Error(`GET /metrics on port ${client.port}: ${answer.status}, no cluster lag histogram`);
  return { count: Number(count), sumSeconds: Number(sum) };
}

export interface GuardSample {
  /** Which node (index into the nodes, 1 and up: node 0 served the kick). */
  node: number;
  /** From the kick's cutoff time on node 1 to the node's engine handling the `revoked` message, whole ms. */
  lagMs: number;
}

/**
 * `kicks` kicks (after `warmup` unmeasured) on `nodes[0]`, each of a user freshly logged in there
 * whose token each other node's guard holds in its cache; the lag of each other node, then one
 * `GET /me` there that must answer 401 (a node whose engine heard the kick but whose guard still
 * accepts the token is a failure, as is a node that heard nothing within `giveUpMs`).
 */
export async function kicksHeardByManyGuards(
  nodes: BenchNode[],
  plan: { spreadKicks: number; spreadWarmup: number },
  options: ScaleCalls,
): Promise<{ samples: GuardSample[]; failures: string[] }> {
  const clients = nodes.map((node) => new KeepAliveClient(node.port));
  const [clientA, ...others] = clients as [KeepAliveClient, ...KeepAliveClient[]];
  const samples: GuardSample[] = [];
  const failures: string[] = [];
  try {
    for (let k = 0; k < plan.spreadWarmup + plan.spreadKicks; k += 1) {
      const uid = `scale-spread-${k}`;
      const token = await options.login(clientA, uid);
      // Each guard holds the session and the user in its cache from here on.
      for (let warm = 0; warm < 2; warm += 1) {
        const answers = await Promise.all(others.map((client) => client.send('GET', '/me', { token })));
        for (const answer of answers)
          if (answer.status !== 200)
            throw new Error(`GET /me before the kick: ${answer.status} ${answer.body}`);
      }
      const before = await Promise.all(others.map(lagTotals));
      await options.kick(clientA, uid);
      const heard = await Promise.all(
        others.map(async (client, i) => {
          const since = performance.now();
          for (;;) {
            const after = await lagTotals(client);
            if (after.count > before[i]!.count) return after;
            if (performance.now() - since > options.giveUpMs) return undefined;
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        }),
      );
      const refused = await Promise.all(others.map((client) => client.send('GET', '/me', { token })));
      if (k < plan.spreadWarmup) continue;
      for (const [i, after] of heard.entries()) {
        const name = `kick ${k}, node ${i + 2}`;
        if (after === undefined) failures.push(`${name}: no cluster message within ${options.giveUpMs} ms`);
        else if (after.count - before[i]!.count !== 1)
          failures.push(
            `${name}: ${after.count - before[i]!.count} cluster messages, the lag is not the kick's`,
          );
        else if (refused[i]!.status !== 401)
          failures.push(`${name}: its engine heard the kick, its guard answered ${refused[i]!.status}`);
        // The lags are whole milliseconds: their sum's difference is one, up to float rounding.
        else
          samples.push({ node: i + 1, lagMs: Math.round((after.sumSeconds - before[i]!.sumSeconds) * 1000) });
      }
      if ((k - plan.spreadWarmup + 1) % 50 === 0)
        options.log(
          `scale: ${k - plan.spreadWarmup + 1}/${plan.spreadKicks} kicks heard by ${others.length} nodes`,
        );
    }
  } finally {
    for (const client of clients) client.close();
  }
  return { samples, failures };
}
