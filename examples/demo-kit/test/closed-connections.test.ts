import { createEvict } from '@evict/core';
import { afterEach, describe, expect, it } from 'vitest';
import { describeClosedConnections, logEngineEvents } from '../src/index.js';

const engines: ReturnType<typeof createEvict>[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("the demo's lines for the connections evict closes", () => {
  it('prints one line per user, device and code of a kick, however many sockets it closed', async () => {
    const engine = createEvict({ nodeId: 3 });
    engines.push(engine);
    const lines: string[] = [];
    logEngineEvents(engine, (line) => lines.push(line));
    await engine.addUser('bob');
    const closedBy: number[] = [];
    const connIds: number[] = [];
    for (const deviceFlag of [1, 1, 1, 2]) {
      const handle = await engine.registerConnection({
        uid: 'bob',
        deviceFlag,
        close: ({ code }) => closedBy.push(code),
      });
      connIds.push(handle.connId);
    }

    await engine.kickUser('bob');
    await nextTurn();

    expect(closedBy).toEqual([4001, 4001, 4001, 4001]);
    // Each line starts with the time of its last close (UTC, to the millisecond).
    const timedLines = lines.filter((l) => l.includes(' closed: '));
    expect(timedLines.every((l) => /^\[evict\] \d\d:\d\d:\d\d\.\d{3} /.test(l))).toBe(true);
    const closeLines = timedLines.map((l) => l.split(' ').toSpliced(1, 1).join(' '));
    expect(closeLines.sort()).toEqual([
      `[evict] 3 connections (${connIds[0]} … ${connIds[2]}) of bob (device 1) closed: 4001 kicked`,
      `[evict] connection ${connIds[3]} of bob (device 2) closed: 4001 kicked`,
    ]);
    expect(lines.filter((l) => l.includes(' kick_user uid=bob '))).toHaveLength(1);
  });

  it('names the one connection when one closed', () => {
    expect(
      describeClosedConnections([
        {
          uid: 'ann',
          deviceFlag: 0,
          connId: 7,
          nodeId: 1,
          code: 4003,
          reason: 'connection_removed',
          atMs: Date.UTC(2026, 11, 5, 6, 13, 26, 123),
        },
      ]),
    ).toBe('[evict] 06:13:26.123 connection 7 of ann (device 0) closed: 4003 connection_removed');
  });
});
