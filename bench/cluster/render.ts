/**
 * The cluster bench's figures, its smoke check, and its section of BENCHMARKS.md. Pure
 * functions of a run's rows, so they are tested (render.test.ts).
 */
import type { ProcessLoad } from '../edge/fleet';
import { ratio } from '../edge/render';
import { pushFigures } from '../push/push-bench';
import type { ClusterReport, ClusterRow } from './cluster-bench';
import { HAPROXY_PEAK, instancesTakenOut, redisUse, requestsByInstance } from './counters';

export interface InstanceFigures {
  name: string;
  cpuPercent: number;
  peakMb: number;
  /** HTTP requests HAProxy sent it a minute in the measured part (not known for a gateway alone). */
  requestsPerMin?: number;
}

export interface ClusterFigures {
  upstreamPerMin: number;
  upstreamPerUserPerMin: number;
  chatPollsPerMin: number;
  messagePostsPerMin: number;
  sessionsPerMin: number;
  /** Socket.IO connections ElizaOS accepted over the whole window. */
  sockets: number;
  upstream429: number;
  users429: number;
  /** Users' requests that failed (5xx, network) over the whole window. */
  usersFailures: number;
  typed: number;
  delivered: number;
  replies: number;
  gateways: InstanceFigures[];
  /** CPU of every gateway process in the measured part, ms per user a minute. */
  gatewayCpuMsPerUserPerMin: number;
  /** The gateways' memory from before the first arrival to their peak, together, KB per user. */
  gatewayKbPerUser?: number;
  haproxy?: ProcessLoad;
  redis?: ProcessLoad;
  /** HAProxy's most connections at once at the entry, over the whole window. */
  entryPeakConnections?: number;
  /** How often HAProxy's health check took an instance out over the whole window, and for how long in all. */
  takenOut?: { times: number; seconds: number };
  /** Redis commands a minute in the measured part (the bench's own taken off), per user, of which PINGs; the busiest commands a minute. */
  redisPerMin?: number;
  redisPerUserPerMin?: number;
  redisPingsPerMin?: number;
  redisTop?: [string, number][];
  /** ElizaOS's CPU over the whole window ÷ the replies the users stored (its serving of every request included). */
  elizaCpuMsPerReply?: number;
}

export function clusterFigures(row: ClusterRow): ClusterFigures {
  const push = pushFigures(row);
  const minutes = row.measureMs / 60_000;
  const processes = row.processes ?? [{ name: 'gateway', ...row.gateway }];
  const gatewayProcesses = processes.filter((process) => process.name.startsWith('gateway'));
  const requests = row.snapshots ? requestsByInstance(row.snapshots.atMeasure, row.snapshots.atEnd) : {};
  const figures: ClusterFigures = {
    upstreamPerMin: push.upstreamPerMin,
    upstreamPerUserPerMin: push.upstreamPerUserPerMin,
    chatPollsPerMin: push.chatPollsPerMin,
    messagePostsPerMin: push.messagePostsPerMin,
    sessionsPerMin: row.upstream.measured.byKind.session / minutes,
    sockets: push.sockets,
    upstream429: push.upstream429,
    users429: push.users429,
    usersFailures: row.fleet.firstVisit.failures + row.fleet.measured.failures,
    typed: push.typed,
    delivered: push.delivered,
    replies: row.fleet.replies,
    gateways: gatewayProcesses.map((process) => ({
      name: process.name,
      cpuPercent: process.cpuPercent,
      peakMb: process.peakMb,
      ...(requests[process.name] === undefined ? {} : { requestsPerMin: requests[process.name]! / minutes }),
    })),
    gatewayCpuMsPerUserPerMin: (gatewayProcesses.reduce((sum, process) => sum + process.cpuPercent, 0) / 100) * (60_000 / row.users),
  };
  if (gatewayProcesses.every((process) => process.startMb !== undefined)) {
    figures.gatewayKbPerUser = (gatewayProcesses.reduce((sum, process) => sum + process.peakMb - process.startMb!, 0) * 1024) / row.users;
  }
  const haproxy = processes.find((process) => process.name === 'haproxy');
  const redis = processes.find((process) => process.name === 'redis');
  if (haproxy) figures.haproxy = haproxy;
  if (redis) figures.redis = redis;
  if (row.snapshots) {
    const peak = row.snapshots.atEnd[HAPROXY_PEAK];
    if (peak !== undefined) figures.entryPeakConnections = peak;
    figures.takenOut = instancesTakenOut(row.snapshots.atStart, row.snapshots.atEnd);
    const use = redisUse(row.snapshots.atMeasure, row.snapshots.atEnd);
    figures.redisPerMin = use.commands / minutes;
    figures.redisPerUserPerMin = use.commands / minutes / row.users;
    figures.redisPingsPerMin = use.pings / minutes;
    figures.redisTop = use.byCommand.map(([name, calls]): [string, number] => [name, calls / minutes]);
  }
  if (row.eliza.windowCpuS !== undefined && row.fleet.replies > 0) figures.elizaCpuMsPerReply = (row.eliza.windowCpuS * 1000) / row.fleet.replies;
  return figures;
}

