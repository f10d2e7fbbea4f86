/**
 * Reads of the agent's API through Workbox's StaleWhileRevalidate. The strategy stays
 * whole; what Purl needs on top comes in as plugins: keep only good answers, cap the
 * cache, and capture the network's answer so the caller learns what the server said
 * this time (Workbox answers from the cache and hides a failed revalidation).
 */
import { ExpirationPlugin } from 'workbox-expiration';
import { StaleWhileRevalidate } from 'workbox-strategies';
import type { WorkboxPlugin } from 'workbox-core/types.js';
import { PurlError } from '../src/shared/errors';
import type { ApiResult } from './sync';

export const API_CACHE = 'purl-api-v1';

interface Capture {
  fresh?: Response;
  failure?: PurlError;
}

/** Records, per request URL, the network's answer (or failure) for one read. */
function capturePlugin(captures: Map<string, Capture>): WorkboxPlugin {
  const fetchDidSucceed: WorkboxPlugin['fetchDidSucceed'] = async ({ request, response }) => {
    const capture = captures.get(request.url);
    if (capture) {
      // Workbox's fetchDidSucceed also sees 4xx/5xx answers: check ok ourselves.
      if (response.ok) capture.fresh = response.clone();
      else capture.failure = new PurlError('http-error', `HTTP ${response.status}`);
    }
    return response;
  };
  const fetchDidFail: WorkboxPlugin['fetchDidFail'] = async ({ request, error }) => {
    const capture = captures.get(request.url);
    if (capture) capture.failure = new PurlError('network-error', error.message);
  };
  return { fetchDidSucceed, fetchDidFail };
}

/** Only complete, successful JSON answers are cached: an error page never replaces good data. */
const cacheOnlyOkPlugin: WorkboxPlugin = {
  cacheWillUpdate: async ({ response }) => (response.ok ? response : null),
};

export type ApiFetcher = (path: string, event: ExtendableEvent) => Promise<ApiResult>;

export function createApiFetcher(origin: string): ApiFetcher {
  const captures = new Map<string, Capture>();
  const strategy = new StaleWhileRevalidate({
    cacheName: API_CACHE,
    plugins: [
      cacheOnlyOkPlugin,
      capturePlugin(captures),
      new ExpirationPlugin({ maxEntries: 32, maxAgeSeconds: 30 * 24 * 3600, purgeOnQuotaError: true }),
    ],
  });

  return async (path, event) => {
    const request = new Request(new URL(path, origin).href, { headers: { Accept: 'application/json' } });
    const capture: Capture = {};
    captures.set(request.url, capture);
    try {
      const [answer, done] = strategy.handleAll({ event, request });
      const response = await answer.catch(() => undefined);
      await done.catch(() => undefined);
      const failure = capture.failure ?? (response ? undefined : new PurlError('network-error'));
      const best = capture.fresh ?? (response?.ok ? response : undefined);
      const result: ApiResult = {};
      if (best) result.response = best;
      if (failure) result.failure = failure;
      return result;
    } finally {
      captures.delete(request.url);
    }
  };
}
