import { describe, expect, it } from 'vitest';
import { defaultConfig, highLoadConfig, parseOverrides, resolveConfig } from './config';

describe('configuration', () => {
  it('ignores unknown keys in /config.json and rejects a body that is not an object', () => {
    expect(parseOverrides({ memoriesPollMs: 3000, other: 1 })).toEqual({ overrides: { memoriesPollMs: 3000 }, errors: [] });
    expect(parseOverrides('nope').errors[0]).toMatch(/not a JSON object/);
  });

  it('takes what the gateway offers only as true or false, saying so otherwise, and keeps it out of the settings', () => {
    expect(parseOverrides({ syncRoute: true, syncChat: true, push: true })).toEqual({
      overrides: { syncRoute: true, syncChat: true, push: true },
      errors: [],
    });
    expect(parseOverrides({ syncRoute: false, syncChat: false, push: false })).toEqual({ overrides: {}, errors: [] });
    expect(parseOverrides({ syncRoute: 'yes', syncChat: 1, push: 'on' }).errors).toEqual([
      'config.syncRoute must be true or false, got "yes"; the plain routes are used',
      'config.syncChat must be true or false, got 1; the chat poll reads its own route',
      'config.push must be true or false, got "on"; replies come by the chat poll',
    ]);
    expect(resolveConfig({ syncRoute: true, syncChat: true, push: true }, false)).toEqual(defaultConfig);
  });

  it('has the documented high-load defaults', () => {
    expect(highLoadConfig).toEqual({
      ...defaultConfig,
      memoriesPollMs: 90_000,
      chatPollMs: 7_000,
      cacheTtlMs: 45_000,
      maxConcurrent: 2,
      messageMinIntervalMs: 3_000,
    });
  });

  it('derives high-load mode from the server’s overrides, so it stays slower than normal', () => {
    const config = resolveConfig({ memoriesPollMs: 1000, maxConcurrent: 1, breakerTimeoutMs: 9000 }, true);
    expect(config).toMatchObject({ memoriesPollMs: 1500, maxConcurrent: 1, breakerTimeoutMs: 9000, chatPollMs: 7000 });
  });
});
