import { describe, expect, it } from 'vitest';
import type { RowResult } from './fleet';
import { isCarried, ratio, rowFigures, usersCarried } from './render';
import { ZERO_TOTALS } from './shards';
import { summarizeUpstream, type UpstreamEntry } from './upstream-counter';

/** A row of `users` whose ElizaOS saw `ramp` requests during the ramp and `perMin` a minute after, over a 60-s measure. */
function row(users: number, ramp: number, perMin: number, options: { rateLimited?: number; memories?: number; bytesPerUser?: number } = {}): RowResult {
  const entries: UpstreamEntry[] = [];
  for (let i = 0; i < ramp; i += 1) entries.push({ at: 10, kind: 'session', status: 201, bytes: 100 });
  for (let i = 0; i < perMin; i += 1)
    entries.push({
      at: 1_000 + i,
      kind: i < (options.memories ?? 0) ? 'memories' : 'chat-poll',
      status: i < (options.rateLimited ?? 0) ? 429 : 200,
      bytes: 1_000,
    });
  return {
    client: 'edge',
    users,
    server: 'stock',
    concurrentRows: 0,
    measureMs: 60_000,
    firstVisitMs: 1_000,
    fleet: {
      users,
      firstVisit: { ...ZERO_TOTALS, bytesReceived: 2_048 * users, typed: 1, delivered: 1 },
      measured: { ...ZERO_TOTALS, bytesReceived: (options.bytesPerUser ?? 1_024) * users, typed: 2, delivered: 2 },
      shards: [],
      worstEventLoopP99Ms: 0,
      totalCpuPercent: 0,
      lateStarts: 0,
      replies: 3,
    },
    upstream: { firstVisit: summarizeUpstream(entries, 0, 1_000), measured: summarizeUpstream(entries, 1_000, 61_000) },
    gateway: { cpuPercent: 0, peakMb: 0 },
    eliza: { cpuPercent: 0, peakMb: 0 },
    counterCpuPercent: 0,
  };
}

describe('a row’s figures', () => {
  it('rates the measured part per minute, and counts the first visits apart', () => {
    const figures = rowFigures(row(10, 30, 40, { memories: 6, bytesPerUser: 5 * 1024 }));
    expect(figures.upstreamPerMin).toBe(40);
    expect(figures.upstreamPerUserPerMin).toBe(4);
    expect(figures.memoriesPerMin).toBe(6);
    expect(figures.rampUpstream).toBe(30);
    expect(figures.projectedSpend).toBe(30 + 40 * 15);
    expect(figures.firstVisitKbPerUser).toBe(2);
    expect(figures.kbPerUserPerMin).toBe(5);
    expect(figures.typed).toBe(3);
  });
});

describe('ratios against the baselines', () => {
  it('keeps a large saving readable', () => {
    expect([ratio(13, 2_982), ratio(13, 100), ratio(5, 0), ratio(1, undefined)]).toEqual(['0.004', '0.13', '—', '—']);
  });
});

describe('users one budget carries', () => {
  it('carries a row with no 429 whose first visits and 15 minutes at its rate fit in 1000', () => {
    expect(isCarried(row(10, 100, 60))).toBe(true);
    expect(isCarried(row(10, 100, 61))).toBe(false);
    expect(isCarried(row(10, 10, 20, { rateLimited: 1 }))).toBe(false);
  });

  it('does not carry users the gateway refused, though ElizaOS refused none', () => {
    const held = row(1000, 999, 0);
    held.fleet.measured.rateLimited = 3_000;
    expect(isCarried(held)).toBe(false);
  });

  it('reports the largest size carried, and where the line through the carried sizes meets 66.7 a minute', () => {
    // 10 shared + 2 per user: 66.7 a minute at 28 users; the 50-user row is over budget.
    const carried = usersCarried([row(10, 20, 30), row(20, 40, 50), row(50, 100, 110)]);
    expect(carried.measured).toBe(20);
    expect(carried.shared).toBeCloseTo(10);
    expect(carried.perUser).toBeCloseTo(2);
    expect(carried.extrapolated).toBe(28);
  });

  it('does not draw a line through a single size', () => {
    expect(usersCarried([row(10, 20, 30)])).toEqual({ measured: 10 });
    expect(usersCarried([row(50, 100, 110)])).toEqual({});
  });
});