/** The 1-gateway cluster row of the same size: the baseline of every ratio. */
export function baselineOf(rows: readonly ClusterRow[], row: ClusterRow): ClusterRow | undefined {
  return rows.find((other) => other.clustered && other.instances === 1 && other.users === row.users && other.server === row.server);
}

/**
 * The smoke run's proof that the bench measures a cluster: every instance was sent
 * requests by HAProxy, replies reached the users by push (stored within 3 s), Redis was
 * used, and ElizaOS refused nothing.
 */
export function checkClusterSmoke(report: ClusterReport): void {
  const problems: string[] = [];
  for (const row of report.rows) {
    const figures = clusterFigures(row);
    const requests = row.snapshots ? requestsByInstance(row.snapshots.atStart, row.snapshots.atEnd) : {};
    for (let i = 1; i <= row.instances; i++) {
      const served = requests[`gateway${i}`] ?? 0;
      if (served === 0) problems.push(`gateway${i} was sent no request through HAProxy`);
    }
    if (figures.sockets < 1) problems.push('no Socket.IO connection upstream: nothing could be pushed');
    if (row.fleet.replyP95Ms === undefined) problems.push('no reply reached a simulated user');
    else if (row.fleet.replyP95Ms > 3_000) problems.push(`replies took ${row.fleet.replyP95Ms} ms (p95) to be stored: not pushed`);
    if (!figures.redisPerMin) problems.push('Redis was sent no command');
    if (figures.upstream429 > 0) problems.push(`${figures.upstream429} 429s from ElizaOS`);
  }
  if (report.rows.length === 0) problems.push('no row was measured');
  if (problems.length > 0) throw new Error(`the cluster smoke run measured wrongly: ${problems.join('; ')}`);
}

export const CLUSTER_START = '<!-- bench:cluster:start -->';
export const CLUSTER_END = '<!-- bench:cluster:end -->';

const fixed = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits));
const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(2));
/** CPU % / peak MB; small processes (HAProxy, Redis) with a decimal, so that 0.4 % does not read 0. */
const load = (process: ProcessLoad | undefined, digits = 0) => (process ? `${process.cpuPercent.toFixed(digits)} / ${process.peakMb.toFixed(0)}` : '—');

/** "1 (alone)", or the number of instances behind HAProxy. */
export function gatewaysLabel(row: ClusterRow): string {
  return row.clustered ? String(row.instances) : '1 alone';
}

function upstreamTable(rows: readonly ClusterRow[]): string[] {
  const lines = [
    '| users | gateways | upstream req/min | per user a min | ÷ 1 gateway | chat polls/min | message POSTs/min | sessions made/min | sockets upstream | ElizaOS answer p50 / p95 (s) | ElizaOS 429s | users’ 429s / failures | typed / delivered / replies | reply stored p50 / p95 (s) |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const f = clusterFigures(row);
    const base = baselineOf(rows, row);
    lines.push(
      `| ${row.users} | ${gatewaysLabel(row)} | ${fixed(f.upstreamPerMin, 0)} | ${fixed(f.upstreamPerUserPerMin, 3)} | ${base === row ? '' : ratio(f.upstreamPerMin, base && clusterFigures(base).upstreamPerMin)} | ${fixed(f.chatPollsPerMin, 0)} | ${fixed(f.messagePostsPerMin, 0)} | ${fixed(f.sessionsPerMin, 0)} | ${f.sockets} | ${seconds(row.upstream.measured.answerP50Ms)} / ${seconds(row.upstream.measured.answerP95Ms)} | ${f.upstream429} | ${f.users429} / ${f.usersFailures} | ${f.typed} / ${f.delivered} / ${f.replies} | ${seconds(row.fleet.replyP50Ms)} / ${seconds(row.fleet.replyP95Ms)} |`,
    );
  }
  return lines;
}

