/**
 * Section 13's first part: a kick of one user holding many WebSockets spread over 3 demo nodes,
 * timed at each client (bare clients, bench/support/bare-websocket.ts): when the node's close frame
 * with the kick's code arrived (the client learns it was kicked) and when the TCP connection ended.
 */

import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  AnswersOnceAllArrived,
  answersNextTurn,
  type BareSocket,
  type CloseAnswers,
  openBareSocket,
} from './bare-websocket.js';
import { ownCpuUs, processCpuMs } from './cpu.js';
import { type BenchNode, KeepAliveClient, type TimedAnswer, withTimeout } from './demo-cluster.js';

/** The code a kick closes sockets with (CLOSE_CODES.kicked). */
const KICKED = 4001;

/** What the scale parts call on the demo nodes, and how long they wait for what they time. */
export interface ScaleCalls {
  kick: (client: KeepAliveClient, uid: string) => Promise<TimedAnswer>;
  login: (client: KeepAliveClient, uid: string) => Promise<string>;
  giveUpMs: number;
  log: (line: string) => void;
}

export interface ManyKick {
  /** From the kick sent to node A to the last close frame a client received. */
  lastFrameFromSendMs: number;
  /** The same from A's answer (negative when every frame arrived before the answer). */
  lastFrameFromAnswerMs: number;
  firstFrameFromSendMs: number;
  /** From the kick sent to the last TCP connection ended (the close handshake done). */
  lastClosedFromSendMs: number;
  /** A's answer, from the kick sent. */
  answerMs: number;
  /** Per node, from the kick sent to the last close frame of its sockets. */
  lastFrameByNodeMs: number[];
  /** Whether the clients answered the close frames only once all of them arrived (`AnswersOnceAllArrived`). */
  answersHeld: boolean;
  wrongCodes: number;
  openMs: number;
  /**
   * Per node, from the kick sent to its last close of the user's sockets handed to the socket (its
   * `close` returned: on loopback the frame is in the client's socket then), from the node's log line
   * for the kick (`[evict] HH:MM:SS.mmm … closed: 4001 kicked`, this machine's clock, to the ms); NaN
   * when the node printed none.
   */
  nodeClosedByNodeMs: number[];
  /** CPU time of this process (the clients) from the kick sent to the last connection ended. */
  clientCpuMs: number;
  /** CPU time of each node from just before the kick to 250 ms after the last close (10 ms ticks). */
  nodeCpuMs: number[];
}

/**
 * A collection of this process's young generation, run before each kick: the process holds the
 * 1,000 clients, and a scavenge of their objects in the middle of the kick (5–25 ms here) would time
 * this process, not the nodes. Young only, and a pause after it: a full collection leaves V8's
 * sweeper threads running on the cores the kick needs. `--expose-gc` is set at run time, as the
 * bench runs under tsx.
 */
let youngGc: ((options: { type: 'minor'; execution: 'sync' }) => void) | undefined;
async function collectYoungGarbage(): Promise<void> {
  if (youngGc === undefined) {
    setFlagsFromString('--expose-gc');
    youngGc = runInNewContext('gc') as typeof youngGc;
  }
  youngGc!({ type: 'minor', execution: 'sync' });
  await sleep(20);
}

const DAY_MS = 86_400_000;

/**
 * The instant of the node's last `closed: <code> <reason>` line for `uid`, as an absolute time near
 * `nearMs` (the line gives the time of day, UTC); NaN when there is none.
 */
function lastCloseLogged(node: BenchNode, uid: string, code: number, nearMs: number): number {
  const pattern = new RegExp(
    `^\\[evict\\] (\\d\\d):(\\d\\d):(\\d\\d)\\.(\\d{3}) .* of ${uid} \\(device \\d+\\) closed: ${code} `,
  );
  let last = Number.NaN;
  for (const line of readFileSync(node.logFile, 'utf8').split('\n')) {
    const m = pattern.exec(line);
    if (m === null) continue;
    const ofDay = ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
    let at = nearMs - (nearMs % DAY_MS) + ofDay;
    if (at - nearMs > DAY_MS / 2) at -= DAY_MS;
    else if (nearMs - at > DAY_MS / 2) at += DAY_MS;
    if (Number.isNaN(last) || at > last) last = at;
  }
  return last;
}

