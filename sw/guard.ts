/**
 * The last step before the network, run by the request queue for every request: it asks
 * the gate (sw/gate.ts) whether the request may leave, sends it, reads the rate-limit
 * headers of the answer, and tells the gate how it went. "Did not try" (PurlError
 * 'rate-limited' / 'breaker-open', thrown by the gate) and "tried and failed"
 * ('network-error', a 5xx or 429 answer, a timeout, an answer `check` refuses:
 * 'bad-response') stay distinct.
 *
 * In front of a gateway that shares one upstream budget among all users, an answer its
 * edge served (X-Purl-Edge) spent nothing of that budget: its members "eliza" and "share"
 * are kept for the monitor but do not bind, so reads everyone shares are never throttled
 * by the user's share of what the chat and messages spend.
 */
import { budgetTierOf, classOf, EDGE_HEADER, UPSTREAM_POLICIES } from '../src/shared/budget';
import { PurlError } from '../src/shared/errors';
import type { RateLimitInfo } from '../src/shared/network';
import type { Gate } from './gate';
import { parseRateLimit } from '../src/shared/rate-limit';

export interface GuardEvents {
  /** A request left for the server. */
  onSent?(): void;
  /** The server answered (any status): the binding limit, and the request and answer it came from. */
  onAnswer?(status: number, rateLimit: RateLimitInfo, exchange: { request: Request; response: Response }): void;
  /** The request failed without an answer (network error, timeout). */
  onFailure?(): void;
  /** The server answered with something `check` refused (an HTML page, the wrong shape). */
  onBadAnswer?(): void;
}

export interface GuardOptions extends GuardEvents {
  fetch: (request: Request, init: { signal: AbortSignal }) => Promise<Response>;
  now: () => number;
  gate: Gate;
  /**
   * False while the device has no network. A request that fails then says nothing about
   * the server, so the gate does not count it.
   */
  isOnline?: () => boolean;
  /**
   * Judges an answer before the gate hears of it (sw/answer-check.ts): one it refuses
   * counts as a failure, and the request rejects with the reason.
   */
  check?: (request: Request, response: Response) => Promise<PurlError | undefined>;
}

export function createGuard(options: GuardOptions): (request: Request, signal: AbortSignal) => Promise<Response> {
  const { now, gate } = options;
  return async (request, signal) => {
    gate.admit(classOf(request.method, request.url));
    options.onSent?.();
    let response: Response;
    try {
      response = await options.fetch(request, { signal });
    } catch (error) {
      gate.unanswered(now(), options.isOnline?.() !== false);
      options.onFailure?.();
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new PurlError('timeout');
      throw new PurlError('network-error', error instanceof Error ? error.message : String(error));
    }
    const at = now();
    const rateLimit = parseRateLimit(response.headers, at, response.headers.has(EDGE_HEADER) ? { ignore: UPSTREAM_POLICIES } : {});
    const untrusted = await options.check?.(request, response);
    if (untrusted) {
      gate.refused(response.status, rateLimit, now());
      options.onBadAnswer?.();
      throw untrusted;
    }
    gate.answered(response.status, rateLimit, at, budgetTierOf(response.headers));
    options.onAnswer?.(response.status, rateLimit, { request, response });
    return response;
  };
}
