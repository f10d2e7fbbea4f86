import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { describe, expect, it } from 'vitest';
import type { AnswerStamp } from '../src/shared/db';
import type { Priority } from '../src/shared/network';
import { createFreshCache, MAX_STAMPS, RETIRED_API_CACHE, RETIRED_EXPIRATION_DB, retireOldCopies, type FreshRead } from './fresh-cache';

interface Sent {
  url: string;
  priority: Priority;
  ifNoneMatch: string | null;
  cacheControl: string | null;
  cache: RequestCache;
}

function harness(saved?: Record<string, AnswerStamp>) {
  const clock = { now: 1_000 };
  const sent: Sent[] = [];
  const lookups: boolean[] = [];
  const persisted: Record<string, AnswerStamp>[] = [];
  let answer: (request: Request) => Response = () => new Response('{"n":1}', { status: 200, headers: { ETag: 'W/"1"' } });
  const fresh = createFreshCache({
    load: async () => saved,
    save: async (stamps) => void persisted.push(structuredClone(stamps)),
    send: async (request, priority) => {
      sent.push({
        url: request.url,
        priority,
        ifNoneMatch: request.headers.get('If-None-Match'),
        cacheControl: request.headers.get('Cache-Control'),
        cache: request.cache,
      });
      return answer(request);
    },
    now: () => clock.now,
    onLookup: (hit) => lookups.push(hit),
  });
  return { fresh, clock, sent, lookups, persisted, setAnswer: (next: (request: Request) => Response) => (answer = next) };
}

const URL_A = 'http://purl.test/api/agents';
const request = (url = URL_A) => new Request(url, { headers: { Accept: 'application/json' } });

/** Reads, and stores the answer's data (here: nothing to store) the way the sync does. */
async function readAndKeep(h: ReturnType<typeof harness>, url = URL_A): Promise<FreshRead> {
  const read = await h.fresh.read(request(url), 'memories', 30_000);
  if (read.source === 'network') await read.keep();
  return read;
}

