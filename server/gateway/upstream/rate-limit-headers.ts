/**
 * One rate-limit picture for the browser. The gateway's own limiters write draft-8
 * `RateLimit` / `RateLimit-Policy` members ("purl-api", "purl-memories"); ElizaOS sends
 * its own budget in whatever draft its express-rate-limit speaks (1.7: draft-6's
 * `RateLimit-Limit`, `-Remaining`, `-Reset`, `-Policy: 1000;w=900`). Passing both on
 * would give two `RateLimit-Policy` headers in two syntaxes, so the server's budget is
 * restated as one more draft-8 member, "eliza", beside the gateway's. When every user
 * spends that one budget (a stock server), each answer also states the user's share of
 * it, the member "share", and the gateway's tier in X-Purl-Budget
 * (server/gateway/budget/upstream-budget.ts). The worker reads every member and obeys the one
 * that binds.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { parseRateLimit } from '../../../src/shared/rate-limit';
import { BUDGET_TIER_HEADER, SHARE_POLICY, UPSTREAM_POLICY } from '../../../src/shared/budget';
import type { RateLimitInfo } from '../../../src/shared/network';
import type { UpstreamBudget } from '../budget/upstream-budget';

export { UPSTREAM_POLICY };

const UPSTREAM_RATE_LIMIT_HEADERS = new Set(['ratelimit', 'ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']);

/** True for the upstream headers this module restates (they are not copied as they are). */
export function isUpstreamRateLimitHeader(name: string): boolean {
  return UPSTREAM_RATE_LIMIT_HEADERS.has(name.toLowerCase());
}

/**
 * The upstream's budget as its answer states it (any draft), with reset times made
 * absolute by `now`. An answer the gateway made itself instead of asking upstream (it
 * carries X-Purl-Budget) states nothing about the upstream.
 */
export function readUpstreamBudget(upstream: IncomingHttpHeaders, now: number): RateLimitInfo {
  if (upstream[BUDGET_TIER_HEADER.toLowerCase()] !== undefined) return {};
  const headers = new Headers();
  for (const name of [...UPSTREAM_RATE_LIMIT_HEADERS, 'retry-after']) {
    const value = upstream[name];
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return parseRateLimit(headers, now);
}

/**
 * Appends a budget as the draft-8 member "eliza". Its reset is counted from `now`, so a
 * budget seen a while ago is stated with the time left, not the time left back then; a
 * budget whose window has already reset is not stated (what remains now is unknown).
 */
export function writeUpstreamBudget(info: RateLimitInfo, res: ServerResponse, now: number): void {
  writeMember(UPSTREAM_POLICY, info, res, now);
}

function writeMember(name: string, info: RateLimitInfo, res: ServerResponse, now: number): void {
  if (info.remaining === undefined) return;
  if (info.resetAt !== undefined && info.resetAt <= now) return;
  const resetSeconds = info.resetAt === undefined ? undefined : Math.max(0, Math.ceil((info.resetAt - now) / 1000));
  res.appendHeader('RateLimit', `"${name}"; r=${info.remaining}${resetSeconds === undefined ? '' : `; t=${resetSeconds}`}`);
  if (info.limit !== undefined) {
    const window = info.windowMs === undefined ? '' : `; w=${Math.round(info.windowMs / 1000)}`;
    res.appendHeader('RateLimit-Policy', `"${name}"; q=${info.limit}${window}`);
  }
}

/**
 * Where `client` stands with a budget every user spends: its share as the draft-8 member
 * "share" (what is left divided among the users spending it now; the worker obeys it for
 * the requests that cost the upstream), and the gateway's tier in X-Purl-Budget. Nothing
 * when the budget is not shared (each user's own is restated as "eliza" already).
 */
export function writeBudgetStanding(budget: UpstreamBudget, client: string, res: ServerResponse, now: number): void {
  if (!budget.shared) return;
  res.setHeader(BUDGET_TIER_HEADER, budget.tier(now));
  const share = budget.share(client, now);
  if (share) writeMember(SHARE_POLICY, share, res, now);
}
