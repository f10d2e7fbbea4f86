/**
 * The estimate of the upstream's budget as plain data, and pure functions over it: no I/O,
 * no timers, time passed in as epoch ms (server/gateway/budget/upstream-budget.ts wires it
 * and says what the tiers, the reserve and the shares are for). Every change returns a new
 * `BudgetState`; every question reads one. The users spending it are kept apart
 * (budget-users.ts): a count goes in where a share needs it.
 *
 * What the estimate holds: what the last answer stated (less the requests then in flight),
 * less every request sent since; until when nothing goes upstream (a Retry-After or a 429)
 * and, after that, until when only messages do; the requests under way here and, in a
 * cluster, elsewhere; and what happened since the last news for the other instances.
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

/** What a request costs the upstream: a user's message or new session, a read of their own (the chat), or a read everyone shares. */
export type UpstreamCost = 'message' | 'own-read' | 'shared-read';

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

/** Requests kept for messages out of `limit` (MIN_RESERVE_REQUESTS without a limit). */
export function reserveOf(limit: number | undefined): number {
  return Math.max(MIN_RESERVE_REQUESTS, Math.ceil(RESERVE_FRACTION * (limit ?? 0)));
}

/** What the upstream's window is believed to hold. */
export interface Estimate {
  readonly limit?: number;
  readonly windowMs?: number;
  readonly remaining?: number;
  readonly resetAt?: number;
  /** When a `remaining` stated without a reset time stops being believed. */
  readonly believedUntil?: number;
}

/** The whole state of the budget as one gateway instance sees it: plain, serialisable data. */
export interface BudgetState {
  /** Whether every user spends this one budget (the priorities are on). */
  readonly shared: boolean;
  readonly estimate: Estimate;
  /** Epoch ms before which nothing goes upstream (a Retry-After or a 429); 0 when not held. */
  readonly blockedUntil: number;
  /** Epoch ms before which only messages go upstream (MESSAGES_FIRST_MS after a hold). */
  readonly messagesFirstUntil: number;
  /** Requests sent upstream from here and not yet answered. */
  readonly inFlight: number;
  /** In a cluster: the other instances' requests under way, as last heard (an answer's statement leaves them out too). */
  readonly othersInFlight: number;
  /** Requests sent since the last news. */
  readonly spentSinceNews: number;
  /** The last standing an answer stated since the last news. */
  readonly statedSinceNews?: BudgetNews['stated'];
}

/** A budget nothing is known of yet: everything goes upstream until an answer states one. */
export function initialBudget(shared = true): BudgetState {
  return { shared, estimate: {}, blockedUntil: 0, messagesFirstUntil: 0, inFlight: 0, othersInFlight: 0, spentSinceNews: 0 };
}

/** The estimate as it stands at `at` with nothing more spent: a window that ended is whole again. */
export function estimateAt(estimate: Estimate, at: number): Estimate {
  let view: Estimate = estimate;
  if (view.resetAt !== undefined && at >= view.resetAt) {
    // The next reset, when the window is known (express-rate-limit's windows follow one another).
    const { limit, windowMs, resetAt } = view;
    const nextReset = limit !== undefined && windowMs ? resetAt + (Math.floor((at - resetAt) / windowMs) + 1) * windowMs : undefined;
    view = withFields(view, { remaining: limit, resetAt: nextReset });
  }
  if (view.believedUntil !== undefined && at >= view.believedUntil) view = withFields(view, { remaining: undefined, believedUntil: undefined });
  return view;
}

/** `fields` without the ones that are undefined: the estimate and what is read of it never hold an undefined. */
function definedOnly<T extends object>(fields: T): T {
  const copy = { ...fields } as Record<string, unknown>;
  for (const key of Object.keys(copy)) if (copy[key] === undefined) delete copy[key];
  return copy as T;
}

/** `estimate` with `fields` set; a field set to undefined is left out. */
function withFields(estimate: Estimate, fields: Estimate): Estimate {
  return definedOnly({ ...estimate, ...fields });
}

/** The state held until `until`, and messages first for MESSAGES_FIRST_MS after it. */
function blocked(state: BudgetState, until: number): BudgetState {
  const blockedUntil = Math.max(state.blockedUntil, until);
  return { ...state, blockedUntil, messagesFirstUntil: blockedUntil + MESSAGES_FIRST_MS };
}

