import { describe, expect, it } from 'vitest';
import { createUpstreamBudget, LOW_BUDGET_WITHOUT_RESET_MS } from './upstream-budget';

describe('the upstream budget as last seen', () => {
  it('is low below a tenth of its limit, until its window resets', () => {
    const budget = createUpstreamBudget();
    budget.note({ limit: 1000, remaining: 100, resetAt: 60_000 }, 0);
    expect(budget.isLow(1_000)).toBe(false);
    budget.note({ limit: 1000, remaining: 99, resetAt: 60_000 }, 1_000);
    expect(budget.isLow(59_999)).toBe(true);
    expect(budget.isLow(60_000)).toBe(false);
  });

  it('is low while a Retry-After runs, whatever the counts say', () => {
    const budget = createUpstreamBudget();
    budget.note({ retryAt: 30_000 }, 0);
    expect(budget.isLow(29_999)).toBe(true);
    expect(budget.isLow(30_000)).toBe(false);
  });

  it('believes a low budget without a reset time for a minute only', () => {
    const budget = createUpstreamBudget();
    budget.note({ limit: 1000, remaining: 5 }, 10_000);
    expect(budget.isLow(10_000 + LOW_BUDGET_WITHOUT_RESET_MS - 1)).toBe(true);
    expect(budget.isLow(10_000 + LOW_BUDGET_WITHOUT_RESET_MS)).toBe(false);
  });

  it('keeps the last budget stated when an answer states none', () => {
    const budget = createUpstreamBudget();
    budget.note({ limit: 1000, remaining: 7, resetAt: 60_000 }, 0);
    budget.note({}, 1_000);
    expect(budget.last()).toEqual({ limit: 1000, remaining: 7, resetAt: 60_000 });
    expect(budget.isLow(2_000)).toBe(true);
  });

  it('is never low without a limit to measure against', () => {
    const budget = createUpstreamBudget();
    expect(budget.isLow(0)).toBe(false);
    budget.note({ remaining: 1 }, 0);
    expect(budget.isLow(1)).toBe(false);
  });
});
