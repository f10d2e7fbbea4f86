/**
 * How the edge's outcomes go to a browser: a kept answer with its strong ETag (a 304 with no
 * body when the browser's copy is current), or an answer the edge did not keep, as it came.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateLimitInfo } from '../../../src/shared/network';
import { sendError } from '../door/errors';
import { writeUpstreamBudget } from '../upstream/rate-limit-headers';
import type { FailedRead } from '../upstream/client';
import type { PassedAnswer } from './keepable';
import { type KeptAnswer, matchesIfNoneMatch } from './kept-answers';

/** How a kept answer was found (the `X-Purl-Edge` header). */
export type KeptHow = 'hit' | 'miss' | 'stale-budget';

/**
 * Sends a kept answer at `at`, `budget` (as last seen) restated.
 * @returns whether it went as a 304 (the browser's copy is current).
 */
export function sendKept(req: IncomingMessage, res: ServerResponse, entry: KeptAnswer, how: KeptHow, budget: RateLimitInfo, at: number): boolean {
  if (res.destroyed || res.headersSent) return false;
  res.setHeader('ETag', entry.etag);
  res.setHeader('Age', String(Math.max(0, Math.floor((at - entry.storedAt) / 1000))));
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Purl-Edge', how);
  writeUpstreamBudget(budget, res, at);
  if (matchesIfNoneMatch(req.headers['if-none-match'], entry.etag)) {
    res.writeHead(304);
    res.end();
    return true;
  }
  for (const [name, value] of entry.headers) res.setHeader(name, value);
  res.setHeader('Content-Length', entry.body.length);
  res.writeHead(200);
  res.end(entry.body);
  return false;
}

/**
 * Sends an outcome that is not a kept answer: the failure as the gateway's error, or the
 * upstream's answer as it came (its budget, `budget` as last seen at `now`, restated).
 */
export function sendUnkept(res: ServerResponse, outcome: PassedAnswer | FailedRead, budget: RateLimitInfo, now: number): void {
  if (outcome.kind === 'failed') {
    sendError(res, outcome.status, outcome.code, outcome.message);
    return;
  }
  if (res.destroyed || res.headersSent) return;
  for (const [name, value] of outcome.headers) res.setHeader(name, value);
  writeUpstreamBudget(budget, res, now);
  res.setHeader('Content-Length', outcome.body.length);
  res.writeHead(outcome.status);
  res.end(outcome.body);
}
