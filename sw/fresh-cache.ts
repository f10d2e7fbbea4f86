/**
 * The freshness window for the worker's API reads, with IndexedDB as the one store of
 * data. Workbox's StaleWhileRevalidate has no freshness window (workbox #2807, #3069)
 * and keeps a second copy of every answer in Cache Storage; this keeps no body at all,
 * only a stamp per URL (when the answer arrived, and its ETag / Last-Modified):
 * - fresh (stamped less than the TTL ago): no request; the stored data is current;
 * - otherwise: a request through the queue, conditional when the stamp has validators;
 *   a 304 re-stamps it and the stored data stays; a new answer is handed to the caller,
 *   who stamps it with `keep()` only once its data is stored.
 * So an answer that was never stored (refused at the door, failed to parse, lost to a
 * full disk or a stopped worker) is never taken for fresh, and a 304 never vouches for
 * data that is not there. Stamps live in memory and are persisted (meta 'answers').
 *
 * Only a read answered without any request counts as a cache hit for the monitor; a
 * revalidation is a request, whatever the server answers.
 */
import { deleteDB } from 'idb';
import type { AnswerStamp } from '../src/shared/db';
import type { Priority } from '../src/shared/network';

/** Most stamps kept (the agent list and one memories URL per agent seen); the oldest go first. */
export const MAX_STAMPS = 32;

export type FreshRead =
  /** Stamped within the TTL: nothing was sent. */
  | { source: 'fresh' }
  /** The server answered 304: the stored data is still current. */
  | { source: 'not-modified' }
  /** Any other answer. Call `keep()` once its data is stored, to stamp it (only a 2xx is stamped). */
  | { source: 'network'; response: Response; keep: () => Promise<void> };

export interface FreshCacheOptions {
  /** Reads the persisted stamps (once per worker). */
  load: () => Promise<Record<string, AnswerStamp> | undefined>;
  /** Persists the stamps. */
  save: (stamps: Record<string, AnswerStamp>) => Promise<void>;
  /** Sends through the request queue. */
  send: (request: Request, priority: Priority) => Promise<Response>;
  now: () => number;
  /** Called on each read: a hit is one answered without a request. */
  onLookup?: (hit: boolean) => void;
}

export interface FreshCache {
  /**
   * Reads `request` (a GET) with freshness window `ttlMs`, its stamp kept under `key`
   * (default: its URL; the sync route's cursor changes the URL but not what it reads).
   * Rejects when the request failed.
   */
  read(request: Request, priority: Priority, ttlMs: number, key?: string): Promise<FreshRead>;
  /**
   * The data read under `key` (a URL) is known to be out of date (push said so): the next
   * read sends a request, conditional on the validators kept, whatever the window says.
   */
  expire(key: string): Promise<void>;
}

function stampOf(response: Response, fetchedAt: number): AnswerStamp {
  const stamp: AnswerStamp = { fetchedAt };
  const etag = response.headers.get('ETag');
  const lastModified = response.headers.get('Last-Modified');
  if (etag) stamp.etag = etag;
  if (lastModified) stamp.lastModified = lastModified;
  return stamp;
}

/**
 * The request as sent: never kept by the browser's HTTP cache (IndexedDB holds the data),
 * and conditional when the stamp has validators. A request with a validator and cache
 * mode 'no-store' gets `Cache-Control: no-cache` added by the browser (Fetch spec,
 * "HTTP-network-or-cache fetch"), and Express then ignores the validator and answers 200;
 * naming `max-age=0` ourselves keeps the header from being added (measured in Chromium).
 */
function conditional(request: Request, stamp: AnswerStamp | undefined): Request {
  const headers = new Headers(request.headers);
  if (stamp?.etag) headers.set('If-None-Match', stamp.etag);
  if (stamp?.lastModified) headers.set('If-Modified-Since', stamp.lastModified);
  if (stamp?.etag || stamp?.lastModified) headers.set('Cache-Control', 'max-age=0');
  return new Request(request, { headers, cache: 'no-store' });
}

export function createFreshCache(options: FreshCacheOptions): FreshCache {
  const { send, now } = options;
  let stamps: Promise<Map<string, AnswerStamp>> | undefined;

  const loaded = (): Promise<Map<string, AnswerStamp>> =>
    (stamps ??= options.load().then(
      (saved) => new Map(Object.entries(saved ?? {})),
      // Unreadable stamps only cost one full request per URL.
      () => new Map(),
    ));

  async function stamp(url: string, value: AnswerStamp): Promise<void> {
    const map = await loaded();
    map.delete(url);
    map.set(url, value);
    const newestFirst = [...map.entries()].sort(([, a], [, b]) => b.fetchedAt - a.fetchedAt);
    for (const [old] of newestFirst.slice(MAX_STAMPS)) map.delete(old);
    await options.save(Object.fromEntries(map)).catch(() => {
      // The stamp holds in memory; a worker restarted without it sends one full request.
    });
  }

  async function read(request: Request, priority: Priority, ttlMs: number, key = request.url): Promise<FreshRead> {
    const url = key;
    const known = (await loaded()).get(url);
    const age = known ? now() - known.fetchedAt : Infinity;
    // A negative age means the clock went back: trust nothing stamped "in the future".
    const isFresh = age >= 0 && age < ttlMs;
    options.onLookup?.(isFresh);
    if (isFresh) return { source: 'fresh' };
    const response = await send(conditional(request, known), priority);
    const arrivedAt = now();
    if (response.status === 304 && known) {
      await stamp(url, { ...known, ...stampOf(response, arrivedAt) });
      return { source: 'not-modified' };
    }
    return { source: 'network', response, keep: () => (response.ok ? stamp(url, stampOf(response, arrivedAt)) : Promise.resolve()) };
  }

  async function expire(key: string): Promise<void> {
    const known = (await loaded()).get(key);
    // Stamped as long ago as can be: stale for any window, first to go when room is needed.
    if (known) await stamp(key, { ...known, fetchedAt: Number.MIN_SAFE_INTEGER });
  }

  return { read, expire };
}

/** Where earlier versions kept a second copy of every API answer, and workbox-expiration its timestamps for it. */
export const RETIRED_API_CACHE = 'purl-api-v1';
export const RETIRED_EXPIRATION_DB = 'workbox-expiration';

/** Deletes what earlier versions kept besides IndexedDB (run at activation). Never rejects. */
export async function retireOldCopies(cacheStorage: CacheStorage): Promise<void> {
  await Promise.all([cacheStorage.delete(RETIRED_API_CACHE), deleteDB(RETIRED_EXPIRATION_DB)]).catch(() => {
    // Left over, they only take room; the next activation tries again.
  });
}
