import { describe, expect, it } from 'vitest';
import type { RateLimitInfo } from '../src/shared/network';
import { BucketShare, parseRateLimit, readRateLimitMember, stretchForBudget } from './rate-limit';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const WINDOW = 900_000;

describe('parseRateLimit', () => {
  it('reads draft-6 headers (separate fields, reset as delta seconds)', () => {
    const headers = new Headers({
      'RateLimit-Policy': '1000;w=900',
      'RateLimit-Limit': '1000',
      'RateLimit-Remaining': '998',
      'RateLimit-Reset': '899',
    });
    expect(parseRateLimit(headers, NOW)).toEqual({
      limit: 1000,
      remaining: 998,
      resetAt: NOW + 899_000,
      windowMs: WINDOW,
    });
  });

  it('reads draft-7 headers (one RateLimit dictionary plus the policy)', () => {
    const headers = new Headers({
      RateLimit: 'limit=1000, remaining=998, reset=899',
      'RateLimit-Policy': '1000;w=900',
    });
    expect(parseRateLimit(headers, NOW)).toEqual({
      limit: 1000,
      remaining: 998,
      resetAt: NOW + 899_000,
      windowMs: WINDOW,
    });
  });

  it('reads draft-8 headers (named policy with q and w, RateLimit with r and t)', () => {
    const headers = new Headers({
      'RateLimit-Policy': '"1000-in-15min"; q=1000; w=900',
      RateLimit: '"1000-in-15min"; r=998; t=899',
    });
    expect(parseRateLimit(headers, NOW)).toEqual({
      limit: 1000,
      remaining: 998,
      resetAt: NOW + 899_000,
      windowMs: WINDOW,
    });
  });

  it('reads draft-8 as express-rate-limit sends it, with a base64 partition key ending in =', () => {
    const headers = new Headers({
      'RateLimit-Policy': '"1000-in-15min"; q=1000; w=900; pk=:ZTNiMGM0NDI5OGZj=:',
      RateLimit: '"1000-in-15min"; r=0; t=12',
    });
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 1000, remaining: 0, resetAt: NOW + 12_000, windowMs: WINDOW });
  });

  it('takes the limit that allows the fewest requests per second when several limiters report', () => {
    // The gateway's per-minute limit has fewer left, but the server's 15-minute budget binds.
    const headers = new Headers();
    headers.append('RateLimit-Policy', '"purl-api"; q=500; w=60');
    headers.append('RateLimit-Policy', '"eliza"; q=1000; w=900');
    headers.append('RateLimit', '"purl-api"; r=480; t=40');
    headers.append('RateLimit', '"eliza"; r=900; t=800');
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 1000, remaining: 900, resetAt: NOW + 800_000, windowMs: WINDOW });
    // Nearly spent, the per-minute limit binds.
    headers.set('RateLimit', '"purl-api"; r=5; t=40, "eliza"; r=900; t=800');
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 500, remaining: 5, resetAt: NOW + 40_000, windowMs: 60_000 });
  });

  it('takes the limit with the fewest requests left when several limiters share a reset', () => {
    const headers = new Headers();
    headers.append('RateLimit-Policy', '"burst"; q=10; w=1');
    headers.append('RateLimit-Policy', '"api"; q=1000; w=900');
    headers.append('RateLimit', '"burst"; r=9; t=1');
    headers.append('RateLimit', '"api"; r=3; t=600');
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 1000, remaining: 3, resetAt: NOW + 600_000, windowMs: WINDOW });
  });

  it('skips draft-8 policies that are not counted in requests', () => {
    const headers = new Headers({ 'RateLimit-Policy': '"bytes"; q=65536; qu="content-bytes"; w=60, "req"; q=50; w=60' });
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 50, windowMs: 60_000 });
  });

  it('pairs a draft-6 limit with the policy of the same quota when several are listed', () => {
    const headers = new Headers({ 'RateLimit-Limit': '1000', 'RateLimit-Policy': '10;w=1, 1000;w=900' });
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 1000, windowMs: WINDOW });
  });

  it('reads the limit and window from the policy alone', () => {
    expect(parseRateLimit(new Headers({ 'RateLimit-Policy': '1000;w=900' }), NOW)).toEqual({ limit: 1000, windowMs: WINDOW });
  });

  it('reads Retry-After in delta seconds', () => {
    expect(parseRateLimit(new Headers({ 'Retry-After': '120' }), NOW)).toEqual({ retryAt: NOW + 120_000 });
    expect(parseRateLimit(new Headers({ 'Retry-After': '0' }), NOW)).toEqual({ retryAt: NOW });
  });

  it('reads Retry-After as an HTTP-date in all three forms RFC 9110 requires', () => {
    const at = Date.UTC(2026, 0, 15, 12, 5, 30);
    for (const date of ['Thu, 15 Jan 2026 12:05:30 GMT', 'Thursday, 15-Jan-26 12:05:30 GMT', 'Thu Jan 15 12:05:30 2026']) {
      expect(parseRateLimit(new Headers({ 'Retry-After': date }), NOW), date).toEqual({ retryAt: at });
    }
    expect(parseRateLimit(new Headers({ 'Retry-After': 'Thu Jan  1 00:00:00 2099' }), NOW)).toEqual({
      retryAt: Date.UTC(2099, 0, 1),
    });
  });

  it('turns a Retry-After date already past into retryAt = now', () => {
    expect(parseRateLimit(new Headers({ 'Retry-After': 'Wed, 14 Jan 2026 12:00:00 GMT' }), NOW)).toEqual({ retryAt: NOW });
  });

  it('reads everything a 429 from a draft-7 limiter carries', () => {
    const headers = new Headers({
      RateLimit: 'limit=1000, remaining=0, reset=300',
      'RateLimit-Policy': '1000;w=900',
      'Retry-After': '300',
    });
    expect(parseRateLimit(headers, NOW)).toEqual({
      limit: 1000,
      remaining: 0,
      resetAt: NOW + 300_000,
      windowMs: WINDOW,
      retryAt: NOW + 300_000,
    });
  });

  it('returns an empty info when no rate-limit header is present', () => {
    expect(parseRateLimit(new Headers({ 'Content-Type': 'application/json' }), NOW)).toEqual({});
  });

  it('ignores malformed values field by field and keeps the valid ones', () => {
    const headers = new Headers({
      'RateLimit-Limit': 'lots',
      'RateLimit-Remaining': '-4',
      'RateLimit-Reset': '12.5',
      'RateLimit-Policy': '1000;w=soon',
    });
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 1000 });

    const mixed = new Headers({ RateLimit: 'limit=abc, remaining=7, reset=-1', 'Retry-After': 'tomorrow' });
    expect(parseRateLimit(mixed, NOW)).toEqual({ remaining: 7 });
  });

  it('never throws on garbage', () => {
    const garbage = ['', ';;;', ',,,', '"unterminated; r=1', '=', 'limit=', '"a"; r=; t', '1e3', 'NaN', '  ', 'r=1;t=2'];
    for (const value of garbage) {
      const headers = new Headers({
        RateLimit: value,
        'RateLimit-Policy': value,
        'RateLimit-Limit': value,
        'RateLimit-Remaining': value,
        'RateLimit-Reset': value,
        'Retry-After': value,
      });
      expect(() => parseRateLimit(headers, NOW), value).not.toThrow();
    }
  });

  it('rejects Retry-After values that Date.parse would accept but HTTP does not', () => {
    const rejected = ['1.5', '-10', '2026-01-15T12:05:30Z', 'Thu, 31 Feb 2026 12:00:00 GMT', 'Thu, 15 Jan 2026 25:00:00 GMT', 'next week'];
    for (const value of rejected) {
      expect(parseRateLimit(new Headers({ 'Retry-After': value }), NOW), value).toEqual({});
    }
  });

  it('does not take one limiter’s window for another’s counts', () => {
    const headers = new Headers({ 'RateLimit-Limit': '1000', 'RateLimit-Policy': '10;w=1' });
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 1000 });
  });
});

