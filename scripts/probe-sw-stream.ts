/**
 * Research probe: can a service worker hold a long-lived stream (SSE read with fetch() and a
 * ReadableStream reader) in Chromium, kept up only by the messages Purl's tabs send it?
 * See docs/sw-stream.md for what it measured and what that means for push.
 *
 *   node --import tsx scripts/probe-sw-stream.ts            # every scenario, 7 minutes each (run side by side)
 *   node --import tsx scripts/probe-sw-stream.ts --quick    # 100 s each: too short for the 5-min event cap
 *   node --import tsx scripts/probe-sw-stream.ts --only=hb5-plain,stop-hb5 --seconds=60   # a subset, shorter
 *
 * Each scenario gets its own headless Chromium (own profile) and its own tiny HTTP server
 * on 127.0.0.1 that serves a page, a worker and an SSE endpoint (an event every 2 s), and
 * timestamps everything it sees: the page's heartbeats, the worker's reports (start, stream
 * open and close, a tick every 5 s), and the SSE sockets opening and closing.
 *
 * Why raw CDP and not Playwright: while Playwright is attached Chromium never stops an idle
 * worker (it auto-attaches DevTools to the worker, which switches the idle timer off). So
 * this probe speaks CDP over one WebSocket to the page target only, and uses it for three
 * things: navigate, ServiceWorker.enable (to see the worker's running status change; the
 * `none-*` scenarios show that this does not keep the worker alive), and stopAllWorkers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { CHROMIUM_ARGS, NO_BROWSER_MESSAGE, findChromium } from '../e2e/browser';

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const seconds = process.argv.find((arg) => arg.startsWith('--seconds='))?.slice('--seconds='.length);
const RUN_MS = seconds ? Number(seconds) * 1000 : quick ? 100_000 : 420_000;
const SSE_EVERY_MS = 2_000;
const TICK_EVERY_MS = 5_000;

// ---------------------------------------------------------------------------------------
// Scenarios

interface Scenario {
  name: string;
  /** The page's postMessage interval; null = one message at load, then none. */
  heartbeatMs: number | null;
  /** Hold the stream inside the waitUntil of the message event that opened it. */
  waitUntil: boolean;
  /** When to call CDP ServiceWorker.stopAllWorkers, ms after the page loads. */
  stopAtMs: number[];
  what: string;
}

const SCENARIOS: Scenario[] = [
  { name: 'hb5-plain', heartbeatMs: 5_000, waitUntil: false, stopAtMs: [], what: 'visible tab, stream outside waitUntil' },
  { name: 'hb5-wait', heartbeatMs: 5_000, waitUntil: true, stopAtMs: [], what: 'visible tab, stream inside waitUntil' },
  { name: 'hb30-plain', heartbeatMs: 30_000, waitUntil: false, stopAtMs: [], what: 'hidden tab, stream outside waitUntil' },
  { name: 'hb30-wait', heartbeatMs: 30_000, waitUntil: true, stopAtMs: [], what: 'hidden tab, stream inside waitUntil' },
  { name: 'hb60-plain', heartbeatMs: 60_000, waitUntil: false, stopAtMs: [], what: 'hidden tab after 5 min, outside waitUntil' },
  { name: 'hb60-wait', heartbeatMs: 60_000, waitUntil: true, stopAtMs: [], what: 'hidden tab after 5 min, inside waitUntil' },
  { name: 'none-plain', heartbeatMs: null, waitUntil: false, stopAtMs: [], what: 'one message at load, outside waitUntil' },
  { name: 'none-wait', heartbeatMs: null, waitUntil: true, stopAtMs: [], what: 'one message at load, inside waitUntil' },
  { name: 'stop-hb5', heartbeatMs: 5_000, waitUntil: false, stopAtMs: [40_000, 70_000], what: 'stopAllWorkers, visible tab' },
  { name: 'stop-hb5-wait', heartbeatMs: 5_000, waitUntil: true, stopAtMs: [40_000, 70_000], what: 'stopAllWorkers, inside waitUntil' },
  { name: 'stop-none', heartbeatMs: null, waitUntil: false, stopAtMs: [15_000], what: 'stopAllWorkers, no heartbeats' },
];

// ---------------------------------------------------------------------------------------
// What the browser runs. Plain JavaScript: the worker and page are served as is.

