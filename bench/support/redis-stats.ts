import type { Redis } from 'ioredis';

/** Commands Redis has run since its start, INFO itself left out (the measuring client's own). */
export async function commandsRun(client: Redis): Promise<number> {
  let total = 0;
  for (const [, name, calls] of (await client.info('commandstats')).matchAll(
    /^cmdstat_([^:]+):calls=(\d+)/gm,
  ))
    if (name !== 'info') total += Number(calls);
  return total;
}

/** Redis's used_memory (INFO memory), in bytes. */
export async function usedMemory(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
}
