/**
 * `@evict/core/node`: Node HTTP plumbing for adapters and hosts: a Node request as core's neutral
 * request and back, the guard's view of a request, WebSocket upgrades and sockets.
 */
export { parsedBodyOf, readNodeBody } from './http/body.js';
export { mountPathOf, pathBelowMount } from './http/mount.js';
export {
  attachPrincipal,
  createUpgradeCheck,
  fromNodeRequest,
  guardRequestOf,
  queryOf,
  writeNodeResponse,
} from './http/node.js';
export { type ClosableSocket, defaultDisconnectMessage, registerSocket, rejectUpgrade } from './sockets.js';