describe('the gateway’s members of a shared budget', () => {
  // What a gateway in front of a stock server sends: its own per-minute limit, the server's budget, and this user's share of it.
  const headers = new Headers({
    RateLimit: '"purl-api"; r=480; t=40, "share"; r=30; t=600, "eliza"; r=90; t=600',
    'RateLimit-Policy': '"purl-api"; q=500; w=60; pk=:abc=:, "share"; q=333; w=900, "eliza"; q=1000; w=900',
  });

  it('binds the share when the answer spent from it', () => {
    expect(parseRateLimit(headers, NOW)).toEqual({ limit: 333, remaining: 30, resetAt: NOW + 600_000, windowMs: WINDOW });
  });

  it('leaves the members it is told to ignore out of the choice: an edge-served answer is bound by the gateway’s own limit', () => {
    expect(parseRateLimit(headers, NOW, { ignore: ['eliza', 'share'] })).toEqual({ limit: 500, remaining: 480, resetAt: NOW + 40_000, windowMs: 60_000 });
  });

  it('reads one named member with its policy, binding or not', () => {
    expect(readRateLimitMember(headers, 'eliza', NOW)).toEqual({ limit: 1000, remaining: 90, resetAt: NOW + 600_000, windowMs: WINDOW });
    expect(readRateLimitMember(headers, 'share', NOW)).toEqual({ limit: 333, remaining: 30, resetAt: NOW + 600_000, windowMs: WINDOW });
    expect(readRateLimitMember(headers, 'other', NOW)).toBeUndefined();
    expect(readRateLimitMember(new Headers({ RateLimit: '"eliza"; r=5' }), 'eliza', NOW)).toEqual({ remaining: 5 });
    expect(readRateLimitMember(new Headers({ RateLimit: 'limit=10, remaining=5, reset=3' }), 'eliza', NOW)).toBeUndefined();
  });
});

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
