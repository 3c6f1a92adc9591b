// Preloaded into the demo processes of the fault suite and the soak (NODE_OPTIONS=--require): no
// product change. Every FAULT_DIAG_MS it prints one `[diag] {json}` line (after a full GC when
// --expose-gc is on): RSS, the V8 heap (used after the GC, and committed), the young generation's
// committed size, external and ArrayBuffer memory, and the active resources.
const v8 = require('node:v8');
const interval = Number(process.env.FAULT_DIAG_MS || 0);
const counts = () => {
  const out = {};
  for (const name of process.getActiveResourcesInfo()) out[name] = (out[name] || 0) + 1;
  return out;
};
if (interval > 0) {
  const timer = setInterval(() => {
    if (typeof globalThis.gc === 'function') globalThis.gc();
    const m = process.memoryUsage();
    const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size;
    const resources = counts();
    const handles = Object.values(resources).reduce((a, b) => a + b, 0);
    const sample = {
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      newSpace,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      handles,
      resources,
    };
    process.stdout.write(`[diag] ${JSON.stringify(sample)}\n`);
  }, interval);
  timer.unref();
}
const exit = process.exit.bind(process);
// The demo calls process.exit(0) once its close() resolved. Here that call does not force the exit:
// the process must then exit on its own, as it would if nothing were left open. If it is still up
// FAULT_EXIT_GRACE_MS later, `[diag-exit]` lists what keeps it up and it exits with code 70.
process.exit = (code) => {
  const calledAt = Date.now();
  process.exitCode = code;
  process.once('exit', () => {
    process.stdout.write(
      `[diag-exit] ${JSON.stringify({ code, natural: true, afterMs: Date.now() - calledAt })}\n`,
    );
  });
  const grace = Number(process.env.FAULT_EXIT_GRACE_MS || 500);
  setTimeout(() => {
    process.stdout.write(
      `[diag-exit] ${JSON.stringify({ code, natural: false, afterMs: Date.now() - calledAt, resources: counts() })}\n`,
    );
    exit(70);
  }, grace).unref();
};
