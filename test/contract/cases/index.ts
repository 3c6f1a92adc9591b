/**
 * The HTTP contract of evict, as one table that `contract.test.ts` runs against every adapter in
 * `apps/`: each family's cases, then the mounting cases across them. Nothing here knows which
 * adapter runs it.
 */
import type { ContractCase } from '../table.js';
import { guard } from './guard.js';
import { lancensCases } from './lancens.js';
import { otherMethods, prefixed, subsets } from './mounting.js';
import { presence } from './presence.js';
import { socket } from './socket.js';
import { tencent } from './tencent.js';
import { wukongim } from './wukongim.js';

export const cases: ContractCase[] = [
  ...wukongim,
  ...tencent,
  ...lancensCases,
  ...presence,
  ...guard,
  ...socket,
  ...prefixed,
  ...subsets,
  ...otherMethods,
];
