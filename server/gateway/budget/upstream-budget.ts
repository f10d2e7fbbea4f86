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
 */
import type { BudgetTier } from '../../../src/shared/budget';
import type { RateLimitInfo } from '../../../src/shared/network';

/** Below this share of its limit, the budget is low: the edge stretches its own reads. */
export const LOW_BUDGET_FRACTION = 0.1;

/** The share of the limit kept for users' messages (at least MIN_RESERVE_REQUESTS). */
export const RESERVE_FRACTION = 0.05;

/** Requests always kept for users' messages, whatever the limit. */
export const MIN_RESERVE_REQUESTS = 5;

/** At most this share of what is left above the reserve is planned for the edge's own reads; users get the rest. */
export const EDGE_SHARE_OF_SPARE = 0.5;

/**
 * How long a budget stated without a reset time is believed: a server that never says
 * when its window resets must not keep the gateway on old answers for good.
 */
export const LOW_BUDGET_WITHOUT_RESET_MS = 60_000;

/** How long a 429 that states neither Retry-After nor a reset keeps everything back. */
export const EMPTY_WITHOUT_RESET_MS = 60_000;

/**
 * After a Retry-After ends, only messages go upstream for this long: every worker holds
 * its waiting messages until the same moment (the Retry-After it was told, in whole
 * seconds), so three seconds lets them all through before any poll or edge read.
 */
export const MESSAGES_FIRST_MS = 3_000;

/**
 * A user counts as spending the budget for this long after their last request upstream:
 * a chat open in any tab polls at least every 35 s (5 s × 7 in a background tab in
 * high-load mode), so two minutes sees every chatting user and forgets one who left.
 */
export const ACTIVE_USER_MS = 120_000;

/** The most users remembered at once (the oldest are forgotten first): a bound on memory. */
export const MAX_TRACKED_USERS = 10_000;

/** What a request costs the upstream: a user's message or new session, a read of their own (the chat), or a read everyone shares. */
export type UpstreamCost = 'message' | 'own-read' | 'shared-read';

export interface UpstreamBudgetOptions {
  /** Whether every user spends this one budget (the gateway is one client upstream); default true. */
  shared?: boolean;
}

/** The budget as /health shows it. */
export interface BudgetStats {
  tier: BudgetTier;
  limit?: number;
  remaining?: number;
  /** Epoch ms. */
  resetAt?: number;
  /** Epoch ms before which nothing goes upstream (a Retry-After or a 429). */
  blockedUntil?: number;
  /** Users spending it now (see ACTIVE_USER_MS). */
  users: number;
  /** Requests sent upstream and not yet answered. */
  inFlight: number;
  /** In a cluster sharing the estimate: the other instances' requests not yet answered, as last heard. */
  othersInFlight?: number;
}

/** What an instance of a cluster tells the others of the one budget (server/gateway/redis/shared-budget.ts). */
export interface BudgetNews {
  /** Requests sent upstream since the last news. */
  spent: number;
  /** The last standing an upstream answer stated since the last news (remaining less what was in flight), when any. */
  stated?: { remaining: number; limit?: number; windowMs?: number; resetAt?: number; at: number };
  /** Until when nothing goes upstream (a Retry-After or a 429), epoch ms; 0 when not held. */
  blockedUntil: number;
  /** Requests sent upstream and not yet answered, now. */
  inFlight: number;
}

