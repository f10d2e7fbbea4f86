import { describe, expect, it } from 'vitest';
import { readElizaConfig } from './config';
import { DISABLED_SENTRY_DSN, prepareProcessEnv } from './process-env';

describe('readElizaConfig', () => {
  it('reads a minimal environment with defaults', () => {
    expect(readElizaConfig({ ELIZA_PORT: '3901' }, '/srv/purl')).toEqual({
      port: 3901,
      host: '127.0.0.1',
      dataDir: '/srv/purl/.purl-data',
      elizaDataDir: '/srv/purl/.purl-data/eliza',
      gatewaySecret: undefined,
      authToken: undefined,
      baseUrl: 'http://127.0.0.1:3901',
      stock: false,
      characterFiles: undefined,
      model: { kind: 'local' },
    });
    expect(readElizaConfig({ ELIZA_PORT: '3901', PURL_ELIZA_STOCK: 'true' }, '/srv/purl').stock).toBe(true);
  });

  it('resolves PURL_DATA_DIR against the working directory and reads the optional secrets', () => {
    const config = readElizaConfig({ ELIZA_PORT: '65535', PURL_DATA_DIR: 'data', PURL_GATEWAY_SECRET: 's', ELIZA_SERVER_AUTH_TOKEN: 't' }, '/srv/purl');
    expect(config).toMatchObject({ port: 65535, dataDir: '/srv/purl/data', gatewaySecret: 's', authToken: 't' });
  });

  it('treats empty optional variables as unset', () => {
    expect(readElizaConfig({ ELIZA_PORT: '1', PURL_GATEWAY_SECRET: '', PURL_DATA_DIR: '' }, '/x')).toMatchObject({
      gatewaySecret: undefined,
      dataDir: '/x/.purl-data',
    });
  });

  it.each(['', '0', '65536', '-1', '3.5', 'abc', '3901abc', '0x10'])('rejects ELIZA_PORT=%j in one sentence', (port) => {
    expect(() => readElizaConfig({ ELIZA_PORT: port }, '/')).toThrow(RangeError);
    expect(() => readElizaConfig({ ELIZA_PORT: port }, '/')).toThrow(/^ELIZA_PORT .*\.$/);
  });

  it('reads the character files and the model provider', () => {
    const config = readElizaConfig({ ELIZA_PORT: '80', ELIZA_CHARACTER: 'a.json,/etc/b.json', OPENAI_API_KEY: 'k' }, '/srv/purl');
    expect(config.characterFiles).toEqual(['/srv/purl/a.json', '/etc/b.json']);
    expect(config.model).toMatchObject({ kind: 'openai' });
  });

  it('requires ELIZA_PORT', () => {
    expect(() => readElizaConfig({}, '/')).toThrow('ELIZA_PORT is not set');
  });

  it('reaches wildcard and named hosts at 127.0.0.1, IPv6 hosts in brackets', () => {
    expect(readElizaConfig({ ELIZA_PORT: '80', ELIZA_HOST: '0.0.0.0' }, '/').baseUrl).toBe('http://127.0.0.1:80');
    expect(readElizaConfig({ ELIZA_PORT: '80', ELIZA_HOST: 'localhost' }, '/').baseUrl).toBe('http://127.0.0.1:80');
    expect(readElizaConfig({ ELIZA_PORT: '80', ELIZA_HOST: '::1' }, '/').baseUrl).toBe('http://[::1]:80');
  });

  it('rejects a host name that is not an address', () => {
    expect(() => readElizaConfig({ ELIZA_PORT: '80', ELIZA_HOST: 'example.org' }, '/')).toThrow(/^ELIZA_HOST/);
  });
});

describe('prepareProcessEnv', () => {
  it('removes the gateway secret and sets what ElizaOS reads', () => {
    const env: NodeJS.ProcessEnv = { ELIZA_PORT: '3901', PURL_GATEWAY_SECRET: 'hush', SERVER_PORT: '3000' };
    prepareProcessEnv(readElizaConfig(env, '/d'), env);
    expect(env).not.toHaveProperty('PURL_GATEWAY_SECRET');
    expect(env).toMatchObject({
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: '3901',
      ELIZA_UI_ENABLE: 'false',
      PGLITE_DATA_DIR: '/d/.purl-data/eliza',
      LOG_LEVEL: 'warn',
      SENTRY_DSN: DISABLED_SENTRY_DSN,
      CENTRAL_MESSAGE_SERVER_URL: 'http://127.0.0.1:3901',
    });
  });

  it('keeps a LOG_LEVEL chosen by the parent', () => {
    const env: NodeJS.ProcessEnv = { ELIZA_PORT: '3901', LOG_LEVEL: 'error' };
    prepareProcessEnv(readElizaConfig(env, '/d'), env);
    expect(env.LOG_LEVEL).toBe('error');
  });
});
