import { MemoryStore } from '@evict/core';
import { runStoreConformance } from '@evict/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// Separate memory stores share nothing, so the shared-backend tests do not apply.
const runner = { describe, it, expect, beforeEach, afterEach };
runStoreConformance('MemoryStore', (clock) => new MemoryStore({ clock }), runner);
