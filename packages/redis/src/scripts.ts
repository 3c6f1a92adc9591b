import * as connections from './connection-scripts.js';
import { HIT } from './hit-script.js';
import { KICK } from './kick-script.js';
import type { LuaScript } from './lua-script.js';
import { PUBLISH } from './publish-script.js';
import * as pushTokens from './push-token-scripts.js';
import * as sessions from './session-scripts.js';

// Each script lives beside those that serve the same records; the conventions are in `lua-script.ts`.

/** Every script the store runs. */
export const SCRIPTS: readonly LuaScript[] = [
  PUBLISH,
  connections.HEARTBEAT_NODE,
  connections.INDEX_CONNECTIONS,
  connections.UNINDEX_CONNECTIONS,
  sessions.TOUCH_USER,
  sessions.RAISE_CUTOFF,
  KICK,
  sessions.RECORD_SESSION,
  sessions.ADMIT_SESSION,
  connections.PUT_CONNECTIONS,
  connections.JOIN_DEVICE,
  connections.DELETE_CONNECTIONS,
  connections.COUNT_CONNECTIONS,
  pushTokens.SET_PUSH_TOKEN,
  pushTokens.CLEAR_PUSH_TOKENS,
  sessions.REVOKE_SESSION,
  sessions.TOUCH_SESSION,
  HIT,
];
