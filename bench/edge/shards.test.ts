import { describe, expect, it } from 'vitest';
import { loopbackAddress } from '../sim/source-fetch';
import { aggregateShards, arrivalAt, assignUsers, perMinute, quantile, shardCount, ZERO_TOTALS, type ShardReport, type TrafficTotals } from './shards';

describe('splitting a fleet over shard processes', () => {
  it('runs a handful of users in one shard, and from 50 on at least two, one per 250, four at most', () => {
    expect([1, 49, 50, 200, 500, 501, 1000, 5000].map(shardCount)).toEqual([1, 1, 2, 2, 2, 3, 4, 4]);
    expect(() => shardCount(0)).toThrow(RangeError);
  });

  it('deals every user to exactly one shard, round-robin, each on its own address from the offset', () => {
    const plan = assignUsers(10, 3, 500);
    expect(plan.map((shard) => shard.length)).toEqual([4, 3, 3]);
    expect(plan[1]!.map((user) => user.index)).toEqual([1, 4, 7]);
    const all = plan.flat();
    expect(all.map((user) => user.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Set(all.map((user) => user.address)).size).toBe(10);
    expect(plan[0]![0]!.address).toBe(loopbackAddress(500));
  });

  it('spreads arrivals evenly over the ramp, whichever shard a user is in', () => {
    expect([0, 1, 2, 3].map((index) => arrivalAt(1_000, 8_000, index, 4))).toEqual([1_000, 3_000, 5_000, 7_000]);
  });
});

describe('adding the shards’ reports up', () => {
  const totals = (requests: number, bytesReceived: number, rateLimited = 0): TrafficTotals => ({ ...ZERO_TOTALS, requests, bytesReceived, rateLimited });
  const report = (shard: number, atMeasure: TrafficTotals, atEnd: TrafficTotals, replyDelays: number[], eventLoopP99Ms: number): ShardReport => ({
    shard,
    users: 5,
    atMeasure,
    atEnd,
    replyDelays,
    cpuPercent: 10 + shard,
    eventLoopP99Ms,
    eventLoopMaxMs: 2 * eventLoopP99Ms,
    peakRssMb: 200,
    lateStarts: shard,
  });

  it('sums first visits and the measured part (the end less the start of it) over the shards', () => {
    const fleet = aggregateShards([
      report(0, totals(10, 1_000), totals(30, 1_500, 1), [100, 300], 12),
      report(1, totals(20, 2_000), totals(25, 2_100), [200], 40),
    ]);
    expect(fleet.users).toBe(10);
    expect(fleet.firstVisit.requests).toBe(30);
    expect(fleet.measured).toEqual({ ...ZERO_TOTALS, requests: 25, bytesReceived: 600, rateLimited: 1 });
    expect(fleet.worstEventLoopP99Ms).toBe(40);
    expect(fleet.totalCpuPercent).toBe(21);
    expect(fleet.lateStarts).toBe(1);
    expect(fleet.replyP50Ms).toBe(200);
    expect(fleet.replyP95Ms).toBe(300);
    expect(fleet.shards.map((shard) => shard.shard)).toEqual([0, 1]);
  });

  it('has no reply quantiles when nobody got a reply', () => {
    const fleet = aggregateShards([report(0, ZERO_TOTALS, ZERO_TOTALS, [], 5)]);
    expect(fleet.replyP95Ms).toBeUndefined();
    expect(quantile([], 0.5)).toBeUndefined();
  });

  it('turns counts into rates per minute, per user', () => {
    expect(perMinute(30, 30_000)).toBe(60);
    expect(perMinute(120, 60_000, 10)).toBe(12);
    expect(perMinute(5, 0)).toBe(0);
  });
});
