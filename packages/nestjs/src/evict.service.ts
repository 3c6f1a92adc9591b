import { Evict } from '@evict/core';
import { Inject, Injectable } from '@nestjs/common';
import { EVICT_ENGINE } from './evict.constants.js';

/** The engine, injectable: every method and property of `Evict`, delegated to the module's engine. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface declares what the loop below defines on the prototype.
export interface EvictService extends Evict {}

@Injectable()
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above.
export class EvictService {
  constructor(@Inject(EVICT_ENGINE) readonly engine: Evict) {}

  get nodeId(): number {
    return this.engine.nodeId;
  }
}

// Written once from the engine's prototype, so the service can never lag behind the engine's surface.
for (const name of Object.getOwnPropertyNames(Evict.prototype)) {
  if (name === 'constructor') continue;
  const member = Object.getOwnPropertyDescriptor(Evict.prototype, name)!;
  Object.defineProperty(
    EvictService.prototype,
    name,
    typeof member.value === 'function'
      ? {
          configurable: true,
          writable: true,
          value(this: EvictService, ...args: unknown[]) {
            const method = this.engine[name as keyof Evict] as (...a: unknown[]) => unknown;
            return method.apply(this.engine, args);
          },
        }
      : {
          configurable: true,
          get(this: EvictService) {
            return this.engine[name as keyof Evict];
          },
        },
  );
}
