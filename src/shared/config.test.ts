import { describe, expect, it } from 'vitest';
import { defaultConfig, highLoadConfig, overridesFromEnv, parseOverrides, resolveConfig } from './config';

describe('configuration', () => {
  it('reads every documented environment variable', () => {
    const { overrides, errors } = overridesFromEnv({
      FRONTEND_POLL_INTERVAL: '2000',
      FRONTEND_SESSION_POLL_INTERVAL: '1000',
      FRONTEND_CACHE_TTL: '500',
      FRONTEND_MAX_CONCURRENT: '2',
      MESSAGE_MIN_INTERVAL: '1500',
      CIRCUIT_BREAKER_THRESHOLD: '3',
      CIRCUIT_BREAKER_TIMEOUT: '5000',
      FRONTEND_REQUEST_TIMEOUT: '3000',
    });
    expect(errors).toEqual([]);
    expect(overrides).toEqual({
      memoriesPollMs: 2000,
      chatPollMs: 1000,
      cacheTtlMs: 500,
      maxConcurrent: 2,
      messageMinIntervalMs: 1500,
      breakerThreshold: 3,
      breakerTimeoutMs: 5000,
      requestTimeoutMs: 3000,
    });
  });

  it('rejects values out of range or not whole numbers, naming the variable, and keeps the default', () => {
    const { overrides, errors } = overridesFromEnv({ FRONTEND_POLL_INTERVAL: '999', CIRCUIT_BREAKER_TIMEOUT: 'soon', FRONTEND_MAX_CONCURRENT: '2.5' });
    expect(overrides).toEqual({});
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/FRONTEND_POLL_INTERVAL must be between 1000 and/);
    expect(errors[1]).toMatch(/FRONTEND_MAX_CONCURRENT must be a whole number/);
    expect(errors[2]).toMatch(/CIRCUIT_BREAKER_TIMEOUT must be a whole number/);
    expect(resolveConfig(overrides, false)).toEqual(defaultConfig);
  });

  it('keeps the request timeout at one second or more', () => {
    expect(overridesFromEnv({ FRONTEND_REQUEST_TIMEOUT: '999' }).errors[0]).toMatch(/FRONTEND_REQUEST_TIMEOUT must be between 1000 and/);
    expect(overridesFromEnv({ FRONTEND_REQUEST_TIMEOUT: '1000' }).overrides).toEqual({ requestTimeoutMs: 1000 });
    expect(defaultConfig.requestTimeoutMs).toBe(30_000);
  });

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
