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

/**
 * The CPU time Redis has used so far (INFO cpu: used_cpu_user + used_cpu_sys, which Redis reads with
 * getrusage), in microseconds: finer than /proc's 10 ms ticks.
 */
export async function redisCpuUs(client: Redis): Promise<number> {
  const info = await client.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1]);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6;
}

/** Redis's used_memory (INFO memory), in bytes. */
export async function usedMemory(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
}
