import { describe, expect, it } from 'vitest';
import { parseRateLimit, readRateLimitMember } from './rate-limit';

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
