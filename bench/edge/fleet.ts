/**
 * One measured window of the edge bench: a fresh ElizaOS (a copy of a history template,
 * stock or with Purl's client-address middleware), and for each row in the window its
 * own counting proxy (bench/edge/upstream-counter.ts, on an address of its own, so its
 * own rate-limit bucket), its own gateway and its simulated users, sharded over child
 * processes (bench/edge/shard.ts). Rows in one window run at the same time on one
 * ElizaOS; a row whose server load matters gets a window of its own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedEliza, type EmbeddedEliza } from '../../server/eliza-process';
import { resetPeak, sample } from '../sim/proc-stats';
import { root, spawnGateway } from '../sim/stack';
import { copyDataDir } from './history';
import type { ShardMessage, ShardPlan } from './shard';
import { aggregateShards, assignUsers, shardCount, type FleetTotals, type ShardReport } from './shards';
import { startUpstreamCounter, summarizeUpstream, type UpstreamCounter, type UpstreamSummary } from './upstream-counter';

/** The clients the issues compare: the edge's (issue 11) and push's (issue 12). */
export type EdgeClient = 'push' | 'edge' | 'today' | 'naive';

export const CLIENT_LABEL: Record<EdgeClient, string> = { push: 'Purl with push', edge: 'Purl with edge', today: 'Purl today', naive: 'naive' };

/**
 * The gateway each client goes through. `push`: the edge at its default in front of an
 * external server (10 s) and push on. `edge`: the same without push (replies by the chat
 * poll). `today`: no edge, no sync route and no push (an older gateway; the variables are
 * ignored by gateways without them). The naive client goes through `today`'s gateway: a
 * plain proxy, as it would have without Purl.
 */
export function gatewayEnv(client: EdgeClient): Record<string, string> {
  if (client === 'push') return { GATEWAY_CACHE_TTL: '10000', PURL_PUSH_SECRET: PUSH_SECRET };
  if (client === 'edge') return { GATEWAY_CACHE_TTL: '10000', PURL_PUSH: 'off' };
  return { GATEWAY_CACHE_TTL: '0', PURL_SYNC_ROUTE: 'off', PURL_PUSH: 'off' };
}

/** The bench's gateways make push tokens with this key, so none is written into the checkout. */
const PUSH_SECRET = 'purl-bench-push-key-0123456789abcdef01234567';

/**
 * What stands between a row's users and its counting proxy: one gateway process (the
 * default, as `npm start` runs it), or several behind a load balancer (bench/cluster/).
 */