function processTable(rows: readonly ClusterRow[]): string[] {
  const lines = [
    '| users | gateways | each gateway: CPU % / peak MB (requests/min) | gateways’ CPU ms per user a min | gateways’ KB per user | HAProxy CPU % / MB (peak connections) | instances taken out (times, s) | Redis CPU % / MB | Redis commands/min | per user a min | ÷ 1 gateway | ElizaOS CPU % / MB | ElizaOS CPU ms per reply | simulator: shards × CPU %, loop p99 | load average (start → end) |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const row of rows) {
    const f = clusterFigures(row);
    const base = baselineOf(rows, row);
    const each = f.gateways
      .map(
        (gateway) =>
          `${gateway.cpuPercent.toFixed(0)} / ${gateway.peakMb.toFixed(0)}${gateway.requestsPerMin === undefined ? '' : ` (${gateway.requestsPerMin.toFixed(0)})`}`,
      )
      .join(' · ');
    const haproxy = f.haproxy ? `${load(f.haproxy, 1)} (${f.entryPeakConnections ?? '—'})` : '—';
    const redisRatio = base === row || f.redisPerMin === undefined ? '' : ratio(f.redisPerMin, base && clusterFigures(base).redisPerMin);
    const shards = row.fleet.shards;
    const simulator = `${shards.length} × ${shards.map((shard) => shard.cpuPercent.toFixed(0)).join('/')} % · ${row.fleet.worstEventLoopP99Ms.toFixed(0)} ms${row.fleet.lateStarts > 0 ? ` · ${row.fleet.lateStarts} late` : ''}`;
    lines.push(
      `| ${row.users} | ${gatewaysLabel(row)} | ${each} | ${fixed(f.gatewayCpuMsPerUserPerMin)} | ${fixed(f.gatewayKbPerUser, 0)} | ${haproxy} | ${f.takenOut ? `${f.takenOut.times}, ${f.takenOut.seconds}` : '—'} | ${load(f.redis, 1)} | ${fixed(f.redisPerMin, 0)} | ${fixed(f.redisPerUserPerMin, 2)} | ${redisRatio} | ${load(row.eliza)} | ${fixed(f.elizaCpuMsPerReply, 0)} | ${simulator} | ${row.loadAverage ? `${row.loadAverage[0].toFixed(1)} → ${row.loadAverage[1].toFixed(1)}` : '—'} |`,
    );
  }
  return lines;
}

/** The generated part of "The cluster" in BENCHMARKS.md, between its markers. */
export function renderCluster(report: ClusterReport, command: string): string {
  const { plan } = report;
  const ramps = plan.fleetUsers.map((users) => `${users / plan.arrivalsPerS} s for ${users}`).join(', ');
  const lines = [
    CLUSTER_START,
    `### Measured ${report.date} with ${command} (${Math.round(report.elapsedS / 60)} min on this shared 2-core machine)`,
    '',
    `Each user has 2 tabs (one visible), holds the push stream and types a message about once a minute; users arrive at ${plan.arrivalsPerS} a second ` +
      `(${ramps}), and ${plan.settleMs / 1000} s later ${plan.measureMs / 1000} s are measured. "gateways" = instances on one Redis behind HAProxy ` +
      '(the shipped haproxy.cfg), the 1-gateway row included; "1 alone" = one gateway as `npm start` runs it, no Redis, no HAProxy. ' +
      'Every row: a fresh ElizaOS behind the counting proxy, a fresh Redis and fresh gateways. ' +
      'Upstream = what ElizaOS received (Socket.IO connections apart). Reply stored = from ElizaOS making the reply to the simulated worker storing it ' +
      '(the moment every tab of that browser is told: the reply visible). ' +
      'CPU % is of one core over the measured part, MB the peak over the whole window. Redis commands = INFO’s commands processed, the bench’s own INFO calls taken off. ' +
      '÷ = ratio against the 1-gateway row of the same size in the same run.',
  ];
  for (const [server, title] of [
    ['stock', 'In front of a stock ElizaOS (one budget for the whole cluster)'],
    ['embedded', 'In front of the embedded ElizaOS (a budget per user)'],
  ] as const) {
    const rows = report.rows.filter((row) => row.server === server);
    if (rows.length === 0) continue;
    lines.push('', `#### ${title}: upstream and users`, '', ...upstreamTable(rows), '', `#### ${title}: processes`, '', ...processTable(rows));
    lines.push('', 'Redis commands a minute in the measured part, by command:', '');
    for (const row of rows) {
      const top = clusterFigures(row).redisTop;
      if (top !== undefined)
        lines.push(`- ${row.users} users × ${gatewaysLabel(row)}: ${top.map(([name, perMin]) => `${name} ${perMin.toFixed(0)}`).join(', ') || 'none'}`);
    }
  }
  for (const row of report.failed)
    lines.push(
      '',
      `Not measured: ${row.users} users through ${row.clustered ? `${row.instances} gateways` : 'one gateway alone'} in front of the ${row.server} ElizaOS (${row.error}).`,
    );
  lines.push(CLUSTER_END);
  return lines.join('\n');
}
