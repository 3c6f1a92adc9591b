import { runStoreConformance } from '@evict/core/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeRedis, randomPrefix } from '../../../test/support/redis.js';
import { RedisStore } from '../src/index.js';
import { CLIENT_LIBRARIES, deleteKeysUnder, type HostClient, hostClient } from './clients.js';

for (const library of CLIENT_LIBRARIES) {
  describeRedis(`RedisStore on ${library}`, () => {
    const prefix = randomPrefix();
    let host: HostClient;

    beforeAll(async () => {
      host = await hostClient(library);
    });

    afterAll(async () => {
      await deleteKeysUnder(host, prefix);
      await host.close();
    });

    runStoreConformance(
      `RedisStore (${library})`,
      (clock) => new RedisStore({ client: host.client, prefix, clock }),
      { describe, it, expect, beforeEach, afterEach },
      { sharedBackend: true },
    );
  });
}
