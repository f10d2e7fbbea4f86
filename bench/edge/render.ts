/**
 * The edge bench's figures, and its section of BENCHMARKS.md. The figures are pure
 * functions of a row's result, so they are tested (render.test.ts).
 */
import type { EdgeReport } from './edge-bench';
import { CLIENT_LABEL, type RowResult } from './fleet';

/** A stock ElizaOS's budget: 1000 requests per 15 minutes per client. */
export const BUDGET = 1000;
export const BUDGET_MINUTES = 15;

export interface RowFigures {
  /** Upstream /api requests per minute in the measured part, all users together, and per user. */
  upstreamPerMin: number;
  upstreamPerUserPerMin: number;
  /** Upstream memories reads, and chat polls, per minute in the measured part. */
  memoriesPerMin: number;
  chatPollsPerMin: number;
  /** ElizaOS's 429s over the whole window (first visits included). */
  upstream429: number;
  /** 429s the simulated users got over the whole window. */
  users429: number;
  /** First-visit requests upstream (during the ramp). */
  rampUpstream: number;
  /** What the first visits and then the measured rate would spend of the budget in 15 minutes. */
  projectedSpend: number;
  /** Bytes the users received, per user: on their first visit, and per minute after. */
  firstVisitKbPerUser: number;
  kbPerUserPerMin: number;
  /** ElizaOS's answer bytes per minute in the measured part, MB. */
  upstreamMbPerMin: number;
  typed: number;
  delivered: number;
}

export function rowFigures(row: RowResult): RowFigures {
  const minutes = row.measureMs / 60_000;
  const { measured, firstVisit } = row.upstream;
  const upstreamPerMin = measured.api / minutes;
  return {
    upstreamPerMin,
    upstreamPerUserPerMin: upstreamPerMin / row.users,
    memoriesPerMin: measured.byKind.memories / minutes,
    chatPollsPerMin: measured.byKind['chat-poll'] / minutes,
    upstream429: firstVisit.rateLimited + measured.rateLimited,
    users429: row.fleet.firstVisit.rateLimited + row.fleet.measured.rateLimited,
    rampUpstream: firstVisit.api,
    projectedSpend: firstVisit.api + upstreamPerMin * BUDGET_MINUTES,
    firstVisitKbPerUser: row.fleet.firstVisit.bytesReceived / 1024 / row.users,
    kbPerUserPerMin: row.fleet.measured.bytesReceived / 1024 / row.users / minutes,
    upstreamMbPerMin: measured.apiBytes / 1024 / 1024 / minutes,
    typed: row.fleet.firstVisit.typed + row.fleet.measured.typed,
    delivered: row.fleet.firstVisit.delivered + row.fleet.measured.delivered,
  };
}

/**
 * Whether one budget carries a row's users for good: no 429 in the window, from ElizaOS or the gateway,
 * and their first visits plus 15 minutes at the rate measured after them spend at most
 * the budget (a window shorter than 15 minutes cannot show the bucket running dry; the
 * rate can).
 */
export function isCarried(row: RowResult): boolean {
  const figures = rowFigures(row);
  // The users' 429s count too: a gateway that keeps the budget itself refuses before ElizaOS has to.
  return figures.upstream429 === 0 && figures.users429 === 0 && figures.projectedSpend <= BUDGET;
}

/**
 * Users one budget carries, from the rows of one client that it carries: the largest
 * measured, and where two or more sizes were measured, the straight line through their
 * rates (upstream/min = shared + perUser × N) solved for the budget's 66.7 a minute.
 */
export function usersCarried(rows: readonly RowResult[]): { measured?: number; extrapolated?: number; shared?: number; perUser?: number } {
  const carried = rows.filter(isCarried);
  const result: { measured?: number; extrapolated?: number; shared?: number; perUser?: number } = {};
  if (carried.length > 0) result.measured = Math.max(...carried.map((row) => row.users));
  const points = carried.map((row) => ({ x: row.users, y: rowFigures(row).upstreamPerMin }));
  if (new Set(points.map((point) => point.x)).size < 2) return result;
  const meanX = points.reduce((sum, point) => sum + point.x, 0) / points.length;
  const meanY = points.reduce((sum, point) => sum + point.y, 0) / points.length;
  const slope = points.reduce((sum, point) => sum + (point.x - meanX) * (point.y - meanY), 0) / points.reduce((sum, point) => sum + (point.x - meanX) ** 2, 0);
  const intercept = meanY - slope * meanX;
  result.shared = intercept;
  result.perUser = slope;
  if (slope > 0) result.extrapolated = Math.floor((BUDGET / BUDGET_MINUTES - intercept) / slope);
  return result;
}

