import { describe, expect, it } from 'vitest';
import { createApiReader } from './api-reader';
import type { FreshCache, FreshRead } from './fresh-cache';

function reader(read: () => Promise<FreshRead>) {
  const cache: Pick<FreshCache, 'read'> = { read: () => read() };
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

  it('takes the gateway’s word that the server’s answer was unreadable, and no other 502 for it', async () => {
    const network = (response: Response) => reader(async () => ({ source: 'network', response, keep }))('/api/purl/sync', 'user');
    const refused = JSON.stringify({
      success: false,
      error: { code: 'UPSTREAM_BAD_ANSWER', message: "The agent's server sent something Purl couldn't read." },
    });
    await expect(network(new Response(refused, { status: 502 }))).rejects.toMatchObject({ code: 'bad-response' });
    const down = JSON.stringify({ success: false, error: { code: 'UPSTREAM_UNAVAILABLE', message: 'down' } });
    await expect(network(new Response(down, { status: 502 }))).rejects.toMatchObject({ code: 'http-error', message: /HTTP 502/ });
    await expect(network(new Response('<html>', { status: 502 }))).rejects.toMatchObject({ code: 'http-error' });
  });

  it('keeps the freshness stamp under the key it is given, not the URL with the cursor', async () => {
    const keys: (string | undefined)[] = [];
    const cache: Pick<FreshCache, 'read'> = {
      read: async (_request, _priority, _ttl, key) => {
        keys.push(key);
        return { source: 'fresh' };
      },
    };
    const read = createApiReader({ cache, origin: 'http://purl.test', ttlMs: () => 30_000 });
    await read('/api/purl/sync?agentId=a&since=0123456789ab.4', 'memories', '/api/purl/sync?agentId=a');
    await read('/api/agents', 'memories');
    expect(keys).toEqual(['http://purl.test/api/purl/sync?agentId=a', undefined]);
  });
});
