import { describe, expect, it } from 'vitest';
import type { MetricsSnapshot } from '../shared/network';
import { formatTime } from './format';
import {
  CHART_MINUTES,
  chartLabel,
  chartSeries,
  formatInterval,
  formatLongCountdown,
  monitorRows,
  monitorSummary,
  type MonitorRow,
  type MonitorRowId,
} from './monitor-model';

const MINUTE = 60_000;
/** A whole minute plus 30 s, so minute arithmetic is visible in the tests. */
const NOW = 1_000 * MINUTE + 30_000;

function snapshot(overrides: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    at: NOW,
    pending: 2,
    inFlight: 1,
    maxConcurrent: 0,
    consecutiveErrors: 0,
    breaker: { state: 'closed', failures: 0 },
    cacheHits: 25,
    cacheMisses: 5,
    cacheHitRate: 25 / 30,
    baseIntervals: { memories: 60_000, chat: 5_000 },
    pollIntervals: { memories: 60_000 },
    rateLimit: {},
    rateLimited: 0,
    requestsPerMinute: 3,
    history: [],
    highLoad: false,
    ...overrides,
  };
}

function value(rows: MonitorRow[], id: MonitorRowId): string | undefined {
  return rows.find((row) => row.id === id)?.value;
}

function row(rows: MonitorRow[], id: MonitorRowId): MonitorRow | undefined {
  return rows.find((candidate) => candidate.id === id);
}

