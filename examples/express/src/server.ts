import { demoOptionsFromEnv, startDemo } from './app.js';

const options = demoOptionsFromEnv();
const demo = await startDemo(options);
const { url, seedTokens } = demo;
const t = options.tencent;

console.log(`evict Express demo on ${url} (node ${options.nodeId}, in-memory store)
${options.managerToken === undefined ? 'WuKongIM admin routes are OPEN (no EVICT_MANAGER_TOKEN): a loopback demo only.\n' : ''}
Demo data: user123 with devices 0 (app) and 1 (web), and connection 12345 (device 0) on node ${options.nodeId}.
  user123 device 1 token: ${seedTokens[1] ?? '-'}
Tencent app: sdkappid ${t.sdkAppId}, admin ${t.admins.join(',')} (a UserSig: curl '${url}/demo/usersig?identifier=${t.admins[0]}')

Try the seeds:
  curl -X POST "http://localhost:${new URL(url).port}/user/device_quit" -H "Content-Type: application/json" -d '{"uid": "user123", "device_flag": 1}'
  curl -X POST "http://localhost:${new URL(url).port}/conn/remove" -H "Content-Type: application/json" -d '{"uid": "user123", "conn_id": 12345, "node_id": 1}'
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    demo.close().then(() => process.exit(0));
  });
}
