/**
 * The push fan-out bench (issue 12: "push connections one gateway process holds"): N idle
 * push streams on one gateway process, N = 1,000, 5,000 and 10,000, each row on a fresh
 * process, with the same N streams on a bare Node event-stream server measured in the same
 * run as the baseline. Three processes a row (more for the clients): the server
 * (bench/push/server.ts), the subscribers in 1 to 4 shards (bench/push/clients.ts, each
 * stream from a loopback address of its own group of WS_MAX_CONNECTIONS_PER_IP), and this
 * one, which holds the Socket.IO stand-in upstream (bench/push/upstream.ts) and the clock.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintPushToken } from '../../server/gateway/push/push-token';
import { PUSH_PATH } from '../../server/gateway/push/push';
import { sample as procSample } from '../sim/proc-stats';
import { loopbackAddress } from '../sim/source-fetch';
import {
  type ClientStream,
  type FromClients,
  type FromServer,
  preciseNow,
  type ServerPlan,
  type ServerSample,
  type ToClients,
  type ToServer,
} from './protocol';
import { startPushUpstream, type PushUpstream } from './upstream';

export interface PushBenchPlan {
  sizes: number[];
  /** How long the streams are left idle before memory is read (a keep-alive tick is every 15 s), ms. */
  idleMs: number;
  /** Broadcasts a row, each waited for before the next. */
  rounds: number;
  /** WS_MAX_CONNECTIONS_PER_IP, and so how many streams leave from each loopback address. */
  maxStreamsPerClient: number;
  /** How long a broadcast may take to reach every stream, ms. */
  deliveryTimeoutMs: number;
}

export const FULL_PLAN: PushBenchPlan = { sizes: [1_000, 5_000, 10_000], idleMs: 16_000, rounds: 3, maxStreamsPerClient: 200, deliveryTimeoutMs: 30_000 };
/** `npm run bench:smoke`: a few seconds, every subscriber must get every event. */
export const SMOKE_PLAN: PushBenchPlan = { sizes: [200], idleMs: 0, rounds: 1, maxStreamsPerClient: 200, deliveryTimeoutMs: 10_000 };

/** Streams one client shard opens at most; a 10,000-stream row has four. */
const STREAMS_PER_SHARD = 2_500;
const MAX_SHARDS = 4;
/** Streams a shard has opening at once. */
const OPENING_AT_ONCE = 50;
/** A fixed key, as PURL_PUSH_SECRET: the bench mints the tokens the gateway would add to the create answers. */
const PUSH_SECRET = 'purl-push-fanout-bench-secret-0123456789';
const SESSION_PREFIX = 'b3c2a1d0-0000-4000-8000-';
const CHANNEL_PREFIX = 'c0c0c0c0-0000-4000-8000-';
const WARM_UP = 0xfffff;

export type ServerKind = 'gateway' | 'bare';
/** One channel for every stream (one event fans out to all), or a channel (a session) of its own for each. */
export type ChannelMix = 'one' | 'each';

export interface FanOut {
  /** Delivery times from the upstream's emit to each stream, all rounds together, ms. */
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  delivered: number;
  expected: number;
}

export interface PushRow {
  server: ServerKind;
  channels: ChannelMix;
  streams: number;
  opened: number;
  failures: number;
  firstFailure?: string;
  /** From the first request to the last stream's first event. */
  openMs: number;
  /** The server's CPU while the streams opened, ms. */
  openCpuMs: number;
  /** Growth from before the first stream to after the idle time, after a full collection, per stream. */
  rssPerStreamBytes: number;
  heapPerStreamBytes: number;
  rssAfterBytes: number;
  heapAfterBytes: number;
  /** The server's CPU while idle, % of one core (undefined without an idle time). */
  idleCpuPercent?: number;
  fanOut: FanOut;
  /** The server's CPU over all rounds, per round, ms. */
  fanOutCpuMs: number;
}

