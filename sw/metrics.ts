/**
 * The figures behind the rate-limit monitor. Counting is in memory and cheap; a
 * snapshot is published (written to IndexedDB and broadcast) at most once a second,
 * so a burst of requests costs one write, not one per request.
 */
import type { BreakerView, FailureKind, MetricsSnapshot, MinuteBucket, PollKind, PushView, RateLimitInfo, UpstreamFigures } from '../src/shared/network';

const MINUTE = 60_000;
const HISTORY_MINUTES = 15;

export interface MetricsOptions {
  now: () => number;
  /** Writes and broadcasts a snapshot. */
  publish: (snapshot: MetricsSnapshot) => Promise<void>;
  /** Least time between two publications, ms. */
  minGapMs?: number;
  setTimer?: (callback: () => void, ms: number) => unknown;
}

export class Metrics {
  readonly #options: MetricsOptions;
  readonly #sentAt: number[] = [];
  #history: MinuteBucket[];
  #pending = 0;
  #inFlight = 0;
  #consecutiveErrors = 0;
  #lastFailure: FailureKind | undefined;
  #breaker: BreakerView = { state: 'closed', failures: 0 };
  #hits: number;
  #misses: number;
  #intervals: Partial<Record<PollKind, number | null>> = {};
  #rateLimit: RateLimitInfo = {};
  #upstream: UpstreamFigures = {};
  #push: PushView | undefined;
  #rateLimited: number;
  #highLoad = false;
  #baseIntervals: Record<PollKind, number> = { memories: 0, chat: 0 };
  #maxConcurrent = 0;
  #lastPublishedAt = -Infinity;
  #scheduled = false;
  #publishing: Promise<void> = Promise.resolve();

  constructor(options: MetricsOptions) {
    this.#options = options;
    this.#history = [];
    this.#hits = 0;
    this.#misses = 0;
    this.#rateLimited = 0;
  }

  /** Picks up counters and history from an earlier worker's snapshot, so they survive restarts. */
  restore(snapshot: MetricsSnapshot): void {
    this.#history = snapshot.history.map((bucket) => ({ ...bucket }));
    this.#hits += snapshot.cacheHits;
    this.#misses += snapshot.cacheMisses;
    this.#rateLimited += snapshot.rateLimited;
    this.#rateLimit = { ...snapshot.rateLimit, ...this.#rateLimit };
    this.#upstream = { ...snapshot.upstream, ...this.#upstream };
    this.#push ??= snapshot.push && { ...snapshot.push };
  }

  /** The push stream's state (sw/push.ts). */
  push(view: PushView): void {
    this.#push = { ...view };
    this.changed();
  }

  #bucket(at: number): MinuteBucket {
    const minute = at - (at % MINUTE);
    let last = this.#history.at(-1);
    if (!last || last.minute !== minute) {
      last = { minute, requests: 0, rateLimited: 0 };
      this.#history.push(last);
    }
    this.#history = this.#history.filter((bucket) => bucket.minute > minute - HISTORY_MINUTES * MINUTE);
    return last;
  }

  sent(): void {
    const at = this.#options.now();
    this.#sentAt.push(at);
    this.#bucket(at).requests += 1;
    this.changed();
  }

  /** An answer: its binding limit, and the upstream's figures it states (each kept until a newer answer states it again). */
  answered(status: number, rateLimit: RateLimitInfo, upstream: UpstreamFigures = {}): void {
    if (Object.keys(rateLimit).length > 0) this.#rateLimit = { ...this.#rateLimit, ...rateLimit };
    this.#upstream = { ...this.#upstream, ...upstream };
    if (status === 429) {
      this.#rateLimited += 1;
      this.#bucket(this.#options.now()).rateLimited += 1;
    }
    this.#consecutiveErrors = status === 429 || status >= 500 ? this.#consecutiveErrors + 1 : 0;
    this.#lastFailure = status === 429 ? 'rate-limited' : status >= 500 ? 'server-error' : undefined;
    this.changed();
  }

  failed(): void {
    this.#consecutiveErrors += 1;
    this.#lastFailure = 'no-answer';
    this.changed();
  }

  /** The server answered with something Purl refused (an HTML page, the wrong shape): a failure like no answer. */
  badAnswer(): void {
    this.#consecutiveErrors += 1;
    this.#lastFailure = 'bad-answer';
    this.changed();
  }

  /** A read of the freshness cache: a hit is one answered without any request (a revalidation is a miss). */
  cacheLookup(hit: boolean): void {
    if (hit) this.#hits += 1;
    else this.#misses += 1;
    this.changed();
  }

  queue(stats: { pending: number; inFlight: number }): void {
    this.#pending = stats.pending;
    this.#inFlight = stats.inFlight;
    this.changed();
  }

  breaker(view: BreakerView): void {
    this.#breaker = view;
    this.changed();
  }

  pollInterval(kind: PollKind, ms: number): void {
    this.#intervals = { ...this.#intervals, [kind]: Number.isFinite(ms) ? ms : null };
    this.changed();
  }

  /** The mode in force and each poll's configured interval in it. */
  mode(highLoad: boolean, baseIntervals: Record<PollKind, number>, maxConcurrent: number): void {
    this.#highLoad = highLoad;
    this.#maxConcurrent = maxConcurrent;
    this.#baseIntervals = { ...baseIntervals };
    this.changed();
  }

  snapshot(): MetricsSnapshot {
    const at = this.#options.now();
    while (this.#sentAt.length > 0 && this.#sentAt[0]! <= at - MINUTE) this.#sentAt.shift();
    this.#bucket(at);
    const lookups = this.#hits + this.#misses;
    const snapshot: MetricsSnapshot = {
      at,
      pending: this.#pending,
      inFlight: this.#inFlight,
      maxConcurrent: this.#maxConcurrent,
      consecutiveErrors: this.#consecutiveErrors,
      breaker: this.#breaker,
      cacheHits: this.#hits,
      cacheMisses: this.#misses,
      baseIntervals: { ...this.#baseIntervals },
      pollIntervals: this.#intervals,
      rateLimit: this.#rateLimit,
      rateLimited: this.#rateLimited,
      ...(Object.keys(this.#upstream).length > 0 ? { upstream: { ...this.#upstream } } : {}),
      ...(this.#push ? { push: { ...this.#push } } : {}),
      requestsPerMinute: this.#sentAt.length,
      history: this.#history.map((bucket) => ({ ...bucket })),
      highLoad: this.#highLoad,
    };
    if (lookups > 0) snapshot.cacheHitRate = this.#hits / lookups;
    if (this.#lastFailure) snapshot.lastFailure = this.#lastFailure;
    return snapshot;
  }

  /** Something changed: publish now, or once the minimum gap has passed (merging changes). */
  changed(): void {
    if (this.#scheduled) return;
    const gap = this.#options.minGapMs ?? 1_000;
    const wait = Math.max(0, this.#lastPublishedAt + gap - this.#options.now());
    this.#scheduled = true;
    (this.#options.setTimer ?? setTimeout)(() => {
      this.#scheduled = false;
      this.#lastPublishedAt = this.#options.now();
      this.#publishing = this.#publishing
        .then(() => this.#options.publish(this.snapshot()))
        .catch((error: unknown) => {
          // The monitor missing one update is harmless; the next change publishes again.
          console.warn('Purl: could not publish metrics', error);
        });
    }, wait);
  }

  /** Resolves once everything scheduled so far has been published (for waitUntil). */
  async flushed(): Promise<void> {
    await this.#publishing;
  }
}
