/**
 * Runs N simulated users (Purl's real worker core, or the naive baseline) against the
 * real gateway and ElizaOS for a fixed real-time window, and reports what the server
 * saw and what the users experienced.
 */
import { apiPaths, parseAgentList, parseMemories } from '../src/shared/api';
import { NaiveUser } from './sim/naive-user';
import { resetPeak, sample } from './sim/proc-stats';
import { PurlUser } from './sim/purl-user';
import { loopbackAddress } from './sim/source-fetch';
import type { Traffic } from './sim/traffic';

export interface FleetOptions {
  client: 'purl' | 'naive';
  users: number;
  windowMs: number;
  highLoad?: boolean;
  /** Every user behind one address (one NAT), instead of an address each. */
  oneAddress?: string;
  /** First address index, so runs do not share ElizaOS's 15-minute buckets. */
  addressOffset: number;
  messageEveryMs?: number;
  /** Tabs each user has open (the first visible; Purl's others hidden). */
  tabs?: number;
  /** Users arrive spread over this long, ms. */
  rampMs?: number;
  gatewayUrl: string;
  gatewayPid: number;
  elizaPid: number;
  run: string;
}

export interface FleetResult {
  client: string;
  users: number;
  tabs: number;
  mode: string;
  windowS: number;
  requests: number;
  requestsPerUserPerMinute: number;
  rateLimited: number;
  /** Seconds from the start to the first 429, if any. */
  first429S?: number;
  replyP50Ms?: number;
  replyP95Ms?: number;
  replies: number;
  typed: number;
  delivered: number;
  gatewayCpuPercent: number;
  elizaCpuPercent: number;
  gatewayPeakMb: number;
  elizaPeakMb: number;
  /** Memories of the agent on the server when the window ended (every memories read returns them all). */
  serverMemories?: number;
}

/** How many memories the server holds for its first agent, or undefined if it cannot say. */
async function countServerMemories(gatewayUrl: string): Promise<number | undefined> {
  try {
    const agents = parseAgentList(await (await fetch(`${gatewayUrl}${apiPaths.agents}`)).json());
    const agentId = agents[0]?.id;
    if (!agentId) return undefined;
    return parseMemories(await (await fetch(`${gatewayUrl}${apiPaths.memories(agentId)}`)).json(), agentId).length;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runFleet(options: FleetOptions): Promise<FleetResult> {
  const messageEveryMs = options.messageEveryMs ?? 60_000;
  const rampMs = options.rampMs ?? Math.min(10_000, options.windowMs / 4);
  const users: { traffic: Traffic; start(): Promise<void>; stop(): Promise<void> }[] = [];
  for (let i = 0; i < options.users; i += 1) {
    const localAddress = options.oneAddress ?? loopbackAddress(options.addressOffset + i);
    users.push(
      options.client === 'purl'
        ? new PurlUser({
            index: i,
            origin: options.gatewayUrl,
            localAddress,
            highLoad: options.highLoad ?? false,
            messageEveryMs,
            run: options.run,
            tabs: options.tabs ?? 1,
          })
        : new NaiveUser({ index: i, origin: options.gatewayUrl, localAddress, tabs: options.tabs ?? 1, messageEveryMs }),
    );
  }
  resetPeak(options.gatewayPid);
  resetPeak(options.elizaPid);
  const gatewayBefore = sample(options.gatewayPid);
  const elizaBefore = sample(options.elizaPid);
  const startedAt = Date.now();
  for (const [i, user] of users.entries()) {
    const due = startedAt + (rampMs * i) / options.users;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    await user.start();
  }
  await sleep(Math.max(0, startedAt + options.windowMs - Date.now()));
  const elapsedMs = Date.now() - startedAt;
  const gatewayAfter = sample(options.gatewayPid);
  const elizaAfter = sample(options.elizaPid);
  await Promise.all(users.map((user) => user.stop()));

  const traffic = users.map((user) => user.traffic);
  const sum = (pick: (t: Traffic) => number) => traffic.reduce((total, t) => total + pick(t), 0);
  const delays = traffic.flatMap((t) => t.replyDelays);
  const first429 = traffic.map((t) => t.first429At).filter((at): at is number => at !== undefined);
  const result: FleetResult = {
    client: options.client,
    users: options.users,
    tabs: options.tabs ?? 1,
    mode: options.client === 'naive' ? '—' : options.highLoad ? 'high load' : 'normal',
    windowS: Math.round(elapsedMs / 1000),
    requests: sum((t) => t.requests),
    requestsPerUserPerMinute: sum((t) => t.requests) / options.users / (elapsedMs / 60_000),
    rateLimited: sum((t) => t.rateLimited),
    replies: delays.length,
    typed: sum((t) => t.typed),
    delivered: sum((t) => t.delivered),
    gatewayCpuPercent: (100 * (gatewayAfter.cpuSeconds - gatewayBefore.cpuSeconds)) / (elapsedMs / 1000),
    elizaCpuPercent: (100 * (elizaAfter.cpuSeconds - elizaBefore.cpuSeconds)) / (elapsedMs / 1000),
    gatewayPeakMb: gatewayAfter.peakRssMb,
    elizaPeakMb: elizaAfter.peakRssMb,
  };
  const serverMemories = await countServerMemories(options.gatewayUrl);
  if (serverMemories !== undefined) result.serverMemories = serverMemories;
  if (first429.length > 0) result.first429S = (Math.min(...first429) - startedAt) / 1000;
  const p50 = percentile(delays, 50);
  const p95 = percentile(delays, 95);
  if (p50 !== undefined) result.replyP50Ms = p50;
  if (p95 !== undefined) result.replyP95Ms = p95;
  return result;
}
