import { createUpgradeCheck } from '@evict/core/node';

export { EVICT_ENGINE } from './evict.constants.js';
export { EvictUser, Public } from './evict.decorators.js';
export { EvictGuard, EvictRejectedException } from './evict.guard.js';
export { EvictModule } from './evict.module.js';
export {
  EVICT_OPTIONS,
  type EvictAdminOptions,
  type EvictModuleAsyncOptions,
  type EvictOptionsFactory,
} from './evict.options.js';
export { EvictService } from './evict.service.js';

/** The guard's check for WebSocket upgrades on `app.getHttpServer()` (reads `?token=` too). */
export const checkUpgrade = createUpgradeCheck;

export type { AdminApiOptions, GuardOptions, Principal } from '@evict/core';
