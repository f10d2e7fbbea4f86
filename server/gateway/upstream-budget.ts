/**
 * The upstream's budget as the gateway last saw it, from any answer ElizaOS sent
 * (RateLimit-* and Retry-After). Against a stock ElizaOS every user behind the gateway
 * spends this one budget (the gateway is one client to it), so the edge asks it before
 * spending a request on a refresh: when little is left, users' messages get the rest.
 */
import type { RateLimitInfo } from '../../src/shared/network';

/** Below this share of its limit, the budget counts as low (the edge then serves what it keeps). */
export const LOW_BUDGET_FRACTION = 0.1;

export interface UpstreamBudget {
  /** Records the budget stated by one upstream answer that arrived at `now` (nothing when it stated none). */
  note(info: RateLimitInfo, now: number): void;
  /** The budget as last seen (empty before any answer stated one). */
  last(): RateLimitInfo;
  /** True while the last seen budget is below LOW_BUDGET_FRACTION of its limit, or a Retry-After runs. */
  isLow(now: number): boolean;
}

/**
 * How long a low budget stated without a reset time is believed: a server that never says
 * when its window resets must not keep the edge on old answers for good.
 */
export const LOW_BUDGET_WITHOUT_RESET_MS = 60_000;

export function createUpstreamBudget(lowFraction = LOW_BUDGET_FRACTION): UpstreamBudget {
  let seen: RateLimitInfo = {};
  let seenAt = 0;
  return {
    note(info, now) {
      if (info.remaining === undefined && info.retryAt === undefined) return;
      seen = info;
      seenAt = now;
    },
    last: () => seen,
    isLow(now) {
      if (seen.retryAt !== undefined && seen.retryAt > now) return true;
      if (seen.remaining === undefined || seen.limit === undefined) return false;
      // Once the window has reset, the budget is whole again.
      if (seen.resetAt !== undefined ? seen.resetAt <= now : now - seenAt >= LOW_BUDGET_WITHOUT_RESET_MS) return false;
      return seen.remaining < seen.limit * lowFraction;
    },
  };
}