export interface Front {
  /** Where the users go. */
  url: string;
  /** Its processes, each measured over the window; the first is the row's `gateway`. */
  processes: { name: string; pid: number }[];
  /** Counters of its own (e.g. Redis's commands), read before the first arrival, as the measured part begins, and at its end. */
  snapshot?(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Starts a row's front in front of ElizaOS: `env` names the counting proxy (ELIZA_SERVER_URL) and the row's gateway settings. */
export type StartFront = (env: Record<string, string>) => Promise<Front>;

/** One gateway process (`npm start`'s program). */
export const singleGateway: StartFront = async (env) => {
  const gateway = await spawnGateway(env);
  return { url: gateway.url, processes: [{ name: 'gateway', pid: gateway.pid }], stop: gateway.stop };
};

export interface RowSpec {
  client: EdgeClient;
  users: number;
  /** Shard processes; default shardCount(users). */
  shards?: number;
  /** Default {@link singleGateway}. */
  front?: StartFront;
}

export interface WindowSpec {
  rows: RowSpec[];
  server: 'stock' | 'embedded';
  /** Template data folder to start ElizaOS on (its history). */
  template: string;
  /** Users arrive spread over this long; their first visits fall in it. */
  rampMs: number;
  /** A pause after the ramp before measuring, so first visits slowed by the crowd end before it. */
  settleMs: number;
  /** The measured part, after the ramp. */
  measureMs: number;
  tabs: number;
  messageEveryMs: number;
  /** First address index of this window's users (windows never share addresses). */
  addressOffset: number;
  label: string;
}

export interface ProcessLoad {
  /** Over the measured part. */
  cpuPercent: number;
  /** Over the whole window. */
  peakMb: number;
  /** CPU seconds from the first arrival to the end of the window (first visits included). */
  windowCpuS?: number;
  /** Resident memory just before the first arrival, MB. */
  startMb?: number;
}

/** Counters of a row's front (Front.snapshot) at three moments. */
export interface FrontSnapshots {
  /** Before the first arrival. */
  atStart: Record<string, number>;
  atMeasure: Record<string, number>;
  atEnd: Record<string, number>;
}

export interface RowResult {
  client: EdgeClient;
  users: number;
  server: WindowSpec['server'];
  /** The other rows sharing this window's ElizaOS (its CPU then is theirs together). */
  concurrentRows: number;
  measureMs: number;
  /** From the first arrival to the measured part (the ramp and the pause after it). */
  firstVisitMs: number;
  fleet: FleetTotals;
  upstream: { firstVisit: UpstreamSummary; measured: UpstreamSummary };
  /** ElizaOS's first answer through this row's counter: its bucket was fresh when 999. */
  firstRemaining?: number;
  /** Seconds from the first arrival to ElizaOS's first 429 for this row: its budget was spent. */
  first429S?: number;
  gateway: ProcessLoad;
  /** Every process of the row's front, the gateway first (one for a single gateway). */
  processes?: (ProcessLoad & { name: string })[];
  /** The front's own counters, when it has any. */
  snapshots?: FrontSnapshots;
  eliza: ProcessLoad;
  /** The bench's parent process (the counting proxies) over the measured part. */
  counterCpuPercent: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const log = (line: string) => console.log(`bench: edge: ${line}`);

function startShard(): Promise<ChildProcess> {
  const child = fork(path.join(here, 'shard.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (message: ShardMessage) => (message.type === 'ready' ? resolve(child) : reject(new Error(`shard: ${JSON.stringify(message)}`))));
    child.once('exit', (code) => reject(new Error(`a shard exited before it was ready (${code})`)));
  });
}

function awaitReport(child: ChildProcess, deadline: number): Promise<ShardReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error('a shard did not report in time'));
      },
      Math.max(0, deadline - Date.now()),
    );
    child.once('message', (message: ShardMessage) => {
      clearTimeout(timer);
      if (message.type === 'report') resolve(message.report);
      else reject(new Error(message.type === 'failed' ? `a shard failed: ${message.message}` : 'a shard said ready twice'));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface RowParts {
  spec: RowSpec;
  counter: UpstreamCounter;
  front: Front;
  shards: ChildProcess[];
}

/** ElizaOS's RateLimit-Remaining on the first /api answer through `counter`, if it said one. */
async function probeRemaining(counter: UpstreamCounter, agentPath: string): Promise<number | undefined> {
  const answer = await fetch(`${counter.url}${agentPath}`).catch(() => undefined);
  const remaining = answer?.headers.get('ratelimit-remaining');
  await answer?.arrayBuffer().catch(() => undefined);
  return remaining ? Number(remaining) : undefined;
}

/** Windows still stopping their processes (see runWindow), awaited by {@link allStopped}. */
const stopping = new Set<Promise<void>>();

/** Resolves when every window's processes have stopped. */
export async function allStopped(): Promise<void> {
  await Promise.all([...stopping]);
}

export async function runWindow(spec: WindowSpec): Promise<RowResult[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-edge-bench-'));
  copyDataDir(spec.template, dataDir);
  let eliza: EmbeddedEliza | undefined;
  const parts: RowParts[] = [];
  const children: ChildProcess[] = [];
  // The shards load while ElizaOS starts: neither needs the other.
  const shardsStarting = spec.rows.map((row) =>
    Promise.all(
      Array.from({ length: row.shards ?? shardCount(row.users) }, () =>
        startShard().then((child) => {
          children.push(child);
          return child;
        }),
      ),
    ),
  );
  try {
    eliza = await startEmbeddedEliza({ root, dataDir, stock: spec.server === 'stock' });
    const elizaUrl = eliza.url.href.replace(/\/$/, '');
    for (const [i, row] of spec.rows.entries()) {
      // 127.0.254.x: no simulated user's address (see loopbackAddress) and not 127.0.0.1,
      // where the agent's own calls to its server spend their bucket.
      const counter = await startUpstreamCounter({ target: elizaUrl, localAddress: `127.0.254.${i + 1}` });
      const env: Record<string, string> = { ELIZA_SERVER_URL: counter.url, ...gatewayEnv(row.client) };
      if (spec.server === 'embedded') env['PURL_GATEWAY_SECRET'] = eliza.gatewaySecret;
      const front = await (row.front ?? singleGateway)(env).catch(async (error: unknown) => {
        await counter.close();
        throw error;
      });
      parts.push({ spec: row, counter, front, shards: await shardsStarting[i]! });
    }
    // One request through each counter before the window: its bucket is fresh (999 left).
    const firstRemaining = await Promise.all(parts.map((part) => probeRemaining(part.counter, '/api/agents')));

    const startAt = Date.now() + 1_000;
    const measureFrom = startAt + spec.rampMs + spec.settleMs;
    const endAt = measureFrom + spec.measureMs;
    let rowOffset = spec.addressOffset;
    const reports = parts.map((part) => {
      const plans = assignUsers(part.spec.users, part.shards.length, rowOffset);
      rowOffset += part.spec.users;
      return part.shards.map((child, shard) => {
        const plan: ShardPlan = {
          shard,
          client: part.spec.client === 'naive' ? 'naive' : 'purl',
          push: part.spec.client === 'push',
          gatewayUrl: part.front.url,
          rowUsers: part.spec.users,
          users: plans[shard]!,
          tabs: spec.tabs,
          messageEveryMs: spec.messageEveryMs,
          startAt,
          rampMs: spec.rampMs,
          measureFrom,
          endAt,
          run: `${spec.label}-${part.spec.client}-${part.spec.users}-${process.pid}`,
        };
        const report = awaitReport(child, endAt + 120_000);
        child.send({ type: 'run', plan });
        return report;
      });
    });
    const pids = [eliza.pid, ...parts.flatMap((part) => part.front.processes.map((process) => process.pid))];
    for (const pid of pids) resetPeak(pid);
    const snapshots = () => Promise.all(parts.map((part) => part.front.snapshot?.()));
    const atStart = await snapshots();
    const start = new Map(pids.map((pid) => [pid, sample(pid)]));
    await sleep(measureFrom - Date.now());
    const before = new Map(pids.map((pid) => [pid, sample(pid)]));
    const atMeasure = snapshots();
    const parentBefore = process.cpuUsage();
    await sleep(endAt - Date.now());
    const after = new Map(pids.map((pid) => [pid, sample(pid)]));
    const atEnd = snapshots();
    const parentCpu = process.cpuUsage(parentBefore);
    const measuredS = (Date.now() - measureFrom) / 1000;
    const load = (pid: number): ProcessLoad => ({
      cpuPercent: (100 * (after.get(pid)!.cpuSeconds - before.get(pid)!.cpuSeconds)) / measuredS,
      peakMb: after.get(pid)!.peakRssMb,
      windowCpuS: after.get(pid)!.cpuSeconds - start.get(pid)!.cpuSeconds,
      // Its peak was reset just before: the peak so far is what it held then.
      startMb: start.get(pid)!.peakRssMb,
    });
    const [measureCounts, endCounts] = await Promise.all([atMeasure, atEnd]);
    const counterCpuPercent = (100 * (parentCpu.user + parentCpu.system)) / 1e6 / measuredS;
    const results: RowResult[] = [];
    for (const [i, part] of parts.entries()) {
      const fleet = aggregateShards(await Promise.all(reports[i]!));
      const result: RowResult = {
        client: part.spec.client,
        users: part.spec.users,
        server: spec.server,
        concurrentRows: parts.length - 1,
        measureMs: endAt - measureFrom,
        firstVisitMs: measureFrom - startAt,
        fleet,
        upstream: {
          firstVisit: summarizeUpstream(part.counter.entries, startAt, measureFrom),
          measured: summarizeUpstream(part.counter.entries, measureFrom, endAt),
        },
        gateway: load(part.front.processes[0]!.pid),
        processes: part.front.processes.map(({ name, pid }) => ({ name, ...load(pid) })),
        eliza: load(eliza.pid),
        counterCpuPercent,
      };
      const [startCounts, measured, ended] = [atStart[i], measureCounts[i], endCounts[i]];
      if (startCounts && measured && ended) result.snapshots = { atStart: startCounts, atMeasure: measured, atEnd: ended };
      if (firstRemaining[i] !== undefined) result.firstRemaining = firstRemaining[i];
      const first429 = part.counter.entries.find((entry) => entry.status === 429 && entry.at >= startAt);
      if (first429) result.first429S = (first429.at - startAt) / 1000;
      log(`${spec.label}: ${CLIENT_LABEL[result.client]}, ${result.users} users: ${JSON.stringify(summaryLine(result))}`);
      results.push(result);
    }
    return results;
  } finally {
    // Stopped while the next window starts: nothing is measured until its ramp is over.
    const stop = (async () => {
      await Promise.allSettled(shardsStarting);
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      for (const part of parts) {
        await part.front.stop();
        await part.counter.close();
      }
      await eliza?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    })().catch((error: unknown) => log(`could not stop a window cleanly: ${error instanceof Error ? error.message : String(error)}`));
    stopping.add(stop);
    void stop.finally(() => stopping.delete(stop));
  }
}

/** The row's main figures in one line, for the bench's log. */
function summaryLine(row: RowResult) {
  const minutes = row.measureMs / 60_000;
  return {
    upstreamPerMin: Math.round(row.upstream.measured.api / minutes),
    memoriesPerMin: Number((row.upstream.measured.byKind.memories / minutes).toFixed(1)),
    upstream429: row.upstream.firstVisit.rateLimited + row.upstream.measured.rateLimited,
    users429: row.fleet.firstVisit.rateLimited + row.fleet.measured.rateLimited,
    kbPerUserPerMin: Number((row.fleet.measured.bytesReceived / 1024 / row.users / minutes).toFixed(1)),
    typed: row.fleet.firstVisit.typed + row.fleet.measured.typed,
    delivered: row.fleet.firstVisit.delivered + row.fleet.measured.delivered,
    shards: row.fleet.shards.map((shard) => `${shard.cpuPercent.toFixed(0)}%/${shard.eventLoopP99Ms.toFixed(0)}ms`).join(' '),
    gatewayCpu: Math.round(row.gateway.cpuPercent),
    elizaCpu: Math.round(row.eliza.cpuPercent),
  };
}
