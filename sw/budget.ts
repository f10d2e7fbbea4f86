/**
 * The rate-limit budget: what the server's RateLimit-* headers say is left, and the poll
 * intervals that make it last. The last headers are kept in memory (the truth) and saved
 * to IndexedDB on change (meta 'rateLimit', read once at worker start), so a poll never
 * waits on a storage read to learn its interval.
 */
import type { PollKind, RateLimitInfo } from '../src/shared/network';
import { BucketShare, stretchForBudget } from './rate-limit';
import { scheduleDefaults, type ScheduleOptions } from './schedule';

/** Requests each poll spends (memories: the agent list and the memories), for budget stretching. */
export const REQUESTS_PER_POLL: Readonly<Record<PollKind, number>> = { memories: 2, chat: 1 };

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
  #info: RateLimitInfo = {};

  constructor(options: BudgetOptions) {
    this.#options = options;
  }

  /** Takes the info an earlier worker saved. */
  restore(info: RateLimitInfo | undefined): void {
    if (info) this.#info = { ...info, ...this.#info };
  }

  /** The rate-limit info as last seen, with the estimated sharers. */
  info(): RateLimitInfo {
    return { ...this.#info };
  }

  /**
   * Takes one answer's rate-limit headers (read at `at`); returns them with the sharers
   * estimated so far, as the monitor shows them.
   */
  observe(headers: RateLimitInfo, at: number): RateLimitInfo {
    const sharers = this.#share.observe(headers, at);
    const seen = sharers === undefined ? headers : { ...headers, sharers };
    if (Object.keys(seen).length === 0) return seen;
    // An answer with `remaining` is one limiter's whole picture (the one that binds now):
    // it replaces the last, so figures of two limiters are never mixed.
    this.#info = seen.remaining === undefined ? { ...this.#info, ...seen } : { ...seen };
    this.#options.save?.(this.#info);
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
    // Restored from IndexedDB: a value out of range counts as this browser alone.
    const sharers = this.#info.sharers ?? 1;
    return {
      ...scheduleDefaults,
      baseMs: stretchForBudget(base, this.#info, this.#options.now(), { requestsPerPoll, sharers: Number.isFinite(sharers) && sharers >= 1 ? sharers : 1 }),
      random: this.#options.random,
    };
  }
}