/** The cluster's standing of the one budget, as every instance takes it. */
export interface BudgetStanding {
  remaining?: number;
  limit?: number;
  windowMs?: number;
  resetAt?: number;
  blockedUntil: number;
  /** The other instances' requests sent upstream and not yet answered, as they last reported them. */
  othersInFlight: number;
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

/** Requests kept for messages out of `limit` (MIN_RESERVE_REQUESTS without a limit). */
export function reserveOf(limit: number | undefined): number {
  return Math.max(MIN_RESERVE_REQUESTS, Math.ceil(RESERVE_FRACTION * (limit ?? 0)));
}

interface Estimate {
  limit?: number;
  windowMs?: number;
  remaining?: number;
  resetAt?: number;
  /** When a `remaining` stated without a reset time stops being believed. */
  believedUntil?: number;
}

export function createUpstreamBudget(options: UpstreamBudgetOptions = {}): UpstreamBudget {
  const shared = options.shared ?? true;
  let estimate: Estimate = {};
  let blockedUntil = 0;
  let messagesFirstUntil = 0;
  let inFlight = 0;
  /** In a cluster: the other instances' requests under way, as last heard (an answer's statement leaves them out too). */
  let othersInFlight = 0;
  let spentSinceNews = 0;
  let statedSinceNews: BudgetNews['stated'];
  /** Users by client, least recently seen first (a Map keeps insertion order; a user seen again is re-inserted). */
  const seen = new Map<string, number>();

  /** The estimate as it stands at `at` with nothing more spent: a window that ended is whole again. */
  function estimateAt(at: number): Estimate {
    const view = { ...estimate };
    if (view.resetAt !== undefined && at >= view.resetAt) {
      view.remaining = view.limit;
      // The next reset, when the window is known (express-rate-limit's windows follow one another).
      const windowMs = view.windowMs;
      view.resetAt = view.limit !== undefined && windowMs ? view.resetAt + (Math.floor((at - view.resetAt) / windowMs) + 1) * windowMs : undefined;
    }
    if (view.believedUntil !== undefined && at >= view.believedUntil) {
      delete view.remaining;
      delete view.believedUntil;
    }
    return view;
  }

  function tierAt(at: number): BudgetTier {
    if (!shared) return 'plenty';
    const { remaining, limit } = estimateAt(at);
    if (at < blockedUntil || remaining === 0) return 'empty';
    if ((remaining !== undefined && remaining <= reserveOf(limit)) || at < messagesFirstUntil) return 'reserve';
    if (remaining !== undefined && limit !== undefined && remaining < limit * LOW_BUDGET_FRACTION) return 'low';
    return 'plenty';
  }

  function admitsAt(cost: UpstreamCost, at: number): boolean {
    const tier = tierAt(at);
    if (tier === 'plenty' || tier === 'low') return true;
    return tier === 'reserve' && cost === 'message';
  }

  function activeUsers(now: number): number {
    for (const [client, at] of seen) {
      if (now - at < ACTIVE_USER_MS) break;
      seen.delete(client);
    }
    return seen.size;
  }

  function block(until: number): void {
    blockedUntil = Math.max(blockedUntil, until);
    messagesFirstUntil = blockedUntil + MESSAGES_FIRST_MS;
  }

  const budget: UpstreamBudget = {
    shared,
    note(info, now, status) {
      estimate = estimateAt(now);
      if (info.remaining !== undefined) {
        estimate = {
          ...estimate,
          remaining: Math.max(0, info.remaining - inFlight - othersInFlight),
          resetAt: info.resetAt !== undefined && info.resetAt > now ? info.resetAt : undefined,
        };
        if (info.limit !== undefined) estimate.limit = info.limit;
        if (info.windowMs !== undefined) estimate.windowMs = info.windowMs;
        estimate.believedUntil = estimate.resetAt === undefined ? now + LOW_BUDGET_WITHOUT_RESET_MS : undefined;
        statedSinceNews = {
          // The statement less this instance's requests under way; Redis takes the others' off.
          remaining: Math.max(0, info.remaining - inFlight),
          ...(estimate.limit === undefined ? {} : { limit: estimate.limit }),
          ...(estimate.windowMs === undefined ? {} : { windowMs: estimate.windowMs }),
          ...(estimate.resetAt === undefined ? {} : { resetAt: estimate.resetAt }),
          at: now,
        };
      }
      const retryAt = info.retryAt !== undefined && info.retryAt > now ? info.retryAt : undefined;
      if (status === 429) {
        // Spent until the server takes requests again: that moment is the reset that matters.
        const until = retryAt ?? (estimate.resetAt !== undefined && estimate.resetAt > now ? estimate.resetAt : now + EMPTY_WITHOUT_RESET_MS);
        estimate = { ...estimate, remaining: 0, resetAt: until, believedUntil: undefined };
        block(until);
      } else if (retryAt !== undefined) {
        block(retryAt);
      }
    },
    spend(now) {
      estimate = estimateAt(now);
      if (estimate.remaining !== undefined) estimate.remaining = Math.max(0, estimate.remaining - 1);
      inFlight += 1;
      spentSinceNews += 1;
      let isSettled = false;
      return () => {
        if (isSettled) return;
        isSettled = true;
        inFlight -= 1;
      };
    },
    last(now) {
      const { limit, windowMs, remaining, resetAt } = now === undefined ? estimate : estimateAt(now);
      const info: RateLimitInfo = {};
      if (limit !== undefined) info.limit = limit;
      if (remaining !== undefined) info.remaining = remaining;
      if (resetAt !== undefined) info.resetAt = resetAt;
      if (windowMs !== undefined) info.windowMs = windowMs;
      if (blockedUntil > (now ?? 0)) info.retryAt = blockedUntil;
      return info;
    },
    tier: tierAt,
    isLow: (now) => tierAt(now) !== 'plenty',
    admits: admitsAt,
    retryAfterSeconds(cost, now) {
      const view = estimateAt(now);
      // The moments the budget changes by itself; the first at which `cost` may go is the answer.
      const moments = [blockedUntil, messagesFirstUntil, view.resetAt, view.believedUntil]
        .filter((at): at is number => at !== undefined && at > now)
        .sort((a, b) => a - b);
      const at = admitsAt(cost, now) ? now : (moments.find((moment) => admitsAt(cost, moment)) ?? now + EMPTY_WITHOUT_RESET_MS);
      return Math.max(1, Math.ceil((at - now) / 1000));
    },
    edgeWindow(ttlMs, keys, now) {
      if (!shared) return ttlMs;
      const tier = tierAt(now);
      if (tier === 'reserve' || tier === 'empty') return Number.POSITIVE_INFINITY;
      const { remaining, limit, resetAt, believedUntil, windowMs } = estimateAt(now);
      if (remaining === undefined) return ttlMs;
      const until = resetAt ?? believedUntil ?? now + (windowMs ?? LOW_BUDGET_WITHOUT_RESET_MS);
      const reads = ((remaining - reserveOf(limit)) * EDGE_SHARE_OF_SPARE) / Math.max(1, keys);
      if (reads <= 0) return Number.POSITIVE_INFINITY;
      return Math.max(ttlMs, Math.ceil((until - now) / reads));
    },
    sawClient(client, now) {
      seen.delete(client);
      seen.set(client, now);
      if (seen.size > MAX_TRACKED_USERS) seen.delete(seen.keys().next().value as string);
    },
    users(now, client) {
      const count = activeUsers(now);
      return client === undefined || seen.has(client) ? count : count + 1;
    },
    share(client, now) {
      if (!shared) return undefined;
      const view = estimateAt(now);
      if (view.remaining === undefined) return undefined;
      const users = budget.users(now, client);
      const info: RateLimitInfo = { remaining: tierAt(now) === 'empty' ? 0 : Math.floor(view.remaining / users) };
      if (view.limit !== undefined) info.limit = Math.max(1, Math.floor(view.limit / users));
      if (view.windowMs !== undefined) info.windowMs = view.windowMs;
      const resetAt = now < blockedUntil ? blockedUntil : (view.resetAt ?? view.believedUntil);
      if (resetAt !== undefined) info.resetAt = resetAt;
      return info;
    },
    news() {
      const news: BudgetNews = { spent: spentSinceNews, blockedUntil, inFlight, ...(statedSinceNews ? { stated: statedSinceNews } : {}) };
      spentSinceNews = 0;
      statedSinceNews = undefined;
      return news;
    },
    adopt(standing, now) {
      othersInFlight = standing.othersInFlight;
      estimate = estimateAt(now);
      if (standing.remaining !== undefined) {
        estimate = { ...estimate, remaining: Math.max(0, standing.remaining - spentSinceNews) };
        if (standing.limit !== undefined) estimate.limit = standing.limit;
        if (standing.windowMs !== undefined) estimate.windowMs = standing.windowMs;
        estimate.resetAt = standing.resetAt !== undefined && standing.resetAt > now ? standing.resetAt : undefined;
        estimate.believedUntil = estimate.resetAt === undefined ? now + LOW_BUDGET_WITHOUT_RESET_MS : undefined;
      }
      if (standing.blockedUntil > blockedUntil && standing.blockedUntil > now) block(standing.blockedUntil);
    },
    stats(now) {
      const { limit, remaining, resetAt } = estimateAt(now);
      const stats: BudgetStats = { tier: tierAt(now), users: budget.users(now), inFlight };
      if (limit !== undefined) stats.limit = limit;
      if (remaining !== undefined) stats.remaining = remaining;
      if (resetAt !== undefined) stats.resetAt = resetAt;
      if (blockedUntil > now) stats.blockedUntil = blockedUntil;
      if (othersInFlight > 0) stats.othersInFlight = othersInFlight;
      return stats;
    },
  };
  return budget;
}