describe('the freshness cache', () => {
  it('sends a first read through the queue with the caller’s priority, never into the browser’s HTTP cache', async () => {
    const h = harness();
    const read = await h.fresh.read(request(), 'memories', 30_000);
    expect(read.source).toBe('network');
    expect(h.sent).toEqual([{ url: URL_A, priority: 'memories', ifNoneMatch: null, cacheControl: null, cache: 'no-store' }]);
    expect(h.lookups).toEqual([false]);
  });

  it('asks again inside the window once told the data is out of date, conditional on what it kept', async () => {
    const h = harness();
    await readAndKeep(h);
    await h.fresh.expire(URL_A);
    await h.fresh.expire('http://purl.test/never-read');
    h.clock.now += 1_000;
    expect((await readAndKeep(h)).source).toBe('network');
    expect(h.sent.map((sent) => sent.ifNoneMatch)).toEqual([null, 'W/"1"']);
    // Kept again: fresh for its window as before.
    expect((await readAndKeep(h)).source).toBe('fresh');
  });

  it('sends nothing inside the freshness window once the answer was kept', async () => {
    const h = harness();
    await readAndKeep(h);
    h.clock.now += 29_999;
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('fresh');
    expect(h.sent).toHaveLength(1);
    expect(h.lookups).toEqual([false, true]);
  });

  it('never takes an answer that was not kept for fresh: a refused or unstored answer is asked for again', async () => {
    const h = harness();
    h.setAnswer(() => new Response('<html>Welcome to nginx!</html>', { status: 200, headers: { 'Content-Type': 'text/html' } }));
    const read = await h.fresh.read(request(), 'memories', 30_000);
    expect(read.source).toBe('network');
    // The caller found it unreadable and did not call keep().
    h.clock.now += 1;
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('network');
    expect(h.sent).toHaveLength(2);
    expect(h.persisted).toEqual([]);
  });

  it('does not stamp an error answer even when asked to keep it', async () => {
    const h = harness();
    h.setAnswer(() => new Response('{}', { status: 503 }));
    await readAndKeep(h);
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('network');
    expect(h.persisted).toEqual([]);
  });

  it('revalidates past the window with the stored ETag and max-age=0, so Express can answer 304', async () => {
    const h = harness();
    await readAndKeep(h);
    h.clock.now += 30_000;
    h.setAnswer((req) => (req.headers.get('If-None-Match') === 'W/"1"' ? new Response(null, { status: 304 }) : new Response('{}')));
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('not-modified');
    expect(h.sent[1]).toMatchObject({ ifNoneMatch: 'W/"1"', cacheControl: 'max-age=0', cache: 'no-store' });
    // The 304 counts as a request, not a hit, and restarts the window.
    expect(h.lookups).toEqual([false, false]);
    h.clock.now += 29_999;
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('fresh');
    expect(h.sent).toHaveLength(2);
  });

  it('keeps a stamp under the key given, so a URL that carries a cursor keeps one freshness window', async () => {
    const h = harness();
    const key = 'http://purl.test/api/purl/sync?agentId=a';
    const first = await h.fresh.read(request(`${key}&since=0123456789ab.1`), 'memories', 30_000, key);
    if (first.source === 'network') await first.keep();
    h.clock.now += 1_000;
    expect(await h.fresh.read(request(`${key}&since=0123456789ab.2`), 'memories', 30_000, key)).toEqual({ source: 'fresh' });
    h.clock.now += 30_000;
    await h.fresh.read(request(`${key}&since=0123456789ab.2`), 'memories', 30_000, key);
    expect(h.sent.map((sent) => [sent.url, sent.ifNoneMatch])).toEqual([
      [`${key}&since=0123456789ab.1`, null],
      [`${key}&since=0123456789ab.2`, 'W/"1"'],
    ]);
    expect(Object.keys(h.persisted.at(-1)!)).toEqual([key]);
  });

  it('stamps a new answer with the time it arrived, not the time its data was stored', async () => {
    const h = harness();
    const read = await h.fresh.read(request(), 'memories', 30_000);
    h.clock.now += 5_000;
    if (read.source === 'network') await read.keep();
    expect(h.persisted.at(-1)).toEqual({ [URL_A]: { fetchedAt: 1_000, etag: 'W/"1"' } });
  });

  it('picks up the stamps an earlier worker saved, and distrusts one from the future (the clock went back)', async () => {
    const h = harness({ [URL_A]: { fetchedAt: 900, etag: 'W/"0"' }, 'http://purl.test/api/later': { fetchedAt: 5_000 } });
    expect((await h.fresh.read(request(), 'memories', 30_000)).source).toBe('fresh');
    expect((await h.fresh.read(request('http://purl.test/api/later'), 'memories', 30_000)).source).toBe('network');
  });

  it('keeps at most MAX_STAMPS stamps, dropping the oldest', async () => {
    const h = harness();
    for (let i = 0; i <= MAX_STAMPS; i += 1) {
      h.clock.now += 1;
      await readAndKeep(h, `http://purl.test/api/agents/${i}/memories`);
    }
    const last = h.persisted.at(-1)!;
    expect(Object.keys(last)).toHaveLength(MAX_STAMPS);
    expect(last['http://purl.test/api/agents/0/memories']).toBeUndefined();
  });

  it('rejects when the request fails, and stamps nothing', async () => {
    const h = harness();
    h.setAnswer(() => {
      throw new TypeError('Failed to fetch');
    });
    await expect(h.fresh.read(request(), 'memories', 30_000)).rejects.toThrow('Failed to fetch');
    expect(h.persisted).toEqual([]);
  });
});

describe('retiring the copies earlier versions kept', () => {
  it('deletes the old API cache and workbox-expiration’s database, and never rejects', async () => {
    globalThis.indexedDB = new IDBFactory();
    (await openDB(RETIRED_EXPIRATION_DB, 1, { upgrade: (db) => db.createObjectStore('cache-entries') })).close();
    const deleted: string[] = [];
    const caches = {
      delete: async (name: string) => {
        deleted.push(name);
        return true;
      },
    };
    await retireOldCopies(caches as unknown as CacheStorage);
    expect(deleted).toEqual([RETIRED_API_CACHE]);
    expect((await indexedDB.databases()).map((db) => db.name)).not.toContain(RETIRED_EXPIRATION_DB);
    await expect(retireOldCopies({ delete: async () => Promise.reject(new Error('gone')) } as unknown as CacheStorage)).resolves.toBeUndefined();
  });
});