/** The state once `stated` (what an answer or the cluster says is left) replaces the estimate at `now`. */
function restated(estimate: Estimate, stated: { remaining: number; limit?: number; windowMs?: number; resetAt?: number }, now: number): Estimate {
  const resetAt = stated.resetAt !== undefined && stated.resetAt > now ? stated.resetAt : undefined;
  return withFields(estimate, {
    remaining: stated.remaining,
    resetAt,
    ...(stated.limit === undefined ? {} : { limit: stated.limit }),
    ...(stated.windowMs === undefined ? {} : { windowMs: stated.windowMs }),
    believedUntil: resetAt === undefined ? now + LOW_BUDGET_WITHOUT_RESET_MS : undefined,
  });
}

/** The state once an upstream answer with `status`, which arrived at `now`, stated `info` (RateLimit-*, Retry-After). */
export function noted(state: BudgetState, info: RateLimitInfo, now: number, status?: number): BudgetState {
  let next: BudgetState = { ...state, estimate: estimateAt(state.estimate, now) };
  if (info.remaining !== undefined) {
    const remaining = Math.max(0, info.remaining - state.inFlight - state.othersInFlight);
    const estimate = restated(next.estimate, { ...info, remaining }, now);
    const { limit, windowMs, resetAt } = estimate;
    // The statement less this instance's requests under way; Redis takes the others' off.
    const stated = { remaining: Math.max(0, info.remaining - state.inFlight), ...definedOnly({ limit, windowMs, resetAt }), at: now };
    next = { ...next, estimate, statedSinceNews: stated };
  }
  const retryAt = info.retryAt !== undefined && info.retryAt > now ? info.retryAt : undefined;
  if (status === 429) {
    // Spent until the server takes requests again: that moment is the reset that matters.
    const { resetAt } = next.estimate;
    const until = retryAt ?? (resetAt !== undefined && resetAt > now ? resetAt : now + EMPTY_WITHOUT_RESET_MS);
    return blocked({ ...next, estimate: withFields(next.estimate, { remaining: 0, resetAt: until, believedUntil: undefined }) }, until);
  }
  return retryAt === undefined ? next : blocked(next, retryAt);
}

/** The state once one request went upstream at `now`: one less left, one more under way. */
export function spent(state: BudgetState, now: number): BudgetState {
  const estimate = estimateAt(state.estimate, now);
  return {
    ...state,
    estimate: estimate.remaining === undefined ? estimate : { ...estimate, remaining: Math.max(0, estimate.remaining - 1) },
    inFlight: state.inFlight + 1,
    spentSinceNews: state.spentSinceNews + 1,
  };
}

/** The state once a request that went upstream was answered (or failed). */
export function settled(state: BudgetState): BudgetState {
  return { ...state, inFlight: state.inFlight - 1 };
}

/** What the estimate says now (at `now`, or as of the last change when undefined), with any Retry-After. */
export function lastOf(state: BudgetState, now?: number): RateLimitInfo {
  const { limit, windowMs, remaining, resetAt } = now === undefined ? state.estimate : estimateAt(state.estimate, now);
  const info: RateLimitInfo = definedOnly({ limit, remaining, resetAt, windowMs });
  if (state.blockedUntil > (now ?? 0)) info.retryAt = state.blockedUntil;
  return info;
}

/** The tier at `at` (see upstream-budget.ts): always `plenty` when the budget is not shared. */
export function tierOf(state: BudgetState, at: number): BudgetTier {
  if (!state.shared) return 'plenty';
  const { remaining, limit } = estimateAt(state.estimate, at);
  if (at < state.blockedUntil || remaining === 0) return 'empty';
  if ((remaining !== undefined && remaining <= reserveOf(limit)) || at < state.messagesFirstUntil) return 'reserve';
  if (remaining !== undefined && limit !== undefined && remaining < limit * LOW_BUDGET_FRACTION) return 'low';
  return 'plenty';
}

/** Whether a request of this cost may go upstream at `at`. */
export function admitsOf(state: BudgetState, cost: UpstreamCost, at: number): boolean {
  const tier = tierOf(state, at);
  if (tier === 'plenty' || tier === 'low') return true;
  return tier === 'reserve' && cost === 'message';
}

