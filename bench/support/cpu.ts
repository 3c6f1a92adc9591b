import { readFileSync } from 'node:fs';

/** Clock ticks a second in /proc's CPU times (USER_HZ: 100 on Linux for every architecture Node runs on). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user and system) another process has used so far, in milliseconds, from
 * `/proc/<pid>/stat`; its resolution is a clock tick (10 ms). Undefined where /proc is not there.
 */
export function processCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** This process's CPU time (user and system) so far, in microseconds. */
export function ownCpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
