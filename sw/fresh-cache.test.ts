import { describe, expect, it } from 'vitest';
import type { Priority } from '../src/shared/network';
import { createFreshCache, fetchedAt } from './fresh-cache';

/** An in-memory Cache: enough of the Cache API for this module. */
function memoryCache(): Cache {
  const entries = new Map<string, Response>();
  return {
    match: async (request: RequestInfo | URL) => entries.get(new Request(request as RequestInfo).url)?.clone(),
    put: async (request: RequestInfo | URL, response: Response) => {
      entries.set(new Request(request as RequestInfo).url, response);
    },
  } as unknown as Cache;
}

function harness() {
  const cache = memoryCache();
  const clock = { now: 1_000 };
  const sent: { url: string; priority: Priority }[] = [];
  const lookups: boolean[] = [];
  const expired: string[] = [];
  let answer: () => Promise<Response> = async () => new Response('{"n":1}', { status: 200 });
  const fresh = createFreshCache({
    openCache: async () => cache,
    expiration: { updateTimestamp: async (url) => void expired.push(url), expireEntries: async () => undefined },
    send: async (request, priority) => {
      sent.push({ url: request.url, priority });
      return answer();
    },
    now: () => clock.now,
    onLookup: (hit) => lookups.push(hit),
  });
  return { fresh, clock, sent, lookups, expired, setAnswer: (next: () => Promise<Response>) => (answer = next) };
}

const request = () => new Request('http://purl.test/api/agents');

describe('the freshness cache', () => {
  it('goes to the network on a miss, through the queue with the caller’s priority, and stores the answer stamped', async () => {
    const h = harness();
    const read = await h.fresh.read(request(), 'memories', 30_000);
    expect(read.source).toBe('network');
    expect(await read.response.json()).toEqual({ n: 1 });
    expect(h.sent).toEqual([{ url: 'http://purl.test/api/agents', priority: 'memories' }]);
    expect(h.lookups).toEqual([false]);
    expect(h.expired).toEqual(['http://purl.test/api/agents']);
  });

  it('answers from the cache without any network inside the freshness window', async () => {
    const h = harness();
    await h.fresh.read(request(), 'memories', 30_000);
    h.clock.now += 29_999;
    const read = await h.fresh.read(request(), 'memories', 30_000);
    expect(read.source).toBe('fresh');
    expect(fetchedAt(read.response)).toBe(1_000);
    expect(h.sent).toHaveLength(1);
    expect(h.lookups).toEqual([false, true]);
  });

  it('past the window, serves the cached answer at once and revalidates through the queue', async () => {
    const h = harness();
    await h.fresh.read(request(), 'memories', 30_000);
    h.clock.now += 30_000;
    h.setAnswer(async () => new Response('{"n":2}', { status: 200 }));
    const read = await h.fresh.read(request(), 'chat', 30_000);
    expect(read.source).toBe('stale');
    expect(await read.response.json()).toEqual({ n: 1 });
    const revalidated = await read.revalidation;
    expect(revalidated && 'response' in revalidated && (await revalidated.response.json())).toEqual({ n: 2 });
    expect(h.sent.map((s) => s.priority)).toEqual(['memories', 'chat']);
    // The revalidated answer is what the cache holds now, fresh again.
    const again = await h.fresh.read(request(), 'chat', 30_000);
    expect(again.source).toBe('fresh');
    expect(await again.response.json()).toEqual({ n: 2 });
  });

  it('keeps the good cached answer when revalidation fails or answers an error', async () => {
    const h = harness();
    await h.fresh.read(request(), 'memories', 30_000);
    h.clock.now += 60_000;
    h.setAnswer(async () => new Response('busy', { status: 503 }));
    const read = await h.fresh.read(request(), 'memories', 30_000);
    const revalidated = await read.revalidation;
    expect(revalidated && 'response' in revalidated && revalidated.response.status).toBe(503);
    h.setAnswer(async () => Promise.reject(new TypeError('offline')));
    const later = await h.fresh.read(request(), 'memories', 30_000);
    expect(await later.revalidation).toEqual({ error: new TypeError('offline') });
    expect(await later.response.json()).toEqual({ n: 1 });
  });

  it('rejects a miss when the network fails, and caches nothing', async () => {
    const h = harness();
    h.setAnswer(async () => Promise.reject(new TypeError('offline')));
    await expect(h.fresh.read(request(), 'memories', 30_000)).rejects.toThrow('offline');
    h.setAnswer(async () => new Response('{"n":3}', { status: 200 }));
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('network');
  });
});
