import { CLOSE_CODES, type Evict, type EvictObserver } from '@evict/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface EvictMetricsOptions {
  /**
   * The registry the metrics are registered on: the host's. prom-client's global `register` is used
   * only if passed here, so that evict never adds to metrics the host did not ask for.
   */
  registry: Registry;
  /** Prefix of every metric's name. Default `evict_`. */
  prefix?: string;
  /** The store-call histogram's buckets, in seconds. Default 0.25 ms to 2.5 s. */
  storeDurationBucketsSec?: number[];
  /** The cluster lag histogram's buckets, in seconds. Default 0.5 ms to 5 s. */
  clusterLagBucketsSec?: number[];
}

export interface EvictMetrics {
  registry: Registry;
  /** Detaches from the engine and removes evict's metrics from the registry. */
  close(): void;
}

const STORE_BUCKETS_SEC = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const LAG_BUCKETS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Close reasons a label may hold; any other is `other`, so that a label's values stay few. */
const CLOSE_REASONS = new Set<string>(Object.keys(CLOSE_CODES));

/**
 * evict's metrics on `registry`: counters of revocations (by action and API family), guard decisions
 * (by result and reason), closed connections (by reason) and refused admin authentications (by
 * family); histograms of store calls (by operation) and of cluster messages' lag; gauges of this
 * node's connections and the guard cache's entries. No label holds a uid, a token or a connection id.
 *
 * ```ts
 * const registry = new Registry();
 * evictMetrics(engine, { registry });
 * app.use(evictRouter(engine, { ..., metrics: { registry, bearerToken } })); // GET /metrics
 * ```
 */
export function evictMetrics(engine: Evict, options: EvictMetricsOptions): EvictMetrics {
  const { registry, prefix = 'evict_' } = options;
  if (registry === undefined || typeof registry.registerMetric !== 'function')
    throw new TypeError('@evict/prometheus: options.registry must be a prom-client Registry');
  const registers = [registry];
  const name = (suffix: string) => `${prefix}${suffix}`;

  const revocations = new Counter({
    name: name('revocations_total'),
    help: 'Revocations this node served, by action and by the API family whose endpoint served it (host: the host’s own calls).',
    labelNames: ['action', 'family'] as const,
    registers,
  });
  // The guard decides every request: it adds to plain numbers, which the counter takes in when
  // scraped. prom-client hashes the labels on every `inc`, a few thousand instructions a request.
  let acceptedSinceScrape = 0;
  const rejectedSinceScrape = new Map<string, number>();
  const decisions = new Counter({
    name: name('guard_decisions_total'),
    help: 'Requests, upgrades and handshakes the guard accepted or rejected, by reason (none when accepted).',
    labelNames: ['result', 'reason'] as const,
    registers,
    collect() {
      if (acceptedSinceScrape > 0) this.inc({ result: 'accepted', reason: 'none' }, acceptedSinceScrape);
      acceptedSinceScrape = 0;
      for (const [reason, count] of rejectedSinceScrape) this.inc({ result: 'rejected', reason }, count);
      rejectedSinceScrape.clear();
    },
  });
  const closed = new Counter({
    name: name('connections_closed_total'),
    help: 'Connections this node closed for a revocation, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const connections = new Gauge({
    name: name('connections'),
    help: 'Live connections this node holds.',
    registers,
    collect() {
      this.set(engine.localConnectionCount);
    },
  });
  const storeDuration = new Histogram({
    name: name('store_operation_duration_seconds'),
    help: 'How long store calls took, by operation (timeouts and failures included).',
    labelNames: ['operation'] as const,
    buckets: options.storeDurationBucketsSec ?? STORE_BUCKETS_SEC,
    registers,
  });
  const storeFailures = new Counter({
    name: name('store_operation_failures_total'),
    help: 'Store calls that failed or ran out of time, by operation and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    registers,
  });
  const lag = new Histogram({
    name: name('cluster_message_lag_seconds'),
    help: 'From a node making a cluster message to this node receiving it (the two clocks’ skew included).',
    buckets: options.clusterLagBucketsSec ?? LAG_BUCKETS_SEC,
    registers,
  });
  const cacheEntries = new Gauge({
    name: name('cache_entries'),
    help: 'Entries in the guard’s cache on this node.',
    registers,
    collect() {
      this.set(engine.cacheStats().entries);
    },
  });
  const authFailures = new Counter({
    name: name('admin_auth_failures_total'),
    help: 'Admin calls refused for their authentication, by family.',
    labelNames: ['family'] as const,
    registers,
  });

  const storeTimers = new Map<string, ReturnType<typeof storeDuration.labels>>();
  const observer: EvictObserver = {
    guardDecision(ok, reason) {
      if (ok) acceptedSinceScrape += 1;
      else {
        const key = reason ?? 'unknown';
        rejectedSinceScrape.set(key, (rejectedSinceScrape.get(key) ?? 0) + 1);
      }
    },
    storeOperation(operation, durationMs, outcome) {
      let child = storeTimers.get(operation);
      if (child === undefined) {
        child = storeDuration.labels(operation);
        storeTimers.set(operation, child);
      }
      child.observe(durationMs / 1000);
      if (outcome !== 'ok') storeFailures.inc({ operation, outcome });
    },
    clusterMessage(lagMs) {
      lag.observe(lagMs / 1000);
    },
    adminAuthFailure(family) {
      authFailures.inc({ family });
    },
  };
  const detach = [
    engine.observe(observer),
    engine.on('revocation', (event) =>
      revocations.inc({ action: event.action, family: event.family ?? 'host' }),
    ),
    engine.on('connectionClosed', (event) =>
      closed.inc({ reason: CLOSE_REASONS.has(event.reason) ? event.reason : 'other' }),
    ),
  ];
  const metrics = [
    revocations,
    decisions,
    closed,
    connections,
    storeDuration,
    storeFailures,
    lag,
    cacheEntries,
    authFailures,
  ];
  return {
    registry,
    close() {
      for (const undo of detach.splice(0)) undo();
      for (const metric of metrics) registry.removeSingleMetric((metric as unknown as { name: string }).name);
    },
  };
}
