/**
 * What this node does with the messages other nodes send through the store (`EvictStore.subscribe`):
 * a revocation drops its cached copies and closes its connections of the session; the rest are the
 * connections' business (`ConnectionRegistry.onClusterMessage`).
 */
import type { Clock } from '../clock.js';
import type { ClusterMessage } from '../model.js';
import type { CredentialCheck } from './check.js';
import type { ConnectionRegistry } from './connections.js';
import type { EvictObserver } from './observer.js';

export function clusterListener(parts: {
  clock: Clock;
  check: CredentialCheck;
  connections: ConnectionRegistry;
  /** Read at each message: observers are attached and detached while the engine runs. */
  observer: () => EvictObserver | undefined;
}): (message: ClusterMessage) => void {
  const { clock, check, connections, observer } = parts;
  return (message) => {
    const lag = observer()?.clusterMessage;
    if (lag !== undefined && typeof message.sentAtMs === 'number')
      lag(Math.max(0, clock.nowMs() - message.sentAtMs));
    if (message.type === 'revoked') {
      if (typeof message.uid === 'string') check.forgetUser(message.uid);
      if (typeof message.tokenHash === 'string') {
        check.forgetSession(message.tokenHash);
        connections.closeSession(
          message.tokenHash,
          message.replaced === true ? 'replaced' : 'session_revoked',
        );
      }
    } else {
      connections.onClusterMessage(message);
    }
  };
}