const fixed = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits));
/** `value ÷ base` with two decimals, or one significant digit below 0.01 (so a 250-fold saving does not read 0.00). */
export function ratio(value: number, base: number | undefined): string {
  if (base === undefined || base === 0) return '—';
  const quotient = value / base;
  return quotient > 0 && quotient < 0.01 ? quotient.toPrecision(1) : quotient.toFixed(2);
}
const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(1));

/** The same-size row of another client in the same list (the baselines of a ratio). */
function baseline(rows: readonly RowResult[], row: RowResult, client: RowResult['client']): RowResult | undefined {
  return rows.find((other) => other.client === client && other.users === row.users && other.server === row.server);
}

function simulatorCell(row: RowResult): string {
  const shards = row.fleet.shards;
  return `${shards.length} × ${shards.map((shard) => shard.cpuPercent.toFixed(0)).join('/')} % · ${row.fleet.worstEventLoopP99Ms.toFixed(0)} ms${row.fleet.lateStarts > 0 ? ` · ${row.fleet.lateStarts} late` : ''}`;
}

function fleetTable(rows: readonly RowResult[]): string[] {
  const lines = [
    '| users | client | upstream req/min | per user | ÷ today | ÷ naive | memories reads/min | chat polls/min | ElizaOS 429s (first after, s) | users’ 429s | KB/user/min | typed / delivered | reply p95 (s) | gateway CPU % / peak MB | ElizaOS CPU % / peak MB | simulator: shards × CPU %, loop p99 |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const f = rowFigures(row);
    const today = baseline(rows, row, 'today');
    const naive = baseline(rows, row, 'naive');
    lines.push(
      `| ${row.users} | ${CLIENT_LABEL[row.client]} | ${fixed(f.upstreamPerMin, 0)} | ${fixed(f.upstreamPerUserPerMin, 2)} | ${row.client === 'today' ? '' : ratio(f.upstreamPerMin, today && rowFigures(today).upstreamPerMin)} | ${row.client === 'naive' ? '' : ratio(f.upstreamPerMin, naive && rowFigures(naive).upstreamPerMin)} | ${fixed(f.memoriesPerMin)} | ${fixed(f.chatPollsPerMin, 0)} | ${f.upstream429}${row.first429S === undefined ? '' : ` (${row.first429S.toFixed(0)})`} | ${f.users429} | ${fixed(f.kbPerUserPerMin)} | ${f.typed} / ${f.delivered} | ${seconds(row.fleet.replyP95Ms)} | ${row.gateway.cpuPercent.toFixed(0)} / ${row.gateway.peakMb.toFixed(0)} | ${row.eliza.cpuPercent.toFixed(0)} / ${row.eliza.peakMb.toFixed(0)} | ${simulatorCell(row)} |`,
    );
  }
  return lines;
}

function budgetTable(rows: readonly RowResult[]): string[] {
  const lines = [
    '| client | users | upstream in the ramp (first visits) | upstream req/min after | projected 15-min spend (of 1000) | ElizaOS 429s | users’ 429s | carried |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const f = rowFigures(row);
    lines.push(
      `| ${CLIENT_LABEL[row.client]} | ${row.users} | ${f.rampUpstream} | ${fixed(f.upstreamPerMin, 0)} | ${fixed(f.projectedSpend, 0)} | ${f.upstream429} | ${f.users429} | ${isCarried(row) ? 'yes' : 'no'} |`,
    );
  }
  return lines;
}

