/**
 * Forwards an allowlisted API request to ElizaOS on the gateway's own origin, so the
 * service worker can read RateLimit-* and Retry-After (ElizaOS exposes none of them
 * cross-origin). It sends through the upstream client (server/gateway/upstream/client.ts:
 * the budget, the gateway's request headers, timeouts, sizes and failures), drops `secrets`
 * (and stack traces) from every JSON answer and every CORS header, restates the server's
 * budget beside the gateway's, and turns a failure into its JSON 502 or 504.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../door/errors';
import { sendRefusal } from '../budget/budget-door';
import type { UpstreamCost } from '../budget/upstream-budget';
import { browserHeaders, DROPPED_ANSWER_HEADERS, type StreamedAnswer, type UpstreamAnswer, type UpstreamClient } from './client';
import { readUpstreamBudget, writeBudgetStanding, writeUpstreamBudget } from './rate-limit-headers';
import { parseForBrowser } from './strip-secrets';

/** The headers a passed-on (not rewritten) answer loses. */
const DROPPED_STREAM_HEADERS = new Set(['connection', 'keep-alive']);

/**
 * Adds to one route's JSON answer what the gateway itself says there (the create-session
 * answer's push token): the new body, or undefined to leave it as it is.
 */
export type AddToAnswer = (status: number, body: unknown) => unknown;

export interface ForwardOptions {
  /** What the request costs ElizaOS's budget (its route's `cost`, server/gateway/routes.ts). */
  cost: UpstreamCost;
  /** Path and query to request upstream (the allowlist's canonical form). */
  path: string;
  /** Who the client is (req.ip), named upstream in X-Forwarded-For. */
  client: string;
  /** A POST body already read and checked by the gateway. */
  body?: Buffer;
  /**
   * Called once the budget let the request go, as it leaves (never for one kept back):
   * what the route does then, and what it adds to the JSON answer.
   */
  admitted?: () => AddToAnswer | undefined;
}

export interface ApiProxy {
  forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void;
}

export function createApiProxy(upstream: UpstreamClient): ApiProxy {
  const { budget } = upstream;

  /**
   * Copies the upstream's headers that may reach a browser and restates the budget: a
   * shared budget as the gateway's estimate (which counts the requests still under way,
   * and has noted this answer) with the user's share and the tier; a user's own budget
   * (the embedded server) as this answer states it, for this user only.
   */
  function copyAnswerHeaders(headers: IncomingHttpHeaders, res: ServerResponse, dropped: ReadonlySet<string>, client: string): void {
    for (const [name, value] of browserHeaders(headers, dropped)) res.setHeader(name, value);
    const now = upstream.now();
    writeUpstreamBudget(budget.shared ? budget.last(now) : readUpstreamBudget(headers, now), res, now);
    writeBudgetStanding(budget, client, res, now);
  }

  /** Removes secrets (and adds what `add` says) and sends a JSON answer on with the upstream's status and headers. */
  function relayJson(answer: UpstreamAnswer, res: ServerResponse, client: string, add?: AddToAnswer): void {
    let body = answer.body;
    try {
      const clean = parseForBrowser(answer.body, answer.status >= 400);
      const added = add?.(answer.status, clean.value);
      if (added !== undefined) body = Buffer.from(JSON.stringify(added));
      else if (clean.stripped) body = Buffer.from(JSON.stringify(clean.value));
    } catch {
      // Not valid JSON: pass it on unchanged; the worker validates and rejects it.
    }
    if (res.destroyed) return;
    copyAnswerHeaders(answer.headers, res, DROPPED_ANSWER_HEADERS, client);
    res.setHeader('Content-Length', body.length);
    res.writeHead(answer.status);
    res.end(body);
  }

  /** Pipes a non-JSON answer (an HTML error page, a 304) to the browser as it comes. */
  function pass(answer: StreamedAnswer, res: ServerResponse, client: string): void {
    if (res.destroyed) {
      answer.body.destroy();
      return;
    }
    copyAnswerHeaders(answer.headers, res, DROPPED_STREAM_HEADERS, client);
    res.writeHead(answer.status);
    answer.body.on('error', () => res.destroy());
    answer.body.pipe(res);
  }

  return {
    forward(req, res, forward) {
      // A browser that gave up (the worker's request timeout) ends its upstream request too.
      const gaveUp = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) gaveUp.abort();
      });
      const sending = upstream.send({
        cost: forward.cost,
        client: forward.client,
        byUser: true,
        method: req.method === 'POST' ? 'POST' : 'GET',
        path: forward.path,
        headers: req.headers,
        signal: gaveUp.signal,
        stream: true,
        ...(forward.body ? { body: forward.body } : {}),
      });
      if (sending.kind === 'refused') {
        sendRefusal(budget, sending, forward.client, res, upstream.now());
        return;
      }
      const add = forward.admitted?.();
      sending.answer
        .then((answer) => {
          if (answer.kind === 'failed') sendError(res, answer.status, answer.code, answer.message);
          else if (answer.kind === 'stream') pass(answer, res, forward.client);
          else relayJson(answer, res, forward.client, add);
        })
        .catch(() => {
          // The answer never rejects; a bug in a route's hook must not end the gateway: the browser retries.
          res.destroy();
        });
    },
  };
}
