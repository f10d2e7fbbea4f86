/**
 * The settings in force in this worker: defaults, overridden by the gateway's
 * /config.json. Read once per worker start; a bad or missing file keeps the defaults.
 */
import { parseOverrides, resolveConfig, type PurlConfig } from '../src/shared/config';

export function createConfigSource(fetchFn: typeof fetch, url: string): () => Promise<PurlConfig> {
  let loaded: Promise<PurlConfig> | null = null;
  async function load(): Promise<PurlConfig> {
    try {
      const response = await fetchFn(url, { cache: 'no-store' });
      if (!response.ok) return resolveConfig({}, false);
      const { overrides, errors } = parseOverrides(await response.json());
      for (const error of errors) console.error(`Purl: ${error}`);
      return resolveConfig(overrides, false);
    } catch {
      // Offline or the gateway is down: the defaults serve until the next worker start.
      loaded = null;
      return resolveConfig({}, false);
    }
  }
  return () => (loaded ??= load());
}
