/**
 * How often another node still accepts a credential right after a kick's answer (docs/clusters.md,
 * "What the guard's cache guarantees"): an Express and a Koa demo node on the Redis at REDIS_URL;
 * `kickers` concurrent loops each log a user in, check the token on both nodes (both cache it), kick
 * it through one node, and check it on both at once, then again 300 ms later. Prints the checks that
 * accepted it after the answer: on the node that kicked, a bug; on the other, the message not read yet.
 *
 *   npx tsx bench/cross-node-race.mts [kicks=1000] [kickers=4]
 */

import { httpCall, keepAliveAgent, now, sleep, startNode } from '../test/faults/support.js';
import { demoAdminUserSig, demoKickPath } from '../test/support/demo-process.js';
import { randomPrefix } from '../test/support/redis.js';

const total = Number(process.argv[2] ?? 1_000);
const kickers = Number(process.argv[3] ?? 4);
const env: Record<string, string> = {
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  EVICT_REDIS_PREFIX: randomPrefix(),
  DEMO_SEED: '0',
  TENCENT_RATE_LIMIT: '1000000',
};
const nodes = await Promise.all([startNode('express', 1, env), startNode('koa', 2, env)]);
const agent = keepAliveAgent();
const accepted: { kickedOn: number; acceptedOn: number; sentAfterAckMs: number; later: number[] }[] = [];
let kicked = 0;
let next = 0;
const kicker = async () => {
  while (next < total) {
    const i = next++;
    const uid = `race-${process.pid}-${i}`;
    const login = await httpCall(agent, nodes[i % 2]!.base, 'POST', '/login', {
      body: { uid, device_flag: 1 },
    });
    const token = login.json.token as string;
    const headers = { token };
    for (const node of nodes) await httpCall(agent, node.base, 'GET', '/me', { headers });
    const kickedOn = (i >> 1) % 2;
    const path = demoKickPath(demoAdminUserSig(3_600), i);
    const answer = await httpCall(agent, nodes[kickedOn]!.base, 'POST', path, { body: { Identifier: uid } });
    const ackedAt = now();
    if (answer.json?.ActionStatus !== 'OK') throw new Error(`kick of ${uid}: ${answer.text}`);
    kicked += 1;
    for (const [acceptedOn, node] of nodes.entries()) {
      const sentAt = now();
      const check = await httpCall(agent, node.base, 'GET', '/me', { headers });
      if (check.status !== 200) continue;
      await sleep(300);
      const later = await Promise.all(
        nodes.map((n) => httpCall(agent, n.base, 'GET', '/me', { headers }).then((a) => a.status)),
      );
      accepted.push({ kickedOn, acceptedOn, sentAfterAckMs: Number((sentAt - ackedAt).toFixed(2)), later });
    }
  }
};
try {
  await Promise.all(Array.from({ length: kickers }, kicker));
} finally {
  agent.destroy();
  await Promise.all(nodes.map((node) => node.stop()));
}
const onKicker = accepted.filter((a) => a.kickedOn === a.acceptedOn).length;
console.log(
  JSON.stringify({
    kicks: kicked,
    kickers,
    acceptedAfterAnswer: accepted.length,
    onTheKickingNode: onKicker,
    accepted,
  }),
);