/** The page: registers the worker, heartbeats it, and holds its own EventSource for comparison. */
const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>sw-stream probe</title><script type="module">
const q = new URLSearchParams(location.search);
const hb = Number(q.get('hb')); // 0: one message at load, then none
const log = (ev, extra = {}) => fetch('/log?' + new URLSearchParams({ who: 'page', ev, ...extra }), { cache: 'no-store' }).catch(() => {});
const reg = await navigator.serviceWorker.register('/sw.js?mode=' + q.get('mode'));
await navigator.serviceWorker.ready;
// reg.active keeps pointing at the same version after Chromium stops it; a postMessage to
// it starts the worker again, just as Purl's tabs' heartbeats do.
let n = 0;
const beat = () => { reg.active.postMessage({ type: 'heartbeat', n }); log('beat', { n: String(n++) }); };
beat();
if (hb > 0) setInterval(beat, hb);
const es = new EventSource('/sse?who=page');
es.onopen = () => log('es-open');
es.onerror = () => log('es-error', { state: String(es.readyState) });
</script>`;

/**
 * The worker. It opens the stream on a message when none is open (so the next heartbeat
 * after a stop restarts it), never reconnects by itself, and reports by fetch: its own
 * fetches are not events, so they do not extend its life the way a message does.
 */
const SW_JS = `
const mode = new URL(location.href).searchParams.get('mode');
const inst = Math.random().toString(36).slice(2, 8);
const log = (ev, extra = {}) => fetch('/log?' + new URLSearchParams({ who: 'sw', inst, ev, ...extra }), { cache: 'no-store' }).catch(() => {});
log('start');
let firstEvent = true;
const first = (type) => { if (firstEvent) { firstEvent = false; log('first-event', { type }); } };
self.addEventListener('install', (event) => { first('install'); self.skipWaiting(); });
self.addEventListener('activate', () => first('activate'));
let stream = null;
let lastId = '';
async function readStream(trigger) {
  log('open', { trigger });
  let events = 0;
  try {
    const res = await fetch('/sse?who=sw&inst=' + inst, { cache: 'no-store', headers: lastId ? { 'Last-Event-ID': lastId } : {} });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\\n\\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (.*)$/m.exec(block);
        if (id) { lastId = id[1]; events++; }
      }
    }
    log('close', { reason: 'done', events: String(events) });
  } catch (err) {
    log('close', { reason: 'error: ' + err, events: String(events) });
  } finally {
    stream = null;
  }
}
self.addEventListener('message', (event) => {
  first('message');
  if (stream) return;
  stream = readStream('message ' + event.data?.n);
  if (mode === 'wait') event.waitUntil(stream);
});
setInterval(() => log('tick'), ${TICK_EVERY_MS});
`;

// ---------------------------------------------------------------------------------------
// The server: serves the above and timestamps everything (ms since the page was loaded).

interface LogRow {
  t: number;
  who: string;
  ev: string;
  [key: string]: string | number;
}

interface SseConnection {
  who: 'sw' | 'page';
  inst: string;
  openedAt: number;
  closedAt?: number;
  events: number;
}

interface Probe {
  origin: string;
  rows: LogRow[];
  sse: SseConnection[];
  now(): number;
  setStart(): void;
  close(): Promise<void>;
}

async function startServer(): Promise<Probe> {
  let t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const rows: LogRow[] = [];
  const sse: SseConnection[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const noStore = { 'cache-control': 'no-store' };
    if (url.pathname === '/') {
      res.writeHead(200, { ...noStore, 'content-type': 'text/html' }).end(PAGE_HTML);
    } else if (url.pathname === '/sw.js') {
      res.writeHead(200, { ...noStore, 'content-type': 'text/javascript' }).end(SW_JS);
    } else if (url.pathname === '/log') {
      const params = Object.fromEntries(url.searchParams);
      rows.push({ ...params, t: now(), who: params['who'] ?? '?', ev: params['ev'] ?? '?' });
      res.writeHead(204, noStore).end();
    } else if (url.pathname === '/sse') {
      const conn: SseConnection = {
        who: url.searchParams.get('who') === 'sw' ? 'sw' : 'page',
        inst: url.searchParams.get('inst') ?? '',
        openedAt: now(),
        events: 0,
      };
      sse.push(conn);
      let id = Number(req.headers['last-event-id'] ?? 0) || 0;
      res.writeHead(200, { ...noStore, 'content-type': 'text/event-stream' });
      res.write('retry: 1000\n\n');
      const timer = setInterval(() => {
        res.write(`id: ${++id}\ndata: ${now()}\n\n`);
        conn.events++;
      }, SSE_EVERY_MS);
      // The socket closing is what the server sees when the browser drops the stream.
      res.on('close', () => {
        clearInterval(timer);
        conn.closedAt = now();
      });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    rows,
    sse,
    now,
    setStart: () => {
      t0 = performance.now();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------
// Chromium and a minimal CDP client

interface Browser {
  child: ChildProcess;
  profile: string;
  cdp: Cdp;
}

class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();

  private constructor(
    private readonly socket: WebSocket,
    onEvent: (method: string, params: Record<string, unknown>) => void,
  ) {
    socket.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { message: string } };
      if (msg.id !== undefined) {
        const waiter = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) waiter?.reject(new Error(msg.error.message));
        else waiter?.resolve(msg.result);
      } else if (msg.method) {
        onEvent(msg.method, msg.params ?? {});
      }
    });
  }

  static async connect(url: string, onEvent: (method: string, params: Record<string, unknown>) => void): Promise<Cdp> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new Cdp(socket, onEvent);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  close(): void {
    this.socket.close();
  }
}

async function waitFor<T>(what: string, get: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function launch(executable: string, onEvent: (method: string, params: Record<string, unknown>) => void): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-sw-stream-'));
  // detached: its own process group, so stopping it also stops its renderer and utility processes.
  const child = spawn(executable, ['--headless=new', ...CHROMIUM_ARGS, '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], {
    detached: true,
    stdio: 'ignore',
  });
  const port = await waitFor('DevToolsActivePort', () => {
    try {
      return fs.readFileSync(path.join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0] || undefined;
    } catch {
      return undefined;
    }
  });
  const page = await waitFor('the page target', async () => {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    return targets.find((target) => target.type === 'page');
  });
  const cdp = await Cdp.connect(page.webSocketDebuggerUrl, onEvent);
  return { child, profile, cdp };
}

async function stopBrowser(browser: Browser): Promise<void> {
  browser.cdp.close();
  const exited = new Promise((resolve) => browser.child.once('exit', resolve));
  if (browser.child.pid !== undefined) {
    try {
      process.kill(-browser.child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await Promise.race([exited, sleep(5_000)]);
  fs.rmSync(browser.profile, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// One scenario

interface StatusChange {
  t: number;
  status: string;
}

interface Outcome {
  scenario: Scenario;
  rows: LogRow[];
  sse: SseConnection[];
  status: StatusChange[];
  stops: number[];
  endedAt: number;
}

async function runScenario(executable: string, scenario: Scenario): Promise<Outcome> {
  const probe = await startServer();
  const status: StatusChange[] = [];
  // The worker's running status as Chromium reports it (our one registration, one version).
  const browser = await launch(executable, (method, params) => {
    if (method !== 'ServiceWorker.workerVersionUpdated') return;
    for (const version of params['versions'] as { runningStatus: string }[]) {
      if (status.at(-1)?.status !== version.runningStatus) status.push({ t: probe.now(), status: version.runningStatus });
    }
  });
  const stops: number[] = [];
  try {
    await browser.cdp.send('ServiceWorker.enable');
    probe.setStart();
    const query = new URLSearchParams({ hb: String(scenario.heartbeatMs ?? 0), mode: scenario.waitUntil ? 'wait' : 'plain' });
    await browser.cdp.send('Page.navigate', { url: `${probe.origin}/?${query}` });
    for (const at of scenario.stopAtMs) {
      await sleep(at - probe.now());
      stops.push(probe.now());
      await browser.cdp.send('ServiceWorker.stopAllWorkers');
    }
    await sleep(RUN_MS - probe.now());
    return { scenario, rows: probe.rows, sse: probe.sse, status, stops, endedAt: probe.now() };
  } finally {
    await stopBrowser(browser);
    await probe.close();
  }
}

// ---------------------------------------------------------------------------------------
// Report

const s = (ms: number) => `${(ms / 1000).toFixed(1)}`;

/** Where running status went to 'stopped' after having been 'running'. */
function stoppedTimes(outcome: Outcome): number[] {
  const times: number[] = [];
  let wasRunning = false;
  for (const change of outcome.status) {
    if (change.status === 'running') wasRunning = true;
    if (change.status === 'stopped' && wasRunning) {
      times.push(change.t);
      wasRunning = false;
    }
  }
  return times;
}

function summarize(outcome: Outcome) {
  const { rows, sse, endedAt } = outcome;
  const swStreams = sse.filter((conn) => conn.who === 'sw');
  const pageStreams = sse.filter((conn) => conn.who === 'page');
  const upMs = swStreams.reduce((sum, conn) => sum + ((conn.closedAt ?? endedAt) - conn.openedAt), 0);
  const firstOpen = swStreams[0]?.openedAt ?? endedAt;
  // The longest stretch without a worker stream, from the first stream open to the end.
  let longestGap = 0;
  let coveredUntil = firstOpen;
  for (const conn of swStreams) {
    longestGap = Math.max(longestGap, conn.openedAt - coveredUntil);
    coveredUntil = Math.max(coveredUntil, conn.closedAt ?? endedAt);
  }
  longestGap = Math.max(longestGap, endedAt - coveredUntil);
  const stopped = stoppedTimes(outcome);
  // How long after the worker stopped the server saw the worker's stream socket close.
  const closeLag = stopped
    .map((t) => swStreams.find((conn) => conn.closedAt !== undefined && conn.closedAt >= t - 1_000 && conn.closedAt <= t + 10_000)?.closedAt)
    .map((closedAt, i) => (closedAt === undefined ? undefined : closedAt - stopped[i]!));
  const swCloses = rows.filter((row) => row.who === 'sw' && row.ev === 'close').map((row) => String(row['reason']));
  return {
    starts: rows.filter((row) => row.who === 'sw' && row.ev === 'start').length,
    stopped,
    closeLag,
    swStreams,
    pageStreams,
    upPercent: Math.round((100 * upMs) / (endedAt - firstOpen)),
    longestGap,
    swCloses,
    pageErrors: rows.filter((row) => row.who === 'page' && row.ev === 'es-error').length,
  };
}

function printTable(outcomes: Outcome[]): void {
  const header = [
    'scenario',
    'hb',
    'worker starts',
    'worker stopped at (s)',
    'stream closed after stop (ms)',
    'sw streams',
    'sw stream up',
    'longest gap (s)',
    'page ES',
  ];
  const lines = outcomes.map((outcome) => {
    const sum = summarize(outcome);
    return [
      outcome.scenario.name,
      outcome.scenario.heartbeatMs === null ? 'once' : `${outcome.scenario.heartbeatMs / 1000}s`,
      String(sum.starts),
      sum.stopped.map(s).join(' ') || '-',
      sum.closeLag.map((lag) => (lag === undefined ? '?' : String(lag))).join(' ') || '-',
      String(sum.swStreams.length),
      `${sum.upPercent}%`,
      s(sum.longestGap),
      `${sum.pageStreams.length} conn, ${sum.pageErrors} err`,
    ];
  });
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)));
  const format = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(format(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const line of lines) console.log(format(line));
}

/** Per scenario: every stream and status change in time order, for reading what happened. */
function printTimelines(outcomes: Outcome[]): void {
  for (const outcome of outcomes) {
    const events: { t: number; text: string }[] = [];
    for (const change of outcome.status) events.push({ t: change.t, text: `worker ${change.status}` });
    for (const t of outcome.stops) events.push({ t, text: 'CDP stopAllWorkers' });
    for (const conn of outcome.sse) {
      const label = conn.who === 'sw' ? `sw(${conn.inst}) stream` : 'page EventSource';
      events.push({ t: conn.openedAt, text: `${label} socket open` });
      if (conn.closedAt !== undefined) events.push({ t: conn.closedAt, text: `${label} socket closed (${conn.events} events)` });
    }
    for (const row of outcome.rows) {
      if (row.who === 'sw' && row.ev === 'start') events.push({ t: row.t, text: `sw(${row['inst']}) script started` });
      if (row.who === 'sw' && row.ev === 'first-event') events.push({ t: row.t, text: `sw(${row['inst']}) first event: ${row['type']}` });
      if (row.who === 'sw' && row.ev === 'close') events.push({ t: row.t, text: `sw(${row['inst']}) reader ended: ${row['reason']}` });
      if (row.who === 'page' && row.ev === 'es-error') events.push({ t: row.t, text: 'page EventSource error' });
    }
    const lastTick = new Map<string, number>();
    for (const row of outcome.rows) if (row.who === 'sw' && row.ev === 'tick') lastTick.set(String(row['inst']), row.t);
    for (const [inst, t] of lastTick) events.push({ t, text: `sw(${inst}) last tick` });
    events.sort((a, b) => a.t - b.t);
    console.log(`\n${outcome.scenario.name}: ${outcome.scenario.what}`);
    for (const event of events) console.log(`  ${s(event.t).padStart(6)} s  ${event.text}`);
  }
}

async function main(): Promise<number> {
  const executable = findChromium();
  if (!executable) {
    console.error(NO_BROWSER_MESSAGE);
    return 1;
  }
  const scenarios = SCENARIOS.filter((scenario) => !only || only.includes(scenario.name));
  console.log(
    `${scenarios.length} scenarios side by side, ${RUN_MS / 1000} s each; SSE event every ${SSE_EVERY_MS / 1000} s, worker tick every ${TICK_EVERY_MS / 1000} s`,
  );
  // Side by side: each has its own browser and origin, and the waiting is the point.
  const outcomes = await Promise.all(scenarios.map((scenario) => runScenario(executable, scenario)));
  printTimelines(outcomes);
  console.log('');
  printTable(outcomes);
  return 0;
}

process.exitCode = await main();
