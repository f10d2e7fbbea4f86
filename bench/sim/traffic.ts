/** What one simulated user's traffic did, counted at its own fetch. */
export interface Traffic {
  /** Requests to /api sent. */
  requests: number;
  /** 429 answers. */
  rateLimited: number;
  /** Epoch ms of the first 429, if any. */
  first429At?: number;
  /** Other failures (5xx, network). */
  failures: number;
  /** ms from the agent's reply being stored at the server to it being in this user's store. */
  replyDelays: number[];
  /** Messages the user typed, and how many of them reached the server (seen in its answers). */
  typed: number;
  delivered: number;
}

export function emptyTraffic(): Traffic {
  return { requests: 0, rateLimited: 0, failures: 0, replyDelays: [], typed: 0, delivered: 0 };
}

/** Wraps a fetch so that every /api request and its answer are counted. */
export function countingFetch<F extends (request: Request, init?: { signal?: AbortSignal }) => Promise<Response>>(
  fetch: F,
  traffic: Traffic,
  now: () => number,
): F {
  return (async (request: Request, init?: { signal?: AbortSignal }) => {
    const isApi = new URL(request.url).pathname.startsWith('/api/');
    if (isApi) traffic.requests += 1;
    try {
      const response = await fetch(request, init);
      if (isApi && response.status === 429) {
        traffic.rateLimited += 1;
        traffic.first429At ??= now();
      } else if (isApi && response.status >= 500) traffic.failures += 1;
      return response;
    } catch (error) {
      if (isApi) traffic.failures += 1;
      throw error;
    }
  }) as F;
}
