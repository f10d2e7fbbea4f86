/**
 * fetch from a chosen loopback source address (127.0.0.x), so the gateway sees each
 * simulated browser as its own client, as it would see real users on their own
 * addresses. Connections are kept alive per browser, as a browser would.
 */
import { Agent, fetch as undiciFetch } from 'undici';

export type SourceFetch = (request: Request, init?: { signal?: AbortSignal }) => Promise<Response>;

export function fetchFrom(localAddress: string | undefined): { fetch: SourceFetch; close: () => Promise<void> } {
  // undici takes localAddress at the top level of the Agent's options; inside `connect`
  // it is silently ignored (every request would leave from 127.0.0.1).
  const dispatcher = new Agent({ ...(localAddress ? { localAddress } : {}), keepAliveTimeout: 30_000, connections: 6 });
  const fetch: SourceFetch = async (request, init) => {
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
    const response = await undiciFetch(request.url, {
      method: request.method,
      headers: [...request.headers],
      body,
      signal: init?.signal ?? null,
      dispatcher,
    });
    // undici's Response is its own class; hand the core a standard one.
    const hasBody = ![101, 204, 205, 304].includes(response.status);
    return new Response(hasBody ? (response.body as ReadableStream | null) : null, {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    });
  };
  return { fetch, close: () => dispatcher.close() };
}

/** The loopback address of simulated user `index` (0-based): 127.0.1.1, 127.0.1.2, … */
export function loopbackAddress(index: number): string {
  return `127.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}`;
}
