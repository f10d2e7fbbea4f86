/**
 * The settings in force: the gateway's /config.json over the defaults, and this
 * browser's high-load mode (kept in IndexedDB, applied to every tab).
 */
import { getMeta, type PurlDatabase } from '../src/shared/db';
import { resolveConfig, type ConfigOverrides, type PurlConfig } from '../src/shared/config';
import { setMeta } from './store';

export class Settings {
  readonly #loadOverrides: () => Promise<ConfigOverrides>;
  #overrides: ConfigOverrides = {};
  #highLoad = false;

  constructor(loadOverrides: () => Promise<ConfigOverrides>) {
    this.#loadOverrides = loadOverrides;
  }

  /** Reads /config.json and the stored mode, once per worker start. */
  async load(db: PurlDatabase): Promise<void> {
    this.#overrides = await this.#loadOverrides();
    this.#highLoad = (await getMeta(db, 'highLoad')) ?? false;
  }

  get highLoad(): boolean {
    return this.#highLoad;
  }

  /** True when the gateway offers its one-request delta sync route (/config.json's syncRoute). */
  get offersSyncRoute(): boolean {
    return this.#overrides.syncRoute === true;
  }

  /** True when the gateway's edge answers a sync's shared part, so the chat poll may bring it along (/config.json's syncChat). */
  get syncCarriesChat(): boolean {
    return this.offersSyncRoute && this.#overrides.syncChat === true;
  }

  config(): PurlConfig {
    return resolveConfig(this.#overrides, this.#highLoad);
  }

  async setHighLoad(db: PurlDatabase, on: boolean): Promise<void> {
    this.#highLoad = on;
    await setMeta(db, 'highLoad', on);
  }
}
