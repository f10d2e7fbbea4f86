/**
 * Turns a freshness-cache read into what the sync needs: either "what you stored is
 * current", or a new body to check and store (then `keep()` to stamp it). Any other
 * answer, or none, rejects with a PurlError that says why.
 */
import { PurlError } from '../src/shared/errors';
import { isRecord } from '../src/shared/ids';
import type { Priority } from '../src/shared/network';
import type { FreshCache } from './fresh-cache';

/** What one API read produced. */
export type ApiRead =
  /** The stored data is current (fresh, or confirmed by a 304): nothing to store. */
  | { kind: 'unchanged' }
  /** A new body (parsed JSON, not yet shape-checked by the caller); `keep()` once its data is stored. */
  | { kind: 'new'; body: unknown; keep: () => Promise<void> };

function asPurlError(error: unknown): PurlError {
  if (error instanceof PurlError) return error;
  return new PurlError('network-error', error instanceof Error ? error.message : String(error));
}

export interface ApiReaderOptions {
  cache: Pick<FreshCache, 'read'>;
  origin: string;
  /** The freshness window for a path, ms. */
  ttlMs: (path: string) => number;
}

/** The gateway's code for an upstream answer it refused at its door (server/gateway/edge/sync.ts). */
const UPSTREAM_BAD_ANSWER = 'UPSTREAM_BAD_ANSWER';

/** The error for a non-2xx answer: the gateway saying ElizaOS sent nonsense is a bad answer, not a server error. */
async function failureOf(response: Response): Promise<PurlError> {
  if (response.status === 502) {
    const body: unknown = await response.json().catch(() => undefined);
    const error = isRecord(body) ? (body['error'] as { code?: unknown } | undefined) : undefined;
    if (error?.code === UPSTREAM_BAD_ANSWER) return new PurlError('bad-response', 'the gateway refused the server’s answer');
  }
  return new PurlError('http-error', `HTTP ${response.status}`);
}

/** Reads a path at a priority; `key` names what it reads when the URL carries more (the sync route's cursor). */
export type ApiReader = (path: string, priority: Priority, key?: string) => Promise<ApiRead>;

export function createApiReader(options: ApiReaderOptions): ApiReader {
  return async (path, priority, key) => {
    const request = new Request(new URL(path, options.origin).href, { headers: { Accept: 'application/json' } });
    let read: Awaited<ReturnType<typeof options.cache.read>>;
    try {
      read = await options.cache.read(request, priority, options.ttlMs(path), key === undefined ? undefined : new URL(key, options.origin).href);
    } catch (error) {
      throw asPurlError(error);
    }
    if (read.source !== 'network') return { kind: 'unchanged' };
    const { response, keep } = read;
    if (!response.ok) throw await failureOf(response);
    try {
      return { kind: 'new', body: await response.json(), keep };
    } catch {
      throw new PurlError('bad-response', 'the body is not JSON');
    }
  };
}
