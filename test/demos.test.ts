/**
 * The story a newcomer follows with each demo, against the REAL demo processes
 * (`node examples/<name>/dist/server.js`; the Express one is what the README starts), with the
 * seeds' own snippets. Every example must tell the same story: only the banner names its framework.
 * The examples run in parallel, each story in order.
 *
 * Needs the build (`npx --yes pnpm@10 build`; the root `test` script builds first), curl, and
 * optionally python3 with `requests` (the Python part is skipped, loudly, without it). An example
 * that is not built yet is skipped, loudly; under CI=true it fails.
 */
import { type ChildProcess, execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEMO_TENCENT, demoServerJs, isBuilt, spawnDemo, waitFor } from './support/demo-process.js';
import { tencentUserSig } from './support/fixtures.js';
import { replayDocumentedExamples } from './support/openapi-replay.js';

const run = promisify(execFile);
// The seed pages, copied from the project's shared documents so the test needs nothing outside the repo.
const seedsDir = fileURLToPath(new URL('./fixtures/seeds', import.meta.url));

// ---- the examples ----

interface Example {
  name: 'express' | 'koa' | 'nestjs' | 'fastify' | 'hono';
  /** As the banner prints it: `evict <framework> demo on …`. */
  framework: 'Express' | 'Koa' | 'NestJS' | 'Fastify' | 'Hono';
  /** Relative to the repository. */
  serverJs: string;
  built: boolean;
}

const EXAMPLES: Example[] = (
  [
    ['express', 'Express'],
    ['koa', 'Koa'],
    ['nestjs', 'NestJS'],
    ['fastify', 'Fastify'],
    ['hono', 'Hono'],
  ] as const
).map(([name, framework]) => {
  return { name, framework, serverJs: demoServerJs(name), built: isBuilt(name) };
});

const CI = process.env.CI === 'true';
const unbuilt = EXAMPLES.filter((e) => !e.built);
if (unbuilt.length > 0) {
  console.warn(
    '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
      `!!! demos.test.ts: ${unbuilt.map((e) => e.serverJs).join(', ')} ${unbuilt.length === 1 ? 'does' : 'do'} not exist:\n` +
      `!!! ${CI ? 'CI=true, so this FAILS' : 'those demos are NOT tested'} (run \`npx --yes pnpm@10 build\`).\n` +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
  );
}

// ---- UserSigs of the demo's Tencent app, from Tencent's own library ----

const userSig = (identifier: string) => tencentUserSig(DEMO_TENCENT, identifier, 86_400);

// ---- python3 + requests: optional on this machine ----

const hasPythonRequests = spawnSync('python3', ['-c', 'import requests'], { stdio: 'ignore' }).status === 0;
if (!hasPythonRequests) {
  console.warn(
    '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
      '!!! demos.test.ts: `python3 -c "import requests"` failed: the seeds\' PYTHON snippets are\n' +
      '!!! NOT tested on this machine (install python3 and requests to run them).\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
  );
}

// ---- the seeds' snippets, extracted from the seed files as written ----

interface Snippets {
  bash: string;
  javascript: string;
  python: string;
}

function seedFile(prefix: string): string {
  const name = readdirSync(seedsDir).find((f) => f.startsWith(prefix) && f.endsWith('.txt'));
  if (name === undefined) throw new Error(`no seed ${prefix}*.txt in ${seedsDir}`);
  return readFileSync(`${seedsDir}/${name}`, 'utf8');
}

/** The fenced blocks of a seed by language, exactly as written (indentation included). */
function snippetsOf(seed: string): Snippets {
  const blocks = new Map<string, string>();
  for (const match of seed.matchAll(/^[ \t]*```(\w+)[^\n]*\n([\s\S]*?)\n[ \t]*```/gm)) {
    if (!blocks.has(match[1]!)) blocks.set(match[1]!, match[2]!);
  }
  const get = (lang: string) => {
    const block = blocks.get(lang);
    if (block === undefined) throw new Error(`the seed has no \`\`\`${lang} block`);
    return block;
  };
  return { bash: get('bash'), javascript: get('javascript'), python: get('python') };
}

