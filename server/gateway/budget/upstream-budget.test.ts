import { describe, expect, it } from 'vitest';
import {
  ACTIVE_USER_MS,
  createUpstreamBudget,
  EMPTY_WITHOUT_RESET_MS,
  LOW_BUDGET_WITHOUT_RESET_MS,
  MAX_TRACKED_USERS,
  MESSAGES_FIRST_MS,
  reserveOf,
  type UpstreamCost,
} from './upstream-budget';

const WINDOW = 900_000;
/** A stock ElizaOS's budget as an answer at `now` states it: 1000 per 15 minutes, resetting at `resetAt`. */
const stock = (remaining: number, resetAt = WINDOW) => ({ limit: 1000, remaining, resetAt, windowMs: WINDOW });
const COSTS: UpstreamCost[] = ['message', 'own-read', 'shared-read'];
const admitted = (budget: ReturnType<typeof createUpstreamBudget>, now: number) => COSTS.filter((cost) => budget.admits(cost, now));

describe('the estimate of the upstream budget', () => {
  it('takes one off for each request sent, and each answer corrects it, less what is still under way', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(900), 0);
    const settles = [budget.spend(10), budget.spend(20), budget.spend(30)];
    expect(budget.last(40).remaining).toBe(897);
    settles[0]!();
    settles[0]!();
    // The server had counted others too: 880 after the first; two of ours are still under way.
    budget.note(stock(880), 50);
    expect(budget.last(50).remaining).toBe(878);
    settles[1]!();
    settles[2]!();
    budget.note(stock(877), 60);
    expect(budget.last(60)).toEqual({ limit: 1000, remaining: 877, resetAt: WINDOW, windowMs: WINDOW });
    expect(budget.stats(60)).toMatchObject({ tier: 'plenty', remaining: 877, inFlight: 0 });
  });

  it('is whole again when the window resets, and goes on counting into the next window', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(3), 0);
    expect(budget.tier(WINDOW - 1)).toBe('reserve');
    expect(budget.last(WINDOW)).toEqual({ limit: 1000, remaining: 1000, resetAt: 2 * WINDOW, windowMs: WINDOW });
    budget.spend(WINDOW + 1);
    expect(budget.last(WINDOW + 2).remaining).toBe(999);
    expect(budget.tier(WINDOW + 2)).toBe('plenty');
  });

  it('counts a 429 as nothing left until its Retry-After, then lets messages go first, then everything', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(600), 0);
    budget.note({ retryAt: 30_000 }, 1_000, 429);
    expect(budget.tier(29_999)).toBe('empty');
    expect(admitted(budget, 29_999)).toEqual([]);
    expect(budget.last(1_000)).toMatchObject({ remaining: 0, resetAt: 30_000, retryAt: 30_000 });
    expect(budget.retryAfterSeconds('message', 1_000)).toBe(29);
    expect(budget.retryAfterSeconds('own-read', 1_000)).toBe(29 + MESSAGES_FIRST_MS / 1000);
    // The server takes requests again: the messages that waited for it go first.
    expect(budget.tier(30_000)).toBe('reserve');
    expect(admitted(budget, 30_000)).toEqual(['message']);
    expect(budget.tier(30_000 + MESSAGES_FIRST_MS)).toBe('plenty');
    expect(budget.last(30_000 + MESSAGES_FIRST_MS).remaining).toBe(1000);
  });

  it('counts a 429 without Retry-After as nothing left until the stated reset, or for a minute', () => {
    const withReset = createUpstreamBudget();
    withReset.note(stock(0, 120_000), 0, 429);
    expect(withReset.tier(119_999)).toBe('empty');
    expect(withReset.tier(120_000 + MESSAGES_FIRST_MS)).toBe('plenty');
    const bare = createUpstreamBudget();
    bare.note({}, 0, 429);
    expect(bare.tier(EMPTY_WITHOUT_RESET_MS - 1)).toBe('empty');
    expect(bare.retryAfterSeconds('message', 0)).toBe(EMPTY_WITHOUT_RESET_MS / 1000);
    expect(bare.tier(EMPTY_WITHOUT_RESET_MS + MESSAGES_FIRST_MS)).toBe('plenty');
  });

  it('holds everything while a Retry-After on any answer runs, whatever the counts say', () => {
    const budget = createUpstreamBudget();
    budget.note({ ...stock(700), retryAt: 30_000 }, 0, 503);
    expect(budget.isLow(29_999)).toBe(true);
    expect(budget.tier(29_999)).toBe('empty');
    expect(budget.tier(30_000 + MESSAGES_FIRST_MS)).toBe('plenty');
  });

  it('believes a budget stated without a reset time for a minute only', () => {
    const budget = createUpstreamBudget();
    budget.note({ limit: 1000, remaining: 5 }, 10_000);
    expect(budget.isLow(10_000 + LOW_BUDGET_WITHOUT_RESET_MS - 1)).toBe(true);
    expect(budget.isLow(10_000 + LOW_BUDGET_WITHOUT_RESET_MS)).toBe(false);
    expect(budget.last(10_000 + LOW_BUDGET_WITHOUT_RESET_MS).remaining).toBeUndefined();
  });

  it('keeps the last budget stated when an answer states none', () => {
    const budget = createUpstreamBudget();
    budget.note({ limit: 1000, remaining: 7, resetAt: 60_000 }, 0);
    budget.note({}, 1_000);
    expect(budget.last()).toEqual({ limit: 1000, remaining: 7, resetAt: 60_000 });
    expect(budget.isLow(2_000)).toBe(true);
  });
});