describe('monitorRows', () => {
  it('has no rows before the worker has published figures', () => {
    expect(monitorRows(undefined, NOW)).toEqual([]);
    expect(monitorSummary(undefined, NOW)).toBe('No figures yet');
  });

  it('labels every figure in words for a quiet, healthy worker', () => {
    const rows = monitorRows(snapshot(), NOW);
    expect(rows.map((r) => [r.label, r.value])).toEqual([
      ['Requests waiting', '2'],
      ['In flight', '1'],
      ['Consecutive errors', '0'],
      ['Circuit breaker', 'Closed'],
      ['Cache hit rate', '83 % (25 of 30)'],
      ['Memories poll', 'every 60 s'],
      ['Chat poll', 'not running'],
      ['Server budget', 'unknown until the first answer'],
      ['429 answers', '0'],
      ['Requests in the last minute', '3'],
      ['Mode', 'Normal'],
    ]);
    expect(rows.every((r) => r.tone === 'normal')).toBe(true);
  });

  it('shows push up or down, since when and its events, warning only once push has worked here', () => {
    const at = NOW - 60_000;
    const rowOf = (push: MetricsSnapshot['push']) => monitorRows(snapshot({ push }), NOW).find((r) => r.id === 'push');
    expect(rowOf(undefined)).toBeUndefined();
    expect(rowOf({ state: 'up', since: at, events: 12 })).toEqual({
      id: 'push',
      label: 'Push',
      value: `Up since ${formatTime(at)} · 12 events`,
      tone: 'normal',
    });
    expect(rowOf({ state: 'down', since: at, events: 0 })).toMatchObject({
      value: `Down since ${formatTime(at)} · 0 events — the chat poll brings replies`,
      tone: 'normal',
    });
    expect(rowOf({ state: 'down', since: at, events: 1 })).toMatchObject({ tone: 'warn' });
    expect(rowOf({ state: 'upstream-down', since: at, events: 3 })?.value).toBe(
      `Gateway reached, server not, since ${formatTime(at)} · 3 events — the chat poll brings replies`,
    );
  });

  it('shows the in-flight cap only when the caller knows it', () => {
    expect(value(monitorRows(snapshot(), NOW, { maxConcurrent: 3 }), 'inFlight')).toBe('1 of 3');
  });

  it('says there were no reads before the first cache lookup', () => {
    const rows = monitorRows(snapshot({ cacheHits: 0, cacheMisses: 0, cacheHitRate: undefined }), NOW);
    expect(value(rows, 'cache')).toBe('No reads yet');
  });

  it('counts down to the next try while the breaker is open', () => {
    const breaker = { state: 'open', openedAt: NOW - 48_000, nextProbeAt: NOW + 252_000 } as const;
    const rows = monitorRows(snapshot({ breaker, consecutiveErrors: 5 }), NOW);
    expect(value(rows, 'breaker')).toBe('Open — next try in 4:12');
    expect(row(rows, 'breaker')?.tone).toBe('warn');
    expect(row(rows, 'errors')?.tone).toBe('warn');
    expect(monitorSummary(snapshot({ breaker }), NOW)).toBe('Breaker open, next try in 4:12 · 3 req/min');
  });

  it('says the breaker is trying once when half-open, or when an open breaker has waited long enough', () => {
    const halfOpen = { state: 'half-open', openedAt: NOW - 400_000, nextProbeAt: NOW - 100_000 } as const;
    expect(value(monitorRows(snapshot({ breaker: halfOpen }), NOW), 'breaker')).toBe('Trying once now');
    const waited = { state: 'open', openedAt: NOW - 300_000, nextProbeAt: NOW } as const;
    expect(value(monitorRows(snapshot({ breaker: waited }), NOW), 'breaker')).toBe('Trying once now');
    expect(monitorSummary(snapshot({ breaker: halfOpen }), NOW)).toBe('Breaker trying once · 3 req/min');
  });

  it('says a poll is paused when no tab is open (an infinite interval is stored as null)', () => {
    const rows = monitorRows(snapshot({ pollIntervals: { memories: null, chat: null } }), NOW);
    expect(value(rows, 'memoriesPoll')).toBe('paused: no open tab');
    expect(value(rows, 'chatPoll')).toBe('paused: no open tab');
  });

  it('says how far a poll was stretched from its configured interval', () => {
    const rows = monitorRows(snapshot({ pollIntervals: { memories: 240_000, chat: 7_000 } }), NOW);
    expect(value(rows, 'memoriesPoll')).toBe('every 4 min (stretched from 60 s)');
    expect(value(rows, 'chatPoll')).toBe('every 7 s (stretched from 5 s)');
  });

  it('does not call an interval stretched when only the ±10 % jitter moved it', () => {
    const rows = monitorRows(snapshot({ pollIntervals: { memories: 65_500 } }), NOW);
    expect(value(rows, 'memoriesPoll')).toBe('every 66 s');
  });

  it("shows the server's budget and when it resets once an answer carried it", () => {
    const rateLimit = { limit: 1000, remaining: 994, resetAt: NOW + 120_000 };
    const rows = monitorRows(snapshot({ rateLimit }), NOW);
    expect(value(rows, 'budget')).toBe(`994 of 1000 left, resets at ${formatTime(NOW + 120_000)}`);
    expect(row(rows, 'budget')?.tone).toBe('normal');
    expect(monitorSummary(snapshot({ rateLimit }), NOW)).toBe('Breaker closed · 994 left · 3 req/min');
  });

  it('flags a nearly spent budget and marks one from a window that has reset as old', () => {
    const low = monitorRows(snapshot({ rateLimit: { limit: 1000, remaining: 40, resetAt: NOW + 1_000 } }), NOW);
    expect(row(low, 'budget')?.tone).toBe('warn');
    const old = snapshot({ rateLimit: { limit: 1000, remaining: 40, resetAt: NOW - 1_000 } });
    expect(value(monitorRows(old, NOW), 'budget')).toBe(`40 of 1000 left before the reset at ${formatTime(NOW - 1_000)}`);
    expect(row(monitorRows(old, NOW), 'budget')?.tone).toBe('normal');
    expect(monitorSummary(old, NOW)).toBe('Breaker closed · 3 req/min');
  });

  it('says when other clients at the same address share the budget', () => {
    const shared = (sharers: number) =>
      value(monitorRows(snapshot({ rateLimit: { limit: 1000, remaining: 500, resetAt: NOW + 60_000, sharers } }), NOW), 'budget');
    expect(shared(1.2)).toBe(`500 of 1000 left, resets at ${formatTime(NOW + 60_000)}`);
    expect(shared(2)).toBe(`500 of 1000 left, resets at ${formatTime(NOW + 60_000)}; shared with about 1 other client at this address`);
    expect(shared(40.4)).toMatch(/; shared with about 39 other clients at this address$/);
  });

  it('shows the server’s budget and this user’s share as two figures behind a gateway that shares one budget', () => {
    const resetAt = NOW + 600_000;
    const upstream = {
      server: { limit: 1000, remaining: 870, resetAt, windowMs: 900_000 },
      share: { limit: 250, remaining: 217, resetAt, windowMs: 900_000 },
      tier: 'plenty' as const,
    };
    // The binding limit is the share: the server's row still shows the server's own budget.
    const rows = monitorRows(snapshot({ rateLimit: upstream.share, upstream }), NOW);
    expect(value(rows, 'budget')).toBe(`870 of 1000 left, resets at ${formatTime(resetAt)}`);
    expect(value(rows, 'share')).toBe(`217 of 250 left, resets at ${formatTime(resetAt)}; the server's budget is split among about 4 people chatting now`);
    expect(rows.map((r) => r.id).indexOf('share')).toBe(rows.map((r) => r.id).indexOf('budget') + 1);
    expect(row(rows, 'share')?.tone).toBe('normal');
    expect(monitorSummary(snapshot({ upstream }), NOW)).toBe('Breaker closed · server 870 left · your share 217 · 3 req/min');
  });

  it('says in words what the gateway does as the shared budget runs out, not by colour alone', () => {
    const resetAt = NOW + 300_000;
    const at = (remaining: number, share: number, tier: 'low' | 'reserve' | 'empty') =>
      monitorRows(snapshot({ upstream: { server: { limit: 1000, remaining, resetAt }, share: { limit: 500, remaining: share, resetAt }, tier } }), NOW);
    const low = at(80, 40, 'low');
    expect(value(low, 'budget')).toBe(
      `80 of 1000 left, resets at ${formatTime(resetAt)} — low: the gateway answers reads from its copy and asks the server less often`,
    );
    expect(row(low, 'budget')?.tone).toBe('warn');
    expect(value(low, 'share')).toMatch(/^40 of 500 left, .* — low: the chat is checked less often, messages still go$/);
    expect(row(low, 'share')?.tone).toBe('warn');
    expect(value(at(40, 20, 'reserve'), 'budget')).toMatch(new RegExp(`nearly spent: what is left is kept for messages until ${formatTime(resetAt)}$`));
    expect(value(at(0, 0, 'empty'), 'budget')).toMatch(
      new RegExp(`spent: nothing reaches the server until ${formatTime(resetAt)}; messages wait and are not lost$`),
    );
  });

  it('has no share row where every user has a budget of their own', () => {
    const rows = monitorRows(snapshot({ upstream: { server: { limit: 1000, remaining: 990 } } }), NOW);
    expect(value(rows, 'budget')).toBe('990 of 1000 left');
    expect(row(rows, 'share')).toBeUndefined();
  });

  it('shows a budget without a limit or reset time as far as it is known', () => {
    expect(value(monitorRows(snapshot({ rateLimit: { remaining: 7 } }), NOW), 'budget')).toBe('7 left');
  });

  it("adds the server's wait only while it lasts", () => {
    const waiting = monitorRows(snapshot({ rateLimit: { retryAt: NOW + 30_000 }, rateLimited: 2 }), NOW);
    expect(value(waiting, 'retryAfter')).toBe(`until ${formatTime(NOW + 30_000)} (0:30)`);
    expect(value(waiting, 'rateLimited')).toBe('2');
    expect(row(waiting, 'rateLimited')?.tone).toBe('warn');
    expect(row(monitorRows(snapshot({ rateLimit: { retryAt: NOW - 1 } }), NOW), 'retryAfter')).toBeUndefined();
  });

  it('counts no requests in the last minute once the figures are a minute old', () => {
    expect(value(monitorRows(snapshot(), NOW + 59_999), 'perMinute')).toBe('3');
    expect(value(monitorRows(snapshot(), NOW + MINUTE), 'perMinute')).toBe('0');
  });

  it('names the mode and notes high-load in the summary', () => {
    const high = snapshot({ highLoad: true });
    expect(value(monitorRows(high, NOW), 'mode')).toBe('High-load');
    expect(monitorSummary(high, NOW)).toBe('Breaker closed · 3 req/min · high-load');
  });
});