/** Removes the indentation the MDX page adds around every block (Python cares). */
function dedent(code: string): string {
  const lines = code.split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** The only change the test makes to a snippet: the port. */
function onPort(code: string, port: number): string {
  expect(code).toContain('http://localhost:5001/');
  const replaced = code.replaceAll('localhost:5001', `localhost:${port}`);
  expect(replaced).not.toContain('5001');
  return replaced;
}

const deviceQuitSeed = snippetsOf(seedFile('000'));
const connRemoveSeed = snippetsOf(seedFile('001'));

/** Runs a seed's JavaScript as written (top-level await and all), capturing what it logs. */
async function runJavaScript(code: string): Promise<unknown[]> {
  const logged: unknown[] = [];
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    ...args: string[]
  ) => (...args: unknown[]) => Promise<void>;
  await new AsyncFunction('console', code)({ log: (value: unknown) => logged.push(value) });
  return logged;
}

// ---- the demo process ----

interface DemoProcess {
  port: number;
  base: string;
  child: ChildProcess;
  /** Everything the demo printed to stdout, line by line. */
  lines: string[];
  stderr: () => string;
  stop(): Promise<number | null>;
}

async function startDemoProcess(example: Example): Promise<DemoProcess> {
  // The README's defaults and the in-memory store, whatever the machine's environment says.
  const { port, child, lines, stderr, exited } = await spawnDemo(example.name);
  if (port === 0) throw new Error(`the ${example.name} demo exited before listening:\n${stderr()}`);
  const banner = `evict ${example.framework} demo on`;
  const bannerLine = lines.find((l) => l.includes(banner));
  if (!bannerLine?.includes(`${banner} http://127.0.0.1:${port} (node 1, in-memory store)`)) {
    child.kill('SIGKILL'); // never leave a demo behind a failed check
  }
  expect(bannerLine).toContain(`${banner} http://127.0.0.1:${port} (node 1, in-memory store)`);
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    child,
    lines,
    stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

// ---- HTTP and WebSocket clients ----

interface Answer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  json: any;
}