export interface PushReport {
  date: string;
  plan: PushBenchPlan;
  rows: PushRow[];
  elapsedS: number;
  /** The machine's 1-minute load average at the start and the end. */
  load: [number, number];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const hex12 = (n: number) => n.toString(16).padStart(12, '0');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The value at quantile `q` of sorted `values` (nearest rank). */
export function quantileOfSorted(values: readonly number[], q: number): number {
  return values.length === 0 ? Number.NaN : values[Math.max(0, Math.ceil(q * values.length) - 1)]!;
}

/** The push route's path for stream `i`: its own session and channel, or everyone on session 0's. */
export function streamPath(i: number, channels: ChannelMix): string {
  const n = channels === 'one' ? 0 : i;
  const sessionId = SESSION_PREFIX + hex12(n);
  const channelId = CHANNEL_PREFIX + hex12(n);
  const token = mintPushToken(Buffer.from(PUSH_SECRET, 'utf8'), sessionId, channelId);
  return `${PUSH_PATH}?session=${sessionId}.${channelId}.${token}`;
}

/** The streams dealt to shards in runs, so each loopback address's streams stay in one shard. */
export function dealStreams(count: number, channels: ChannelMix, perAddress: number): ClientStream[][] {
  const shards = Math.min(MAX_SHARDS, Math.max(1, Math.ceil(count / STREAMS_PER_SHARD)));
  const perShard = Math.ceil(Math.ceil(count / shards) / perAddress) * perAddress;
  return Array.from({ length: shards }, (_, shard) =>
    Array.from({ length: Math.max(0, Math.min(perShard, count - shard * perShard)) }, (_, k) => {
      const i = shard * perShard + k;
      return { path: streamPath(i, channels), from: loopbackAddress(Math.floor(i / perAddress)) };
    }),
  );
}

function nextMessage<T extends { type: string }, K extends T['type']>(child: ChildProcess, type: K): Promise<Extract<T, { type: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T) => {
      if (message.type === 'failed') finish(() => reject(new Error(`a bench process failed: ${JSON.stringify(message)}`)));
      else if (message.type === type) finish(() => resolve(message as Extract<T, { type: K }>));
    };
    const onExit = (code: number | null) => finish(() => reject(new Error(`a bench process exited (${code}) while the bench waited for "${type}"`)));
    const finish = (then: () => void) => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      then();
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function startServer(plan: ServerPlan): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(path.join(here, 'server.ts'), [JSON.stringify(plan)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { url } = await nextMessage<FromServer, 'started'>(child, 'started');
  return { child, url };
}

async function measure(server: ChildProcess, collect: boolean): Promise<ServerSample> {
  const reply = nextMessage<FromServer, 'measured'>(server, 'measured');
  server.send({ type: 'measure', collect } satisfies ToServer);
  return (await reply).sample;
}

/** One stream opened and closed before anything is measured: the route's code is loaded and the upstream socket up. */
function warmUp(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get(new URL(streamPath(WARM_UP, 'each'), url), { agent: false }, (res) => {
      res.once('data', () => {
        request.destroy();
        resolve();
      });
    });
    request.on('error', reject);
  });
}

