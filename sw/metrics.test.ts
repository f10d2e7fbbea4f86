import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MetricsSnapshot } from '../src/shared/network';
import { Metrics } from './metrics';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(10 * 60_000);
});
afterEach(() => vi.useRealTimers());

function harness() {
  const published: MetricsSnapshot[] = [];
  const metrics = new Metrics({ now: Date.now, publish: async (snapshot) => void published.push(snapshot) });
  return { metrics, published };
}

describe('metrics', () => {
  it('publishes at most once a second, merging a burst of changes into one snapshot', async () => {
    const { metrics, published } = harness();
    for (let i = 0; i < 50; i += 1) metrics.sent();
    await vi.advanceTimersByTimeAsync(0);
    expect(published).toHaveLength(1);
    for (let i = 0; i < 50; i += 1) metrics.sent();
    await vi.advanceTimersByTimeAsync(999);
    expect(published).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(published).toHaveLength(2);
    expect(published[1]!.requestsPerMinute).toBe(100);
  });

  it('counts requests per minute over a sliding window', async () => {
    const { metrics } = harness();
    metrics.sent();
    vi.advanceTimersByTime(30_000);
    metrics.sent();
    vi.advanceTimersByTime(30_001);
    expect(metrics.snapshot().requestsPerMinute).toBe(1);
  });

  it('keeps 15 minutes of per-minute history with 429s', async () => {
    const { metrics } = harness();
    metrics.sent();
    metrics.answered(429, { retryAt: Date.now() + 5_000 });
    vi.advanceTimersByTime(60_000);
    metrics.sent();
    metrics.answered(200, { remaining: 990, limit: 1000 });
    const snapshot = metrics.snapshot();
    expect(snapshot.history.map((b) => [b.requests, b.rateLimited])).toEqual([
      [1, 1],
      [1, 0],
    ]);
    expect(snapshot.rateLimited).toBe(1);
    expect(snapshot.rateLimit).toMatchObject({ remaining: 990, limit: 1000 });
    vi.advanceTimersByTime(20 * 60_000);
    expect(metrics.snapshot().history).toHaveLength(1);
  });

  it('computes the cache hit rate and consecutive errors', () => {
    const { metrics } = harness();
    expect(metrics.snapshot().cacheHitRate).toBeUndefined();
    metrics.cacheLookup(true);
    metrics.cacheLookup(true);
    metrics.cacheLookup(false);
    metrics.answered(503, {});
    metrics.failed();
    const snapshot = metrics.snapshot();
    expect(snapshot.cacheHitRate).toBeCloseTo(2 / 3);
    expect(snapshot.consecutiveErrors).toBe(2);
    metrics.answered(200, {});
    expect(metrics.snapshot().consecutiveErrors).toBe(0);
  });

  it('says how the last request failed until one succeeds', () => {
    const { metrics } = harness();
    expect(metrics.snapshot().lastFailure).toBeUndefined();
    metrics.answered(429, {});
    expect(metrics.snapshot().lastFailure).toBe('rate-limited');
    metrics.answered(503, {});
    expect(metrics.snapshot().lastFailure).toBe('server-error');
    metrics.failed();
    expect(metrics.snapshot().lastFailure).toBe('no-answer');
    metrics.badAnswer();
    expect(metrics.snapshot()).toMatchObject({ lastFailure: 'bad-answer', consecutiveErrors: 4 });
    metrics.answered(404, {});
    expect(metrics.snapshot().lastFailure).toBeUndefined();
  });

  it('picks up counters and history from the last worker’s snapshot', () => {
    const first = harness();
    first.metrics.cacheLookup(true);
    first.metrics.answered(429, {});
    const second = harness();
    second.metrics.restore(first.metrics.snapshot());
    expect(second.metrics.snapshot()).toMatchObject({ cacheHits: 1, rateLimited: 1 });
  });

  it('keeps the server’s budget and the user’s share as each was last stated, across a worker restart', () => {
    const first = harness();
    expect(first.metrics.snapshot().upstream).toBeUndefined();
    first.metrics.answered(200, {}, { server: { limit: 1000, remaining: 900 }, share: { limit: 500, remaining: 450 }, tier: 'plenty' });
    // An answer that states only the server's budget (the share is unchanged).
    first.metrics.answered(200, {}, { server: { limit: 1000, remaining: 899 }, tier: 'plenty' });
    expect(first.metrics.snapshot().upstream).toEqual({
      server: { limit: 1000, remaining: 899 },
      share: { limit: 500, remaining: 450 },
      tier: 'plenty',
    });
    const second = harness();
    second.metrics.restore(first.metrics.snapshot());
    expect(second.metrics.snapshot().upstream?.share).toEqual({ limit: 500, remaining: 450 });
  });
});
