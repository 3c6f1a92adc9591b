/**
 * The soak's mixed load, written once for the soak and rss-probe.ts: virtual users that each own one
 * uid and, on nodes picked at random 40–80 ms apart, log in, call the guarded `/me`, open sockets (two
 * at most), quit every device and log out. One seeded `random` drives every choice, so a seed
 * replays the same load.
 */
import type { Agent } from 'node:http';
import type { DemoNode } from '../support/demo-process.js';
import { connectSocket, httpCall, type SocketAttempt, sleep } from './support.js';

export interface LoadCounts {
  requests: number;
  logins: number;
  sockets: number;
  kicks: number;
  logouts: number;
  errors: number;
}

export class MixedLoad {
  readonly counts: LoadCounts = { requests: 0, logins: 0, sockets: 0, kicks: 0, logouts: 0, errors: 0 };
  #stopped = false;
  readonly #users: Promise<void>[] = [];

  constructor(
    private readonly agent: Agent,
    private readonly random: () => number,
  ) {}

  /** Starts `count` virtual users on `nodes`, with the uids `${uidPrefix}v0`, `${uidPrefix}v1`, … */
  start(count: number, uidPrefix: string, nodes: readonly DemoNode[]): void {
    for (let i = 0; i < count; i++) this.#users.push(this.#virtualUser(`${uidPrefix}v${i}`, nodes));
  }

  /** Each user stops after its current call; resolves once all have closed their sockets. */
  stop(): Promise<void> {
    this.#stopped = true;
    return Promise.all(this.#users).then(() => undefined);
  }

  #pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  async #virtualUser(uid: string, nodes: readonly DemoNode[]): Promise<void> {
    const { agent, counts, random } = this;
    let token: string | undefined;
    const held: SocketAttempt[] = [];
    while (!this.#stopped) {
      const node = this.#pick(nodes);
      const r = random();
      if (token === undefined) {
        const answer = await httpCall(agent, node.base, 'POST', '/login', { body: { uid, device_flag: 0 } });
        counts.logins += 1;
        if (answer.status === 200) token = answer.json.token;
        else counts.errors += 1;
      } else if (r < 0.85) {
        const answer = await httpCall(agent, node.base, 'GET', '/me', { headers: { token } });
        counts.requests += 1;
        if (answer.status === 401) token = undefined;
        else if (answer.status !== 200) counts.errors += 1;
      } else if (r < 0.93) {
        // at most two sockets per user: open one, close the oldest
        const attempt = await connectSocket(node.port, token);
        counts.sockets += 1;
        if (attempt.status === 101) held.push(attempt);
        while (held.length > 2) held.shift()!.ws?.close();
      } else if (r < 0.97) {
        const answer = await httpCall(agent, node.base, 'POST', '/user/device_quit', {
          body: { uid, device_flag: -1 },
        });
        counts.kicks += 1;
        if (answer.status !== 200) counts.errors += 1;
        token = undefined;
      } else {
        const answer = await httpCall(agent, node.base, 'POST', '/v1/api/user/logout', {
          body: { username: uid, token },
        });
        counts.logouts += 1;
        if (answer.status !== 200) counts.errors += 1;
        token = undefined;
      }
      await sleep(40 + random() * 40);
    }
    for (const s of held) s.ws?.close();
  }
}
