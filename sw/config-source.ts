/**
 * The server's settings for this worker: the gateway's /config.json, read once per
 * worker start. Rejected values are reported on the console and their defaults kept;
 * a missing file (offline, gateway down) keeps every default until the next start.
 */
import { parseOverrides, type ConfigOverrides } from '../src/shared/config';

export function createOverridesSource(fetchFn: typeof fetch, url: string): () => Promise<ConfigOverrides> {
  let loaded: Promise<ConfigOverrides> | null = null;
  async function load(): Promise<ConfigOverrides> {
    try {
      const response = await fetchFn(url, { cache: 'no-store' });
      if (!response.ok) return {};
      const { overrides, errors } = parseOverrides(await response.json());
      for (const error of errors) console.error(`Purl: ${error}`);
      return overrides;
    } catch {
      loaded = null;
      return {};
    }
  }
  return () => (loaded ??= load());
}