const cpuOf = (node: BenchNode) => processCpuMs(node.child.pid!) ?? Number.NaN;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Opens `count` sockets with `token`, the i-th on node i mod 3; all of them, or none (closed again). */
async function openSpread(
  nodes: BenchNode[],
  token: string,
  count: number,
  inFlight: number,
  giveUpMs: number,
  answers: () => CloseAnswers,
): Promise<{ node: number; socket: BareSocket }[]> {
  const opened: { node: number; socket: BareSocket }[] = [];
  const path = `/ws?token=${encodeURIComponent(token)}`;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const node = next++ % nodes.length;
      const socket = await withTimeout(
        openBareSocket(nodes[node]!.port, path, answers),
        giveUpMs,
        'a socket hello',
      );
      opened.push({ node, socket });
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } catch (error) {
    for (const { socket } of opened) socket.destroy();
    throw error;
  }
  return opened;
}

export async function kicksOfManyConnections(
  nodes: BenchNode[],
  plan: {
    connections: number;
    manyKicks: number;
    manyWarmup: number;
    /** Every `atOnceEvery`-th kick is answered at once, the others held (2: alternating). */
    atOnceEvery: number;
    openInFlight: number;
  },
  options: ScaleCalls,
): Promise<{ samples: ManyKick[]; failures: string[] }> {
  const clientA = new KeepAliveClient(nodes[0]!.port);
  const samples: ManyKick[] = [];
  const failures: string[] = [];
  let answers: CloseAnswers = answersNextTurn;
  try {
    for (let k = 0; k < plan.manyWarmup + plan.manyKicks; k += 1) {
      const uid = `scale-many-${k}`;
      const token = await options.login(clientA, uid);
      const openStart = performance.now();
      let sockets: { node: number; socket: BareSocket }[];
      try {
        sockets = await openSpread(
          nodes,
          token,
          plan.connections,
          plan.openInFlight,
          options.giveUpMs,
          () => answers,
        );
      } catch (error) {
        failures.push(`kick ${k}, opening: ${message(error)}`);
        continue;
      }
      const openMs = performance.now() - openStart;
      await collectYoungGarbage();
      const nodeCpuBefore = nodes.map(cpuOf);
      const clientCpuBefore = ownCpuUs();
      const held = k % plan.atOnceEvery !== plan.atOnceEvery - 1;
      answers = held ? new AnswersOnceAllArrived(plan.connections, options.giveUpMs) : answersNextTurn;
      const kick = await options.kick(clientA, uid);
      let frames: { at: number; code: number }[];
      let closed: number[];
      try {
        const all = `the ${plan.connections} closes`;
        frames = await withTimeout(
          Promise.all(sockets.map((s) => s.socket.closeFrame)),
          options.giveUpMs,
          all,
        );
        closed = await withTimeout(Promise.all(sockets.map((s) => s.socket.closed)), options.giveUpMs, all);
      } catch (error) {
        for (const { socket } of sockets) socket.destroy();
        failures.push(`kick ${k}: ${message(error)}`);
        continue;
      }
      const clientCpuMs = (ownCpuUs() - clientCpuBefore) / 1000;
      await sleep(250);
      const nodeCpuMs = nodes.map((node, i) => cpuOf(node) - nodeCpuBefore[i]!);
      const sentAtMs = performance.timeOrigin + kick.sentAt;
      const nodeClosedByNodeMs = nodes.map((node) => lastCloseLogged(node, uid, KICKED, sentAtMs) - sentAtMs);
      if (k < plan.manyWarmup) continue;
      const times = frames.map((f) => f.at);
      const last = Math.max(...times);
      samples.push({
        lastFrameFromSendMs: last - kick.sentAt,
        lastFrameFromAnswerMs: last - kick.doneAt,
        firstFrameFromSendMs: Math.min(...times) - kick.sentAt,
        lastClosedFromSendMs: Math.max(...closed) - kick.sentAt,
        answerMs: kick.doneAt - kick.sentAt,
        lastFrameByNodeMs: nodes.map(
          (_, node) => Math.max(...times.filter((_, i) => sockets[i]!.node === node)) - kick.sentAt,
        ),
        answersHeld: held,
        nodeClosedByNodeMs,
        wrongCodes: frames.filter((f) => f.code !== KICKED).length,
        openMs,
        clientCpuMs,
        nodeCpuMs,
      });
      const s = samples.at(-1)!;
      options.log(
        `scale: kick ${samples.length}/${plan.manyKicks} of ${plan.connections} connections: last close frame ${s.lastFrameFromSendMs.toFixed(1)} ms after the kick was sent, last connection ended ${s.lastClosedFromSendMs.toFixed(1)} ms (A answered at ${s.answerMs.toFixed(1)} ms; opening took ${Math.round(openMs)} ms)`,
      );
    }
  } finally {
    clientA.close();
  }
  return { samples, failures };
}