function historyTable(history: EdgeReport['history']): string[] {
  const lines = [
    '| memories | client | first visit KB/user | KB/user/min after | ÷ today | ÷ naive | upstream memories reads/min | ElizaOS answers MB/min | ElizaOS CPU % (whole window) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { memories, rows } of history)
    for (const row of rows) {
      const f = rowFigures(row);
      const today = baseline(rows, row, 'today');
      const naive = baseline(rows, row, 'naive');
      lines.push(
        `| ${memories.toLocaleString('en')} | ${CLIENT_LABEL[row.client]} | ${fixed(f.firstVisitKbPerUser, 0)} | ${fixed(f.kbPerUserPerMin)} | ${row.client === 'today' ? '' : ratio(f.kbPerUserPerMin, today && rowFigures(today).kbPerUserPerMin)} | ${row.client === 'naive' ? '' : ratio(f.kbPerUserPerMin, naive && rowFigures(naive).kbPerUserPerMin)} | ${fixed(f.memoriesPerMin)} | ${fixed(f.upstreamMbPerMin)} | ${row.eliza.cpuPercent.toFixed(0)} |`,
      );
    }
  return lines;
}

/** The simulator's own load over every window: the figures that say it kept up. */
export function simulatorLoad(report: EdgeReport): {
  shards: number;
  maxShardCpu: number;
  worstLoopP99Ms: number;
  worstLoopMaxMs: number;
  lateStarts: number;
  maxCounterCpu: number;
} {
  const rows = [...report.fleet, ...report.embeddedFleet, ...report.budget, ...report.history.flatMap((entry) => entry.rows)];
  const shards = rows.flatMap((row) => row.fleet.shards);
  return {
    shards: shards.length,
    maxShardCpu: Math.max(0, ...shards.map((shard) => shard.cpuPercent)),
    worstLoopP99Ms: Math.max(0, ...shards.map((shard) => shard.eventLoopP99Ms)),
    worstLoopMaxMs: Math.max(0, ...shards.map((shard) => shard.eventLoopMaxMs)),
    lateStarts: rows.reduce((sum, row) => sum + row.fleet.lateStarts, 0),
    maxCounterCpu: Math.max(0, ...rows.map((row) => row.counterCpuPercent)),
  };
}

export const EDGE_START = '<!-- bench:edge:start -->';
export const EDGE_END = '<!-- bench:edge:end -->';

/** The generated part of "The shared edge" in BENCHMARKS.md, between its markers. */
export function renderEdge(report: EdgeReport, command: string): string {
  const { plan } = report;
  const window =
    `users arrive over ${plan.rampMs / 1000} s (${plan.historyRampMs / 1000} s in the long-history rows), ` +
    `their first visits; ${plan.settleMs / 1000} s later ${plan.measureMs / 1000} s are measured`;
  const load = simulatorLoad(report);
  const lines = [
    EDGE_START,
    `### Measured ${report.date} with ${command} (${Math.round(report.elapsedS / 60)} min on this shared 2-core machine)`,
    '',
    `Each user has 2 tabs (one visible) and types a message about once a minute; ${window}. Rates are per minute of the measured part. ` +
      'Upstream = what ElizaOS received, counted by a proxy in front of it; KB on the wire = what the users’ sockets received from the gateway ' +
      '(headers and bodies as sent: gzip-compressed where the gateway compresses). ÷ = ratio against the baselines in the same run.',
    '',
    `**Simulator load:** ${load.shards} shard processes over all rows; the busiest shard used ${load.maxShardCpu.toFixed(0)} % of a core, ` +
      `event-loop delay p99 at most ${load.worstLoopP99Ms.toFixed(0)} ms (max ${load.worstLoopMaxMs.toFixed(0)} ms), ${load.lateStarts} users started more than 1 s late; ` +
      `the counting proxies (the bench's parent process) used at most ${load.maxCounterCpu.toFixed(0)} % of a core.`,
  ];
  if (report.fleet.length > 0) {
    lines.push(
      '',
      `#### Fleet in front of a stock ElizaOS (one budget for the whole gateway; a fresh ElizaOS with ${report.seededMemories} memories per row)`,
      '',
    );
    lines.push(...fleetTable(report.fleet));
  }
  if (report.embeddedFleet.length > 0) {
    lines.push('', '#### Fleet in front of the embedded ElizaOS (a budget per user)', '');
    lines.push(...fleetTable(report.embeddedFleet));
  }
  if (report.budget.length > 0) {
    lines.push('', '#### Users one budget carries (rows side by side on one stock ElizaOS, each row through a gateway and a budget of its own)', '');
    lines.push(...budgetTable(report.budget));
    lines.push('');
    for (const client of ['edge', 'today', 'naive'] as const) {
      const rows = [...report.budget, ...report.fleet].filter((row) => row.client === client);
      if (rows.length === 0) continue;
      const carried = usersCarried(rows);
      const line =
        carried.extrapolated !== undefined
          ? `; the line through the carried rows (${fixed(carried.shared)} + ${fixed(carried.perUser, 2)} × N a minute) reaches 66.7 a minute at ${carried.extrapolated} users`
          : '';
      lines.push(`- ${CLIENT_LABEL[client]}: largest measured size carried ${carried.measured ?? 'none'}${line}.`);
    }
  }
  if (report.history.length > 0) {
    lines.push('', '#### A long history: bytes per user (rows side by side on one stock ElizaOS per history)', '');
    lines.push(...historyTable(report.history));
  }
  lines.push(EDGE_END);
  return lines.join('\n');
}
