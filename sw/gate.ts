/**
 * The gate: the one answer to "may a request to the agent's API leave now?", and the
 * state behind it. It holds the server's Retry-After and the circuit breaker in memory
 * (the truth) and saves each change to IndexedDB (its copy, read once at worker start).
 * The guard (sw/guard.ts) asks it before every request and tells it how each went; the
 * wake loop asks it when anything may next leave; the health watch tells it what the
 * gateway's /health says.
 *
 * A 429 holds everything until its Retry-After, except one the gateway made while it
 * spends a budget every user shares (it says its tier in X-Purl-Budget;
 * server/gateway/budget/upstream-budget.ts): that is the gateway answering by design, not a
 * failing server, and it holds only what the gateway keeps back (the classes of
 * src/shared/budget.ts). In `empty`, messages and the chat wait for its Retry-After, but
 * reads the gateway's edge answers from what it keeps still go: users keep reading. In
 * `reserve` only the chat waits: messages still go.
 */
import type { BudgetTier, RequestClass } from '../src/shared/budget';
import type { BreakerView, RateLimitInfo } from '../src/shared/network';
import { PurlError } from '../src/shared/errors';
import { exponentialBackoff } from './backoff';
import { CircuitBreaker, type CircuitBreakerOptions } from './breaker';

/** Where the gate keeps its copy: meta keys 'retryAt' and 'breaker'. */
export interface GateStore {
  load(): Promise<{ retryAt?: number; breaker?: CircuitBreaker }>;
  saveRetryAt(at: number): void;
}

export interface GateOptions {
  now: () => number;
  random?: () => number;
}

/** Without Retry-After, how long to hold off after consecutive 429s: 1 s, 2 s, 4 s … up to 30 min, jittered. */
function backoffAfter429(streak: number, random: () => number): number {
  return exponentialBackoff({ initialMs: 1_000, maxMs: 30 * 60_000, attempt: Math.max(0, streak - 1), random }).delay;
}

/** A failure for the breaker: the server is struggling, not the request being wrong. */
export function isServerFailure(status: number): boolean {
  return status === 429 || status >= 500;
}

export class Gate {
  readonly #now: () => number;
  readonly #random: () => number;
  #breaker: CircuitBreaker;
  #retryAt = 0;
  /**
   * Epoch ms before which the gateway keeps back what costs the upstream: messages and the
   * user's own reads (tier `empty`), or only those reads (`reserve`). Kept in memory only:
   * after a worker restart the gateway says it again on the first such request, at no cost
   * upstream.
   */
  readonly #budgetHolds: Gate['budgetHolds'] = { message: 0, 'own-read': 0 };

