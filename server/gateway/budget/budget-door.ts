/**
 * The upstream's budget at the gateway's door: what a request costs the upstream, and the
 * gateway's own answer when the budget's tier (server/gateway/budget/upstream-budget.ts) keeps
 * it back. A request kept back never reaches the upstream: it gets a 429 with a
 * Retry-After saying when its kind may go again, a sentence, the tier in X-Purl-Budget
 * and the user's share, so the worker waits exactly that long. The upstream client
 * (server/gateway/upstream/client.ts) asks `refusalOf` before every request it sends.
 */
import type { ServerResponse } from 'node:http';
import { BUDGET_TIER_HEADER, EDGE_HEADER } from '../../../src/shared/budget';
import { sendError } from '../door/errors';
import { writeBudgetStanding, writeUpstreamBudget } from '../upstream/rate-limit-headers';
import type { UpstreamBudget, UpstreamCost } from './upstream-budget';
import type { UpstreamClient, UpstreamRead } from '../upstream/client';

/** Kept back while only messages go upstream. */
export const BUDGET_RESERVED = 'UPSTREAM_BUDGET_RESERVED';
/** Kept back while nothing goes upstream. */
export const BUDGET_SPENT = 'UPSTREAM_BUDGET_SPENT';

/** In words, how long until `seconds` have passed. */
function inWords(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  return `${Math.round(seconds / 60)} min`;
}

/** The gateway's own answer to a request the budget keeps back: when its kind may go again, and why not now. */
export interface Refusal {
  kind: 'refused';
  code: string;
  message: string;
  /** Retry-After and the tier (X-Purl-Budget). */
  headers: Record<string, string>;
}

/** The gateway's answer to a request the budget keeps back, or undefined when it may go upstream now. */
export function refusalOf(budget: UpstreamBudget, cost: UpstreamCost, now: number): Refusal | undefined {
  if (budget.admits(cost, now)) return undefined;
  const tier = budget.tier(now);
  const seconds = budget.retryAfterSeconds(cost, now);
  const headers = { 'Retry-After': String(seconds), [BUDGET_TIER_HEADER]: tier };
  if (tier === 'reserve') {
    return {
      kind: 'refused',
      code: BUDGET_RESERVED,
      message: `The agent's server has little of its request budget left, and Purl keeps it for messages, which still go. This waits ${inWords(seconds)}.`,
      headers,
    };
  }
  return {
    kind: 'refused',
    code: BUDGET_SPENT,
    message: `The agent's server takes no more requests for ${inWords(seconds)}. Purl holds this until then; nothing typed is lost.`,
    headers,
  };
}

/** Sends a refusal to the browser whose request it kept back, with the budget and the user's share. */
export function sendRefusal(budget: UpstreamBudget, refusal: Refusal, client: string, res: ServerResponse, now: number): void {
  writeUpstreamBudget(budget.last(now), res, now);
  writeBudgetStanding(budget, client, res, now);
  sendError(res, 429, refusal.code, refusal.message, refusal.headers);
}

/** A refusal as an upstream answer would carry it: the edge passes it on to every browser that waited, and never keeps it. */
export function refusalAsAnswer(refusal: Refusal): UpstreamRead {
  const body = Buffer.from(JSON.stringify({ success: false, error: { code: refusal.code, message: refusal.message } }));
  const headers = Object.fromEntries(Object.entries(refusal.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return {
    kind: 'answer',
    status: 429,
    headers: { ...headers, [EDGE_HEADER.toLowerCase()]: 'refused', 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body,
  };
}

/**
 * The edge's read of a shared answer, through the upstream client: sent only when the tier
 * admits shared reads, counted while under way (server/gateway/upstream/client.ts). Kept
 * back, it is the gateway's own 429, which the edge passes on to every browser that waited
 * and never keeps. An upstream 429 (noted by the client) is passed on with the tier it
 * leads to. Both say they are the edge's (X-Purl-Edge): the browsers that waited did not
 * spend the upstream's budget themselves, so its members do not bind them (sw/guard.ts),
 * while the tier still tells their workers to hold what does.
 */
export function edgeRead(upstream: UpstreamClient, now: () => number = Date.now) {
  return async (path: string, client: string, ifNoneMatch: string | undefined, signal: AbortSignal): Promise<UpstreamRead> => {
    const sending = upstream.send({ cost: 'shared-read', client, method: 'GET', path, signal, ...(ifNoneMatch ? { ifNoneMatch } : {}) });
    if (sending.kind === 'refused') return refusalAsAnswer(sending);
    const answer = await sending.answer;
    if (answer.kind === 'answer' && answer.status === 429) {
      // Marked as the gateway's word from here on (readUpstreamBudget reads nothing more from it).
      const tier = upstream.budget.tier(now());
      return { ...answer, headers: { ...answer.headers, [BUDGET_TIER_HEADER.toLowerCase()]: tier, [EDGE_HEADER.toLowerCase()]: 'miss' } };
    }
    return answer;
  };
}
