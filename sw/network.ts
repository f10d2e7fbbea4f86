/**
 * The one way out for the worker's requests: the queue (priority classes, the origin-wide
 * concurrency cap, identical GETs shared) in front of the guard (the gate's say, the
 * answer's check), with every answer told to the monitor's metrics and its rate-limit
 * headers to the budget. An answer to a read every user shares counts for the memories
 * poll's budget, any other for the chat's (src/shared/budget.ts `isSharedRead`).
 */
import { isSharedRead } from '../src/shared/budget';
import type { PurlConfig } from '../src/shared/config';
import type { Priority } from '../src/shared/network';
import { untrustedAnswer } from './answer-check';
import { type Budget, readUpstreamFigures } from './budget';
import type { Gate } from './gate';
import { createGuard } from './guard';
import type { Metrics } from './metrics';
import { RequestQueue } from './queue';

/** Most polls and revalidations waiting at once; user actions are never dropped. */
const MAX_PENDING = 20;

export interface NetworkOptions {
  fetch: (request: Request, init: { signal: AbortSignal }) => Promise<Response>;
  now: () => number;
  gate: Gate;
  budget: Pick<Budget, 'observe'>;
  metrics: Pick<Metrics, 'sent' | 'answered' | 'failed' | 'badAnswer' | 'queue'>;
  /** The settings in force (read as each request starts: /config.json is loaded after the queue is made). */
  config: () => Pick<PurlConfig, 'maxConcurrent' | 'requestTimeoutMs'>;
  isOnline: () => boolean;
}

/** Sends a request through the queue and the guard; resolves with the answer, rejects with a PurlError. */
export type Send = (request: Request, priority: Priority) => Promise<Response>;

export function createNetwork(options: NetworkOptions): Send {
  const { now, metrics, budget } = options;
  const guard = createGuard({
    fetch: options.fetch,
    now,
    gate: options.gate,
    onSent: () => metrics.sent(),
    onAnswer: (status, headers, { request, response }) =>
      metrics.answered(
        status,
        budget.observe(headers, now(), isSharedRead(request.method, request.url) ? 'memories' : 'chat'),
        readUpstreamFigures(response.headers, now()),
      ),
    onFailure: () => metrics.failed(),
    onBadAnswer: () => metrics.badAnswer(),
    check: untrustedAnswer,
    isOnline: options.isOnline,
  });
  const queue = new RequestQueue({
    maxConcurrent: () => options.config().maxConcurrent,
    maxPending: MAX_PENDING,
    // FRONTEND_REQUEST_TIMEOUT comes with /config.json, after the queue is made.
    timeoutMs: () => options.config().requestTimeoutMs,
    send: guard,
    onChange: (stats) => metrics.queue(stats),
  });
  return (request, priority) => queue.enqueue(request, priority);
}
