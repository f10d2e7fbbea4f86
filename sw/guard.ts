/**
 * The last step before the network, run by the request queue for every request: it
 * refuses to send while the server's Retry-After runs or the breaker is open, reads
 * the rate-limit headers of every answer, and tells the breaker how each request went.
 * "Did not try" (PurlError 'rate-limited' / 'breaker-open') and "tried and failed"
 * ('network-error', a 5xx or 429 answer, a timeout, an answer `check` refuses:
 * 'bad-response') stay distinct.
 */
import { PurlError } from '../src/shared/errors';
import type { RateLimitInfo } from '../src/shared/network';
import { exponentialBackoff } from './backoff';
import type { CircuitBreaker } from './breaker';
import { parseRateLimit } from './rate-limit';

export interface GuardEvents {
  /** A request left for the server. */
  onSent?(): void;
  /** The server answered (any status). */
  onAnswer?(status: number, rateLimit: RateLimitInfo): void;
  /** The request failed without an answer (network error, timeout). */
  onFailure?(): void;
  /** The server answered with something `check` refused (an HTML page, the wrong shape). */
  onBadAnswer?(): void;
}

export interface GuardOptions extends GuardEvents {
  fetch: (request: Request, init: { signal: AbortSignal }) => Promise<Response>;
  now: () => number;
  breaker: () => CircuitBreaker;
  /** Epoch ms before which nothing may be sent, and how to change it (persisted by the caller). */
  retryAt: () => number;
  setRetryAt: (at: number) => void;
  random?: () => number;
  /**
   * False while the device has no network. A request that fails then says nothing about
   * the server, so the breaker does not count it: a few seconds offline must not leave
   * the server alone for minutes once the network is back.
   */
  isOnline?: () => boolean;
  /**
   * Judges an answer before the breaker hears of it (sw/answer-check.ts): one it refuses
   * counts as a failure, and the request rejects with the reason.
   */
  check?: (request: Request, response: Response) => Promise<PurlError | undefined>;
}

/** Without Retry-After, how long to hold off after consecutive 429s: 1 s, 2 s, 4 s … up to 30 min, jittered. */
function backoffAfter429(streak: number, random: () => number): number {
  return exponentialBackoff({ initialMs: 1_000, maxMs: 30 * 60_000, attempt: Math.max(0, streak - 1), random }).delay;
}

/** A failure for the breaker: the server is struggling, not the request being wrong. */
export function isServerFailure(status: number): boolean {
  return status === 429 || status >= 500;
}

export function createGuard(options: GuardOptions): (request: Request, signal: AbortSignal) => Promise<Response> {
  const { now } = options;
  const random = options.random ?? Math.random;
  let streak429 = 0;

  return async (request, signal) => {
    const retryAt = options.retryAt();
    if (now() < retryAt) {
      throw new PurlError('rate-limited', `until ${new Date(retryAt).toISOString()}`);
    }
    const breaker = options.breaker();
    const decision = breaker.request(now());
    if (!decision.allowed) throw new PurlError('breaker-open', `next probe at ${new Date(decision.retryAt).toISOString()}`);

    options.onSent?.();
    let response: Response;
    try {
      response = await options.fetch(request, { signal });
    } catch (error) {
      if (options.isOnline?.() !== false) breaker.onFailure(now());
      options.onFailure?.();
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new PurlError('timeout');
      throw new PurlError('network-error', error instanceof Error ? error.message : String(error));
    }
    const at = now();
    const rateLimit = parseRateLimit(response.headers, at);
    if (response.status === 429) {
      streak429 += 1;
      options.setRetryAt(rateLimit.retryAt ?? at + backoffAfter429(streak429, random));
    } else {
      streak429 = 0;
    }
    const untrusted = await options.check?.(request, response);
    if (untrusted) {
      breaker.onFailure(options.now());
      options.onBadAnswer?.();
      throw untrusted;
    }
    if (isServerFailure(response.status)) breaker.onFailure(at);
    else breaker.onSuccess(at);
    options.onAnswer?.(response.status, rateLimit);
    return response;
  };
}
