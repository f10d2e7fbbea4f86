import { describe, expect, it } from 'vitest';
import type { RateLimitInfo } from '../src/shared/network';
import { Budget } from './budget';

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

  it('starts from what an earlier worker saved', () => {
    const { budget } = harness();
    budget.restore({ limit: 25, remaining: 6, resetAt: T0 + 600_000 });
    // One request above the reserve: nothing fits before the reset.
    expect(budget.scheduleOptions('memories').baseMs).toBe(600_000);
  });
});
