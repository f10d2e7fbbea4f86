/**
 * The words the gateway and the worker share about the upstream's budget: a stock
 * ElizaOS counts the whole gateway as one client, so every user spends one budget, which
 * the gateway spends by priority (server/gateway/budget/upstream-budget.ts) and states to each
 * browser (server/gateway/upstream/rate-limit-headers.ts). The worker reads them (sw/guard.ts).
 */

/** The draft-8 RateLimit member that restates the upstream server's own budget. */
import { asksForChat } from './api';
export const UPSTREAM_POLICY = 'eliza';

/**
 * The draft-8 RateLimit member of one user's share of a budget every user spends: what
 * the upstream has left, divided among the users spending it now. Sent only when the
 * gateway is one client to the upstream (no PURL_GATEWAY_SECRET).
 */
export const SHARE_POLICY = 'share';

/** The members that describe the upstream's budget, not the gateway's own limits. */
export const UPSTREAM_POLICIES: readonly string[] = [UPSTREAM_POLICY, SHARE_POLICY];

/**
 * Set by the edge on every answer it gave (`hit`, `miss`, `stale-budget`, or `refused` when
 * the budget kept its read back): the browser's request did not spend the upstream's
 * budget itself.
 */
export const EDGE_HEADER = 'X-Purl-Edge';

/**
 * The gateway's tier for a budget every user spends, on its answers:
 * - `plenty`: everything goes upstream;
 * - `low`: the edge serves what it keeps and stretches its own reads;
 * - `reserve`: only users' messages and new sessions go upstream; everything else is
 *   answered by the gateway (kept answers, or a 429 with Retry-After);
 * - `empty`: nothing goes upstream until the time every answer states.
 */
export type BudgetTier = 'plenty' | 'low' | 'reserve' | 'empty';

export const BUDGET_TIERS: readonly BudgetTier[] = ['plenty', 'low', 'reserve', 'empty'];

/** The header naming the tier, on every API answer of a gateway that spends a shared budget. */
export const BUDGET_TIER_HEADER = 'X-Purl-Budget';

/** The tier an answer states, or undefined (no header, or one this version does not know). */
export function budgetTierOf(headers: { get(name: string): string | null }): BudgetTier | undefined {
  const value = headers.get(BUDGET_TIER_HEADER)?.trim();
  return BUDGET_TIERS.find((tier) => tier === value);
}

/**
 * What a request costs a budget every user shares, as the worker tells its requests apart
 * (the gateway's `UpstreamCost`): a read the edge answers for everyone, a read of the
 * user's own (the chat), or a message (any POST: a message, a new session).
 */
export type RequestClass = 'shared-read' | 'own-read' | 'message';

export function classOf(method: string, url: string): RequestClass {
  if (isSharedRead(method, url)) return 'shared-read';
  return method === 'GET' ? 'own-read' : 'message';
}

/**
 * Whether a request reads what is the same for every user (the agent list, an agent's
 * memories), which the gateway's edge answers from what it keeps without spending the
 * upstream's budget for this user. Matches the `shared` routes of server/gateway/door/routes.ts,
 * and the gateway's delta route `/api/purl/sync` (issue 11), which the edge answers too,
 * unless it asks for the chat's messages (`session`): that read is the user's own.
 */
export function isSharedRead(method: string, url: string): boolean {
  if (method !== 'GET') return false;
  const path = new URL(url, 'http://purl.invalid').pathname;
  if (path === '/api/purl/sync') return !asksForChat(url);
  return path === '/api/agents' || /^\/api\/agents\/[^/]+\/memories$/.test(path);
}
