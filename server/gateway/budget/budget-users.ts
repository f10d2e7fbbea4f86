/**
 * The users spending the upstream's budget now: distinct clients whose requests went
 * upstream (or were refused) in the last ACTIVE_USER_MS, at most MAX_TRACKED_USERS of them.
 * Plain data, a Map from client to when it was last seen, least recently seen first (a Map
 * keeps insertion order; a client seen again is re-inserted), so forgetting the ones gone
 * stops at the first one still active. The functions change the Map in place: copying up
 * to ten thousand entries on every request would be the cost of purity here.
 */

/**
 * A user counts as spending the budget for this long after their last request upstream:
 * a chat open in any tab polls at least every 35 s (5 s × 7 in a background tab in
 * high-load mode), so two minutes sees every chatting user and forgets one who left.
 */
export const ACTIVE_USER_MS = 120_000;

/** The most users remembered at once (the oldest are forgotten first): a bound on memory. */
export const MAX_TRACKED_USERS = 10_000;

/** When each client was last seen, epoch ms, least recently seen first. */
export type RecentUsers = Map<string, number>;

/** Notes that `client` was seen at `now`, forgetting the least recently seen past MAX_TRACKED_USERS. */
export function sawUser(seen: RecentUsers, client: string, now: number): void {
  seen.delete(client);
  seen.set(client, now);
  if (seen.size > MAX_TRACKED_USERS) seen.delete(seen.keys().next().value as string);
}

/** The users active at `now`, `client` included when given (it is about to spend); forgets those gone. */
export function activeUsers(seen: RecentUsers, now: number, client?: string): number {
  for (const [known, at] of seen) {
    if (now - at < ACTIVE_USER_MS) break;
    seen.delete(known);
  }
  return client === undefined || seen.has(client) ? seen.size : seen.size + 1;
}