async function waitForChannels(server: ChildProcess, channels: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { channels: joined } = await measure(server, false);
    if (joined >= channels) return;
    if (Date.now() > deadline) throw new Error(`the gateway joined ${joined} of ${channels} channels upstream within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

async function startClients(shards: number): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: shards }, async () => {
      const child = fork(path.join(here, 'clients.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      await nextMessage<FromClients, 'ready'>(child, 'ready');
      return child;
    }),
  );
}

async function runRow(upstream: PushUpstream, plan: PushBenchPlan, serverKind: ServerKind, channels: ChannelMix, count: number): Promise<PushRow> {
  const { child: server, url } = await startServer({
    kind: serverKind,
    upstream: upstream.url,
    pushSecret: PUSH_SECRET,
    maxStreamsPerClient: plan.maxStreamsPerClient,
  });
  const dealt = dealStreams(count, channels, plan.maxStreamsPerClient);
  const clients = await startClients(dealt.length);
  const pid = server.pid!;
  try {
    await warmUp(url);
    if (serverKind === 'gateway') await waitForChannels(server, 1, 10_000);
    const before = await measure(server, true);

    const cpuBeforeOpen = procSample(pid).cpuSeconds;
    const openedAt = preciseNow();
    const opened = await Promise.all(
      clients.map((client, i) => {
        const reply = nextMessage<FromClients, 'opened'>(client, 'opened');
        client.send({ type: 'open', url, streams: dealt[i]!, concurrency: OPENING_AT_ONCE } satisfies ToClients);
        return reply;
      }),
    );
    const openMs = preciseNow() - openedAt;
    const openCpuMs = (procSample(pid).cpuSeconds - cpuBeforeOpen) * 1000;
    const failures = opened.flatMap((reply) => reply.failures);
    const openCount = opened.reduce((sum, reply) => sum + reply.opened, 0);
    // The warm-up's channel lingers upstream: one more than the streams'.
    if (serverKind === 'gateway') await waitForChannels(server, 1 + (channels === 'one' ? 1 : count), 60_000);

    let idleCpuPercent: number | undefined;
    if (plan.idleMs > 0) {
      const cpuBeforeIdle = procSample(pid).cpuSeconds;
      await sleep(plan.idleMs);
      idleCpuPercent = ((procSample(pid).cpuSeconds - cpuBeforeIdle) * 1000 * 100) / plan.idleMs;
    }
    const after = await measure(server, true);

    const latencies: number[] = [];
    let delivered = 0;
    const cpuBeforeFanOut = procSample(pid).cpuSeconds;
    for (let round = 1; round <= plan.rounds; round++) {
      const text = `fan-out ${round} ${Date.now()}`;
      const expecting = clients.map((client) => nextMessage<FromClients, 'expecting'>(client, 'expecting'));
      const arrived = clients.map((client) => nextMessage<FromClients, 'arrived'>(client, 'arrived'));
      for (const client of clients) client.send({ type: 'expect', text, timeoutMs: plan.deliveryTimeoutMs } satisfies ToClients);
      await Promise.all(expecting);
      const emittedAt = preciseNow();
      if (serverKind === 'bare') server.send({ type: 'broadcast', text } satisfies ToServer);
      else upstream.broadcast(channels === 'one' ? [CHANNEL_PREFIX + hex12(0)] : Array.from({ length: count }, (_, i) => CHANNEL_PREFIX + hex12(i)), text);
      for (const reply of await Promise.all(arrived)) {
        delivered += reply.at.length;
        for (const at of reply.at) latencies.push(at - emittedAt);
      }
    }
    const fanOutCpuMs = ((procSample(pid).cpuSeconds - cpuBeforeFanOut) * 1000) / plan.rounds;
    latencies.sort((a, b) => a - b);

    return {
      server: serverKind,
      channels,
      streams: count,
      opened: openCount,
      failures: failures.length,
      ...(failures[0] === undefined ? {} : { firstFailure: failures[0] }),
      openMs,
      openCpuMs,
      rssPerStreamBytes: (after.rssBytes - before.rssBytes) / count,
      heapPerStreamBytes: (after.heapUsedBytes - before.heapUsedBytes) / count,
      rssAfterBytes: after.rssBytes,
      heapAfterBytes: after.heapUsedBytes,
      ...(idleCpuPercent === undefined ? {} : { idleCpuPercent }),
      fanOut: {
        p50Ms: quantileOfSorted(latencies, 0.5),
        p95Ms: quantileOfSorted(latencies, 0.95),
        maxMs: quantileOfSorted(latencies, 1),
        delivered,
        expected: openCount * plan.rounds,
      },
      fanOutCpuMs,
    };
  } finally {
    await Promise.all(clients.map(stop));
    await stop(server);
  }
}

/** Every row of `plan`: for each size the baseline, then the gateway with one channel, then with a channel for each stream. */
export async function runPushBench(plan: PushBenchPlan, log: (line: string) => void): Promise<PushReport> {
  const startedAt = Date.now();
  const loadAtStart = os.loadavg()[0]!;
  const upstream = await startPushUpstream();
  const rows: PushRow[] = [];
  try {
    for (const size of plan.sizes) {
      for (const [server, channels] of [
        ['bare', 'one'],
        ['gateway', 'one'],
        ['gateway', 'each'],
      ] as const) {
        log(`push fan-out: ${size} streams, ${server}${server === 'gateway' ? `, ${channels === 'one' ? 'one channel' : 'a channel each'}` : ''}`);
        const row = await runRow(upstream, plan, server, channels, size);
        log(JSON.stringify(row));
        rows.push(row);
      }
    }
  } finally {
    await upstream.close();
  }
  return { date: new Date().toISOString().slice(0, 10), plan, rows, elapsedS: (Date.now() - startedAt) / 1000, load: [loadAtStart, os.loadavg()[0]!] };
}

/** Throws unless every row opened every stream and every stream got every event (the smoke run's check). */
export function checkPushSmoke(report: PushReport): void {
  for (const row of report.rows) {
    const complete = row.failures === 0 && row.opened === row.streams && row.fanOut.delivered === row.fanOut.expected;
    if (!complete) {
      throw new Error(
        `push fan-out (${row.server}, ${row.channels}): ${row.opened} of ${row.streams} streams opened${row.firstFailure ? ` (${row.firstFailure})` : ''}, ${row.fanOut.delivered} of ${row.fanOut.expected} events delivered`,
      );
    }
  }
}
