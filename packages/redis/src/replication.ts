import { StoreNotReplicatedError } from '@evict/core';
import type { ReplicaAcknowledgement } from './options.js';
import type { RedisCommands } from './redis-commands.js';

/**
 * The acknowledgement a revocation waits for (`waitForReplicas`), for `RedisStore` and
 * `SessionRegistry`: none beyond the primary's, or one WAIT per node written to.
 */
export class Replication {
  readonly #commands: RedisCommands;
  readonly #cluster: boolean;
  /** The replicas asked for; undefined when the primary's acknowledgement is enough. */
  readonly wanted: ReplicaAcknowledgement | undefined;

  constructor(commands: RedisCommands, cluster: boolean, wanted: ReplicaAcknowledgement | undefined) {
    this.#commands = commands;
    this.#cluster = cluster;
    this.wanted = wanted;
  }

  /**
   * After a write that can reject a credential, with `waitForReplicas`: resolves once enough replicas
   * confirmed the writes made on the connection of each key's node (one WAIT per node), else throws
   * `StoreNotReplicatedError`. Without the option the primary's acknowledgement is enough.
   * `dropsBefore`: the client's connection drops counted before the write. A drop since means the
   * WAIT may have run on another connection than the write (resent, or retried on a new primary),
   * where it confirms nothing of it: counted as confirmed by none.
   */
  async replicated(dropsBefore: number, ...keys: string[]): Promise<void> {
    const wanted = this.wanted;
    if (wanted === undefined) return;
    // One Redis: one connection wrote them all. A cluster: each key's node, in turn.
    const routes = this.#cluster ? keys : keys.slice(0, 1);
    for (const key of routes) {
      const confirmed = await this.#commands.waitForReplicas(key, wanted.replicas, wanted.timeoutMs);
      if (this.#commands.connectionDrops() !== dropsBefore)
        throw new StoreNotReplicatedError(wanted.replicas, 0, wanted.timeoutMs);
      if (!(confirmed >= wanted.replicas))
        throw new StoreNotReplicatedError(wanted.replicas, confirmed, wanted.timeoutMs);
    }
  }
}