  /** Until when the gateway keeps back each class that costs the upstream (epoch ms; 0: not held). */
  get budgetHolds(): Record<Exclude<RequestClass, 'shared-read'>, number> {
    return { ...this.#budgetHolds };
  }
  #streak429 = 0;
  /** Epoch ms of the last request that failed, while failures run in a row (undefined after a success). */
  #failedAt: number | undefined;
  #saveRetryAt: (at: number) => void = () => undefined;
  readonly #recovered = new Set<() => void>();

  /** A gate with a closed breaker and no Retry-After, until `restore` gives it the saved state. */
  constructor(options: GateOptions, breakerOptions: CircuitBreakerOptions) {
    this.#now = options.now;
    this.#random = options.random ?? Math.random;
    this.#breaker = new CircuitBreaker(breakerOptions);
    this.#watch();
  }

  /** Takes the state an earlier worker saved; later changes of Retry-After are saved through `store`. */
  async restore(store: GateStore): Promise<void> {
    const saved = await store.load();
    if (saved.breaker) this.#breaker = saved.breaker;
    this.#retryAt = saved.retryAt ?? 0;
    this.#saveRetryAt = store.saveRetryAt;
    const view = this.#breaker.view(this.#now());
    // A breaker saved open says the server was failing then; when exactly is its openedAt.
    if (view.state !== 'closed') this.#failedAt = view.openedAt;
    else if (view.failures > 0) this.#failedAt = Number.NEGATIVE_INFINITY;
    this.#watch();
  }

  /** Epoch ms before which the server asked for no request (Retry-After, or the backoff after 429s). */
  get retryAt(): number {
    return Math.max(this.#retryAt, this.#budgetHolds.message, this.#budgetHolds['own-read']);
  }

  get breaker(): CircuitBreaker {
    return this.#breaker;
  }

  /** Hears when the breaker closes after being open (its probe got an answer). @returns a disposer. */
  onRecovered(listener: () => void): () => void {
    this.#recovered.add(listener);
    return () => this.#recovered.delete(listener);
  }

  /** Until when a request of this class is held by a Retry-After. */
  #heldUntil(requestClass: RequestClass): number {
    return requestClass === 'shared-read' ? this.#retryAt : Math.max(this.#retryAt, this.#budgetHolds[requestClass]);
  }

  /**
   * Lets one request of this class leave now (src/shared/budget.ts `classOf`), or throws
   * why not: PurlError 'rate-limited' while a Retry-After holding it runs, 'breaker-open'
   * while the breaker is open.
   */
  admit(requestClass: RequestClass = 'own-read'): void {
    const now = this.#now();
    const heldUntil = this.#heldUntil(requestClass);
    if (now < heldUntil) throw new PurlError('rate-limited', `until ${new Date(heldUntil).toISOString()}`);
    const decision = this.#breaker.request(now);
    if (!decision.allowed) throw new PurlError('breaker-open', `next probe at ${new Date(decision.retryAt).toISOString()}`);
  }

  /**
   * Epoch ms before which no request of this class can leave (without one: no request at
   * all): a Retry-After, or the breaker's next probe.
   */
  notBefore(requestClass: RequestClass = 'own-read'): number {
    return Math.max(this.#heldUntil(requestClass), this.#breaker.allowsAt(this.#now()));
  }

  /** Epoch ms of the last failed request while requests keep failing; undefined while they succeed. */
  failingSince(): number | undefined {
    return this.#failedAt;
  }

  /**
   * The server answered a request at `at` with `status` (its rate-limit headers read into
   * `rateLimit`; `tier`: the gateway's X-Purl-Budget, when it spends a shared budget).
   */
  answered(status: number, rateLimit: RateLimitInfo, at: number, tier?: BudgetTier): void {
    if (status === 429 && (tier === 'empty' || tier === 'reserve')) {
      // The gateway keeping a shared budget, by design: no failure, and a hold on what it keeps back only.
      this.#streak429 = 0;
      const until = rateLimit.retryAt ?? at + backoffAfter429(1, this.#random);
      const held: (keyof Gate['budgetHolds'])[] = tier === 'empty' ? ['message', 'own-read'] : ['own-read'];
      for (const requestClass of held) this.#budgetHolds[requestClass] = Math.max(this.#budgetHolds[requestClass], until);
      this.#succeeded(at);
      return;
    }
    this.#noteRetryAfter(status, rateLimit, at);
    if (isServerFailure(status)) this.#failed(at);
    else this.#succeeded(at);
  }

  /**
   * An answer came that cannot be used (an HTML page, the wrong shape: sw/answer-check.ts):
   * whatever its status, it is a failure, as a captive portal or a misrouted proxy is.
   */
  refused(status: number, rateLimit: RateLimitInfo, at: number): void {
    this.#noteRetryAfter(status, rateLimit, at);
    this.#failed(at);
  }

  #noteRetryAfter(status: number, rateLimit: RateLimitInfo, at: number): void {
    if (status === 429) {
      this.#streak429 += 1;
      this.#setRetryAt(rateLimit.retryAt ?? at + backoffAfter429(this.#streak429, this.#random));
    } else {
      this.#streak429 = 0;
    }
  }

  /**
   * A request got no answer at `at` (network error, timeout). While the device is offline
   * it says nothing about the server: a few seconds offline must not leave the server
   * alone for minutes once the network is back.
   */
  unanswered(at: number, isOnline: boolean): void {
    if (isOnline) this.#failed(at);
  }

  /**
   * The gateway's health check says the server is down while requests fail: nothing more
   * goes to the API until it says the server is back or the breaker's timeout ends (the
   * probe then still goes, so a broken health check cannot hold requests for good).
   */
  serverDown(at: number): void {
    if (this.#failedAt !== undefined) this.#breaker.trip(at);
  }

  /** The health check says the server came back after the failures: the breaker's probe may go now. */
  serverBack(at: number): void {
    this.#breaker.probeNow(at);
  }

  view(): BreakerView {
    return this.#breaker.view(this.#now());
  }

  #failed(at: number): void {
    this.#failedAt = at;
    this.#breaker.onFailure(at);
  }

  #succeeded(at: number): void {
    this.#failedAt = undefined;
    this.#breaker.onSuccess(at);
  }

  #setRetryAt(at: number): void {
    this.#retryAt = at;
    this.#saveRetryAt(at);
  }

  /** Tells the recovery listeners when this breaker goes from open to closed. */
  #watch(): void {
    const breaker = this.#breaker;
    let wasOpen = breaker.view(this.#now()).state !== 'closed';
    breaker.onTransition((snapshot) => {
      if (breaker !== this.#breaker) return;
      const isRecovery = wasOpen && snapshot.state === 'closed';
      wasOpen = snapshot.state === 'open';
      if (isRecovery) for (const listener of [...this.#recovered]) listener();
    });
  }
}
