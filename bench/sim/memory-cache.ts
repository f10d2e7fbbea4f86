/**
 * The part of the Cache API the worker core uses (match, put), in memory, for the Node
 * simulation: Node has no CacheStorage. Keyed by URL, as the worker's GETs are.
 */
export class MemoryCache {
  readonly #entries = new Map<string, { body: ArrayBuffer; init: ResponseInit }>();

  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    const entry = this.#entries.get(new Request(request).url);
    return entry ? new Response(entry.body.slice(0), entry.init) : undefined;
  }

  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    const body = await response.arrayBuffer();
    this.#entries.set(new Request(request).url, {
      body,
      init: { status: response.status, statusText: response.statusText, headers: [...response.headers] },
    });
  }

  asCache(): Cache {
    return this as unknown as Cache;
  }
}
