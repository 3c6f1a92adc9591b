import type { Evict, EvictEvents } from '@evict/core';
import { Inject, Injectable } from '@nestjs/common';
import { EVICT_ENGINE } from './evict.constants.js';

/** The engine, injectable: revoke, check and issue from your own providers. */
@Injectable()
export class EvictService {
  constructor(@Inject(EVICT_ENGINE) readonly engine: Evict) {}

  kickUser(...args: Parameters<Evict['kickUser']>): ReturnType<Evict['kickUser']> {
    return this.engine.kickUser(...args);
  }

  quitDevice(...args: Parameters<Evict['quitDevice']>): ReturnType<Evict['quitDevice']> {
    return this.engine.quitDevice(...args);
  }

  removeConnection(...args: Parameters<Evict['removeConnection']>): ReturnType<Evict['removeConnection']> {
    return this.engine.removeConnection(...args);
  }

  logout(...args: Parameters<Evict['logout']>): ReturnType<Evict['logout']> {
    return this.engine.logout(...args);
  }

  clearPushToken(...args: Parameters<Evict['clearPushToken']>): ReturnType<Evict['clearPushToken']> {
    return this.engine.clearPushToken(...args);
  }

  check(...args: Parameters<Evict['check']>): ReturnType<Evict['check']> {
    return this.engine.check(...args);
  }

  issueSession(...args: Parameters<Evict['issueSession']>): ReturnType<Evict['issueSession']> {
    return this.engine.issueSession(...args);
  }

  on<K extends keyof EvictEvents>(event: K, listener: (payload: EvictEvents[K]) => void): () => void {
    return this.engine.on(event, listener);
  }
}