/** Whole seconds (at least 1) until a request of this cost may go upstream, as a Retry-After says it. */
export function retryAfterSecondsOf(state: BudgetState, cost: UpstreamCost, now: number): number {
  const view = estimateAt(state.estimate, now);
  // The moments the budget changes by itself; the first at which `cost` may go is the answer.
  const moments = [state.blockedUntil, state.messagesFirstUntil, view.resetAt, view.believedUntil]
    .filter((at): at is number => at !== undefined && at > now)
    .sort((a, b) => a - b);
  const at = admitsOf(state, cost, now) ? now : (moments.find((moment) => admitsOf(state, cost, moment)) ?? now + EMPTY_WITHOUT_RESET_MS);
  return Math.max(1, Math.ceil((at - now) / 1000));
}

/** How long the edge may keep answering from a kept answer, ms (UpstreamBudget.edgeWindow says the rule). */
export function edgeWindowOf(state: BudgetState, ttlMs: number, keys: number, now: number): number {
  if (!state.shared) return ttlMs;
  const tier = tierOf(state, now);
  if (tier === 'reserve' || tier === 'empty') return Number.POSITIVE_INFINITY;
  const { remaining, limit, resetAt, believedUntil, windowMs } = estimateAt(state.estimate, now);
  if (remaining === undefined) return ttlMs;
  const until = resetAt ?? believedUntil ?? now + (windowMs ?? LOW_BUDGET_WITHOUT_RESET_MS);
  const reads = ((remaining - reserveOf(limit)) * EDGE_SHARE_OF_SPARE) / Math.max(1, keys);
  if (reads <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(ttlMs, Math.ceil((until - now) / reads));
}

/** One user's share when `users` spend the budget: what is left and the limit, divided; undefined when unknown or not shared. */
export function shareOf(state: BudgetState, users: number, now: number): RateLimitInfo | undefined {
  if (!state.shared) return undefined;
  const view = estimateAt(state.estimate, now);
  if (view.remaining === undefined) return undefined;
  const info: RateLimitInfo = { remaining: tierOf(state, now) === 'empty' ? 0 : Math.floor(view.remaining / users) };
  if (view.limit !== undefined) info.limit = Math.max(1, Math.floor(view.limit / users));
  if (view.windowMs !== undefined) info.windowMs = view.windowMs;
  const resetAt = now < state.blockedUntil ? state.blockedUntil : (view.resetAt ?? view.believedUntil);
  if (resetAt !== undefined) info.resetAt = resetAt;
  return info;
}

/** What happened here since the last news, for the other instances, and the state with the news told. */
export function toldNews(state: BudgetState): { news: BudgetNews; state: BudgetState } {
  const { spentSinceNews: spent, blockedUntil, inFlight, statedSinceNews: stated } = state;
  const news: BudgetNews = { spent, blockedUntil, inFlight, ...(stated ? { stated } : {}) };
  return { news, state: { ...state, spentSinceNews: 0, statedSinceNews: undefined } };
}

/** The state once the cluster's standing is taken at `now`, less what was spent here since the last news. */
export function adopted(state: BudgetState, standing: BudgetStanding, now: number): BudgetState {
  let next: BudgetState = { ...state, othersInFlight: standing.othersInFlight, estimate: estimateAt(state.estimate, now) };
  if (standing.remaining !== undefined) {
    next = { ...next, estimate: restated(next.estimate, { ...standing, remaining: Math.max(0, standing.remaining - state.spentSinceNews) }, now) };
  }
  return standing.blockedUntil > state.blockedUntil && standing.blockedUntil > now ? blocked(next, standing.blockedUntil) : next;
}

/** The budget as /health shows it, with `users` spending it. */
export function statsOf(state: BudgetState, users: number, now: number): BudgetStats {
  const { limit, remaining, resetAt } = estimateAt(state.estimate, now);
  const stats: BudgetStats = { tier: tierOf(state, now), users, inFlight: state.inFlight, ...definedOnly({ limit, remaining, resetAt }) };
  if (state.blockedUntil > now) stats.blockedUntil = state.blockedUntil;
  if (state.othersInFlight > 0) stats.othersInFlight = state.othersInFlight;
  return stats;
}
