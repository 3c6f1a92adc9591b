import type { EvictStore } from '@evict/core';

type Fault = 'fail' | 'hang';

type Method = Exclude<keyof EvictStore, 'ready' | 'close' | 'subscribe' | 'onLinkChange'>;

/** The methods that reach the store's backend (not lifecycle, not subscribe). */
const ALL: Method[] = [
  'putSession',
  'getSession',
  'admitSession',
  'dischargeSessions',
  'listSessions',
  'scanSessions',
  'revokeSession',
  'getUser',
  'touchUser',
  'raiseCutoff',
  'heartbeatNode',
  'putConnections',
  'putConnection',
  'joinDevice',
  'deleteConnections',
  'deleteConnection',
  'listConnections',
  'scanConnections',
  'touchSessions',
  'countConnections',
  'setPushToken',
  'getPushTokens',
  'clearPushTokens',
  'hit',
  'publish',
];

/**
 * A real store with faults injected on chosen methods: `fail` rejects like a lost connection,
 * `hang` never answers (for timeouts). Everything else goes to the wrapped store unchanged.
 *
 * The optional `kick` is left out unless `{ kick: true }`: the engine then takes its step-by-step
 * path (getUser, raiseCutoff, publish, listConnections), whose failures half-way most tests here
 * are about. With `{ kick: true }` the wrapped store's `kick` is forwarded, faults included.
 */
export class FaultyStore implements EvictStore {
  readonly faults = new Map<keyof EvictStore, Fault>();
  readonly #methods: Method[];

  constructor(
    readonly inner: EvictStore,
    options: { kick?: boolean } = {},
  ) {
    this.#methods = options.kick === true && inner.kick !== undefined ? [...ALL, 'kick'] : [...ALL];
    if (inner.sweepConnections !== undefined) this.#methods.push('sweepConnections');
    for (const name of this.#methods) {
      // biome-ignore lint/suspicious/noExplicitAny: forwarding every method with its own signature.
      (this as any)[name] = (...args: unknown[]) => this.#call(name, args);
    }
  }

  /** Makes `methods` fail (or hang); with no methods, every method. */
  inject(fault: Fault, ...methods: (keyof EvictStore)[]): void {
    for (const m of methods.length > 0 ? methods : this.#methods) this.faults.set(m, fault);
  }

  heal(): void {
    this.faults.clear();
  }

  #call(name: keyof EvictStore, args: unknown[]): Promise<unknown> {
    const fault = this.faults.get(name);
    if (fault === 'fail') return Promise.reject(new Error(`injected failure in ${name}`));
    if (fault === 'hang') return new Promise(() => {});
    // biome-ignore lint/suspicious/noExplicitAny: see above.
    return (this.inner as any)[name](...args);
  }

  ready() {
    return this.inner.ready();
  }
  close() {
    return this.inner.close();
  }
  subscribe(listener: Parameters<EvictStore['subscribe']>[0]) {
    return this.inner.subscribe(listener);
  }

  declare putSession: EvictStore['putSession'];
  declare getSession: EvictStore['getSession'];
  declare admitSession: EvictStore['admitSession'];
  declare dischargeSessions: EvictStore['dischargeSessions'];
  declare listSessions: EvictStore['listSessions'];
  declare scanSessions: EvictStore['scanSessions'];
  declare revokeSession: EvictStore['revokeSession'];
  declare getUser: EvictStore['getUser'];
  declare touchUser: EvictStore['touchUser'];
  declare raiseCutoff: EvictStore['raiseCutoff'];
  declare heartbeatNode: EvictStore['heartbeatNode'];
  declare putConnections: EvictStore['putConnections'];
  declare putConnection: EvictStore['putConnection'];
  declare joinDevice: EvictStore['joinDevice'];
  declare deleteConnections: EvictStore['deleteConnections'];
  declare deleteConnection: EvictStore['deleteConnection'];
  declare sweepConnections?: EvictStore['sweepConnections'];
  declare listConnections: EvictStore['listConnections'];
  declare scanConnections: EvictStore['scanConnections'];
  declare touchSessions: EvictStore['touchSessions'];
  declare countConnections: EvictStore['countConnections'];
  declare setPushToken: EvictStore['setPushToken'];
  declare getPushTokens: EvictStore['getPushTokens'];
  declare clearPushTokens: EvictStore['clearPushTokens'];
  declare hit: EvictStore['hit'];
  declare publish: EvictStore['publish'];
  declare kick?: EvictStore['kick'];
}
