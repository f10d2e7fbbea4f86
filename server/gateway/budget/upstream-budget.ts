/**
 * The upstream's budget, and how the gateway spends it. Against a stock ElizaOS (no
 * PURL_GATEWAY_SECRET) the gateway is one client, so every user spends this one budget:
 * 1000 requests per 15 minutes in ElizaOS 1.7, whoever sends them. The gateway spends it
 * by priority, so that its own traffic never causes an upstream 429 that every user would
 * feel, and users' messages get what is left.
 *
 * **The estimate.** Each answer states what is left (RateLimit-*); between answers, every
 * request sent upstream takes one off (`spend`), so the figure is current while many
 * requests are under way. An answer replaces the estimate with what it states, less the
 * requests still in flight (the server may not have counted them yet: erring low is the
 * safe side). A Retry-After, or a 429, means nothing is left until then; a 429 without
 * either means nothing for a minute. When the window resets the budget is whole again.
 *
 * **Tiers** (`tier`), from what is left of the limit:
 * - `plenty`: everything goes upstream; the edge reads at its window (GATEWAY_CACHE_TTL),
 *   or slower if its reads would take more than half of what is left above the reserve;
 * - `low` (under LOW_BUDGET_FRACTION, 10 %): the same rule now stretches the edge's
 *   window as the budget falls (`edgeWindow`): its reads are paced to fit in half of what
 *   is left above the reserve before the reset; meanwhile it serves what it keeps;
 * - `reserve` (at most max(MIN_RESERVE_REQUESTS, RESERVE_FRACTION of the limit): 50 of
 *   1000): only users' messages and new sessions (POSTs) go upstream; the gateway answers
 *   everything else itself, with kept answers or a 429 saying when to try again;
 *   also for MESSAGES_FIRST_MS after a Retry-After ends, so the messages that waited for
 *   it are the first requests the returning budget is spent on;
 * - `empty`: nothing goes upstream until the reset (or the Retry-After), and every answer
 *   says when.
 * So the gateway's own reads stop at the reserve, long before the budget is spent: they
 * never cause an upstream 429.
 *
 * **Each user's share** (`share`): what is left, divided among the users spending it now
 * (distinct client addresses whose requests went upstream, or were refused, in the last
 * ACTIVE_USER_MS; reads the edge answers spend nothing and do not count), stated to each
 * browser as the RateLimit member "share", which its worker obeys.
 *
 * In front of the embedded server (PURL_GATEWAY_SECRET set) every user has a budget of
 * their own, and an answer states only its own user's: `shared: false` then turns the
 * priorities off (always `plenty`, no share, the edge at its window).
 *
 * The estimate is data with pure functions over it (budget-estimate.ts), the users spending it
 * a Map (budget-users.ts); this factory only holds the two and hands each question on.
 */
import type { BudgetTier } from '../../../src/shared/budget';
import type { RateLimitInfo } from '../../../src/shared/network';
import {
  adopted,
  admitsOf,
  type BudgetNews,
  type BudgetStanding,
  type BudgetState,
  type BudgetStats,
  edgeWindowOf,
  initialBudget,
  lastOf,
  noted,
  retryAfterSecondsOf,
  settled,
  shareOf,
  spent,
  statsOf,
  tierOf,
  toldNews,
  type UpstreamCost,
} from './budget-estimate';
import { activeUsers, type RecentUsers, sawUser } from './budget-users';

export {
  EDGE_SHARE_OF_SPARE,
  EMPTY_WITHOUT_RESET_MS,
  LOW_BUDGET_FRACTION,
  LOW_BUDGET_WITHOUT_RESET_MS,
  MESSAGES_FIRST_MS,
  MIN_RESERVE_REQUESTS,
  RESERVE_FRACTION,
  reserveOf,
} from './budget-estimate';
export type { BudgetNews, BudgetStanding, BudgetStats, UpstreamCost } from './budget-estimate';
export { ACTIVE_USER_MS, MAX_TRACKED_USERS } from './budget-users';

export interface UpstreamBudgetOptions {
  /** Whether every user spends this one budget (the gateway is one client upstream); default true. */
  shared?: boolean;
}

export interface UpstreamBudget {
  /** Whether every user spends this one budget (the priorities are on). */
  readonly shared: boolean;
  /** Takes the budget an upstream answer with `status` states (RateLimit-*, Retry-After), which arrived at `now`. */
  note(info: RateLimitInfo, now: number, status?: number): void;
  /** One request goes upstream now; call what it returns once its answer (or failure) is in. */
  spend(now: number): () => void;
  /** The estimate: what is left now (at `now`, or as of the last change), the limit, window and reset, and any Retry-After. */
  last(now?: number): RateLimitInfo;
  tier(now: number): BudgetTier;
  /** True in every tier but `plenty`. */
  isLow(now: number): boolean;
  /** Whether a request of this cost may go upstream now. */
  admits(cost: UpstreamCost, now: number): boolean;
  /** Whole seconds (at least 1) until a request of this cost may go upstream, as a Retry-After says it. */
  retryAfterSeconds(cost: UpstreamCost, now: number): number;
  /**
   * How long the edge may keep answering from a kept answer before it reads it again, ms:
   * at least `ttlMs`; paced so that reading `keys` kept answers once per window spends at
   * most EDGE_SHARE_OF_SPARE of what is left above the reserve before the reset; Infinity
   * in `reserve` and `empty` (the edge reads nothing of its own then).
   */
  edgeWindow(ttlMs: number, keys: number, now: number): number;
  /** `client` sent (or asked to send) a request that costs the upstream: it counts as a user for ACTIVE_USER_MS. */
  sawClient(client: string, now: number): void;
  /** The users spending the budget now, `client` included. */
  users(now: number, client?: string): number;
  /** `client`'s share: what is left divided among the users (`client` included), with the share of the limit; undefined when unknown or not shared. */
  share(client: string, now: number): RateLimitInfo | undefined;
  stats(now: number): BudgetStats;
  /** What happened here since the last call: for the other instances of a cluster. */
  news(): BudgetNews;
  /** Takes the cluster's standing (what is left for all the instances, and until when they are held), less what was spent here since the last news. */
  adopt(standing: BudgetStanding, now: number): void;
}

export function createUpstreamBudget(options: UpstreamBudgetOptions = {}): UpstreamBudget {
  let state: BudgetState = initialBudget(options.shared ?? true);
  const seen: RecentUsers = new Map();
  return {
    shared: state.shared,
    note(info, now, status) {
      state = noted(state, info, now, status);
    },
    spend(now) {
      state = spent(state, now);
      let isSettled = false;
      return () => {
        if (isSettled) return;
        isSettled = true;
        state = settled(state);
      };
    },
    last: (now) => lastOf(state, now),
    tier: (now) => tierOf(state, now),
    isLow: (now) => tierOf(state, now) !== 'plenty',
    admits: (cost, now) => admitsOf(state, cost, now),
    retryAfterSeconds: (cost, now) => retryAfterSecondsOf(state, cost, now),
    edgeWindow: (ttlMs, keys, now) => edgeWindowOf(state, ttlMs, keys, now),
    sawClient: (client, now) => sawUser(seen, client, now),
    users: (now, client) => activeUsers(seen, now, client),
    share: (client, now) => (state.shared ? shareOf(state, activeUsers(seen, now, client), now) : undefined),
    stats: (now) => statsOf(state, activeUsers(seen, now), now),
    news() {
      const told = toldNews(state);
      state = told.state;
      return told.news;
    },
    adopt(standing, now) {
      state = adopted(state, standing, now);
    },
  };
}
