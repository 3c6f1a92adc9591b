import type { Principal } from '@evict/core';
import {
  type CustomDecorator,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
} from '@nestjs/common';
import { EVICT_PUBLIC } from './evict.constants.js';

/** Lets a route or a controller through `EvictGuard` (when the guard is global, say). */
export const Public = (): CustomDecorator<string> => SetMetadata(EVICT_PUBLIC, true);

/** The principal `EvictGuard` accepted (`request.evict`), or one of its fields: `@EvictUser('uid')`. */
export const EvictUser = createParamDecorator(
  (field: keyof Principal | undefined, context: ExecutionContext) => {
    const principal = context.switchToHttp().getRequest<{ evict?: Principal }>().evict;
    return field === undefined ? principal : principal?.[field];
  },
);
