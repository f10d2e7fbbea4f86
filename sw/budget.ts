/**
 * The rate-limit budget: what the server's RateLimit-* headers say is left, and the poll
 * intervals that make it last. The last headers are kept in memory (the truth) and saved
 * to IndexedDB on change (meta 'rateLimit', read once at worker start), so a poll never
 * waits on a storage read to learn its interval.
 *
 * Each poll is paced by the answers to its own requests: the memories poll by the agent
 * list and memories reads, the chat poll by the chat's (and the messages'). Behind a
 * gateway whose edge answers the shared reads, the two spend different limits: the
 * user's share of the upstream budget binds the chat, and must not hold back reads that
 * cost the upstream nothing (sw/guard.ts leaves it out of those answers). Without an edge
 * both pictures show the same limits, as one picture did. Only the chat's picture is
 * saved: it is the one that spends the upstream, and a restored share must not stretch
 * the memories poll of a worker that restarts while the budget is low.
 */
import { budgetTierOf, SHARE_POLICY, UPSTREAM_POLICY } from '../src/shared/budget';
import type { PollKind, RateLimitInfo, UpstreamFigures } from '../src/shared/network';
import { readRateLimitMember } from '../src/shared/rate-limit';
import { BucketShare, stretchForBudget } from './rate-limit';
import { scheduleDefaults, type ScheduleOptions } from './schedule';

/** Requests each poll spends (memories: the agent list and the memories), for budget stretching. */
export const REQUESTS_PER_POLL: Readonly<Record<PollKind, number>> = { memories: 2, chat: 1 };

/** The server's budget, this user's share and the gateway's tier, as far as one answer states them (for the monitor). */
export function readUpstreamFigures(headers: Headers, now: number): UpstreamFigures {
  const figures: UpstreamFigures = {};
  const server = readRateLimitMember(headers, UPSTREAM_POLICY, now);
  const share = readRateLimitMember(headers, SHARE_POLICY, now);
  const tier = budgetTierOf(headers);
  if (server) figures.server = server;
  if (share) figures.share = share;
  if (tier) figures.tier = tier;
  return figures;
}

export interface BudgetOptions {
  now: () => number;
  random: () => number;
  /** Each poll's configured interval for the mode in force, ms (read at each use). */
  baseIntervals: () => Record<PollKind, number>;
  /** Saves the merged rate-limit info (called on every change). */
  save?: (info: RateLimitInfo) => void;
}

export class Budget {
  readonly #options: BudgetOptions;
  /** How many clients spend this browser's rate-limit bucket (everyone behind one NAT shares one). */
  readonly #share = new BucketShare();
  /** The last picture from the answers to each poll's requests. */
  readonly #info: Record<PollKind, RateLimitInfo> = { memories: {}, chat: {} };

  constructor(options: BudgetOptions) {
    this.#options = options;
  }

  /** Takes the chat's picture an earlier worker saved. */
  restore(info: RateLimitInfo | undefined): void {
    if (info) this.#info.chat = { ...info, ...this.#info.chat };
  }

  /** The rate-limit info as last seen on the answers to `kind`'s requests, with the estimated sharers. */
  info(kind: PollKind = 'chat'): RateLimitInfo {
    return { ...this.#info[kind] };
  }

  /**
   * Takes the rate-limit headers of one answer to a request of `kind`'s (read at `at`);
   * returns them with the sharers estimated so far, as the monitor shows them.
   */
  observe(headers: RateLimitInfo, at: number, kind: PollKind = 'chat'): RateLimitInfo {
    const sharers = this.#share.observe(headers, at);
    const seen = sharers === undefined ? headers : { ...headers, sharers };
    if (Object.keys(seen).length === 0) return seen;
    // An answer with `remaining` is one limiter's whole picture (the one that binds now):
    // it replaces the last, so figures of two limiters are never mixed.
    this.#info[kind] = seen.remaining === undefined ? { ...this.#info[kind], ...seen } : { ...seen };
    if (kind === 'chat') this.#options.save?.(this.#info.chat);
    return seen;
  }

  /**
   * A poll's options, its base interval stretched when the budget runs low. What this
   * browser spends per interval of `kind` counts every poll (a memories interval holds
   * twelve chat polls), so all polls together fit the share of the budget left to it.
   */
  scheduleOptions(kind: PollKind): ScheduleOptions {
    const bases = this.#options.baseIntervals();
    const base = bases[kind];
    const kinds = Object.keys(REQUESTS_PER_POLL) as PollKind[];
    const requestsPerPoll = kinds.reduce((sum, other) => sum + (REQUESTS_PER_POLL[other] * base) / bases[other], 0);
    const info = this.#info[kind];
    // Restored from IndexedDB: a value out of range counts as this browser alone.
    const sharers = info.sharers ?? 1;
    return {
      ...scheduleDefaults,
      baseMs: stretchForBudget(base, info, this.#options.now(), { requestsPerPoll, sharers: Number.isFinite(sharers) && sharers >= 1 ? sharers : 1 }),
      random: this.#options.random,
    };
  }
}
