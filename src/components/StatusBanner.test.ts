import { describe, expect, it } from 'vitest';
import type { MetricsSnapshot } from '../shared/network';
import { connectionSentence } from './StatusBanner';

const now = Date.UTC(2025, 0, 1, 12);

function metrics(extra: Partial<MetricsSnapshot>): MetricsSnapshot {
  return {
    at: now,
    pending: 0,
    inFlight: 0,
    maxConcurrent: 3,
    consecutiveErrors: 0,
    breaker: { state: 'closed', failures: 0 },
    cacheHits: 0,
    cacheMisses: 0,
    baseIntervals: { memories: 60_000, chat: 5_000 },
    pollIntervals: {},
    rateLimit: {},
    rateLimited: 0,
    requestsPerMinute: 0,
    history: [],
    highLoad: false,
    ...extra,
  };
}

const open = { state: 'open', openedAt: now - 1_000, nextProbeAt: now + 4_000 } as const;

describe('the connection sentence', () => {
  it('says nothing when all is well', () => {
    expect(connectionSentence(true, { attemptedAt: now, succeededAt: now }, metrics({}), now)).toBeUndefined();
  });

  it('says the server is not answering while the breaker is open after failures, with a countdown', () => {
    expect(connectionSentence(true, undefined, metrics({ breaker: open, lastFailure: 'server-error' }), now)).toBe(
      "The agent's server isn't answering. Showing saved memories; trying again in 0:04.",
    );
    expect(connectionSentence(true, undefined, metrics({ breaker: open, lastFailure: 'no-answer' }), now)).toMatch(/^The agent's server isn't answering\./);
  });

  it('says the server asked Purl to slow down when 429s opened the breaker', () => {
    expect(connectionSentence(true, undefined, metrics({ breaker: open, lastFailure: 'rate-limited' }), now)).toBe(
      "The agent's server asked Purl to slow down. Showing saved memories; trying again in 0:04.",
    );
  });

  it('says what a gateway sharing one budget does with it while it is spent or nearly spent', () => {
    const waiting = (tier: 'empty' | 'reserve' | 'plenty') =>
      connectionSentence(true, undefined, metrics({ rateLimit: { retryAt: now + 60_000 }, upstream: { tier } }), now);
    expect(waiting('empty')).toMatch(/^The agent's server has spent its request budget for now\. Showing saved memories; messages wait and go at .+\.$/);
    expect(waiting('reserve')).toMatch(
      /^The agent's server has little of its request budget left, and keeps it for messages: they still go\. New replies show from .+\.$/,
    );
    expect(waiting('plenty')).toMatch(/^The agent's server asked Purl to slow down\./);
  });

  it('says the server sent something unreadable when refused answers opened the breaker', () => {
    expect(connectionSentence(true, undefined, metrics({ breaker: open, lastFailure: 'bad-answer' }), now)).toBe(
      "The agent's server sent something Purl couldn't read. Showing saved memories; trying again in 0:04.",
    );
  });

  it('puts being offline first', () => {
    expect(connectionSentence(false, undefined, metrics({ breaker: open }), now)).toMatch(/^You're offline\./);
  });

  it("says why the chat gets no new messages when only the chat poll fails, and lets the memories' own trouble speak first", () => {
    const chatPoll = { attemptedAt: now, error: "Purl can't check the chat for new messages. The agent's server answered with an error." };
    expect(connectionSentence(true, { attemptedAt: now, succeededAt: now }, metrics({}), now, chatPoll)).toBe(chatPoll.error);
    expect(connectionSentence(true, { attemptedAt: now, error: 'The memories failed.' }, metrics({}), now, chatPoll)).toBe('The memories failed.');
    expect(connectionSentence(true, { attemptedAt: now, succeededAt: now }, metrics({}), now, { attemptedAt: now, succeededAt: now })).toBeUndefined();
  });
});
