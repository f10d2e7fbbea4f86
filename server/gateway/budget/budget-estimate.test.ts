import { describe, expect, it } from 'vitest';
import {
  adopted,
  admitsOf,
  type BudgetState,
  edgeWindowOf,
  estimateAt,
  initialBudget,
  lastOf,
  MESSAGES_FIRST_MS,
  noted,
  retryAfterSecondsOf,
  settled,
  shareOf,
  spent,
  statsOf,
  tierOf,
  toldNews,
} from './budget-estimate';

const WINDOW = 900_000;
/** What a stock ElizaOS states at 1000 per 15 minutes, resetting at `resetAt`. */
const stock = (remaining: number, resetAt = WINDOW) => ({ limit: 1000, remaining, resetAt, windowMs: WINDOW });

describe('the budget estimate as data', () => {
  it('knows nothing at first, and lets everything go', () => {
    const state = initialBudget();
    expect(lastOf(state, 0)).toEqual({});
    expect(tierOf(state, 0)).toBe('plenty');
    expect(admitsOf(state, 'shared-read', 0)).toBe(true);
  });

  it('never changes the state it is given: each step returns a new one', () => {
    const before = noted(initialBudget(), stock(500), 0);
    const frozen = JSON.stringify(before);
    spent(before, 1);
    noted(before, {}, 2, 429);
    adopted(before, { remaining: 10, blockedUntil: 0, othersInFlight: 3 }, 3);
    toldNews(before);
    expect(JSON.stringify(before)).toBe(frozen);
  });

  it('answers the same after a JSON round trip', () => {
    let state = noted(initialBudget(), stock(60), 0);
    state = spent(state, 10);
    state = noted(state, { retryAt: 20_000 }, 10);
    const restored = JSON.parse(JSON.stringify(state)) as BudgetState;
    for (const at of [0, 15_000, 20_000, 20_000 + MESSAGES_FIRST_MS, WINDOW + 1]) {
      expect(tierOf(restored, at)).toBe(tierOf(state, at));
      expect(lastOf(restored, at)).toEqual(lastOf(state, at));
      expect(retryAfterSecondsOf(restored, 'shared-read', at)).toBe(retryAfterSecondsOf(state, 'shared-read', at));
    }
  });

  it('takes one off for each request sent and counts it under way until it is settled', () => {
    let state = noted(initialBudget(), stock(500), 0);
    state = spent(spent(state, 1), 2);
    expect(lastOf(state, 3).remaining).toBe(498);
    expect(statsOf(state, 0, 3).inFlight).toBe(2);
    state = settled(state);
    expect(statsOf(state, 0, 3).inFlight).toBe(1);
    // An answer that arrives now says 497: the one still under way is taken off too.
    expect(lastOf(noted(state, stock(497), 4), 4).remaining).toBe(496);
  });

  it('is whole again once its window ends, and knows the next reset from the window', () => {
    const state = spent(noted(initialBudget(), stock(3), 0), 1);
    expect(estimateAt(state.estimate, WINDOW + 5)).toEqual({ limit: 1000, remaining: 1000, resetAt: 2 * WINDOW, windowMs: WINDOW });
    expect(estimateAt(state.estimate, 3 * WINDOW)).toMatchObject({ remaining: 1000, resetAt: 4 * WINDOW });
  });

  it('holds everything back after a 429 until its Retry-After, then lets messages go first', () => {
    const state = noted(noted(initialBudget(), stock(500), 0), { retryAt: 30_000 }, 1_000, 429);
    expect(tierOf(state, 29_999)).toBe('empty');
    expect(retryAfterSecondsOf(state, 'message', 1_000)).toBe(29);
    expect(tierOf(state, 30_000)).toBe('reserve');
    expect(admitsOf(state, 'message', 30_000)).toBe(true);
    expect(admitsOf(state, 'shared-read', 30_000)).toBe(false);
    expect(retryAfterSecondsOf(state, 'shared-read', 1_000)).toBe(29 + MESSAGES_FIRST_MS / 1000);
  });

  it('paces the edge to spend half of what is left above the reserve before the reset, and stops it in the reserve', () => {
    // 1000 per window keeps 50: 90 left is low, and 20 reads of one key fit in the 900 s left.
    const low = noted(initialBudget(), stock(90), 0);
    expect(tierOf(low, 0)).toBe('low');
    expect(edgeWindowOf(low, 1_000, 1, 0)).toBe(45_000);
    expect(edgeWindowOf(low, 1_000, 2, 0)).toBe(90_000);
    // Never shorter than the edge's own window.
    expect(edgeWindowOf(noted(initialBudget(), stock(900), 0), 5_000, 1, 0)).toBe(5_000);
    const reserve = noted(initialBudget(), stock(50), 0);
    expect(tierOf(reserve, 0)).toBe('reserve');
    expect(edgeWindowOf(reserve, 1_000, 1, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('divides what is left among the users for a share, and gives none when not shared', () => {
    const state = noted(initialBudget(), stock(600), 0);
    expect(shareOf(state, 3, 0)).toEqual({ remaining: 200, limit: 333, windowMs: WINDOW, resetAt: WINDOW });
    expect(shareOf(noted(initialBudget(false), stock(600), 0), 3, 0)).toBeUndefined();
    expect(tierOf(noted(initialBudget(false), stock(0), 0), 0)).toBe('plenty');
  });

  it('tells its news once: what was spent and stated since, then nothing until more happens', () => {
    let state = spent(noted(initialBudget(), stock(500), 10), 11);
    const first = toldNews(state);
    expect(first.news).toEqual({ spent: 1, blockedUntil: 0, inFlight: 1, stated: { remaining: 500, limit: 1000, windowMs: WINDOW, resetAt: WINDOW, at: 10 } });
    state = first.state;
    expect(toldNews(state).news).toEqual({ spent: 0, blockedUntil: 0, inFlight: 1 });
  });

  it('round-trips through a cluster: an instance that adopts another one’s news holds the same estimate', () => {
    const told = toldNews(noted(initialBudget(), stock(400), 0)).news;
    const stated = told.stated;
    expect(stated).toBeDefined();
    const other = adopted(initialBudget(), { ...stated, blockedUntil: told.blockedUntil, othersInFlight: told.inFlight }, 0);
    expect(lastOf(other, 0)).toEqual(lastOf(noted(initialBudget(), stock(400), 0), 0));
  });

  it('adopts the cluster’s standing less what it spent since its last news, and a later hold', () => {
    let state = spent(spent(noted(initialBudget(), stock(500), 0), 1), 2);
    state = adopted(state, { remaining: 300, limit: 1000, windowMs: WINDOW, resetAt: WINDOW, blockedUntil: 50_000, othersInFlight: 4 }, 3);
    expect(lastOf(state, 3)).toEqual({ limit: 1000, remaining: 298, resetAt: WINDOW, windowMs: WINDOW, retryAt: 50_000 });
    expect(statsOf(state, 2, 3)).toMatchObject({ tier: 'empty', users: 2, othersInFlight: 4, blockedUntil: 50_000 });
  });

  it('stops believing a budget stated without a reset after a minute', () => {
    const state = noted(initialBudget(), { limit: 1000, remaining: 20 }, 0);
    expect(tierOf(state, 59_999)).toBe('reserve');
    expect(tierOf(state, 60_000)).toBe('plenty');
    expect(lastOf(state, 60_000)).toEqual({ limit: 1000 });
  });
});
