/**
 * Turns what is left of the server's budget into a poll interval, and estimates how many
 * clients spend the same bucket. The headers themselves are read by
 * src/shared/rate-limit.ts (the gateway reads them too).
 */
import type { RateLimitInfo } from '../src/shared/network';

/** Requests always kept back for the user's own actions (sending messages), at least. */
export const MIN_RESERVE_REQUESTS = 5;

/** The reserve's default share of the limit. */
export const DEFAULT_RESERVE_FRACTION = 0.2;

export interface StretchOptions {
  /**
   * Requests this browser spends per interval of this poll, default 1: the poll's own,
   * plus what its other polls spend meanwhile, so that all of them together fit.
   */
  requestsPerPoll?: number;
  /**
   * Clients spending the same bucket, this browser included (≥ 1, default 1): everyone
   * behind one NAT or proxy shares one budget, so each takes its share of what is left.
   * See {@link BucketShare}.
   */
  sharers?: number;
  /** Share of the limit kept back for the user's own actions, 0..1, default 0.2. */
  reserveFraction?: number;
}

/**
 * The poll interval to use so that the budget left lasts until the window resets.
 *
 * The rule, with `remaining` and `resetAt` from the last response:
 * - reserve = max(5, ⌈reserveFraction · limit⌉) requests (5 when the limit is unknown),
 *   kept back for what the user does (sending messages, opening a chat);
 * - polls left = ⌊(remaining − reserve) / (requestsPerPoll · sharers)⌋;
 * - time left = resetAt − now, at most one window when the window is known (a reset
 *   further away than a window is a bad header, and must not stall polling for longer);
 * - with at least one poll left: max(intervalMs, ⌈time left / polls left⌉);
 * - with none left (only the reserve remains): max(intervalMs, time left).
 *
 * It never returns less than `intervalMs`, and returns `intervalMs` itself when there is
 * no info, no `remaining` or no `resetAt`, or the reset is already past (the numbers
 * describe a window that is over). `retryAt` is not considered here: the caller obeys
 * it before any guess. `remaining` is shared by everyone behind the same IP, so this is
 * recomputed on every response: other browsers' spending shows up as `remaining` falls.
 *
 * @throws RangeError when `intervalMs` or an option is out of range.
 */
export function stretchForBudget(intervalMs: number, info: RateLimitInfo | undefined, now: number, options: StretchOptions = {}): number {
  const { requestsPerPoll = 1, reserveFraction = DEFAULT_RESERVE_FRACTION, sharers = 1 } = options;
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(`stretchForBudget: intervalMs is out of range: ${String(intervalMs)}`);
  }
  if (!Number.isFinite(requestsPerPoll) || requestsPerPoll <= 0) {
    throw new RangeError(`stretchForBudget: requestsPerPoll is out of range: ${String(requestsPerPoll)}`);
  }
  if (!Number.isFinite(sharers) || sharers < 1) {
    throw new RangeError(`stretchForBudget: sharers is out of range: ${String(sharers)}`);
  }
  if (!Number.isFinite(reserveFraction) || reserveFraction < 0 || reserveFraction > 1) {
    throw new RangeError(`stretchForBudget: reserveFraction is out of range: ${String(reserveFraction)}`);
  }
  if (info?.remaining === undefined || info.resetAt === undefined || info.resetAt <= now) return intervalMs;

  const reserve = Math.max(MIN_RESERVE_REQUESTS, info.limit === undefined ? 0 : Math.ceil(reserveFraction * info.limit));
  const timeLeft = Math.min(info.resetAt - now, info.windowMs ?? Number.POSITIVE_INFINITY);
  const pollsLeft = Math.floor((info.remaining - reserve) / (requestsPerPoll * sharers));
  if (pollsLeft < 1) return Math.max(intervalMs, timeLeft);
  return Math.max(intervalMs, Math.ceil(timeLeft / pollsLeft));
}

/** One answer's view of the bucket, and how many of this browser's answers came before it. */
interface BucketSample {
  at: number;
  remaining: number;
  ownAnswers: number;
}

export interface BucketShareOptions {
  /** How far back the estimate looks, ms (default 60 s). */
  spanMs?: number;
  /** This browser's answers needed in the span before it estimates (default 4). */
  minOwnAnswers?: number;
}

/** Which limiter an answer's figures describe: its quota and window, as far as the answer says. */
function bucketKey(info: RateLimitInfo): string {
  return `${info.limit ?? '?'}/${info.windowMs ?? '?'}`;
}

/**
 * Estimates how many clients spend the same rate-limit bucket as this browser: everyone
 * behind one NAT or proxy shares one. Over the last minute, `RateLimit-Remaining` fell
 * by what all of them sent, and this browser knows what it sent itself (each of its
 * answers that carried `remaining`); the ratio is the number of sharers, itself
 * included. A rise of `remaining` means the window reset: the samples before it are
 * dropped. Answers arriving out of order only add noise, and the result is never
 * below 1.
 *
 * Answers may describe different limiters (the gateway's per-minute limit on one, the
 * server's 15-minute budget on another: whichever binds, and an error the gateway made
 * itself carries no server budget at all), so samples are compared only with samples of
 * the same limiter (same quota and window): a jump from one limiter's figure to
 * another's is not traffic.
 */
export class BucketShare {
  readonly #spanMs: number;
  readonly #minOwnAnswers: number;
  readonly #samples = new Map<string, BucketSample[]>();
  #ownAnswers = 0;

  constructor(options: BucketShareOptions = {}) {
    this.#spanMs = options.spanMs ?? 60_000;
    this.#minOwnAnswers = options.minOwnAnswers ?? 4;
  }

  /**
   * Takes one answer's rate-limit info (answers without `remaining` are ignored) and
   * returns the sharers estimated so far, or undefined while there is too little to go on.
   */
  observe(info: RateLimitInfo, now: number): number | undefined {
    if (info.remaining === undefined) return undefined;
    this.#ownAnswers += 1;
    const key = bucketKey(info);
    let samples = this.#samples.get(key) ?? [];
    const last = samples.at(-1);
    // More left than before: a new window began, and older samples describe the last one.
    if (last && info.remaining > last.remaining) samples = [];
    samples.push({ at: now, remaining: info.remaining, ownAnswers: this.#ownAnswers });
    samples = samples.filter((sample) => sample.at >= now - this.#spanMs);
    this.#samples.set(key, samples);
    const first = samples[0]!;
    const newest = samples.at(-1)!;
    // This browser's answers in the span, whichever limiter they showed: each spent from every bucket it passed.
    const own = newest.ownAnswers - first.ownAnswers;
    if (own < this.#minOwnAnswers) return undefined;
    return Math.max(1, (first.remaining - newest.remaining) / own);
  }
}
