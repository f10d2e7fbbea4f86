/**
 * The simulated fleet split over several processes (shards), so that a thousand
 * browsers' worker cores do not share one event loop, and the shards' reports added up
 * again. Pure: plans and arithmetic only; bench/edge/shard.ts runs a shard.
 */
import { loopbackAddress } from '../sim/source-fetch';

/** Simulated browsers in one shard at most, before another shard is started. */
export const USERS_PER_SHARD = 250;
export const MAX_SHARDS = 4;

/**
 * How many shard processes run `users` simulated users: one for a handful, otherwise
 * at least two (so that each shard's load can be shown against another's) and one per
 * 250 users, at most four on this 2-core machine.
 */
export function shardCount(users: number): number {
  if (!Number.isInteger(users) || users < 1) throw new RangeError(`users must be a positive whole number, got ${users}`);
  if (users < 50) return 1;
  return Math.min(MAX_SHARDS, Math.max(2, Math.ceil(users / USERS_PER_SHARD)));
}

export interface SimulatedUser {
  /** 0-based index within the row: fixes its arrival in the ramp. */
  index: number;
  /** Its own loopback source address. */
  address: string;
}

/**
 * Users dealt round-robin to `shards` shards, so every shard's users arrive spread over
 * the whole ramp; user i of a row whose addresses start at `addressOffset` gets
 * loopbackAddress(addressOffset + i).
 */
export function assignUsers(users: number, shards: number, addressOffset: number): SimulatedUser[][] {
  const plan: SimulatedUser[][] = Array.from({ length: shards }, () => []);
  for (let index = 0; index < users; index += 1) plan[index % shards]!.push({ index, address: loopbackAddress(addressOffset + index) });
  return plan;
}

/** When user `index` of `users` starts: spread evenly over the ramp. */
export function arrivalAt(startAt: number, rampMs: number, index: number, users: number): number {
  return startAt + (rampMs * index) / users;
}

/** A shard's users' counters added up, at one moment. */
export interface TrafficTotals {
  /** /api requests sent to the gateway. */
  requests: number;
  /** 429 answers the users got (the gateway's or ElizaOS's, restated). */
  rateLimited: number;
  failures: number;
  typed: number;
  delivered: number;
  /** Bytes received on the users' connections (headers and compressed bodies). */
  bytesReceived: number;
  bytesSent: number;
}

export const ZERO_TOTALS: TrafficTotals = { requests: 0, rateLimited: 0, failures: 0, typed: 0, delivered: 0, bytesReceived: 0, bytesSent: 0 };

export function addTotals(a: TrafficTotals, b: TrafficTotals): TrafficTotals {
  return {
    requests: a.requests + b.requests,
    rateLimited: a.rateLimited + b.rateLimited,
    failures: a.failures + b.failures,
    typed: a.typed + b.typed,
    delivered: a.delivered + b.delivered,
    bytesReceived: a.bytesReceived + b.bytesReceived,
    bytesSent: a.bytesSent + b.bytesSent,
  };
}

export function subtractTotals(a: TrafficTotals, b: TrafficTotals): TrafficTotals {
  return addTotals(a, {
    requests: -b.requests,
    rateLimited: -b.rateLimited,
    failures: -b.failures,
    typed: -b.typed,
    delivered: -b.delivered,
    bytesReceived: -b.bytesReceived,
    bytesSent: -b.bytesSent,
  });
}

/** What a shard sends back when its window ends. */
export interface ShardReport {
  shard: number;
  users: number;
  /** Totals when the measured part of the window began, and when it ended. */
  atMeasure: TrafficTotals;
  atEnd: TrafficTotals;
  /** ms from an agent's reply being stored to it being in the user's store (or seen by the naive tab). */
  replyDelays: number[];
  /** The shard's own load over the window: is the simulator keeping up? */
  cpuPercent: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  peakRssMb: number;
  /** Users whose start came later than planned by more than a second (a starved shard). */
  lateStarts: number;
}

export interface FleetTotals {
  users: number;
  /** From the first arrival to the start of the measured part (every user's first visit). */
  firstVisit: TrafficTotals;
  /** The measured part of the window. */
  measured: TrafficTotals;
  replyP50Ms?: number;
  replyP95Ms?: number;
  /** The agent's replies the users stored over the whole window (a stock ElizaOS's agent stops replying once its own budget is spent). */
  replies: number;
  shards: Omit<ShardReport, 'atMeasure' | 'atEnd' | 'replyDelays'>[];
  /** The busiest shard's figures: the ones that say whether the simulator kept up. */
  worstEventLoopP99Ms: number;
  totalCpuPercent: number;
  lateStarts: number;
}

/** The value at quantile `q` (nearest rank), or undefined for no values. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The shards' reports as one fleet. */
export function aggregateShards(reports: readonly ShardReport[]): FleetTotals {
  const atMeasure = reports.reduce((sum, report) => addTotals(sum, report.atMeasure), ZERO_TOTALS);
  const atEnd = reports.reduce((sum, report) => addTotals(sum, report.atEnd), ZERO_TOTALS);
  const delays = reports.flatMap((report) => report.replyDelays);
  const totals: FleetTotals = {
    users: reports.reduce((sum, report) => sum + report.users, 0),
    firstVisit: atMeasure,
    measured: subtractTotals(atEnd, atMeasure),
    shards: reports.map(({ atMeasure: _m, atEnd: _e, replyDelays: _d, ...load }) => load),
    worstEventLoopP99Ms: Math.max(0, ...reports.map((report) => report.eventLoopP99Ms)),
    totalCpuPercent: reports.reduce((sum, report) => sum + report.cpuPercent, 0),
    lateStarts: reports.reduce((sum, report) => sum + report.lateStarts, 0),
    replies: delays.length,
  };
  const p50 = quantile(delays, 0.5);
  const p95 = quantile(delays, 0.95);
  if (p50 !== undefined) totals.replyP50Ms = p50;
  if (p95 !== undefined) totals.replyP95Ms = p95;
  return totals;
}

/** `count` events over `ms` as a rate per minute, per user when `users` is given. */
export function perMinute(count: number, ms: number, users = 1): number {
  return ms <= 0 || users <= 0 ? 0 : count / users / (ms / 60_000);
}
