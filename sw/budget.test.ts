import { describe, expect, it } from 'vitest';
import type { RateLimitInfo } from '../src/shared/network';
import { Budget, readUpstreamFigures } from './budget';

const T0 = 1_000_000;

function harness() {
  const saved: RateLimitInfo[] = [];
  const clock = { now: T0 };
  const budget = new Budget({
    now: () => clock.now,
    random: () => 0.5,
    baseIntervals: () => ({ memories: 60_000, chat: 5_000 }),
    save: (info) => saved.push(info),
  });
  return { budget, saved, clock };
}

describe('the budget', () => {
  it("keeps the binding limiter's last figures in memory, never mixed with another's, and saves each change", () => {
    const { budget, saved } = harness();
    budget.observe({ limit: 1000, remaining: 900, resetAt: T0 + 60_000 }, T0);
    budget.observe({}, T0);
    budget.observe({ remaining: 899 }, T0 + 1);
    expect(budget.info()).toEqual({ remaining: 899 });
    budget.observe({ retryAt: T0 + 5_000 }, T0 + 2);
    expect(budget.info()).toEqual({ remaining: 899, retryAt: T0 + 5_000 });
    expect(saved).toHaveLength(3);
  });

  it('polls at the base interval while the budget is ample, and stretches when it runs low', () => {
    const { budget } = harness();
    expect(budget.scheduleOptions('chat').baseMs).toBe(5_000);
    // 30 requests left for 10 minutes, 5 of them kept for the user: the polls must spread out.
    budget.observe({ limit: 25, remaining: 30, resetAt: T0 + 600_000 }, T0);
    expect(budget.scheduleOptions('chat').baseMs).toBeGreaterThan(5_000);
  });

  it('starts from the chat’s picture an earlier worker saved', () => {
    const { budget } = harness();
    budget.restore({ limit: 25, remaining: 6, resetAt: T0 + 600_000 });
    // One request above the reserve: nothing fits before the reset.
    expect(budget.scheduleOptions('chat').baseMs).toBe(600_000);
    // The memories poll learns from its own next answer.
    expect(budget.scheduleOptions('memories').baseMs).toBe(60_000);
  });

  it('paces each poll by the answers to its own requests: the user’s share holds the chat back, not the reads the edge answers', () => {
    const { budget, saved } = harness();
    // The chat's answers: this user's share of a stock server's budget binds, nearly spent.
    budget.observe({ limit: 100, remaining: 10, resetAt: T0 + 600_000, windowMs: 900_000 }, T0, 'chat');
    // The memories reads, answered by the gateway's edge: only the gateway's own per-minute limit binds.
    budget.observe({ limit: 200, remaining: 190, resetAt: T0 + 40_000, windowMs: 60_000 }, T0, 'memories');
    expect(budget.scheduleOptions('chat').baseMs).toBe(600_000);
    expect(budget.scheduleOptions('memories').baseMs).toBe(60_000);
    expect(budget.info('memories')).toMatchObject({ limit: 200 });
    // Only the chat's picture is kept for a restarted worker.
    expect(saved).toEqual([{ limit: 100, remaining: 10, resetAt: T0 + 600_000, windowMs: 900_000 }]);
  });
});

describe('the upstream’s figures', () => {
  it('reads the server’s budget, the user’s share and the gateway’s tier from one answer', () => {
    const headers = new Headers({
      RateLimit: '"purl-api"; r=480; t=40, "share"; r=30; t=600, "eliza"; r=90; t=600',
      'RateLimit-Policy': '"purl-api"; q=500; w=60, "share"; q=333; w=900, "eliza"; q=1000; w=900',
      'X-Purl-Budget': 'low',
    });
    expect(readUpstreamFigures(headers, T0)).toEqual({
      server: { limit: 1000, remaining: 90, resetAt: T0 + 600_000, windowMs: 900_000 },
      share: { limit: 333, remaining: 30, resetAt: T0 + 600_000, windowMs: 900_000 },
      tier: 'low',
    });
    expect(readUpstreamFigures(new Headers({ 'X-Purl-Budget': 'unheard-of' }), T0)).toEqual({});
  });
});
