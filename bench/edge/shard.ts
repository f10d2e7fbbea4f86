/**
 * One shard of a simulated fleet, run as a child process of the edge bench
 * (bench/edge/fleet.ts): it says `ready`, takes one `run` plan over IPC, starts its users
 * at their planned moments (Purl's real worker core, or the naive client), snapshots
 * their counters when the measured part begins and when the window ends, stops them,
 * sends its report with its own load (CPU, event-loop delay), and exits.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { NaiveUser } from '../sim/naive-user';
import { PurlUser } from '../sim/purl-user';
import type { WireBytes } from '../sim/source-fetch';
import type { Traffic } from '../sim/traffic';
import { arrivalAt, type ShardReport, type SimulatedUser, type TrafficTotals } from './shards';

export interface ShardPlan {
  shard: number;
  client: 'purl' | 'naive';
  /** Purl users hold the gateway's push stream (the leader tab's part). */
  push?: boolean;
  gatewayUrl: string;
  /** Users in the whole row (for the ramp) and this shard's share of them. */
  rowUsers: number;
  users: SimulatedUser[];
  tabs: number;
  messageEveryMs: number;
  /** Epoch ms: the first arrival, the start of the measured part (after the ramp and first visits), the end of the window. */
  startAt: number;
  rampMs: number;
  measureFrom: number;
  endAt: number;
  /** Makes this row's IndexedDB names its own. */
  run: string;
}

export type ShardMessage = { type: 'ready' } | { type: 'report'; report: ShardReport } | { type: 'failed'; message: string };

interface SimUser {
  traffic: Traffic;
  start(): Promise<void>;
  stop(): Promise<void>;
  wire(): WireBytes;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function totals(users: readonly SimUser[]): TrafficTotals {
  const sum: TrafficTotals = { requests: 0, rateLimited: 0, failures: 0, typed: 0, delivered: 0, bytesReceived: 0, bytesSent: 0 };
  for (const user of users) {
    const wire = user.wire();
    sum.requests += user.traffic.requests;
    sum.rateLimited += user.traffic.rateLimited;
    sum.failures += user.traffic.failures;
    sum.typed += user.traffic.typed;
    sum.delivered += user.traffic.delivered;
    sum.bytesReceived += wire.received;
    sum.bytesSent += wire.sent;
  }
  return sum;
}

async function runShard(plan: ShardPlan): Promise<ShardReport> {
  const users: SimUser[] = plan.users.map(({ index, address }) =>
    plan.client === 'purl'
      ? new PurlUser({
          index,
          origin: plan.gatewayUrl,
          localAddress: address,
          highLoad: false,
          messageEveryMs: plan.messageEveryMs,
          run: plan.run,
          tabs: plan.tabs,
          push: plan.push === true,
        })
      : new NaiveUser({ index, origin: plan.gatewayUrl, localAddress: address, tabs: plan.tabs, messageEveryMs: plan.messageEveryMs }),
  );
  await sleep(plan.startAt - Date.now());
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpuBefore = process.cpuUsage();
  let lateStarts = 0;
  // Each user starts on its own timer, so one slow start does not delay the next; a timer
  // that fires more than a second late says this shard's event loop was behind.
  const starts = users.map((user, i) => {
    const due = arrivalAt(plan.startAt, plan.rampMs, plan.users[i]!.index, plan.rowUsers);
    return sleep(due - Date.now()).then(() => {
      if (Date.now() - due > 1_000) lateStarts += 1;
      return user.start();
    });
  });
  await sleep(plan.measureFrom - Date.now());
  await Promise.all(starts);
  const atMeasure = totals(users);
  await sleep(plan.endAt - Date.now());
  const atEnd = totals(users);
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  const wallS = (Date.now() - plan.startAt) / 1000;
  await Promise.all(users.map((user) => user.stop()));
  return {
    shard: plan.shard,
    users: users.length,
    atMeasure,
    atEnd,
    replyDelays: users.flatMap((user) => user.traffic.replyDelays),
    cpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / wallS,
    eventLoopP99Ms: delay.percentile(99) / 1e6,
    eventLoopMaxMs: delay.max / 1e6,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    lateStarts,
  };
}

const send = (message: ShardMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

process.once('message', (message: { type: 'run'; plan: ShardPlan }) => {
  runShard(message.plan)
    .then((report) => send({ type: 'report', report }))
    .catch((error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }))
    .finally(() => process.exit(0));
});
// The bench's process went away (a crash, Ctrl-C): nothing is left to report to.
process.once('disconnect', () => process.exit(0));
void send({ type: 'ready' });
