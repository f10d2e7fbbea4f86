/**
 * Turns a freshness-cache read into what the sync needs: the freshest usable answer,
 * and what went wrong with the network this time, if anything.
 */
import { PurlError } from '../src/shared/errors';
import type { Priority } from '../src/shared/network';
import type { FreshCache } from './fresh-cache';
import type { ApiResult } from './sync';

function asPurlError(error: unknown): PurlError {
  if (error instanceof PurlError) return error;
  return new PurlError('network-error', error instanceof Error ? error.message : String(error));
}

function httpFailure(response: Response): PurlError {
  return new PurlError('http-error', `HTTP ${response.status}`);
}

export interface ApiReaderOptions {
  cache: FreshCache;
  origin: string;
  /** The freshness window for a path, ms. */
  ttlMs: (path: string) => number;
}

export function createApiReader(options: ApiReaderOptions): (path: string, priority: Priority) => Promise<ApiResult> {
  return async (path, priority) => {
    const request = new Request(new URL(path, options.origin).href, { headers: { Accept: 'application/json' } });
    let read;
    try {
      read = await options.cache.read(request, priority, options.ttlMs(path));
    } catch (error) {
      return { failure: asPurlError(error) };
    }
    switch (read.source) {
      case 'fresh':
        return { response: read.response };
      case 'network':
        return read.response.ok ? { response: read.response } : { failure: httpFailure(read.response) };
      case 'stale': {
        const revalidated = await read.revalidation!;
        if ('response' in revalidated) {
          return revalidated.response.ok
            ? { response: revalidated.response }
            : { response: read.response, failure: httpFailure(revalidated.response) };
        }
        return { response: read.response, failure: asPurlError(revalidated.error) };
      }
    }
  };
}