async function call(
  demo: DemoProcess,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const response = await fetch(demo.base + path, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

async function login(demo: DemoProcess, uid = 'alice01', deviceFlag = 1): Promise<string> {
  const answer = await call(demo, 'POST', '/login', { body: { uid, device_flag: deviceFlag } });
  expect(answer.status).toBe(200);
  expect(answer.json).toMatchObject({ uid, device_flag: deviceFlag });
  expect(typeof answer.json.token).toBe('string');
  return answer.json.token;
}

const me = (demo: DemoProcess, token: string) => call(demo, 'GET', '/me', { headers: { token } });

/** Tencent's kick, signed with a UserSig of the demo's admin made by Tencent's own library. */
function kick(demo: DemoProcess, uid: string): Promise<Answer> {
  const query = new URLSearchParams({
    sdkappid: String(DEMO_TENCENT.sdkAppId),
    identifier: DEMO_TENCENT.admin,
    usersig: userSig(DEMO_TENCENT.admin),
    random: String(Math.floor(Math.random() * 4_294_967_295)),
    contenttype: 'json',
  });
  return call(demo, 'POST', `/v4/im_open_login_svc/kick?${query}`, { body: { Identifier: uid } });
}

interface Hello {
  type: string;
  uid: string;
  device_flag: number;
  conn_id: number;
  node_id: number;
}

interface Client {
  ws: WebSocket;
  hello: Hello;
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(demo: DemoProcess, token: string): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws?token=${encodeURIComponent(token)}`);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const hello = await new Promise<Hello>((resolve, reject) => {
    ws.once('message', (data) => resolve(JSON.parse(String(data)) as Hello));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return { ws, hello, closed };
}

/** An upgrade the guard refuses: its HTTP status and body. */
function refusedUpgrade(demo: DemoProcess, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/ws?token=${encodeURIComponent(token)}`);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

/** The audit lines (`[evict] hh:mm:ss.mmm <action> ...`) the demo printed from line `from` on. */
/** The revocations' audit lines (the lines for a kick's closed connections also start with a time). */
const auditLines = (demo: DemoProcess, from = 0) =>
  demo.lines.slice(from).filter((l) => /^\[evict\] \d\d:\d\d:\d\d\.\d{3} [a-z_]+ uid=/.test(l));

/** Seed 001's call as plain curl arguments (to show it is a 404 once the data is used up). */
function curlArgs(demo: DemoProcess): string[] {
  return [
    '-X',
    'POST',
    `http://localhost:${demo.port}/conn/remove`,
    '-H',
    'Content-Type: application/json',
    '-d',
    '{"uid": "user123", "conn_id": 12345, "node_id": 1}',
  ];
}

// ---- the story ----

describe.concurrent.each(EXAMPLES.map((e) => [e.framework, e] as const))(
  'the %s demo, as a newcomer runs it',
  (_framework, example) => {
    if (!example.built) {
      if (CI) {
        it(`${example.serverJs} is built`, () => {
          expect.fail(`${example.serverJs} is missing: the ${example.framework} demo is not built`);
        });
      } else {
        it.skip(`${example.serverJs} is not built yet`, () => undefined);
      }
      return;
    }

    let main: DemoProcess;
    /** Fresh demos, so that each language's snippets run against the seeds' data on the first try. */
    let forJavaScript: DemoProcess;
    let forPython: DemoProcess | undefined;

    beforeAll(async () => {
      [main, forJavaScript, forPython] = await Promise.all([
        startDemoProcess(example),
        startDemoProcess(example),
        hasPythonRequests ? startDemoProcess(example) : Promise.resolve(undefined),
      ]);
    });

    afterAll(async () => {
      await Promise.all([main?.stop(), forJavaScript?.stop(), forPython?.stop()]);
    });

    it.sequential('seed 000\'s curl quits user123\'s web device: {"status":"ok"}', async () => {
      const command = onPort(deviceQuitSeed.bash, main.port);
      // It is the seed's command, whitespace and all.
      expect(command.replace(/\\\n/g, ' ').replace(/\s+/g, ' ').trim()).toBe(
        `curl -X POST "http://localhost:${main.port}/user/device_quit" -H "Content-Type: application/json" -d '{ "uid": "user123", "device_flag": 1 }'`,
      );
      const from = main.lines.length;
      const { stdout } = await run('bash', ['-c', command], { timeout: 5_000 });
      expect(stdout).toBe('{"status":"ok"}');
      await waitFor('the quit_device audit line', () =>
        auditLines(main, from).some((l) => l.includes(' quit_device uid=user123 device=1 ')),
      );
    });

    it.sequential('then seed 001\'s curl removes connection 12345 on node 1: {"status":"ok"}', async () => {
      const command = onPort(connRemoveSeed.bash, main.port);
      expect(command.replace(/\\\n/g, ' ').replace(/\s+/g, ' ').trim()).toBe(
        `curl -X POST "http://localhost:${main.port}/conn/remove" -H "Content-Type: application/json" -d '{ "uid": "user123", "conn_id": 12345, "node_id": 1 }'`,
      );
      const from = main.lines.length;
      const { stdout } = await run('bash', ['-c', command], { timeout: 5_000 });
      expect(stdout).toBe('{"status":"ok"}');
      await waitFor('the remove_connection audit line', () =>
        auditLines(main, from).some((l) => l.includes(' remove_connection uid=user123 conn=12345 ')),
      );
      // The seeds' data is used up: the same call again is a 404, as the seed's status table says.
      const again = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...curlArgs(main)]);
      expect(again.stdout).toBe('404');
    });

    it.sequential("the seeds' JavaScript snippets (fetch) answer {status:'ok'} on a fresh demo, first try", async () => {
      expect(await runJavaScript(onPort(dedent(deviceQuitSeed.javascript), forJavaScript.port))).toEqual([
        { status: 'ok' },
      ]);
      expect(await runJavaScript(onPort(dedent(connRemoveSeed.javascript), forJavaScript.port))).toEqual([
        { status: 'ok' },
      ]);
    });

    it.sequential("the seeds' Python snippets (requests) answer {'status': 'ok'} on a fresh demo, first try", {
      skip: !hasPythonRequests,
    }, async () => {
      for (const seed of [deviceQuitSeed, connRemoveSeed]) {
        const { stdout } = await run('python3', ['-c', onPort(dedent(seed.python), forPython!.port)], {
          timeout: 10_000,
        });
        expect(stdout).toBe("{'status': 'ok'}\n");
      }
    });

    it.sequential('login, /me, a Tencent kick, and UserSigs before and after it', async () => {
      const token = await login(main);
      const viaHeader = await me(main, token);
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.json).toEqual({ uid: 'alice01', device_flag: 1, credential: 'session' });
      const viaBearer = await call(main, 'GET', '/me', { headers: { Authorization: `Bearer ${token}` } });
      expect(viaBearer.status).toBe(200);
      expect(viaBearer.json.uid).toBe('alice01');

      const sigBefore = userSig('alice01');
      const bySigBefore = `/me?identifier=alice01&usersig=${encodeURIComponent(sigBefore)}`;
      expect((await call(main, 'GET', bySigBefore)).json).toMatchObject({
        uid: 'alice01',
        credential: 'usersig',
      });

      const from = main.lines.length;
      const kicked = await kick(main, 'alice01');
      const kickAnsweredMs = Date.now();
      expect(kicked.status).toBe(200);
      expect(kicked.text).toBe('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');

      // Part 5 of the story: one readable audit line on stdout for the kick.
      await waitFor('the kick_user audit line', () =>
        auditLines(main, from).some((l) => l.includes('kick_user') && l.includes('alice01')),
      );
      expect(auditLines(main, from).find((l) => l.includes('kick_user'))).toMatch(
        /^\[evict\] \d\d:\d\d:\d\d\.\d{3} kick_user uid=alice01 by admin admin via POST \/v4\/im_open_login_svc\/kick on node 1: 0 connection\(s\) closed$/,
      );

      const oldToken = await me(main, token);
      expect(oldToken.status).toBe(401);
      expect(oldToken.json).toMatchObject({ error: 'unauthorized', reason: 'kicked' });

      const oldSig = await call(main, 'GET', bySigBefore);
      expect(oldSig.status).toBe(401);
      expect(oldSig.json).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 70052 });

      // UserSigs carry seconds: one made in the kick's own second is rejected (documented); wait for the next.
      const kickSecond = Math.floor(kickAnsweredMs / 1000);
      await waitFor('the next second', () => Math.floor(Date.now() / 1000) > kickSecond, 2_000);
      const sigAfter = await call(
        main,
        'GET',
        `/me?identifier=alice01&usersig=${encodeURIComponent(userSig('alice01'))}`,
      );
      expect(sigAfter.status).toBe(200);
      expect(sigAfter.json).toEqual({ uid: 'alice01', device_flag: null, credential: 'usersig' });

      const fresh = await me(main, await login(main));
      expect(fresh.status).toBe(200);
      expect(fresh.json.uid).toBe('alice01');
    });

    it.sequential('GET /openapi.json is valid OpenAPI 3.1, and every example in it answers as documented', async () => {
      const served = await call(main, 'GET', '/openapi.json');
      expect(served.status).toBe(200);
      const result = await new Validator().validate(served.json);
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      // The three families, the self-service routes, the metrics, the console and its API, and the document itself.
      expect(Object.keys(served.json.paths).length).toBe(24);
      // The examples' user alice, online on the web (device 1), as the presence examples show her.
      const sessionToken = await login(main, 'alice', 1);
      const online = await connect(main, sessionToken);
      const replayed = await replayDocumentedExamples(main.base, served.json, {
        sessionToken,
        tencentQuery: () =>
          new URLSearchParams({
            sdkappid: String(DEMO_TENCENT.sdkAppId),
            identifier: DEMO_TENCENT.admin,
            usersig: userSig(DEMO_TENCENT.admin),
            random: '7',
            contenttype: 'json',
          }).toString(),
      });
      expect(replayed.problems).toEqual([]);
      expect(replayed.calls).toBe(24);
      // Compared with the documented example of the status it answered: equal, but for answers that
      // follow from what the replay did before them (each example runs once, in the document's order).
      expect(replayed.matched).toEqual(
        expect.arrayContaining([
          'POST /user/onlinestatus 200',
          'POST /v4/openim/query_online_status 200',
          'POST /user/token 200',
          'POST /v4/im_open_login_svc/kick 200',
          'DELETE /v1/api/user/token 200',
          'DELETE /v1/api/user/message/token 200',
          'POST /console/api/device-quit 200',
        ]),
      );
      expect(replayed.differing.map((d) => d.slice(0, d.indexOf(':')))).toEqual([
        // The console's device quit closed alice's web socket: the WuKongIM one finds none to quit.
        'POST /user/device_quit 404',
        // Her last socket is gone by then: the kick closes none, where the example shows one.
        'POST /console/api/kick 200',
      ]);
      expect((await online.closed).code).toBe(4002);
    });

    it.sequential('GET /metrics counts the story so far in Prometheus’ text, naming no user', async () => {
      const token = await login(main, 'metric01', 1);
      expect((await me(main, token)).status).toBe(200);
      expect((await kick(main, 'metric01')).json).toMatchObject({ ErrorCode: 0 });
      expect((await me(main, token)).status).toBe(401);
      const scraped = await fetch(`${main.base}/metrics`);
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await scraped.text();
      expect(text).toMatch(/^evict_revocations_total\{action="kick_user",family="tencent"\} [1-9]/m);
      expect(text).toMatch(/^evict_guard_decisions_total\{result="accepted",reason="none"\} [1-9]/m);
      expect(text).toMatch(/^evict_guard_decisions_total\{result="rejected",reason="kicked"\} [1-9]/m);
      expect(text).toMatch(/^evict_store_operation_duration_seconds_count\{operation="kick"\} [1-9]/m);
      expect(text).not.toContain('metric01');
    });

    // Issue 15: the Express demo signs JWTs too; evict never stores them, and a kick still rejects them.
    it.runIf(example.name === 'express').sequential(
      'POST /login/jwt: the JWT works on /me as a Bearer until a Tencent kick of its user, then answers kicked',
      async () => {
        const issued = await call(main, 'POST', '/login/jwt', { body: { uid: 'jwtuser7', device_flag: 1 } });
        expect(issued.status).toBe(200);
        const bearer = { Authorization: `Bearer ${issued.json.jwt}` };
        const before = await call(main, 'GET', '/me', { headers: bearer });
        expect(before.json).toEqual({ uid: 'jwtuser7', device_flag: 1, credential: 'jwt' });
        expect((await kick(main, 'jwtuser7')).text).toBe(
          '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}',
        );
        const after = await call(main, 'GET', '/me', { headers: bearer });
        expect(after.status).toBe(401);
        expect(after.json).toMatchObject({ error: 'unauthorized', reason: 'kicked' });
        const bad = await call(main, 'POST', '/login/jwt', { body: { uid: 'jwtuser7', device_flag: 300 } });
        expect(bad.status).toBe(400);
      },
    );

    it.sequential('WebSocket: a kick closes 4001, device_quit 4002, conn/remove 4003; revoked tokens are refused', async () => {
      const kickedToken = await login(main);
      const first = await connect(main, kickedToken);
      expect(first.hello).toMatchObject({ type: 'hello', uid: 'alice01', device_flag: 1, node_id: 1 });
      expect(Number.isSafeInteger(first.hello.conn_id) && first.hello.conn_id > 0).toBe(true);
      expect((await kick(main, 'alice01')).text).toBe('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
      expect(await first.closed).toEqual({ code: 4001, reason: 'kicked' });
      const refusedKicked = await refusedUpgrade(main, kickedToken);
      expect(refusedKicked.status).toBe(401);
      expect(JSON.parse(refusedKicked.body)).toMatchObject({ error: 'unauthorized', reason: 'kicked' });

      const quitToken = await login(main);
      const second = await connect(main, quitToken);
      expect(second.hello).toMatchObject({ uid: 'alice01', node_id: 1 });
      const quit = await call(main, 'POST', '/user/device_quit', {
        body: { uid: 'alice01', device_flag: 1 },
      });
      expect(quit.status).toBe(200);
      expect(quit.text).toBe('{"status":"ok"}');
      expect(await second.closed).toEqual({ code: 4002, reason: 'device_quit' });

      const liveToken = await login(main);
      const third = await connect(main, liveToken);
      const removed = await call(main, 'POST', '/conn/remove', {
        body: { uid: 'alice01', conn_id: third.hello.conn_id, node_id: third.hello.node_id },
      });
      expect(removed.status).toBe(200);
      expect(removed.text).toBe('{"status":"ok"}');
      expect(await third.closed).toEqual({ code: 4003, reason: 'connection_removed' });

      // Removing a connection leaves the credential valid: the client may reconnect.
      expect((await me(main, liveToken)).status).toBe(200);
      const again = await connect(main, liveToken);
      expect(again.hello.conn_id).not.toBe(third.hello.conn_id);
      again.ws.close(1000);
      await again.closed;

      const refusedQuit = await refusedUpgrade(main, quitToken);
      expect(refusedQuit.status).toBe(401);
      expect(JSON.parse(refusedQuit.body)).toMatchObject({ error: 'unauthorized', reason: 'device_quit' });
      // The kicked token stays refused after the later device_quit (whose reason the engine now reports).
      expect((await refusedUpgrade(main, kickedToken)).status).toBe(401);
    });

    it.sequential('push tokens, the Lancens logout, and clearing the ring token', async () => {
      const token = await login(main);
      const session = { token };
      for (const [kind, pushToken] of [
        ['ring', 'r1'],
        ['message', 'm1'],
      ]) {
        const put = await call(main, 'PUT', '/push-tokens', {
          headers: session,
          body: { kind, push_token: pushToken },
        });
        expect(put.status).toBe(200);
      }
      const before = await call(main, 'GET', '/push-tokens', { headers: session });
      expect(before.status).toBe(200);
      expect(before.json).toEqual({ ring: 'r1', message: 'm1' });

      const logout = await call(main, 'POST', '/v1/api/user/logout', {
        body: { username: 'alice01', token },
      });
      expect(logout.status).toBe(200);
      expect(logout.json).toEqual({ status: 'ok' });

      const next = { token: await login(main) };
      const after = await call(main, 'GET', '/push-tokens', { headers: next });
      expect(after.status).toBe(200);
      expect(after.json).toEqual({});

      const old = await me(main, token);
      expect(old.status).toBe(401);
      expect(old.json).toMatchObject({ error: 'unauthorized', reason: 'logged_out' });

      for (const [kind, pushToken] of [
        ['ring', 'r2'],
        ['message', 'm2'],
      ]) {
        expect(
          (await call(main, 'PUT', '/push-tokens', { headers: next, body: { kind, push_token: pushToken } }))
            .status,
        ).toBe(200);
      }
      const clear = await call(main, 'DELETE', '/v1/api/user/token', { headers: next });
      expect(clear.status).toBe(200);
      expect(clear.json).toEqual({ status: 'ok' });
      expect((await call(main, 'GET', '/push-tokens', { headers: next })).json).toEqual({ message: 'm2' });
      // The session that cleared it is still live.
      expect((await me(main, next.token)).status).toBe(200);
    });

    it.sequential('prints exactly one readable audit line per revocation to stdout', async () => {
      const actions = auditLines(main).map((l) => {
        const [, action, uid] = l.match(/^\[evict\] \S+ ([a-z_]+) uid=(\S+)/)!;
        return `${action} ${uid}`;
      });
      expect(actions).toEqual([
        'quit_device user123', // seed 000's curl
        'remove_connection user123', // seed 001's curl
        'kick_user alice01', // the kick of the /me story
        // The OpenAPI replay's documented examples, of its user alice, in the document's order.
        'kick_connection alice',
        'clear_push_token alice',
        'clear_push_token alice',
        'quit_device alice',
        'kick_user alice',
        'kick_user alice', // the console's own kick (its other examples name no live session)
        'kick_user metric01', // the metrics story
        ...(example.name === 'express' ? ['kick_user jwtuser7'] : []), // the JWT story
        'kick_user alice01', // the kick of the WebSocket story
        'quit_device alice01',
        'remove_connection alice01',
        'logout alice01',
        'clear_push_token alice01',
      ]);
      expect(auditLines(main).find((l) => l.includes('logout'))).toContain(
        'push tokens cleared=[ring,message]',
      );
      // Audit lines go to stdout, not stderr.
      expect(main.stderr()).not.toContain('kick_user');
    });

    it.sequential('a login right after a kick works, even within the same millisecond', async () => {
      // Over loopback some logins land in the kick's own millisecond: before the fix in the engine's
      // issueSession, about 2% of them were rejected as kicked (this caught it in ~40% of runs).
      await login(forJavaScript, 'dave01');
      for (let round = 0; round < 100; round += 1) {
        expect((await kick(forJavaScript, 'dave01')).json.ErrorCode).toBe(0);
        const answer = await me(forJavaScript, await login(forJavaScript, 'dave01'));
        expect(answer.status, `round ${round}: ${answer.text}`).toBe(200);
      }
    });

    it.sequential('stops cleanly on SIGTERM', async () => {
      expect(await main.stop()).toBe(0);
    });
  },
);
