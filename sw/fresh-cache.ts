/**
 * Stale-while-revalidate with a freshness window, for the agent's API. Workbox's
 * StaleWhileRevalidate has no freshness window (workbox #2807, #3069) and always goes to
 * the network; this one does not within the window:
 * - fresh (younger than the TTL): the cached answer, no network at all;
 * - stale: the cached answer at once, and a revalidation through the request queue;
 * - missing: the network, through the queue.
 * Size and age limits come from workbox-expiration. Hits (fresh or stale) and misses
 * are counted for the monitor.
 */
import type { Priority } from '../src/shared/network';

/** When a cached answer was fetched, epoch ms; stamped on every answer we cache. */
const FETCHED_AT = 'x-purl-fetched-at';

export type Revalidation = { response: Response } | { error: unknown };

export interface CacheRead {
  /** Where the answer came from. */
  source: 'fresh' | 'stale' | 'network';
  response: Response;
  /** For a stale answer: the network's answer once it came, or why there was none. */
  revalidation?: Promise<Revalidation>;
}

/** The part of workbox-expiration's CacheExpiration this module uses. */
export interface ExpirationLike {
  updateTimestamp(url: string): Promise<void>;
  expireEntries(): Promise<void>;
}

export interface FreshCacheOptions {
  openCache: () => Promise<Cache>;
  expiration: ExpirationLike;
  /** Sends through the request queue. */
  send: (request: Request, priority: Priority) => Promise<Response>;
  now: () => number;
  /** Called on each hit or miss. */
  onLookup?: (hit: boolean) => void;
}

export interface FreshCache {
  /** Reads `request` (a GET) with freshness window `ttlMs`. Rejects only when nothing is cached and the network failed. */
  read(request: Request, priority: Priority, ttlMs: number): Promise<CacheRead>;
  /** Stores a network answer; only complete successful answers are kept. */
  put(request: Request, response: Response): Promise<void>;
}

export function fetchedAt(response: Response): number {
  const value = Number(response.headers.get(FETCHED_AT));
  return Number.isFinite(value) ? value : 0;
}

export function createFreshCache(options: FreshCacheOptions): FreshCache {
  const { openCache, expiration, send, now } = options;

  async function put(request: Request, response: Response): Promise<void> {
    if (!response.ok) return;
    const headers = new Headers(response.headers);
    headers.set(FETCHED_AT, String(now()));
    const stamped = new Response(await response.clone().arrayBuffer(), { status: response.status, statusText: response.statusText, headers });
    const cache = await openCache();
    await cache.put(request, stamped);
    await expiration.updateTimestamp(request.url);
    // Expiry is housekeeping: never let it fail a read.
    void expiration.expireEntries().catch(() => undefined);
  }

  async function fromNetwork(request: Request, priority: Priority): Promise<Response> {
    const response = await send(request, priority);
    await put(request, response).catch(() => {
      // A full disk must not lose the answer we already have in hand.
    });
    return response;
  }

  async function read(request: Request, priority: Priority, ttlMs: number): Promise<CacheRead> {
    const cache = await openCache();
    const cached = await cache.match(request);
    if (!cached) {
      options.onLookup?.(false);
      return { source: 'network', response: await fromNetwork(request, priority) };
    }
    options.onLookup?.(true);
    if (now() - fetchedAt(cached) < ttlMs) return { source: 'fresh', response: cached };
    const revalidation = fromNetwork(request.clone(), priority).then(
      (response): Revalidation => ({ response }),
      (error: unknown): Revalidation => ({ error }),
    );
    return { source: 'stale', response: cached, revalidation };
  }

  return { read, put };
}
