/**
 * The cluster bench (issue 13): fleets of simulated users through 1, 2 and 3 gateway
 * instances on one Redis behind HAProxy (bench/cluster/front.ts: the parts `npm run
 * cluster` starts), in front of a stock ElizaOS, fresh for every row, behind the counting
 * proxy: the whole cluster is one client with one budget, as most deployments have it.
 * Each row is a window of the push fleet (bench/edge/fleet.ts): the users in shard
 * processes, each running the worker's real core and holding the push stream as the
 * leader tab does. The 1-gateway row runs on Redis and HAProxy too, so the number of
 * instances is the only thing that changes; it is the baseline of the ratios. A row of one
 * gateway alone (`npm start`'s, no Redis, no HAProxy) is measured beside them for scale.
 * `npm run bench:cluster` runs it alone; `npm run bench:smoke` runs a tiny case.
 */
import os from 'node:os';
import { makeTemplates } from '../edge/edge-bench';
import { allStopped, runWindow, type RowResult, type WindowSpec } from '../edge/fleet';
import { clusterFront } from './front';

export interface ClusterBenchOptions {
  smoke: boolean;
}

export interface ClusterPlan {
  /**
   * The ElizaOS of each set of rows: stock (one budget for the whole cluster: a thousand users' first
   * visits alone spend it) and the embedded one (a budget per user), where what the users cost is seen.
   */
  servers: WindowSpec['server'][];
  fleetUsers: number[];
  instances: number[];
  /** Whether each size also gets a row of one gateway alone (no Redis, no HAProxy). */
  alone: boolean;
  /** Users arrive at this many a second (a ramp of 10 s for 1000 users, 20 s for 2000). */
  arrivalsPerS: number;
  settleMs: number;
  measureMs: number;
  /** Mean time between a user's messages, ms. */
  messageEveryMs: number;
}

export function clusterPlan(options: ClusterBenchOptions): ClusterPlan {
  // As push's smoke: in a 12-s window each of 4 users types (a message every 6 s).
  if (options.smoke)
    return { servers: ['stock'], fleetUsers: [4], instances: [2], alone: false, arrivalsPerS: 2, settleMs: 2_000, measureMs: 12_000, messageEveryMs: 6_000 };
  return {
    servers: ['stock', 'embedded'],
    fleetUsers: [1000, 2000],
    instances: [1, 2, 3],
    alone: true,
    arrivalsPerS: 100,
    settleMs: 10_000,
    measureMs: 60_000,
    messageEveryMs: 60_000,
  };
}

/** A row of the cluster bench: a push fleet window, through `instances` gateways (`clustered`: on Redis behind HAProxy). */
export interface ClusterRow extends RowResult {
  /** How many gateway instances (1 for a gateway alone). */
  instances: number;
  clustered: boolean;
  /** The machine's 1-minute load average as the row started and as it ended (other people's work included). */
  loadAverage?: [number, number];
}

export interface ClusterReport {
  date: string;
  plan: ClusterPlan;
  rows: ClusterRow[];
  /** Rows that could not be measured, with why: the rest stand. */
  failed: { server: WindowSpec['server']; users: number; instances: number; clustered: boolean; error: string }[];
  elapsedS: number;
}

const log = (line: string) => console.log(`bench: cluster: ${line}`);

/**
 * The first address index of a size's users. Every row of a size uses the same addresses:
 * each row has a fresh HAProxy port, gateways, Redis and ElizaOS, so nothing of a row is
 * left for the next to meet, and 3 × (1000 + 2000) users plus the rows alone on addresses
 * of their own would need 12,000 of the 63,750 loopbackAddress has, past what the edge
 * and push benches leave free (from 52,000).
 */
export function addressOffsetOf(users: number, sizes: readonly number[]): number {
  const before = [...sizes].sort((a, b) => a - b).filter((size) => size < users);
  return 52_000 + before.reduce((sum, size) => sum + size, 0);
}

/** `alone` rows first (for scale), then 1, 2, 3 instances, for each size. */
export async function runClusterBench(options: ClusterBenchOptions, plan = clusterPlan(options)): Promise<ClusterReport> {
  const startedAt = Date.now();
  const templates = await makeTemplates([]);
  const rows: ClusterRow[] = [];
  const failed: ClusterReport['failed'] = [];
  try {
    for (const server of plan.servers)
      for (const users of plan.fleetUsers) {
        const kinds = [...(plan.alone ? [{ instances: 1, clustered: false }] : []), ...plan.instances.map((instances) => ({ instances, clustered: true }))];
        for (const { instances, clustered } of kinds) {
          const label = `${users} users through ${clustered ? `${instances} gateway${instances === 1 ? '' : 's'}` : 'one gateway alone'} (${server} ElizaOS)`;
          const spec: WindowSpec = {
            rows: [{ client: 'push', users, ...(clustered ? { front: clusterFront(instances, log) } : {}) }],
            server,
            template: templates.dirs.get(0)!,
            rampMs: (1000 * users) / plan.arrivalsPerS,
            settleMs: plan.settleMs,
            measureMs: plan.measureMs,
            tabs: 2,
            messageEveryMs: plan.messageEveryMs,
            addressOffset: addressOffsetOf(users, plan.fleetUsers),
            label: `cluster ${server} ${users}×${clustered ? instances : 'alone'}`,
          };
          log(label);
          try {
            const loadAtStart = os.loadavg()[0]!;
            const [row] = await runWindow(spec);
            rows.push({ ...row!, instances, clustered, loadAverage: [loadAtStart, os.loadavg()[0]!] });
          } catch (error) {
            if (options.smoke) throw error;
            const reason = error instanceof Error ? error.message : String(error);
            log(`${label} not measured: ${reason}`);
            failed.push({ server, users, instances, clustered, error: reason });
          }
        }
      }
    return { date: new Date().toISOString().slice(0, 10), plan, rows, failed, elapsedS: (Date.now() - startedAt) / 1000 };
  } finally {
    await allStopped();
    templates.remove();
  }
}
