/**
 * A minimal JSON client for the ElizaOS REST API, built on fetch. (`@elizaos/api-client`
 * returns undefined from `sessions.sendMessage` in 1.7.2, and we need only two verbs.)
 */

/** Options of {@link createElizaApi}. */
export interface ElizaApiOptions {
  readonly baseUrl: string;
  /** ELIZA_SERVER_AUTH_TOKEN; ElizaOS expects it as X-API-KEY on every /api request. */
  readonly authToken: string | undefined;
  /** Per request. */
  readonly timeoutMs?: number;
}

/** GET and POST that resolve to parsed JSON and reject on any non-2xx answer. */
export interface ElizaApi {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
}

/** Creates the client. */
export function createElizaApi({ baseUrl, authToken, timeoutMs = 10_000 }: ElizaApiOptions): ElizaApi {
  const request = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authToken !== undefined) headers['x-api-key'] = authToken;
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`);
    }
    return JSON.parse(text) as T;
  };
  return {
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
  };
}