describe('the tiers', () => {
  it.each<[number, string, UpstreamCost[]]>([
    [1000, 'plenty', COSTS],
    [100, 'plenty', COSTS],
    [99, 'low', COSTS],
    [51, 'low', COSTS],
    [50, 'reserve', ['message']],
    [1, 'reserve', ['message']],
    [0, 'empty', []],
  ])('with %i of 1000 left: %s, and %j may go upstream', (remaining, tier, costs) => {
    const budget = createUpstreamBudget();
    budget.note(stock(remaining), 0);
    expect(budget.tier(1)).toBe(tier);
    expect(admitted(budget, 1)).toEqual(costs);
  });

  it('keeps a reserve of 5 % of the limit for messages, and never fewer than five requests', () => {
    expect(reserveOf(1000)).toBe(50);
    expect(reserveOf(40)).toBe(5);
    expect(reserveOf(undefined)).toBe(5);
    const budget = createUpstreamBudget();
    expect(budget.tier(0)).toBe('plenty');
    // Without a limit, only the last few requests count as the reserve.
    budget.note({ remaining: 6 }, 0);
    expect(budget.tier(1)).toBe('plenty');
    budget.note({ remaining: 5 }, 1);
    expect(budget.tier(2)).toBe('reserve');
  });

  it('tells a request kept back when its kind may go: messages at once in the reserve, reads at the reset', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(20, 120_000), 0);
    expect(budget.retryAfterSeconds('message', 0)).toBe(1);
    expect(budget.retryAfterSeconds('own-read', 0)).toBe(120);
    expect(budget.retryAfterSeconds('shared-read', 30_500)).toBe(90);
  });

  it('has no priorities when each user has a budget of their own (the embedded server)', () => {
    const budget = createUpstreamBudget({ shared: false });
    budget.note(stock(0), 0, 429);
    expect(budget.tier(1)).toBe('plenty');
    expect(admitted(budget, 1)).toEqual(COSTS);
    expect(budget.share('10.0.0.1', 1)).toBeUndefined();
    expect(budget.edgeWindow(10_000, 2, 1)).toBe(10_000);
  });
});

describe('the edge’s window', () => {
  it('is the configured window while the budget is ample', () => {
    const budget = createUpstreamBudget();
    expect(budget.edgeWindow(10_000, 2, 0)).toBe(10_000);
    budget.note(stock(990), 0);
    expect(budget.edgeWindow(10_000, 2, 0)).toBe(10_000);
  });

  it('grows as the budget falls, so the edge’s reads fit in half of what is left above the reserve before the reset', () => {
    const windows = [400, 200, 99, 60, 51].map((remaining) => {
      const budget = createUpstreamBudget();
      budget.note(stock(remaining, 600_000), 0);
      return budget.edgeWindow(10_000, 2, 0);
    });
    // 10 minutes left, two kept answers: 99 left is 24.5 reads for the edge, one per 49 s for each.
    expect(windows).toEqual([10_000, 16_000, Math.ceil(600_000 / ((49 * 0.5) / 2)), Math.ceil(600_000 / 2.5), 600_000 * 4]);
    for (let i = 1; i < windows.length; i += 1) expect(windows[i]!).toBeGreaterThan(windows[i - 1]!);
  });

  it('is endless in the reserve and while nothing is left: the edge reads nothing of its own', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(50), 0);
    expect(budget.edgeWindow(10_000, 1, 0)).toBe(Number.POSITIVE_INFINITY);
    budget.note({ retryAt: 30_000 }, 0, 429);
    expect(budget.edgeWindow(10_000, 1, 29_000)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('each user’s share', () => {
  it('divides what is left among the users spending it, the asker included', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(900), 0);
    expect(budget.share('10.0.0.1', 0)).toEqual({ remaining: 900, limit: 1000, resetAt: WINDOW, windowMs: WINDOW });
    for (const client of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) budget.sawClient(client, 1_000);
    expect(budget.users(1_000)).toBe(3);
    expect(budget.share('10.0.0.1', 1_000)).toMatchObject({ remaining: 300, limit: 333 });
    // Someone new is counted before their first request went upstream.
    expect(budget.share('10.0.0.9', 1_000)).toMatchObject({ remaining: 225, limit: 250 });
  });

  it('forgets a user who spent nothing for two minutes', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(800), 0);
    budget.sawClient('10.0.0.1', 0);
    budget.sawClient('10.0.0.2', 60_000);
    budget.sawClient('10.0.0.1', 90_000);
    expect(budget.users(ACTIVE_USER_MS + 59_999)).toBe(2);
    expect(budget.users(ACTIVE_USER_MS + 60_000)).toBe(1);
    expect(budget.users(ACTIVE_USER_MS + 90_000)).toBe(0);
  });

  it('remembers at most MAX_TRACKED_USERS, the least recent forgotten first', () => {
    const budget = createUpstreamBudget();
    for (let i = 0; i <= MAX_TRACKED_USERS; i += 1) budget.sawClient(`user-${i}`, 1);
    expect(budget.users(1)).toBe(MAX_TRACKED_USERS);
    expect(budget.users(1, 'user-0')).toBe(MAX_TRACKED_USERS + 1);
  });

  it('is nothing while the budget is spent, until the Retry-After', () => {
    const budget = createUpstreamBudget();
    budget.note(stock(500), 0);
    budget.note({ retryAt: 20_000 }, 1_000, 429);
    expect(budget.share('10.0.0.1', 1_000)).toMatchObject({ remaining: 0, resetAt: 20_000 });
  });

  it('is unknown before any answer stated the budget', () => {
    expect(createUpstreamBudget().share('10.0.0.1', 0)).toBeUndefined();
  });
});
