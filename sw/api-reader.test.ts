import { describe, expect, it } from 'vitest';
import { createApiReader } from './api-reader';
import type { FreshCache, FreshRead } from './fresh-cache';

function reader(read: () => Promise<FreshRead>) {
  const cache: FreshCache = { read: () => read() };
  return createApiReader({ cache, origin: 'http://purl.test', ttlMs: () => 30_000 });
}

const keep = async () => undefined;

describe('the API reader', () => {
  it('says "unchanged" for a fresh read and for a 304', async () => {
    expect(await reader(async () => ({ source: 'fresh' }))('/api/agents', 'user')).toEqual({ kind: 'unchanged' });
    expect(await reader(async () => ({ source: 'not-modified' }))('/api/agents', 'user')).toEqual({ kind: 'unchanged' });
  });

  it('hands over a new body with its keep()', async () => {
    const read = await reader(async () => ({ source: 'network', response: new Response('{"a":1}'), keep }))('/api/agents', 'user');
    expect(read).toEqual({ kind: 'new', body: { a: 1 }, keep });
  });

  it('rejects an error answer, a body that is not JSON and a failed request, each with its code', async () => {
    const network = (response: Response) => reader(async () => ({ source: 'network', response, keep }))('/api/agents', 'user');
    await expect(network(new Response('{}', { status: 503 }))).rejects.toMatchObject({ code: 'http-error', message: /HTTP 503/ });
    await expect(network(new Response('<html>'))).rejects.toMatchObject({ code: 'bad-response' });
    await expect(reader(async () => Promise.reject(new TypeError('Failed to fetch')))('/api/agents', 'user')).rejects.toMatchObject({ code: 'network-error' });
  });
});
