import { describe, expect, it } from 'vitest';
import type { RateLimitInfo } from '../src/shared/network';
import { BucketShare, stretchForBudget } from './rate-limit';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const WINDOW = 900_000;

describe('stretchForBudget', () => {
  const info = (remaining: number, resetInMs: number, limit = 1000): RateLimitInfo => ({
    limit,
    remaining,
    resetAt: NOW + resetInMs,
    windowMs: WINDOW,
  });

  it('keeps the interval when there is no info, no remaining or no reset', () => {
    expect(stretchForBudget(5_000, undefined, NOW)).toBe(5_000);
    expect(stretchForBudget(5_000, {}, NOW)).toBe(5_000);
    expect(stretchForBudget(5_000, { remaining: 1, limit: 1000 }, NOW)).toBe(5_000);
    expect(stretchForBudget(5_000, { resetAt: NOW + 60_000 }, NOW)).toBe(5_000);
  });

  it('keeps the interval when the reset is stale', () => {
    expect(stretchForBudget(5_000, info(0, 0), NOW)).toBe(5_000);
    expect(stretchForBudget(5_000, info(0, -1_000), NOW)).toBe(5_000);
  });

  it('keeps the interval while the budget is ample', () => {
    // 998 left − 200 reserve = 798 polls over 899 s: one every ~1.1 s, well under 5 s.
    expect(stretchForBudget(5_000, info(998, 899_000), NOW)).toBe(5_000);
  });

  it('stretches the interval so the polls left last until the reset', () => {
    // 210 left − 200 reserve = 10 polls over 600 s → one a minute.
    expect(stretchForBudget(5_000, info(210, 600_000), NOW)).toBe(60_000);
  });

  it('counts requests per poll', () => {
    // 220 − 200 = 20 requests = 10 polls of 2 over 600 s.
    expect(stretchForBudget(5_000, info(220, 600_000), NOW, { requestsPerPoll: 2 })).toBe(60_000);
  });

  it('keeps a reserve of at least 5 requests for a small limit', () => {
    // limit 10 → 20 % is 2, so the floor of 5 applies: 8 − 5 = 3 polls over 30 s.
    expect(stretchForBudget(1_000, info(8, 30_000, 10), NOW)).toBe(10_000);
  });

  it('uses the reserve floor when the limit is unknown', () => {
    expect(stretchForBudget(1_000, { remaining: 7, resetAt: NOW + 20_000 }, NOW)).toBe(10_000);
  });

  it('honours a custom reserve fraction', () => {
    // 50 % of 100 = 50: 60 − 50 = 10 polls over 100 s.
    expect(stretchForBudget(1_000, info(60, 100_000, 100), NOW, { reserveFraction: 0.5 })).toBe(10_000);
  });

  it('waits for the reset when only the reserve is left', () => {
    expect(stretchForBudget(5_000, info(200, 300_000), NOW)).toBe(300_000);
    expect(stretchForBudget(5_000, info(0, 300_000), NOW)).toBe(300_000);
    expect(stretchForBudget(5_000, info(3, 2_000, 10), NOW)).toBe(5_000);
  });

  it('never waits longer than one window, whatever the reset says', () => {
    expect(stretchForBudget(5_000, info(0, 10 * WINDOW), NOW)).toBe(WINDOW);
  });

  it('is never shorter than the interval asked for', () => {
    for (let remaining = 0; remaining <= 1000; remaining += 37) {
      expect(stretchForBudget(7_000, info(remaining, 899_000), NOW)).toBeGreaterThanOrEqual(7_000);
    }
  });

  it('gives each client behind the same address its share of what is left', () => {
    // 1000 − 200 reserve = 800 requests over 800 s shared by 40: 20 polls each → one every 40 s.
    expect(stretchForBudget(5_000, info(1000, 800_000), NOW, { sharers: 40 })).toBe(40_000);
    expect(stretchForBudget(5_000, info(1000, 800_000), NOW, { sharers: 1 })).toBe(5_000);
  });

  it('rejects bad arguments with a RangeError naming the value', () => {
    expect(() => stretchForBudget(1_000, undefined, NOW, { sharers: 0.5 })).toThrow(/sharers.*0.5/);
    expect(() => stretchForBudget(1_000, undefined, NOW, { sharers: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => stretchForBudget(-1, undefined, NOW)).toThrow(/intervalMs.*-1/);
    expect(() => stretchForBudget(Number.NaN, undefined, NOW)).toThrow(RangeError);
    expect(() => stretchForBudget(1_000, undefined, NOW, { requestsPerPoll: 0 })).toThrow(/requestsPerPoll.*0/);
    expect(() => stretchForBudget(1_000, undefined, NOW, { reserveFraction: 1.5 })).toThrow(/reserveFraction.*1.5/);
  });
});

describe('BucketShare', () => {
  /** This browser sends one request every `everyMs` while `others` other clients each send as many. */
  function run(share: BucketShare, others: number, answers: number, everyMs = 1_000, startRemaining = 1000, from = NOW) {
    let remaining = startRemaining;
    let estimate: number | undefined;
    for (let i = 0; i < answers; i += 1) {
      remaining -= 1 + others;
      estimate = share.observe({ limit: 1000, remaining, resetAt: NOW + WINDOW }, from + i * everyMs);
    }
    return estimate;
  }

  it('says nothing until it has seen a few of its own answers', () => {
    const share = new BucketShare();
    expect(run(share, 9, 3)).toBeUndefined();
    expect(share.observe({ limit: 1000 }, NOW)).toBeUndefined();
  });

  it('finds one client when the budget falls only by what this browser sends', () => {
    expect(run(new BucketShare(), 0, 10)).toBe(1);
  });

  it('finds how many clients share the bucket from how fast it falls', () => {
    expect(run(new BucketShare(), 9, 10)).toBe(10);
    expect(run(new BucketShare(), 39, 20)).toBe(40);
  });

  it('starts again when the window resets, and forgets what is older than its span', () => {
    const share = new BucketShare({ spanMs: 10_000 });
    expect(run(share, 49, 15, 1_000, 1000)).toBe(50);
    // A new window: more left than before. Alone now, the estimate follows within the span.
    expect(run(share, 0, 15, 1_000, 1000, NOW + 20_000)).toBe(1);
  });

  it('is never below one, whatever order the answers come in', () => {
    const share = new BucketShare({ minOwnAnswers: 1 });
    share.observe({ remaining: 500 }, NOW);
    // An older answer arriving late shows more left: taken as a reset, never a negative count.
    expect(share.observe({ remaining: 520 }, NOW + 100)).toBeUndefined();
    expect(share.observe({ remaining: 520 }, NOW + 200)).toBe(1);
  });

  it('compares an answer only with answers about the same limiter, so a switch between limiters is not traffic', () => {
    const share = new BucketShare();
    let estimate: number | undefined;
    // Alone: the gateway's per-minute limit and the server's 15-minute budget bind in turn,
    // and a gateway error carries only the gateway's; each falls by this browser's one request.
    for (let i = 0; i < 20; i += 1) {
      const server = { limit: 1000, windowMs: 900_000, remaining: 990 - i };
      const gateway = { limit: 500, windowMs: 60_000, remaining: 480 - i };
      estimate = share.observe(i % 5 === 4 ? gateway : server, NOW + i * 1_000) ?? estimate;
    }
    expect(estimate).toBeDefined();
    expect(estimate!).toBeLessThanOrEqual(1.5);
  });
});