describe('formatting', () => {
  it('formats intervals in seconds, minutes and hours', () => {
    expect(formatInterval(5_000)).toBe('5 s');
    expect(formatInterval(90_000)).toBe('90 s');
    expect(formatInterval(250_000)).toBe('4 min 10 s');
    expect(formatInterval(5_400_000)).toBe('1 h 30 min');
    expect(formatInterval(7_200_000)).toBe('2 h');
  });

  it('keeps countdowns past an hour short', () => {
    expect(formatLongCountdown(252_000)).toBe('4:12');
    expect(formatLongCountdown(3_852_000)).toBe('1:04:12');
    expect(formatLongCountdown(-5)).toBe('0:00');
  });
});

describe('chartSeries', () => {
  const current = NOW - 30_000;

  it('has exactly 15 one-minute slots, oldest first, ending with the current minute', () => {
    const { slots, max, peak, rateLimited } = chartSeries([], NOW);
    expect(slots).toHaveLength(CHART_MINUTES);
    expect(slots[0]!.minute).toBe(current - 14 * MINUTE);
    expect(slots.at(-1)!.minute).toBe(current);
    expect(slots.every((slot, i) => i === 0 || slot.minute - slots[i - 1]!.minute === MINUTE)).toBe(true);
    expect({ max, peak, rateLimited }).toEqual({ max: 0, peak: 0, rateLimited: 0 });
    expect(chartLabel(chartSeries([], NOW))).toBe('No requests in the last 15 minutes.');
  });

  it('fills missing minutes with zeros and drops buckets outside the span', () => {
    const history = [
      { minute: current - 20 * MINUTE, requests: 99, rateLimited: 9 },
      { minute: current - 14 * MINUTE, requests: 4, rateLimited: 0 },
      { minute: current - 5 * MINUTE, requests: 12, rateLimited: 2 },
      { minute: current, requests: 3, rateLimited: 0 },
    ];
    const series = chartSeries(history, NOW);
    expect(series.slots.map((slot) => slot.requests)).toEqual([4, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 3]);
    expect(series.slots.map((slot) => slot.rateLimited)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0]);
    expect(series).toMatchObject({ max: 12, peak: 12, rateLimited: 2 });
    expect(chartLabel(series)).toBe('Requests per minute over the last 15 minutes: peak 12, now 3; 429 answers: 2');
  });

  it('moves old bars out as time passes without new figures', () => {
    const history = [{ minute: current, requests: 3, rateLimited: 1 }];
    const later = chartSeries(history, NOW + 14 * MINUTE);
    expect(later.slots[0]).toEqual({ minute: current, requests: 3, rateLimited: 1 });
    expect(chartSeries(history, NOW + 15 * MINUTE).max).toBe(0);
  });

  it('scales by 429s too when they outnumber the requests sent in their minute', () => {
    const series = chartSeries([{ minute: current, requests: 1, rateLimited: 4 }], NOW);
    expect(series).toMatchObject({ max: 4, peak: 1, rateLimited: 4 });
  });
});
